//! Redis stops: verification keeps working, task routes answer 503 `store_unavailable`,
//! readiness fails; Redis returns: everything recovers without restarting the service.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use testkit::support::eventually;

use tasks_service::Settings;

use crate::helpers::{assert_error, json_ok, spawn_app, Backend};

/// Longest the service may take to notice Redis is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

#[tokio::test]
async fn redis_outage_is_503_and_recovers_by_itself() {
    let mut app = spawn_app(Backend::Redis).await;
    let token = app.token_for("alice");
    app.create_task(&token, "before").await;
    let errors = |samples: &std::collections::HashMap<String, f64>, op: &str| {
        let series = format!(r#"tessera_store_errors_total{{op="{op}",service="tasks-service"}}"#);
        samples.get(&series).copied().unwrap_or(0.0)
    };
    let before = crate::metrics::scrape(&app).await;

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
    let during = crate::metrics::scrape(&app).await;
    for (op, failed) in [("list", 1.0), ("create", 1.0), ("get", 0.0)] {
        assert_eq!(errors(&during, op) - errors(&before, op), failed, "{op}");
    }
    assert!(
        errors(&during, "ping") > errors(&before, "ping"),
        "readiness"
    );

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

/// A Redis that is there but answers nothing (`SIGSTOP`) costs one request the response
/// timeout; the breaker then answers every store request 503 at once (readiness too) until a
/// probe finds Redis answering again, and the service recovers by itself.
#[tokio::test]
async fn a_frozen_redis_costs_one_timeout_then_fails_fast_and_recovers() {
    let mut app = spawn_app(Backend::Redis).await;
    let token = app.token_for("alice");
    app.create_task(&token, "before").await;
    let redis = app.redis.as_mut().unwrap();

    redis.freeze();
    let first = Instant::now();
    assert_error(
        app.get("/tasks", &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let first = first.elapsed();

    // From now on only the breaker's probes may wait for Redis: one per window at most
    // (0.5 s by default, and a probe that times out reopens it). Every other request is
    // refused at once.
    let timeout = service_kit::redis::RESPONSE_TIMEOUT;
    let window = Duration::from_millis(Settings::default().redis.breaker_ms);
    let looped = Instant::now();
    let (mut fast, mut probes) = (Vec::new(), 0u32);
    for i in 0..100 {
        let started = Instant::now();
        let response = match i % 3 {
            0 => app.get("/tasks", &token).await,
            1 => {
                app.post("/tasks", &token, &json!({ "title": "frozen" }))
                    .await
            }
            _ => app.client.get(app.url("/readyz")).send().await.unwrap(),
        };
        let took = started.elapsed();
        assert_eq!(response.headers()["retry-after"], "1");
        assert_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
        )
        .await;
        if took >= timeout / 2 {
            probes += 1;
        } else {
            fast.push(took);
        }
    }
    let looped = looped.elapsed();
    assert!(
        f64::from(probes) <= 1.0 + looped.as_secs_f64() / (timeout + window).as_secs_f64(),
        "{probes} requests waited for the frozen Redis in {looped:?}"
    );
    assert!(
        fast.len() >= 90,
        "only {} of 100 were refused at once",
        fast.len()
    );
    fast.sort();
    let slowest = *fast.last().unwrap();
    assert!(slowest < timeout / 4, "a refused request took {slowest:?}");
    let p99 = fast[fast.len() * 99 / 100 - 1];
    json_ok(app.get("/me", &token).await).await;

    app.redis.as_mut().unwrap().thaw();
    let thawed = Instant::now();
    eventually("recovery after thawing", RECOVERY_BOUND, || async {
        app.get("/tasks", &token).await.status() == StatusCode::OK
    })
    .await;
    let recovered = thawed.elapsed();
    eprintln!(
        "frozen Redis: first request {first:?}, then {} refused with p99 {p99:?} (max \
         {slowest:?}) and {probes} probes in {looped:?}; recovered {recovered:?} after thawing",
        fast.len()
    );
    app.create_task(&token, "after").await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
