//! `DELETE /auth/account` end to end with a real tasks-service: the account, its sessions
//! and its name go; its tasks are purged through `DELETE /internal/users/{id}/tasks` with
//! the auth-service's own service token — at once when the tasks-service answers, and
//! from the durable record, with backoff, when it comes back after being down.

use std::time::Duration;

use auth_core::ManualClock;
use auth_service::purge;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use testkit::support::TestStore;
use testkit::support::{eventually, spawn_tasks_service};

use crate::helpers::{
    assert_error, json_ok, resource_server_verifier, spawn_on, Backend, TestApp, BACKENDS,
    PASSWORD, SECRET,
};

/// How long a revocation may take to reach the tasks-service here (milliseconds, really).
const WITHIN: Duration = Duration::from_secs(5);

/// A tasks-service on `port` (0: any) sharing the auth-service's secret, clock and Redis.
async fn spawn_tasks(port: u16, store: &TestStore, clock: &ManualClock) -> String {
    spawn_tasks_service(clock, |settings| {
        settings.listen = format!("127.0.0.1:{port}");
        settings.jwt.secret = Some(SecretString::from(SECRET));
        store.apply(&mut settings.redis);
    })
    .await
}

async fn tasks_of(app: &TestApp, tasks_url: &str, token: &str) -> Vec<String> {
    let response = app
        .client
        .get(format!("{tasks_url}/tasks"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_ok(response).await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn add_task(app: &TestApp, tasks_url: &str, token: &str, title: &str) {
    let response = app
        .client
        .post(format!("{tasks_url}/tasks"))
        .bearer_auth(token)
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn delete_account(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.client
        .delete(app.url("/auth/account"))
        .bearer_auth(token)
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

/// The tasks a (deleted) user still has, read with a token the auth-service never issues:
/// version `u64::MAX`, beyond even an account deletion's revocation (every version below
/// it), which stops the user's real tokens at the tasks-service.
async fn tasks_left(app: &TestApp, tasks_url: &str, user_id: &str) -> Vec<String> {
    let now = auth_core::Clock::now(&app.clock);
    let claims = auth_core::ClaimsBuilder::user("tessera", "tasks", user_id, "peek")
        .version(u64::MAX)
        .build(now)
        .unwrap();
    let keys =
        auth_core::KeyRing::new(auth_core::Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap())
            .unwrap();
    tasks_of(app, tasks_url, &keys.sign(&claims).unwrap()).await
}

/// The user id in an access token.
fn sub(app: &TestApp, tokens: &Value) -> String {
    resource_server_verifier(&app.clock)
        .verify(access(tokens))
        .unwrap()
        .sub
}

#[tokio::test]
async fn deleting_an_account_takes_its_sessions_name_and_tasks() {
    for backend in BACKENDS {
        let store = backend.start();
        let clock = ManualClock::starting_now();
        let tasks_url = spawn_tasks(0, &store, &clock).await;
        let purge_to = tasks_url.clone();
        let app = spawn_on(None, clock.clone(), |settings| {
            store.apply(&mut settings.redis);
            settings.purge.tasks_urls = vec![purge_to];
        })
        .await;
        app.register("ada").await;
        app.register("bea").await;
        let ada = app.login("ada").await;
        let bea = app.login("bea").await;
        add_task(&app, &tasks_url, access(&ada), "ada's first").await;
        add_task(&app, &tasks_url, access(&ada), "ada's second").await;
        add_task(&app, &tasks_url, access(&bea), "bea's").await;

        let wrong = delete_account(&app, access(&ada), "not my password").await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert_eq!(
            tasks_of(&app, &tasks_url, access(&ada)).await.len(),
            2,
            "nothing changed"
        );

        let ada_id = sub(&app, &ada);
        let response = delete_account(&app, access(&ada), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{backend:?}");
        // Purged before the answer: the tasks-service was up.
        assert!(tasks_left(&app, &tasks_url, &ada_id).await.is_empty());
        if backend.is_redis() {
            // Ada's access token is revoked at the tasks-service too (the in-memory
            // auth-service has no feed to a separate tasks-service).
            eventually("the tasks-service refuses Ada's token", WITHIN, || async {
                let response = app
                    .client
                    .get(format!("{tasks_url}/tasks"))
                    .bearer_auth(access(&ada))
                    .send()
                    .await
                    .unwrap();
                response.status() == StatusCode::UNAUTHORIZED
            })
            .await;
        }
        assert_eq!(tasks_of(&app, &tasks_url, access(&bea)).await, ["bea's"]);
        let refresh = app
            .refresh_response(ada["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED, "sessions ended");
        assert_eq!(
            app.login_response("ada", PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
        app.register("ada").await; // the name is free again
        let again = delete_account(&app, access(&ada), PASSWORD).await;
        assert_eq!(
            again.status(),
            StatusCode::UNAUTHORIZED,
            "the old token's user is gone"
        );
    }
}

#[tokio::test]
async fn a_service_token_cannot_delete_an_account() {
    let clock = ManualClock::starting_now();
    let app = spawn_on(None, clock, |_| {}).await;
    let service =
        auth_core::ClaimsBuilder::service("tessera", "tasks", "billing", "client_credentials")
            .build(auth_core::Clock::now(&app.clock))
            .unwrap();
    let keys =
        auth_core::KeyRing::new(auth_core::Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap())
            .unwrap();
    let response = delete_account(&app, &keys.sign(&service).unwrap(), PASSWORD).await;
    assert_error(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[tokio::test]
async fn a_purge_waits_for_the_tasks_service_and_is_never_lost() {
    let store = Backend::Redis.start();
    let redis = store.server.as_ref().unwrap();
    let clock = ManualClock::starting_now();
    // One tasks-service to create tasks through; the purge goes to another port, where
    // nothing listens yet: the tasks-service is "down".
    let tasks_url = spawn_tasks(0, &store, &clock).await;
    let down_port = testkit::free_port();
    let app = spawn_on(Some(&redis.url()), clock.clone(), |settings| {
        settings.purge.tasks_urls = vec![format!("http://127.0.0.1:{down_port}")];
        // The poller's own rounds (one at start, then hourly) keep out of the way: this
        // test runs each round itself.
        settings.purge.poll_secs = 3600;
        settings.purge.backoff_secs = 30;
    })
    .await;
    app.register("cyd").await;
    let cy = app.login("cyd").await;
    add_task(
        &app,
        &tasks_url,
        access(&cy),
        "outlives the account for a while",
    )
    .await;

    let cy_id = sub(&app, &cy);
    let response = delete_account(&app, access(&cy), PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "the deletion does not wait"
    );
    assert_eq!(tasks_left(&app, &tasks_url, &cy_id).await.len(), 1);

    let attempts = || async {
        let mut con = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let attempts: std::collections::HashMap<String, u32> = redis::cmd("HGETALL")
            .arg("tessera:{purge}:attempts")
            .query_async(&mut con)
            .await
            .unwrap();
        attempts.values().copied().max().unwrap_or(0)
    };
    let round = || async { purge::run_due(&app.state).await.unwrap() };
    let pending = || async {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap();
        let samples = testkit::http::metric_samples(&text.text().await.unwrap());
        samples[r#"tessera_purge_pending{service="auth-service"}"#]
    };
    // A round claims the recorded purge, fails, and backs off 30 s on the test clock.
    assert_eq!(round().await, 0);
    assert_eq!(attempts().await, 1, "one failed attempt");
    assert_eq!(pending().await, 1.0, "the gauge after the round");

    // The tasks-service comes up; rounds before the backoff has passed do nothing…
    spawn_tasks(down_port, &store, &clock).await;
    assert_eq!((round().await, round().await), (0, 0));
    assert_eq!(
        tasks_left(&app, &tasks_url, &cy_id).await.len(),
        1,
        "backing off"
    );
    assert_eq!(attempts().await, 1);
    // …and the first round after it purges, and forgets the record.
    clock.advance(Duration::from_secs(31));
    assert_eq!(round().await, 1);
    assert!(tasks_left(&app, &tasks_url, &cy_id).await.is_empty());
    assert_eq!(attempts().await, 0);
    assert_eq!(pending().await, 0.0);
}

#[tokio::test]
async fn a_hanging_tasks_service_does_not_hold_the_deletion() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let app = spawn_on(None, ManualClock::starting_now(), |settings| {
        settings.purge.tasks_urls = vec![silent_url];
    })
    .await;
    app.register("dee").await;
    let dee = app.login("dee").await;
    // The test client gives up after 10 s; each purge call alone may take 5 s, and the
    // deletion tries several: only the inline budget keeps the answer inside that.
    let response = delete_account(&app, access(&dee), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    drop(silent);
}
