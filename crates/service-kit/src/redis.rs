//! One Redis connection per process: a multiplexed `ConnectionManager`, created on first
//! use (so a service can start while Redis is still coming up) and reconnecting by itself
//! after Redis restarts. Commands fail fast while Redis is away, so callers answer 503
//! instead of hanging.
//!
//! A Redis that is there but does not answer (frozen, overloaded, a network black hole)
//! costs each command the full [`RESPONSE_TIMEOUT`]. So after a command gets no answer, a
//! circuit breaker refuses every command at once for `…__REDIS__BREAKER_MS`; then one command
//! is let through as a probe (the others still refused) and its outcome closes the breaker
//! or opens it again. Refused commands fail with an error [`failed_fast`] recognises; readiness
//! pings go through the same breaker, so `/readyz` reports the outage too.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{
    Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult,
    Value,
};
use secrecy::ExposeSecret;
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::settings::RedisSettings;

/// How long to wait for a TCP connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long to wait for any one command's reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts per outage-triggered reconnect, before failing the command.
const RECONNECT_RETRIES: usize = 2;

/// How long the breaker refuses commands after one got no answer, unless configured.
pub const DEFAULT_BREAKER: Duration = Duration::from_millis(500);
/// The text of the error a refused command fails with.
const FAILED_FAST: &str = "Redis did not answer recently; failing fast until a probe succeeds";

/// A lazily connected, self-healing Redis connection. Cheap to share (`Arc` it or put it in
/// app data); cloning the inner manager is how concurrent requests use it.
pub struct RedisConn {
    client: Client,
    manager: OnceCell<ConnectionManager>,
    breaker: Arc<Breaker>,
}

/// A connection whose commands pass the breaker: what [`RedisConn::connection`] hands out.
/// Scripts and commands run on it as on any `redis` async connection.
#[derive(Clone)]
pub struct Connection {
    inner: ConnectionManager,
    breaker: Arc<Breaker>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let pass = self.breaker.admit()?;
            let _probe = ProbeSlot(&self.breaker, pass);
            let result = self.inner.req_packed_command(cmd).await;
            self.breaker.record(pass, &result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let pass = self.breaker.admit()?;
            let _probe = ProbeSlot(&self.breaker, pass);
            let result = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.breaker.record(pass, &result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// The circuit breaker: closed (every command goes), open (every command refused until
/// `open_until`), half-open (one probe goes, the rest refused).
struct Breaker {
    /// How long it stays open; zero disables it.
    open_for: Duration,
    /// Time origin for `open_until`.
    epoch: Instant,
    /// Milliseconds since `epoch` until which commands are refused; 0: closed.
    open_until: AtomicU64,
    /// A probe is out (half-open).
    probing: AtomicBool,
}

/// Frees the probe slot however a probe ends — also when its request is dropped before
/// Redis answers (a client that went away), which would otherwise leave the breaker
/// refusing everything with no probe out.
struct ProbeSlot<'a>(&'a Breaker, Pass);

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        if self.1 == Pass::Probe {
            self.0.probing.store(false, Ordering::Release);
        }
    }
}

/// How a command got past the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Closed,
    Probe,
}

impl Breaker {
    fn new(open_for: Duration) -> Breaker {
        Breaker {
            open_for,
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether a command may go now.
    fn admit(&self) -> RedisResult<Pass> {
        self.admit_at(self.now_ms())
    }

    fn admit_at(&self, now_ms: u64) -> RedisResult<Pass> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(Pass::Closed);
        }
        let due = now_ms >= until;
        if due
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Ok(Pass::Probe);
        }
        Err(fast_failure())
    }

    /// Open and not yet due for a probe.
    fn refusing(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// Learns from a command's outcome: no answer opens the breaker (again), any answer
    /// from Redis (an error reply included) closes it.
    fn record<T>(&self, pass: Pass, result: &RedisResult<T>) {
        self.record_at(self.now_ms(), pass, result);
    }

    fn record_at<T>(&self, now_ms: u64, pass: Pass, result: &RedisResult<T>) {
        let unanswered = result.as_ref().err().is_some_and(|err| {
            err.is_timeout()
                || err.is_connection_dropped()
                || err.is_connection_refusal()
                || err.is_io_error()
        });
        if unanswered && !self.open_for.is_zero() {
            let until = now_ms.saturating_add(self.open_for.as_millis() as u64);
            let was = self.open_until.swap(until, Ordering::AcqRel);
            if was == 0 {
                tracing::warn!(
                    open_ms = self.open_for.as_millis() as u64,
                    "Redis did not answer: store requests fail fast (503) while one probe at a \
                     time checks whether it answers again"
                );
            }
        } else if !unanswered && self.open_until.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("Redis answers again: store requests go through");
        }
        if pass == Pass::Probe {
            self.probing.store(false, Ordering::Release);
        }
    }
}

