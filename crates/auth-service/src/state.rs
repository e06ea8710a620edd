//! [`AppState`]: the auth-service's parts, built once at start-up and shared by every
//! request — the store, the issuer and verifier over one key ring, the password pool, the
//! refresh-token keys, the OAuth clients, the outbound HTTP client, the clock and the
//! settings. Its fields are private: handlers call the domain's methods
//! ([`crate::sessions`]), which decide; the accessors serve the background tasks (purge,
//! key reload) and the read-only routes.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{Clock, Issuer, Jwks, RevocationView, Verifier};
use secrecy::ExposeSecret;
use service_kit::metrics::Metrics;

use crate::audit::Audit;
use crate::config::{Settings, ENV_PREFIX};
use crate::error::{ApiError, StartupError};
use crate::keys::signing_keys;
use crate::metrics::AuthMetrics;
use crate::oauth::Clients;
use crate::password::Passwords;
use crate::refresh::RefreshKeys;
use crate::store::{AuthStore, Measured};

/// How long a call to another service may take.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the handlers share.
pub struct AppState {
    store: Arc<dyn AuthStore>,
    verifier: Arc<Verifier>,
    /// What the verifier knows has been revoked: the in-memory store's own view, or one
    /// fed from Redis like every resource server's.
    revoked: Option<Arc<RevocationView>>,
    issuer: Issuer,
    passwords: Passwords,
    refresh_keys: RefreshKeys,
    clients: Clients,
    /// HTTP client for calls to other services (the account purge).
    outbound: reqwest::Client,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// The service's registry (`GET /metrics`) and its own series on it.
    metrics: Metrics,
    counters: AuthMetrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// The parts, from settings, on `store`. Refuses settings a serving instance cannot
    /// run with, naming the setting. Starts the revocation feed when the store is shared
    /// (so it must run within a Tokio runtime).
    pub fn new(
        settings: Settings,
        clock: Arc<dyn Clock>,
        store: Arc<dyn AuthStore>,
    ) -> Result<AppState, StartupError> {
        settings.check_serving().map_err(StartupError::Config)?;
        let metrics = Metrics::new("auth-service")?;
        let store = if settings.metrics.enabled {
            Measured::wrap(store, &metrics)?
        } else {
            store
        };
        let keys = signing_keys(&settings.jwt, settings.dev, clock.now())?;
        let mut verifier = Verifier::new(keys, settings.jwt.validation(), clock.clone())?;
        let revoked = match store.in_process_view() {
            Some(view) => Some(view),
            None => service_kit::revocation::configured(
                &settings.redis,
                ENV_PREFIX,
                &settings.revocation,
                clock.clone(),
            )?,
        };
        if let Some(view) = &revoked {
            verifier = verifier.with_revocation(view.clone());
            store.apply_own_revocations(view.clone());
        }
        if let Some(cache) = settings.jwt.verified_cache() {
            verifier = verifier.with_cache(cache);
        }
        let issuer = Issuer::new(
            verifier.shared_keys(),
            &settings.jwt.issuer,
            &settings.jwt.audience,
            settings.access_ttl(),
            clock.clone(),
        );
        let refresh_secret = settings.refresh_secret()?;
        let outbound = service_kit::outbound::client(OUTBOUND_TIMEOUT).map_err(|err| {
            let cause = service_kit::http::error_chain(&err);
            StartupError::Config(format!("HTTP client: {cause}"))
        })?;
        let counters = AuthMetrics::register(&metrics)?;
        if let Some(view) = &revoked {
            metrics.watch_revocation(view.clone(), clock.clone())?;
        }
        Ok(AppState {
            store,
            verifier: Arc::new(verifier),
            revoked,
            issuer,
            passwords: Passwords::new(&settings.password)?
                .with_metrics(counters.hash_seconds.clone(), counters.hash_queue.clone()),
            refresh_keys: RefreshKeys::derive(refresh_secret.expose_secret().as_bytes()),
            clients: Clients::new(&settings.oauth.public_clients, &settings.oauth.clients)
                .map_err(StartupError::Config)?,
            outbound,
            clock,
            settings,
            metrics,
            counters,
        })
    }

    /// The service's registry, served at `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The auth-service's own series.
    pub fn counters(&self) -> &AuthMetrics {
        &self.counters
    }

    /// Writes an audit event (see [`crate::audit`]) with the current request's client.
    pub fn audit(&self, event: Audit) {
        event.emit(self.settings.trust_forwarded_for);
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Seconds since the epoch, by the service's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The verifier of this service's own Bearer endpoints (its ring is the issuer's).
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Whether the refresh cookie is `Secure`: always, except in dev mode (plain-HTTP
    /// localhost).
    pub fn cookie_secure(&self) -> bool {
        !self.settings.dev
    }

    /// The public keys published now: next, active and retired (none with HS256).
    pub fn jwks(&self) -> Jwks {
        self.verifier.keys().jwks_at(self.now())
    }

    /// `Ok` when the store answers and the revocation view is current (readiness).
    pub async fn ready(&self) -> Result<(), ApiError> {
        self.store.ping().await?;
        match &self.revoked {
            Some(view) if view.is_stale(self.now()) => Err(ApiError::RevocationStale),
            _ => Ok(()),
        }
    }

    /// The revocation view, if revocations reach this instance.
    pub fn revoked(&self) -> Option<&Arc<RevocationView>> {
        self.revoked.as_ref()
    }

    pub(crate) fn store(&self) -> &dyn AuthStore {
        self.store.as_ref()
    }

    pub(crate) fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub(crate) fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    pub(crate) fn refresh_keys(&self) -> &RefreshKeys {
        &self.refresh_keys
    }

    pub(crate) fn outbound(&self) -> &reqwest::Client {
        &self.outbound
    }
}
