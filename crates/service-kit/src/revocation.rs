//! The revocation feed: keeps a resource server's [`RevocationView`] current from Redis,
//! so verification never asks anyone whether a token was revoked.
//!
//! The auth-service writes each revocation, right after the state change that caused it,
//! to a sorted set scored by the entry's `until` ([`log_key`]) and
//! publishes it on [`channel`]. The feed:
//! 1. subscribes to the channel *first*,
//! 2. then loads every entry of the set whose `until` has not passed — so an entry
//!    published between the two steps arrives either way (entries are idempotent);
//! 3. applies each message as it arrives, and every [`HEARTBEAT`] pings Redis over the
//!    subscription (the view then knows it is current) and sweeps expired entries;
//! 4. on any error or a dropped connection starts again at 1 — resubscribe, reload — after
//!    a short backoff. Pub/sub alone is at-most-once; the reload is what makes a
//!    disconnection lose nothing.
//!
//! Until the first load completes the view has never heard from Redis and counts as
//! stale (see [`RevocationSettings`]): the service is not ready.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{Clock, Revocation, RevocationView, Staleness};
use futures_util::StreamExt;
use redis::aio::PubSub;
use serde::Deserialize;
use thiserror::Error;

use crate::redis::{RedisConn, RedisSetupError, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use crate::settings::RedisSettings;

/// How often a connected feed proves its subscription alive and sweeps expired entries.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// First and longest wait before reconnecting.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Entries per page of the load.
const PAGE: usize = 10_000;

/// The sorted set of live revocations (member: the entry's JSON, score: its `until`). Its
/// own hash tag: one slot on Redis Cluster, written at the rate of logouts and password
/// changes.
pub fn log_key(prefix: &str) -> String {
    format!("{prefix}{{rev}}:log")
}

/// The pub/sub channel revocations are pushed on (a classic channel: on Redis Cluster
/// `PUBLISH` reaches subscribers on every node).
pub fn channel(prefix: &str) -> String {
    format!("{prefix}{{rev}}:feed")
}

/// What a stale view does to verification (`…__REVOCATION__ON_STALE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStale {
    /// Keep verifying against what the view holds (and `/readyz` says 503).
    #[default]
    Serve,
    /// Refuse every token with 503 `revocation_stale` until the feed hears again.
    Reject,
}

/// The `revocation` section of a service that verifies tokens.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevocationSettings {
    /// How long the view may go without hearing from Redis before it is stale
    /// (`…__REVOCATION__MAX_STALENESS_SECS`): `/readyz` then answers 503
    /// `revocation_stale`.
    pub max_staleness_secs: u64,
    /// `serve` (default) or `reject` (`…__REVOCATION__ON_STALE`).
    pub on_stale: OnStale,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        RevocationSettings {
            max_staleness_secs: 30,
            on_stale: OnStale::Serve,
        }
    }
}

impl RevocationSettings {
    pub fn staleness(&self) -> Staleness {
        Staleness {
            max_secs: self.max_staleness_secs,
            reject: self.on_stale == OnStale::Reject,
        }
    }

    /// Refuses a limit of 0 (every view would always be stale), naming the setting.
    pub fn check(&self, prefix: &str) -> Result<(), String> {
        match self.max_staleness_secs {
            0 => Err(format!(
                "{prefix}__REVOCATION__MAX_STALENESS_SECS must be at least 1"
            )),
            _ => Ok(()),
        }
    }
}

/// What `/readyz` says about a revocation view.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RevocationReport {
    /// Revoked sessions, users and tokens the view holds.
    entries: usize,
    /// Seconds since the view last heard from the store; `null` before the first load (an
    /// in-process view is always 0).
    staleness_secs: Option<u64>,
}

/// What `/readyz` says about `view` at `now`.
pub fn report(view: &RevocationView, now: u64) -> RevocationReport {
    RevocationReport {
        entries: view.len(),
        staleness_secs: view.staleness_at(now),
    }
}

/// Why one feed session ended (logged, then the feed starts again).
#[derive(Debug, Error)]
enum FeedError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the subscription connection closed")]
    Closed,
}

/// A service's revocation view, fed from the Redis the `redis` settings name (on a
/// connection of its own), or `None` without one — and then says so: tokens stay valid
/// until they expire. `env_prefix` (`AUTH`, `TASKS`) names settings in errors.
pub fn configured(
    redis: &RedisSettings,
    env_prefix: &str,
    settings: &RevocationSettings,
    clock: Arc<dyn Clock>,
) -> Result<Option<Arc<RevocationView>>, RedisSetupError> {
    match RedisConn::from_settings(redis, env_prefix)? {
        Some(conn) => {
            tracing::info!("revocation: following Redis");
            Ok(Some(spawn(conn, &redis.key_prefix, settings, clock)))
        }
        None => {
            tracing::warn!(
                "revocation: no feed (no Redis is configured: {env_prefix}__REDIS__URL, \
                 __CLUSTER_NODES or __SENTINELS): access tokens \
                 stay valid until they expire, whatever is revoked"
            );
            Ok(None)
        }
    }
}