fn fast_failure() -> RedisError {
    RedisError::from((ErrorKind::Io, FAILED_FAST))
}

/// Whether `err` (or what caused it) is a command the breaker refused without asking
/// Redis: the services log those at debug level (the breaker warned once when it opened).
pub fn failed_fast(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(redis) = err.downcast_ref::<RedisError>() {
            return redis.to_string().contains(FAILED_FAST);
        }
        next = err.source();
    }
    false
}

impl fmt::Debug for RedisConn {
    /// The URL may hold a password: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConn")
            .field("connected", &self.manager.initialized())
            .finish_non_exhaustive()
    }
}

/// Why the configured Redis connection cannot be set up. Never contains the password.
#[derive(Debug, Error)]
pub enum RedisSetupError {
    #[error("invalid {prefix}__REDIS__URL: {source}")]
    Url {
        prefix: String,
        #[source]
        source: RedisError,
    },
    #[error("cannot read {prefix}__REDIS__PASSWORD_FILE ({path}): {source}")]
    PasswordUnreadable {
        prefix: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{prefix}__REDIS__PASSWORD_FILE is set but {prefix}__REDIS__URL is not")]
    PasswordWithoutUrl { prefix: String },
    #[error(
        "{prefix}__REDIS__URL carries a password and {prefix}__REDIS__PASSWORD_FILE is set; \
         set exactly one"
    )]
    PasswordTwice { prefix: String },
}

impl RedisConn {
    /// The connection the `redis` settings describe, or `None` when no URL is set (the
    /// service then uses its in-memory store). `prefix` (`AUTH`, `TASKS`) names settings
    /// in errors. The password comes from the URL or from `password_file` (trailing
    /// whitespace ignored), never both.
    pub fn from_settings(
        settings: &RedisSettings,
        prefix: &str,
    ) -> Result<Option<RedisConn>, RedisSetupError> {
        let prefix = || prefix.to_owned();
        let Some(url) = &settings.url else {
            return match settings.password_file {
                Some(_) => Err(RedisSetupError::PasswordWithoutUrl { prefix: prefix() }),
                None => Ok(None),
            };
        };
        let mut info = url
            .expose_secret()
            .into_connection_info()
            .map_err(|source| RedisSetupError::Url {
                prefix: prefix(),
                source,
            })?;
        if let Some(path) = &settings.password_file {
            if info.redis_settings().password().is_some() {
                return Err(RedisSetupError::PasswordTwice { prefix: prefix() });
            }
            let password = std::fs::read_to_string(path).map_err(|source| {
                RedisSetupError::PasswordUnreadable {
                    prefix: prefix(),
                    path: path.clone(),
                    source,
                }
            })?;
            let redis = info
                .redis_settings()
                .clone()
                .set_password(password.trim_end());
            info = info.set_redis_settings(redis);
        }
        let client = Client::open(info).map_err(|source| RedisSetupError::Url {
            prefix: prefix(),
            source,
        })?;
        Ok(Some(RedisConn {
            client,
            manager: OnceCell::new(),
            breaker: Arc::new(Breaker::new(Duration::from_millis(settings.breaker_ms))),
        }))
    }

    /// Parses `url` (`redis://[:password@]host:port[/db]`); connects on first use; the
    /// breaker opens for [`DEFAULT_BREAKER`].
    pub fn open(url: &str) -> RedisResult<RedisConn> {
        Ok(RedisConn {
            client: Client::open(url)?,
            manager: OnceCell::new(),
            breaker: Arc::new(Breaker::new(DEFAULT_BREAKER)),
        })
    }

