//! [`Application`]: shared state built once (store, key ring, verifier, hasher), the HTTP
//! server bound (port 0 in tests), served until SIGTERM/SIGINT with a graceful drain.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use auth_core::{Clock, SetupError, SystemClock, Verifier, ROLE_ADMIN};
use secrecy::ExposeSecret;
use service_kit::http::{edges, input_config, not_found, RootSpan};
use service_kit::keys::{key_ring, KeyError, Role};
use service_kit::redis::{RedisConn, RedisSetupError};
use service_kit::secret::SecretError;
use thiserror::Error;
use tracing_actix_web::TracingLogger;

use crate::config::{Settings, ENV_PREFIX};
use crate::oauth::Clients;
use crate::password::{PasswordError, Passwords};
use crate::refresh::RefreshKeys;
use crate::routes;
use crate::sessions::AppState;
use crate::store::{AuthStore, MemoryStore, RedisStore};

/// How long a call to another service may take.
const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the service did not start. Each message names the setting to fix.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("invalid JWT settings (AUTH__JWT__*): {0}")]
    Jwt(#[from] SetupError),
    #[error("invalid AUTH__PASSWORD__* settings: {0}")]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Redis(#[from] RedisSetupError),
    #[error("cannot listen on {address} (AUTH__LISTEN): {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Server(#[from] std::io::Error),
}

/// A bound, not yet running, auth-service.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the service on the real clock.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Application::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service with the clock every lifetime check reads (tests move it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        let store = store(&settings)?;
        Application::build_on(settings, clock, store).await
    }

    /// Builds the service on a store made elsewhere (tests wrap the configured one to
    /// hold an operation at a chosen point).
    pub async fn build_on(
        settings: Settings,
        clock: Arc<dyn Clock>,
        store: Arc<dyn AuthStore>,
    ) -> Result<Application, StartupError> {
        let state = web::Data::new(app_state(settings, clock, store)?);
        bootstrap_admins(&state).await;
        if state.settings.purge.tasks_urls.is_empty() {
            tracing::warn!(
                "AUTH__PURGE__TASKS_URLS is not set: deleted accounts' tasks are recorded for \
                 purging but not purged until it is"
            );
        }
        crate::purge::spawn_poller(state.clone().into_inner());
        crate::signing_keys::spawn_reloader(state.clone().into_inner());
        let verifier = web::Data::from(state.verifier.clone());

        let listen = state.settings.listen.clone();
        let listener = TcpListener::bind(&listen).map_err(|source| StartupError::Bind {
            address: listen.clone(),
            source,
        })?;
        let port = listener.local_addr()?.port();
        let workers = state.settings.workers;
        let limits = state.settings.http.limits(workers);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(move |req, next| {
                    edges(req, next, limits.body_timeout)
                }))
                .wrap(TracingLogger::<RootSpan>::new())
                .app_data(state.clone())
                .app_data(verifier.clone())
                .configure(input_config)
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .client_request_timeout(limits.head_timeout)
        .max_connections(limits.connections_per_worker)
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        tracing::info!(port, "auth-service listening");
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    /// The bound port (useful when listening on port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Everything the handlers share, from settings, on `store`.
pub fn app_state(
    settings: Settings,
    clock: Arc<dyn Clock>,
    store: Arc<dyn AuthStore>,
) -> Result<AppState, StartupError> {
    settings.check_serving().map_err(StartupError::Config)?;
    let keys = key_ring(
        &settings.jwt,
        ENV_PREFIX,
        Role::Issuer,
        settings.dev,
        clock.now(),
    )?;
    let refresh_secret = settings.refresh_secret()?;
    let verifier = Arc::new(Verifier::new(
        keys,
        settings.jwt.validation(),
        clock.clone(),
    )?);
    Ok(AppState {
        store,
        verifier,
        passwords: Passwords::new(&settings.password)?,
        refresh_keys: RefreshKeys::derive(refresh_secret.expose_secret().as_bytes()),
        clients: Clients::new(&settings.oauth.public_clients, &settings.oauth.clients)
            .map_err(StartupError::Config)?,
        outbound: service_kit::outbound::client(OUTBOUND_TIMEOUT).map_err(|err| {
            let cause = service_kit::http::error_chain(&err);
            StartupError::Config(format!("HTTP client: {cause}"))
        })?,
        clock,
        settings,
    })
}

/// The configured store: Redis if `AUTH__REDIS__URL` is set, else in memory.
pub fn store(settings: &Settings) -> Result<Arc<dyn AuthStore>, StartupError> {
    match RedisConn::from_settings(&settings.redis, ENV_PREFIX)? {
        Some(redis) => {
            tracing::info!("store: Redis");
            Ok(Arc::new(RedisStore::new(redis, &settings.redis.key_prefix)))
        }
        None => {
            tracing::warn!(
                "store: IN-MEMORY (AUTH__REDIS__URL is not set). Users and sessions vanish at \
                 restart and are not shared: run a single instance only"
            );
            Ok(Arc::new(MemoryStore::new()))
        }
    }
}

/// Grants `admin` to the existing users named in `AUTH__ADMINS`. A store that is down at
/// start-up only delays this (registration applies the list too).
async fn bootstrap_admins(state: &AppState) {
    for name in &state.settings.admins {
        let result = match state.store.user_by_name(name).await {
            Ok(Some(user)) if user.role != ROLE_ADMIN => state
                .store
                .set_role(&user.id, ROLE_ADMIN, false)
                .await
                .map(|_| ()),
            Ok(_) => Ok(()),
            Err(err) => Err(err),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not apply AUTH__ADMINS at start-up");
        }
    }
}
