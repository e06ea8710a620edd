//! What every service's test suite needs alike: the store backends a behaviour runs on,
//! cheap argon2 parameters, waiting on real progress, and (feature `tasks-service`) a
//! tasks-service started in-process for the suites of the services that call it.

use std::future::Future;
use std::time::{Duration, Instant};

use service_kit::settings::RedisSettings;

use crate::topology::{RedisCluster, RedisSentinels, SENTINEL_MASTER};
use crate::RedisServer;

/// Which store an app under test runs on: the in-memory one, a private `redis-server`, or
/// the test process's shared Redis Cluster or Sentinel set (under a key prefix of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
    Cluster,
    Sentinel,
}

/// Every behaviour that depends on the store runs on each.
pub const BACKENDS: [Backend; 4] = [
    Backend::Memory,
    Backend::Redis,
    Backend::Cluster,
    Backend::Sentinel,
];

/// The store of one test: the Redis settings that reach it, and the private server (if
/// any) that must live as long as the test.
#[derive(Debug)]
pub struct TestStore {
    pub backend: Backend,
    pub server: Option<RedisServer>,
    settings: RedisSettings,
}

impl Backend {
    /// Starts (or, for the shared cluster and sentinels, joins) this backend's store.
    pub fn start(self) -> TestStore {
        use std::sync::atomic::{AtomicU32, Ordering};
        static TESTS: AtomicU32 = AtomicU32::new(0);
        let mut settings = RedisSettings::default();
        let mut server = None;
        let secrets = |urls: Vec<String>| urls.into_iter().map(Into::into).collect();
        match self {
            Backend::Memory => {}
            Backend::Redis => {
                let redis = RedisServer::start();
                settings.url = Some(redis.url().into());
                server = Some(redis);
            }
            Backend::Cluster => settings.cluster_nodes = secrets(RedisCluster::shared().urls()),
            Backend::Sentinel => {
                settings.sentinels = secrets(RedisSentinels::shared().urls());
                settings.sentinel_master = Some(SENTINEL_MASTER.to_owned());
            }
        }
        if matches!(self, Backend::Cluster | Backend::Sentinel) {
            let test = TESTS.fetch_add(1, Ordering::Relaxed);
            settings.key_prefix = format!("tessera:{}-{test}:", std::process::id());
        }
        TestStore {
            backend: self,
            server,
            settings,
        }
    }

    /// Whether the store is a Redis (so revocations reach other processes through its feed).
    pub fn is_redis(self) -> bool {
        self != Backend::Memory
    }
}

impl TestStore {
    /// Points `redis` at this store (its URL or nodes, and the key prefix).
    pub fn apply(&self, redis: &mut RedisSettings) {
        redis.url = self.settings.url.clone();
        redis.cluster_nodes = self.settings.cluster_nodes.clone();
        redis.sentinels = self.settings.sentinels.clone();
        redis.sentinel_master = self.settings.sentinel_master.clone();
        redis.key_prefix = self.settings.key_prefix.clone();
    }
}

/// argon2id memory (KiB) and passes for tests: hashing cost is not under test there, and
/// the real parameters would make every login take tens of milliseconds.
pub const CHEAP_ARGON2: (u32, u32) = (64, 1);

/// Polls `done` every 50 ms until it holds, failing the test after `bound`: for progress
/// made by another task or process (a reconnect, a background fetch), never a stand-in
/// for a clock the test controls.
pub async fn eventually<F, Fut>(what: &str, bound: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + bound;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {bound:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tasks-service in this process on a free port of 127.0.0.1, reading `clock`; its base
/// URL. `customise` sets what the test is about (its keys, its Redis).
#[cfg(feature = "tasks-service")]
pub async fn spawn_tasks_service(
    clock: &auth_core::ManualClock,
    customise: impl FnOnce(&mut tasks_service::Settings),
) -> String {
    let mut settings = tasks_service::Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        ..tasks_service::Settings::default()
    };
    customise(&mut settings);
    let app =
        tasks_service::Application::build_with_clock(settings, std::sync::Arc::new(clock.clone()))
            .await
            .expect("build tasks-service");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    url
}
