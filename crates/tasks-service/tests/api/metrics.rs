//! `GET /metrics` on a resource server: requests by route pattern (never the raw path)
//! and refused tokens by reason, moved by exactly what a known sequence sends.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};

pub async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    testkit::http::metric_samples(&text)
}

#[tokio::test]
async fn requests_count_by_route_pattern_and_refused_tokens_by_reason() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("ruth");
    let before = scrape(&app).await;

    let task = app.create_task(&token, "counted").await;
    let id = task["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/tasks/{id}"), &token).await.status(),
        StatusCode::OK
    );
    let missing = "01a230aa-b3f2-764a-83a0-def6f48a92e6";
    assert_eq!(
        app.get(&format!("/tasks/{missing}"), &token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/me", "not.a.token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let short_lived = app.token_for("ruth");
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        app.get("/me", &short_lived).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unrouted = app.client.get(app.url("/nowhere/42")).send().await.unwrap();
    assert_eq!(unrouted.status(), StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    let series = |labels: &str| format!("tessera_{labels},service=\"tasks-service\"}}");
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let expected = [
        (
            "http_requests_total{method=\"POST\",route=\"/tasks\",status=\"201\"",
            1.0,
        ),
        (
            "http_requests_total{method=\"GET\",route=\"/tasks/{id}\",status=\"200\"",
            1.0,
        ),
        (
            "http_requests_total{method=\"GET\",route=\"/tasks/{id}\",status=\"404\"",
            1.0,
        ),
        (
            "http_requests_total{method=\"GET\",route=\"/me\",status=\"401\"",
            2.0,
        ),
        (
            "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"",
            1.0,
        ),
        ("token_rejected_total{reason=\"malformed\"", 1.0),
        ("token_rejected_total{reason=\"expired\"", 1.0),
        (
            "http_request_duration_seconds_count{method=\"GET\",route=\"/tasks/{id}\"",
            2.0,
        ),
        ("store_operation_seconds_count{op=\"create\"", 1.0),
        ("store_operation_seconds_count{op=\"get\"", 2.0),
        ("store_operation_seconds_count{op=\"list\"", 0.0),
        ("store_errors_total{op=\"get\"", 0.0),
    ];
    for (labels, want) in expected {
        assert_eq!(delta(&series(labels)), want, "{labels}");
    }
    assert!(
        !after
            .keys()
            .any(|k| k.contains(id) || k.contains("nowhere")),
        "raw paths leaked into labels"
    );
}

#[tokio::test]
async fn the_revocation_view_shows_as_gauges_where_there_is_a_feed() {
    let app = spawn_app(Backend::Redis).await;
    let samples = scrape(&app).await;
    let gauge = |name: &str| samples[&format!("tessera_{name}{{service=\"tasks-service\"}}")];
    assert_eq!(gauge("revocation_entries"), 0.0);
    let staleness = gauge("revocation_staleness_seconds");
    assert!((0.0..5.0).contains(&staleness), "{staleness}");

    // Only GET: anything else is the JSON 405 every route answers.
    let post = app.client.post(app.url("/metrics")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        post.json::<serde_json::Value>().await.unwrap()["error"],
        "method_not_allowed"
    );

    // In memory there is no feed and no view: no such series.
    let memory = scrape(&spawn_app(Backend::Memory).await).await;
    assert!(!memory.keys().any(|k| k.contains("revocation")));
}

#[tokio::test]
async fn a_metrics_listener_of_its_own_takes_metrics_off_the_service_port() {
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.metrics.listen = Some("127.0.0.1:0".to_owned());
    })
    .await;
    let token = app.token_for("ruth");
    app.create_task(&token, "counted").await;
    let on_service_port = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(on_service_port.status(), StatusCode::NOT_FOUND);

    let port = app.metrics_port.expect("a metrics port");
    let metrics = |path: &str| {
        app.client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
    };
    let response = metrics("/metrics").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let samples = testkit::http::metric_samples(&response.text().await.unwrap());
    let created = r#"tessera_http_requests_total{method="POST",route="/tasks",status="201",service="tasks-service"}"#;
    assert_eq!(samples[created], 1.0, "the service port's requests");
    let refused = r#"tessera_http_requests_total{method="GET",route="unmatched",status="404",service="tasks-service"}"#;
    assert_eq!(samples[refused], 1.0, "the service port's 404 for /metrics");
    // Nothing else is served there.
    let other = metrics("/tasks").await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        other.json::<serde_json::Value>().await.unwrap()["error"],
        "not_found"
    );
}

#[tokio::test]
async fn disabled_metrics_are_compiled_in_but_idle() {
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.metrics.enabled = false;
        settings.metrics.listen = Some("127.0.0.1:0".to_owned());
    })
    .await;
    assert_eq!(app.metrics_port, None, "no listener of its own either");
    let token = app.token_for("ruth");
    app.create_task(&token, "not counted").await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
