//! `TestApp`: a tasks-service started in-process on port 0, its clock, its redis-server
//! (if any), and typed request helpers.

use std::sync::Arc;

use auth_core::{ClaimsBuilder, Key, KeyRing, ManualClock, Role};
use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tasks_service::{Application, Settings};
use testkit::http::send;
pub use testkit::http::{assert_error, json_ok};
use testkit::RedisServer;

/// The HS256 secret the test apps verify with (and the tests sign with).
pub const SECRET: &str = "tasks-service-tests-secret-0123456789abcdef";

pub use testkit::support::{Backend, BACKENDS};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub redis: Option<RedisServer>,
    /// The separate `/metrics` listener's port, when the settings ask for one.
    pub metrics_port: Option<u16>,
    keys: KeyRing,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts an app after `customise` has adjusted its settings.
pub async fn spawn_app_with(backend: Backend, customise: impl FnOnce(&mut Settings)) -> TestApp {
    service_kit::telemetry::init_for_tests();
    let store = backend.start();
    let mut settings = Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        ..Settings::default()
    };
    settings.jwt.secret = Some(SecretString::from(SECRET));
    store.apply(&mut settings.redis);
    customise(&mut settings);

    let clock = ManualClock::starting_now();
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_port = app.metrics_port();
    tokio::spawn(app.run_until_stopped());

    let keys = KeyRing::new(Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap()).unwrap();
    let client = testkit::http::client();
    TestApp {
        address,
        client,
        clock,
        redis: store.server,
        metrics_port,
        keys,
    }
}

impl TestApp {
    /// A token signed with the app's key, for these claims.
    pub fn token_with(&self, claims: ClaimsBuilder) -> String {
        use auth_core::Clock;
        let claims = claims.build(self.clock.now()).unwrap();
        self.keys.sign(&claims).unwrap()
    }

    /// A valid user token for `user`.
    pub fn token_for(&self, user: &str) -> String {
        self.token_with(ClaimsBuilder::user(
            "tessera",
            "tasks",
            user,
            format!("sid-{user}"),
        ))
    }

    /// A valid admin token for `user`.
    pub fn admin_token(&self, user: &str) -> String {
        self.token_with(
            ClaimsBuilder::user("tessera", "tasks", user, format!("sid-{user}")).role(Role::Admin),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        send(&self.client, Method::GET, self.url(path), Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        send(
            &self.client,
            Method::POST,
            self.url(path),
            Some(token),
            Some(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        send(
            &self.client,
            Method::PATCH,
            self.url(path),
            Some(token),
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        send(
            &self.client,
            Method::DELETE,
            self.url(path),
            Some(token),
            None,
        )
        .await
    }

    /// Creates a task and returns it, asserting 201.
    pub async fn create_task(&self, token: &str, title: &str) -> Value {
        let response = self.post("/tasks", token, &json!({ "title": title })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// The ids of the caller's tasks, newest first, following every cursor.
    pub async fn all_task_ids(&self, token: &str, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/tasks?{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = json_ok(self.get(&path, token).await).await;
            for task in page["tasks"].as_array().unwrap() {
                ids.push(task["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }
}

/// Asserts a 401 with the RFC 6750 challenge and the `invalid_token` body.
pub async fn assert_invalid_token(response: Response) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#));
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