    /// A handle on the shared connection, its commands passing the breaker.
    pub async fn connection(&self) -> RedisResult<Connection> {
        if self.breaker.refusing() {
            return Err(fast_failure());
        }
        Ok(Connection {
            inner: self.manager().await?,
            breaker: self.breaker.clone(),
        })
    }

    /// The shared connection manager, created on first use.
    async fn manager(&self) -> RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(Duration::from_millis(200));
        self.manager
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    /// A connection of its own in subscriber mode (the revocation feed's).
    pub async fn pubsub(&self) -> RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    /// `PING`, for readiness checks.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async(&mut connection).await
    }
}
/// The store a service runs on: `redis` over the connection when `…__REDIS__URL` is set,
/// else the embedded in-memory `memory` — with a loud warning that it is for one instance
/// only. `what` names it in the log ("store", "task store").
pub fn store_or_memory<T>(
    settings: &RedisSettings,
    prefix: &str,
    what: &str,
    redis: impl FnOnce(RedisConn) -> T,
    memory: impl FnOnce() -> T,
) -> Result<T, RedisSetupError> {
    match RedisConn::from_settings(settings, prefix)? {
        Some(conn) => {
            tracing::info!("{what}: Redis");
            Ok(redis(conn))
        }
        None => {
            tracing::warn!(
                "{what}: IN-MEMORY ({prefix}__REDIS__URL is not set). Its data vanishes at \
                 restart and is not shared: run a single instance only"
            );
            Ok(memory())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout() -> RedisResult<()> {
        Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into())
    }

    fn answered_with_an_error() -> RedisResult<()> {
        Err(RedisError::from((ErrorKind::Client, "WRONGTYPE, say")))
    }

    #[test]
    fn no_answer_opens_it_one_probe_then_closes_or_reopens_it() {
        let breaker = Breaker::new(Duration::from_millis(500));
        assert_eq!(breaker.admit_at(10).unwrap(), Pass::Closed);
        breaker.record_at(10, Pass::Closed, &answered_with_an_error());
        assert_eq!(
            breaker.admit_at(11).unwrap(),
            Pass::Closed,
            "an error reply is an answer"
        );

        breaker.record_at(2_000, Pass::Closed, &timeout());
        let refused = breaker.admit_at(2_001).unwrap_err();
        assert!(failed_fast(&refused), "{refused}");
        assert!(
            breaker.admit_at(2_499).is_err(),
            "open for the whole window"
        );

        assert_eq!(breaker.admit_at(2_500).unwrap(), Pass::Probe);
        assert!(breaker.admit_at(2_501).is_err(), "one probe at a time");
        breaker.record_at(4_500, Pass::Probe, &timeout());
        assert!(
            breaker.admit_at(4_999).is_err(),
            "the failed probe reopened it"
        );

        assert_eq!(breaker.admit_at(5_000).unwrap(), Pass::Probe);
        breaker.record_at(5_001, Pass::Probe, &Ok(()));
        assert_eq!(breaker.admit_at(5_002).unwrap(), Pass::Closed);
        assert_eq!(
            breaker.admit_at(5_003).unwrap(),
            Pass::Closed,
            "closed for everyone"
        );
    }

    #[test]
    fn a_probe_dropped_before_its_answer_frees_the_slot() {
        let breaker = Breaker::new(Duration::from_millis(500));
        breaker.record_at(1_000, Pass::Closed, &timeout());
        let pass = breaker.admit_at(1_500).unwrap();
        assert_eq!(pass, Pass::Probe);
        assert!(breaker.admit_at(1_501).is_err(), "one probe at a time");
        drop(ProbeSlot(&breaker, pass)); // the request went away mid-command
        assert_eq!(
            breaker.admit_at(1_502).unwrap(),
            Pass::Probe,
            "another may probe"
        );
    }

    #[test]
    fn zero_disables_it_and_other_errors_are_not_fast_failures() {
        let breaker = Breaker::new(Duration::ZERO);
        breaker.record_at(10, Pass::Closed, &timeout());
        assert_eq!(breaker.admit_at(11).unwrap(), Pass::Closed);
        let timed_out = timeout().unwrap_err();
        assert!(!failed_fast(&timed_out));
        assert!(!failed_fast(&answered_with_an_error().unwrap_err()));
    }
}
