//! What every service's test suite needs alike: the store backends a behaviour runs on,
//! cheap argon2 parameters, waiting on real progress, and (feature `tasks-service`) a
//! tasks-service started in-process for the suites of the services that call it.

use std::future::Future;
use std::time::{Duration, Instant};

/// Which store an app under test runs on: the in-memory one, or a private `redis-server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// Every behaviour that depends on the store runs on both.
pub const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Redis];

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
