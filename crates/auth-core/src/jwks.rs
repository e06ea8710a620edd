//! A resource server's keys from the auth-service's JWKS (feature `jwks`): the one piece
//! of I/O in auth-core, so that any Rust resource server — the tasks-service, the axum
//! example — fetches keys the same way.
//!
//! - Fetched at start; if the auth-service does not answer, the service starts anyway,
//!   refuses every token and reports not ready until a fetch succeeds.
//! - Refreshed in the background after the JWKS's `Cache-Control: max-age` (at most
//!   [`RemoteKeys::refresh_secs`], at least [`RemoteKeys::min_interval_secs`]).
//! - A token naming an unknown `kid` causes at most one fetch per minimum interval
//!   (concurrent ones share it), so forged `kid`s cannot make a fetch storm.
//! - A failed fetch changes nothing: verification goes on with the keys last fetched.
//!
//! Time is read from the service's [`Clock`], so tests move it by hand.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::header::CACHE_CONTROL;
use thiserror::Error;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::{Algorithm, Clock, Jwks, Key, KeyRing, KeySource, Verifier};

/// How long one fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS accepted (ours are well under 1 KiB per key).
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// How often the background task looks whether a fetch is due.
const TICK: Duration = Duration::from_secs(1);
/// Retry delay while no keys were ever fetched (start-up before the auth-service is up).
const UNLOADED_RETRY_SECS: u64 = 2;
/// Background refresh at least this often, unless configured otherwise.
pub const DEFAULT_REFRESH_SECS: u64 = 300;
/// At most one fetch this often, unless configured otherwise.
pub const DEFAULT_MIN_INTERVAL_SECS: u64 = 30;

/// Why a fetch did not give usable keys. Never contains key material.
#[derive(Debug, Error)]
pub enum JwksError {
    #[error("the JWKS URL must be an http:// or https:// URL")]
    BadUrl,
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("JWKS request failed: {0}")]
    Request(reqwest::Error),
    #[error("JWKS answered {0}")]
    Status(reqwest::StatusCode),
    #[error("JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("JWKS is not a JWK Set: {0}")]
    Json(serde_json::Error),
    #[error("JWKS holds no {0} key with a kid")]
    NoUsableKey(Algorithm),
    #[error("JWKS repeats a kid")]
    DuplicateKid,
}

/// The fetcher: owns when to fetch, and swaps what it fetched into the [`Verifier`].
pub struct RemoteKeys {
    url: String,
    alg: Algorithm,
    http: reqwest::Client,
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
    refresh_secs: u64,
    min_interval_secs: u64,
    /// Held for the length of a fetch: one at a time, and the others wait for its result.
    schedule: Mutex<Schedule>,
    /// Successful fetches so far.
    fetched: AtomicU64,
    /// Failed fetches so far.
    failed: AtomicU64,
    /// Extra headers for each fetch, asked for within the fetch's span (`jwks_fetch`).
    request_headers: Option<RequestHeaders>,
}

/// See [`RemoteKeys::with_request_headers`].
type RequestHeaders = Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

