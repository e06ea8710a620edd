//! Redis stops: verification keeps working, task routes answer 503 `store_unavailable`,
//! readiness fails; Redis returns: everything recovers without restarting the service.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::support::eventually;

use crate::helpers::{assert_error, json_ok, spawn_app, Backend};

/// Longest the service may take to notice Redis is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

#[tokio::test]
async fn redis_outage_is_503_and_recovers_by_itself() {
    let mut app = spawn_app(Backend::Redis).await;
    let token = app.token_for("alice");
    app.create_task(&token, "before").await;

    app.redis.as_mut().unwrap().stop();
    assert_error(
        app.get("/tasks", &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let response = app
        .post("/tasks", &token, &json!({ "title": "during" }))
        .await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    json_ok(app.get("/me", &token).await).await;

    app.redis.as_mut().unwrap().resume();
    eventually("recovery", RECOVERY_BOUND, || async {
        let response = app.get("/tasks", &token).await;
        if response.status() != StatusCode::OK {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        response.status() == StatusCode::OK
    })
    .await;
    app.create_task(&token, "after").await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
