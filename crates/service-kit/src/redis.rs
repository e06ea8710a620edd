//! One Redis connection per process: a multiplexed `ConnectionManager`, created on first
//! use (so a service can start while Redis is still coming up) and reconnecting by itself
//! after Redis restarts. Commands fail fast while Redis is away, so callers answer 503
//! instead of hanging.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, RedisError, RedisResult};
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

/// A lazily connected, self-healing Redis connection. Cheap to share (`Arc` it or put it in
/// app data); cloning the inner manager is how concurrent requests use it.
pub struct RedisConn {
    client: Client,
    manager: OnceCell<ConnectionManager>,
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
        }))
    }

    /// Parses `url` (`redis://[:password@]host:port[/db]`); connects on first use.
    pub fn open(url: &str) -> RedisResult<RedisConn> {
        Ok(RedisConn {
            client: Client::open(url)?,
            manager: OnceCell::new(),
        })
    }

    /// A handle on the shared connection.
    pub async fn connection(&self) -> RedisResult<ConnectionManager> {
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
