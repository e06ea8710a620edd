//! `Stack`: an auth-service and a tasks-service in-process on port 0 (in-memory stores),
//! sharing a secret and a [`ManualClock`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use auth_core::ManualClock;
use secrecy::SecretString;
use tessera_client::{Session, TasksClient, TokenStore};

pub const SECRET: &str = "client-tests-shared-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";
/// The access-token lifetime the stack issues.
pub const ACCESS_TTL: Duration = Duration::from_secs(600);

pub struct Stack {
    pub auth_url: String,
    pub tasks_url: String,
    /// The services' clock.
    pub clock: ManualClock,
}

/// Starts both services; `customise` adjusts the auth-service settings.
pub async fn spawn_stack(customise: impl FnOnce(&mut auth_service::Settings)) -> Stack {
    service_kit::telemetry::init_for_tests();
    let clock = ManualClock::starting_now();

    let mut auth = auth_service::Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        access_ttl_secs: ACCESS_TTL.as_secs(),
        ..auth_service::Settings::default()
    };
    auth.jwt.secret = Some(SecretString::from(SECRET));
    auth.public_url = Some("https://auth.test".to_owned());
    (auth.password.memory_kib, auth.password.iterations) = testkit::support::CHEAP_ARGON2;
    customise(&mut auth);
    let auth = auth_service::Application::build_with_clock(auth, Arc::new(clock.clone()))
        .await
        .expect("build auth-service");
    let auth_url = format!("http://127.0.0.1:{}", auth.port());
    tokio::spawn(auth.run_until_stopped());

    let tasks_url = testkit::support::spawn_tasks_service(&clock, |tasks| {
        tasks.jwt.secret = Some(SecretString::from(SECRET));
    })
    .await;

    Stack {
        auth_url,
        tasks_url,
        clock,
    }
}

impl Stack {
    /// A session on `clock` persisting to `store`.
    pub fn session(&self, clock: &ManualClock, store: Arc<dyn TokenStore>) -> Arc<Session> {
        Arc::new(
            Session::builder(&self.auth_url)
                .clock(Arc::new(clock.clone()))
                .store(store)
                .build()
                .unwrap(),
        )
    }

    pub fn tasks(&self, session: &Arc<Session>) -> Arc<TasksClient> {
        Arc::new(TasksClient::new(session.clone(), &self.tasks_url))
    }

    /// Registers `username` with [`PASSWORD`] through a throwaway session.
    pub async fn register(&self, username: &str) {
        let session = self.session(&self.clock, Arc::new(tessera_client::MemoryStore::new()));
        session.register(username, PASSWORD).await.unwrap();
    }
}

/// A fresh, empty directory for this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-client-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