#[derive(Debug, Default)]
struct Schedule {
    /// When the last fetch was attempted, successful or not.
    last_attempt: Option<u64>,
    /// When the background task fetches next.
    next_refresh: u64,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("url", &self.url)
            .field("alg", &self.alg)
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    /// A fetcher for the keys of algorithm `alg` at `url`, filling `verifier`; refreshes
    /// every [`DEFAULT_REFRESH_SECS`] at most and fetches at most once per
    /// [`DEFAULT_MIN_INTERVAL_SECS`] unless set otherwise.
    pub fn new(
        url: impl Into<String>,
        alg: Algorithm,
        verifier: Arc<Verifier>,
        clock: Arc<dyn Clock>,
    ) -> Result<RemoteKeys, JwksError> {
        let url = url.into();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(JwksError::BadUrl);
        }
        Ok(RemoteKeys {
            url,
            alg,
            http: http_client(FETCH_TIMEOUT).map_err(JwksError::Client)?,
            verifier,
            clock,
            refresh_secs: DEFAULT_REFRESH_SECS,
            min_interval_secs: DEFAULT_MIN_INTERVAL_SECS,
            schedule: Mutex::new(Schedule::default()),
            fetched: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            request_headers: None,
        })
    }

    /// Refresh in the background at least every `secs` (sooner when the JWKS's
    /// `max-age` says so).
    #[must_use]
    pub fn refresh_secs(mut self, secs: u64) -> RemoteKeys {
        self.refresh_secs = secs.max(1);
        self
    }

    /// Sends the headers `headers` returns with every fetch; it is called within the
    /// fetch's span (`jwks_fetch`), so a tracing set-up can send that span's trace context
    /// (`traceparent`) and the auth-service's request joins the fetch's trace.
    #[must_use]
    pub fn with_request_headers(
        mut self,
        headers: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> RemoteKeys {
        self.request_headers = Some(Box::new(headers));
        self
    }

    /// Fetch at most once per `secs`, whatever unknown `kid`s arrive.
    #[must_use]
    pub fn min_interval_secs(mut self, secs: u64) -> RemoteKeys {
        self.min_interval_secs = secs.max(1);
        self
    }

    /// Fetches once, then keeps the keys fresh in the background: what a resource server
    /// does at start-up. Returns the fetcher for readiness checks and as the verifier's
    /// [`KeySource`].
    pub async fn start(self) -> Arc<RemoteKeys> {
        let keys = Arc::new(self);
        keys.fetch_at_start().await;
        keys.clone().spawn_refresher();
        keys
    }

    /// Fetches so far: (succeeded, failed) — for metrics.
    pub fn fetch_counts(&self) -> (u64, u64) {
        (
            self.fetched.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }

    /// Whether keys were ever fetched (readiness).
    pub fn is_loaded(&self) -> bool {
        self.fetched.load(Ordering::SeqCst) > 0
    }

    /// The first fetch, at start-up. A failure is logged, not fatal: the background task
    /// keeps trying and the service reports not ready meanwhile.
    pub async fn fetch_at_start(&self) {
        let mut schedule = self.schedule.lock().await;
        if let Err(err) = self.fetch(&mut schedule).await {
            tracing::warn!(error = %err, url = %self.url,
                "no keys from the JWKS yet: every token is refused and /readyz fails until a fetch succeeds");
        }
    }

    /// Fetches in the background whenever the schedule says so, for as long as the
    /// runtime runs.
    pub fn spawn_refresher(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let mut schedule = self.schedule.lock().await;
                if self.clock.now() < schedule.next_refresh {
                    continue;
                }
                if let Err(err) = self.fetch(&mut schedule).await {
                    tracing::warn!(error = %err, url = %self.url,
                        "JWKS refresh failed; verifying with the keys fetched before");
                }
            }
        });
    }

    /// One fetch; on success the verifier's ring is replaced. Either way the next
    /// background fetch is scheduled.
    async fn fetch(&self, schedule: &mut Schedule) -> Result<(), JwksError> {
        let now = self.clock.now();
        schedule.last_attempt = Some(now);
        let span = tracing::debug_span!("jwks_fetch", otel.kind = "client");
        match self.download().instrument(span).await {
            Ok((ring, max_age)) => {
                let kids: Vec<&str> = ring.keys().map(Key::kid).collect();
                tracing::info!(keys = ?kids, "JWKS fetched");
                self.verifier.replace_keys(ring);
                self.fetched.fetch_add(1, Ordering::SeqCst);
                let wait = max_age.unwrap_or(self.refresh_secs).clamp(
                    self.min_interval_secs,
                    self.refresh_secs.max(self.min_interval_secs),
                );
                schedule.next_refresh = now.saturating_add(wait);
                Ok(())
            }
            Err(err) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
                let wait = if self.is_loaded() {
                    self.min_interval_secs
                } else {
                    UNLOADED_RETRY_SECS.min(self.min_interval_secs)
                };
                schedule.next_refresh = now.saturating_add(wait);
                Err(err)
            }
        }
    }

    /// GET the JWKS: the ring of its usable keys and its `max-age`, if any.
    async fn download(&self) -> Result<(KeyRing, Option<u64>), JwksError> {
        let mut request = self
            .http
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in self.request_headers.iter().flat_map(|headers| headers()) {
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(JwksError::Request)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksError::Status(response.status()));
        }
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(JwksError::Request)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let jwks: Jwks = serde_json::from_slice(&body).map_err(JwksError::Json)?;
        Ok((self.ring(&jwks)?, max_age))
    }

    /// The keys of `jwks` this service can use: its algorithm, with a `kid`. Others are
    /// skipped (a JWKS may list keys for other purposes), not an error.
    fn ring(&self, jwks: &Jwks) -> Result<KeyRing, JwksError> {
        let mut ring = KeyRing::empty();
        for jwk in &jwks.keys {
            let signing = jwk.kid.is_some() && jwk.use_.as_deref().is_none_or(|u| u == "sig");
            let key = Key::from_jwk(jwk)
                .ok()
                .filter(|key| signing && key.alg() == self.alg);
            let Some(key) = key else {
                tracing::debug!(kid = ?jwk.kid, kty = %jwk.kty, "JWKS key skipped");
                continue;
            };
            ring = ring
                .with_verify_key(key)
                .map_err(|_| JwksError::DuplicateKid)?;
        }
        if ring.is_empty() {
            return Err(JwksError::NoUsableKey(self.alg));
        }
        Ok(ring)
    }
}

impl KeySource for RemoteKeys {
    fn unknown_kid(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            let seen = self.fetched.load(Ordering::SeqCst);
            let mut schedule = self.schedule.lock().await;
            if self.fetched.load(Ordering::SeqCst) != seen {
                return true; // fetched while this request waited: look again
            }
            let now = self.clock.now();
            let recent = schedule
                .last_attempt
                .is_some_and(|at| now < at.saturating_add(self.min_interval_secs));
            if recent {
                return false;
            }
            match self.fetch(&mut schedule).await {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(error = %err, url = %self.url, "JWKS fetch for an unknown kid failed");
                    false
                }
            }
        })
    }
}

/// A reqwest client with `timeout` per request and no redirects, with ring installed first
/// as rustls's process-wide provider: when the whole workspace builds together, reqwest
/// carries the client crate's `rustls-no-provider` feature and panics on building a client
/// while no provider is installed.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Fails only when a provider is installed already, which then serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// `max-age` of a `Cache-Control` value; `no-cache`/`no-store` count as 0.
fn max_age(value: &str) -> Option<u64> {
    value.split(',').map(str::trim).find_map(|directive| {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(0);
        }
        lower
            .strip_prefix("max-age=")?
            .trim_matches('"')
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::max_age;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("Max-Age=\"60\", public"), Some(60));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
