//! Redis stops: 503 `store_unavailable` and a failing `/readyz`; Redis returns: the same
//! service instance works again by itself.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::support::eventually;

use crate::helpers::{assert_error, json_ok, spawn_app, token, Backend, PASSWORD};

const RECOVERY_BOUND: Duration = Duration::from_secs(15);

#[tokio::test]
async fn redis_outage_is_503_and_recovers_without_a_restart() {
    let mut app = spawn_app(Backend::Redis).await;
    app.register("olive").await;
    let login = app.login("olive").await;

    app.redis.as_mut().unwrap().stop();
    let login_attempt = app.login_response("olive", PASSWORD).await;
    assert_eq!(login_attempt.headers()["retry-after"], "1");
    assert_error(
        login_attempt,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let refresh = app.refresh_response(token(&login, "refresh_token")).await;
    assert_error(
        refresh,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(ready, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    app.redis.as_mut().unwrap().resume();
    eventually("recovery", RECOVERY_BOUND, || async {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        ready.status() == StatusCode::OK
    })
    .await;
    // The test server keeps no data across restarts; the service itself is back.
    let response = app
        .post(
            "/auth/register",
            &json!({ "username": "olive", "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let again = app.login("olive").await;
    json_ok(app.refresh_response(token(&again, "refresh_token")).await).await;
}
