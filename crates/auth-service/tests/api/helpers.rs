//! `TestApp`: an auth-service started in-process on port 0, its clock, its redis-server
//! (if any), and typed request helpers.

use std::sync::Arc;

use auth_core::{Key, KeyRing, ManualClock, Validation, Verifier};
use auth_service::state::AppState;
use auth_service::store::AuthStore;
use auth_service::{Application, Settings};
use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use testkit::http::send;
pub use testkit::http::{assert_error, json_ok};
use testkit::RedisServer;

pub const SECRET: &str = "auth-service-tests-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";
/// `AUTH__PUBLIC_URL` of the test apps.
pub const PUBLIC_URL: &str = "https://auth.test";

pub use testkit::support::{Backend, BACKENDS};

pub struct TestApp {
    pub address: String,
    /// What the app's requests share, for driving its background work by hand.
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub redis: Option<RedisServer>,
}

/// Settings every test starts from: cheap argon2 parameters (cost is not under test
/// here), generous rate limits, the test secret.
pub fn test_settings() -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        ..Settings::default()
    };
    settings.jwt.secret = Some(SecretString::from(SECRET));
    settings.public_url = Some(PUBLIC_URL.to_owned());
    (settings.password.memory_kib, settings.password.iterations) = testkit::support::CHEAP_ARGON2;
    settings.rate_limit.username_attempts = 1000;
    settings.rate_limit.ip_attempts = 1000;
    settings
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, customise: impl FnOnce(&mut Settings)) -> TestApp {
    let store = backend.start();
    let mut app = spawn_on(None, ManualClock::starting_now(), |settings| {
        store.apply(&mut settings.redis);
        customise(settings);
    })
    .await;
    app.redis = store.server;
    app
}

/// An app on the given Redis (or in memory with `None`) reading `clock`.
pub async fn spawn_on(
    redis_url: Option<&str>,
    clock: ManualClock,
    customise: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_wrapped(redis_url, clock, customise, |store| store).await
}

/// Like [`spawn_on`], on the configured store as `wrap` returns it.
pub async fn spawn_wrapped(
    redis_url: Option<&str>,
    clock: ManualClock,
    customise: impl FnOnce(&mut Settings),
    wrap: impl FnOnce(Arc<dyn AuthStore>) -> Arc<dyn AuthStore>,
) -> TestApp {
    service_kit::telemetry::init_for_tests();
    let mut settings = test_settings();
    settings.redis.url = redis_url.map(SecretString::from);
    customise(&mut settings);
    let store = wrap(auth_service::store::configured(&settings).expect("store"));
    let app = Application::build_on(settings, Arc::new(clock.clone()), store)
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let client = testkit::http::client();
    TestApp {
        address,
        state,
        client,
        clock,
        redis: None,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        send(&self.client, Method::POST, self.url(path), None, Some(body)).await
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> Response {
        send(
            &self.client,
            Method::POST,
            self.url(path),
            Some(token),
            Some(body),
        )
        .await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        send(&self.client, Method::GET, self.url(path), Some(token), None).await
    }

    pub async fn register(&self, username: &str) -> Value {
        let response = self
            .post(
                "/auth/register",
                &json!({ "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Logs in and returns the token response.
    pub async fn login(&self, username: &str) -> Value {
        json_ok(self.login_response(username, PASSWORD).await).await
    }

    pub async fn refresh_response(&self, refresh_token: &str) -> Response {
        self.post("/auth/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// Refreshes and returns the token response, asserting 200.
    pub async fn refresh(&self, refresh_token: &str) -> Value {
        json_ok(self.refresh_response(refresh_token).await).await
    }

    /// `GET /.well-known/jwks.json`, asserting 200.
    pub async fn jwks(&self) -> Value {
        let response = self.client.get(self.url("/.well-known/jwks.json")).send();
        json_ok(response.await.unwrap()).await
    }

    pub async fn sessions(&self, access_token: &str) -> Vec<Value> {
        let body = json_ok(self.get_bearer("/auth/sessions", access_token).await).await;
        body["sessions"].as_array().unwrap().clone()
    }
}

/// A verifier for what the apps issue, as a resource server would hold it.
pub fn resource_server_verifier(clock: &ManualClock) -> Verifier {
    let keys = KeyRing::new(Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap()).unwrap();
    Verifier::new(
        keys,
        Validation::new("tessera", "tasks"),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

pub fn token<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
}

/// The `kid` in a compact JWS header.
pub fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}
