//! One Redis connection per process: a multiplexed `ConnectionManager`, created on first
//! use (so a service can start while Redis is still coming up) and reconnecting by itself
//! after Redis restarts. Commands fail fast while Redis is away, so callers answer 503
//! instead of hanging.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisResult};
use tokio::sync::OnceCell;

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

impl RedisConn {
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

    /// `PING`, for readiness checks.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async(&mut connection).await
    }
}