/// Waits, at most `limit`, for the feed's first load, so a service starting next to a
/// reachable Redis is ready at once; `false` if it has not loaded yet (it keeps trying, and
/// the service is not ready until it has).
pub async fn first_load(view: &RevocationView, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while view.heard_at().is_none() {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("revocation view not loaded yet; not ready until it is");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// How long a starting service waits for the first load.
pub const FIRST_LOAD_WAIT: Duration = Duration::from_secs(3);

/// Starts the feed on `redis` (a connection of its own: the subscription holds it) for
/// the revocations under `prefix`, and returns the view it keeps current. Must be called
/// within a Tokio runtime; the feed runs until the runtime stops.
pub fn spawn(
    redis: RedisConn,
    prefix: &str,
    settings: &RevocationSettings,
    clock: Arc<dyn Clock>,
) -> Arc<RevocationView> {
    let view = Arc::new(RevocationView::with_staleness(settings.staleness()));
    let feed = Feed {
        redis,
        log: log_key(prefix),
        channel: channel(prefix),
        view: view.clone(),
        clock,
    };
    tokio::spawn(feed.run());
    view
}

struct Feed {
    redis: RedisConn,
    log: String,
    channel: String,
    view: Arc<RevocationView>,
    clock: Arc<dyn Clock>,
}

/// `future`, or a timeout error after `limit`.
async fn within<T>(
    limit: Duration,
    future: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, FeedError> {
    Ok(tokio::time::timeout(limit, future)
        .await
        .map_err(|_| FeedError::Timeout(limit))??)
}

impl Feed {
    async fn run(self) {
        let mut retry = RETRY_MIN;
        let mut failing = false;
        loop {
            let err = self.session(&mut retry, &mut failing).await;
            if !failing {
                tracing::warn!(error = %err, "revocation feed lost Redis; reconnecting");
                failing = true;
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    /// Subscribe, load, then follow the channel until something fails.
    async fn session(&self, retry: &mut Duration, failing: &mut bool) -> FeedError {
        let mut pubsub = match within(CONNECT_TIMEOUT, self.redis.pubsub()).await {
            Ok(pubsub) => pubsub,
            Err(err) => return err,
        };
        if let Err(err) = within(RESPONSE_TIMEOUT, pubsub.subscribe(&self.channel)).await {
            return err;
        }
        let loaded = match self.load().await {
            Ok(loaded) => loaded,
            Err(err) => return err,
        };
        tracing::info!(
            loaded,
            entries = self.view.len(),
            "revocation view loaded; following the feed"
        );
        (*retry, *failing) = (RETRY_MIN, false);
        self.follow(pubsub).await
    }

    /// Applies every entry still live now, page by page (ties on `until` included: the
    /// next page starts at the last score, skipping what was already seen at it).
    async fn load(&self) -> Result<usize, FeedError> {
        let now = self.clock.now();
        let mut con = within(CONNECT_TIMEOUT, self.redis.connection()).await?;
        let (mut min, mut skip, mut loaded) = (format!("({now}"), 0, 0);
        loop {
            let page: Vec<(String, u64)> = within(
                RESPONSE_TIMEOUT,
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&self.log)
                    .arg(&min)
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(skip)
                    .arg(PAGE)
                    .query_async(&mut con),
            )
            .await?;
            for (entry, _) in &page {
                self.apply(entry);
            }
            loaded += page.len();
            let Some(&(_, last)) = page.last() else { break };
            if page.len() < PAGE {
                break;
            }
            let ties = page.iter().rev().take_while(|(_, at)| *at == last).count();
            if min == last.to_string() {
                skip += ties;
            } else {
                (min, skip) = (last.to_string(), ties);
            }
        }
        self.view.heard(now);
        self.view.sweep(now);
        Ok(loaded)
    }

    async fn follow(&self, pubsub: PubSub) -> FeedError {
        let (mut sink, mut messages) = pubsub.split();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        if let Ok(entry) = std::str::from_utf8(message.get_payload_bytes()) {
                            self.apply(entry);
                        }
                        self.view.heard(self.clock.now());
                    }
                    None => return FeedError::Closed,
                },
                _ = heartbeat.tick() => {
                    if let Err(err) = within(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                        return err;
                    }
                    let now = self.clock.now();
                    self.view.heard(now);
                    self.view.sweep(now);
                }
            }
        }
    }

    fn apply(&self, entry: &str) {
        match serde_json::from_str::<Revocation>(entry) {
            Ok(revocation) => self.view.apply(&revocation),
            // Written by a newer auth-service, or not by one at all: nothing to apply.
            Err(err) => tracing::warn!(error = %err, "unreadable revocation entry skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag_under_the_prefix() {
        assert_eq!(log_key("tessera:"), "tessera:{rev}:log");
        assert_eq!(channel("tessera:"), "tessera:{rev}:feed");
    }

    #[test]
    fn a_zero_staleness_limit_is_refused_by_name() {
        let settings = RevocationSettings {
            max_staleness_secs: 0,
            ..RevocationSettings::default()
        };
        let err = settings.check("TASKS").unwrap_err();
        assert!(
            err.contains("TASKS__REVOCATION__MAX_STALENESS_SECS"),
            "{err}"
        );
        assert_eq!(
            RevocationSettings::default().staleness(),
            Staleness {
                max_secs: 30,
                reject: false
            }
        );
    }
}
