//! `GET /metrics`: a known sequence of requests moves each counter by exactly what it
//! should, on both stores. Each app has a registry of its own, so the deltas are this
//! test's alone.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app_with, token, TestApp, BACKENDS, PASSWORD};

/// Every sample of the text exposition: `name{labels}` → value.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    testkit::http::metric_samples(&response.text().await.unwrap())
}

/// How much each of `series` moved between two scrapes.
fn deltas(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    series: &[&str],
) -> Vec<f64> {
    series
        .iter()
        .map(|name| {
            after.get(*name).copied().unwrap_or(0.0) - before.get(*name).copied().unwrap_or(0.0)
        })
        .collect()
}

fn sample(name: &str, labels: &str) -> String {
    format!("tessera_{name}{{{labels},service=\"auth-service\"}}")
}

#[tokio::test]
async fn a_known_sequence_moves_every_counter_by_exactly_its_share() {
    for backend in BACKENDS {
        let app = spawn_app_with(backend, |settings| {
            settings.rate_limit.username_attempts = 3;
        })
        .await;
        app.register("mira").await;
        app.register("noel").await;
        let before = scrape(&app).await;

        // Registrations: one new, one taken, one invalid.
        app.register("olaf").await;
        let taken = app
            .post(
                "/auth/register",
                &json!({"username": "MIRA", "password": PASSWORD}),
            )
            .await;
        assert_eq!(taken.status(), StatusCode::CONFLICT);
        let invalid = app
            .post(
                "/auth/register",
                &json!({"username": "x", "password": PASSWORD}),
            )
            .await;
        assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);

        // Logins: n = 5 with m = 2 wrong passwords, then noel's fourth attempt is throttled.
        let mira = app.login("mira").await;
        app.login("noel").await;
        app.login("olaf").await;
        for _ in 0..2 {
            let wrong = app.login_response("noel", "not the password at all").await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }
        let throttled = app.login_response("noel", PASSWORD).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);

        // Refreshes: k = 3 rotations, one grace replay, then the replay after the window
        // (reuse), and one malformed token.
        let r0 = token(&mira, "refresh_token").to_owned();
        let r1 = token(&app.refresh(&r0).await, "refresh_token").to_owned();
        app.refresh(&r0).await; // grace
        let r2 = token(&app.refresh(&r1).await, "refresh_token").to_owned();
        app.refresh(&r2).await;
        app.clock.advance(Duration::from_secs(11));
        let reused = app.refresh_response(&r0).await;
        assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
        let malformed = app.refresh_response("not-a-refresh-token").await;
        assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);

        // A refused access token, and a session route whose path carries an id.
        let bogus = app
            .get_bearer("/auth/me", "eyJhbGciOiJIUzI1NiJ9.e30.sig")
            .await;
        assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);
        let olaf = app.login("olaf").await;
        let gone = app
            .client
            .delete(app.url("/auth/sessions/not-a-session"))
            .bearer_auth(token(&olaf, "access_token"))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);

        let after = scrape(&app).await;
        let outcome = |name: &str, value: &str| sample(name, &format!("outcome=\"{value}\""));
        let series = [
            outcome("registrations_total", "success"),
            outcome("registrations_total", "username_taken"),
            outcome("registrations_total", "invalid"),
            outcome("logins_total", "success"),
            outcome("logins_total", "invalid_credentials"),
            outcome("logins_total", "rate_limited"),
            outcome("refresh_total", "rotated"),
            outcome("refresh_total", "grace"),
            outcome("refresh_total", "reused"),
            outcome("refresh_total", "invalid"),
            sample("sessions_revoked_total", "reason=\"reuse\""),
            sample("rate_limited_total", "scope=\"username\""),
            sample("token_issued_total", "kind=\"user\""),
            sample("token_rejected_total", "reason=\"malformed\""),
            sample(
                "http_requests_total",
                "method=\"POST\",route=\"/auth/login\",status=\"200\"",
            ),
            sample(
                "http_requests_total",
                "method=\"POST\",route=\"/auth/login\",status=\"401\"",
            ),
            sample(
                "http_requests_total",
                "method=\"DELETE\",route=\"/auth/sessions/{id}\",status=\"404\"",
            ),
            sample("store_operation_seconds_count", "op=\"rotate\""),
            sample("store_operation_seconds_count", "op=\"end_session\""),
            sample("store_errors_total", "op=\"rotate\""),
        ];
        let names: Vec<&str> = series.iter().map(String::as_str).collect();
        assert_eq!(
            deltas(&before, &after, &names),
            // login successes: mira, noel, olaf, olaf again; user tokens: those 4 + 4 refreshes;
            // store rotations: every well-formed refresh (5), the reuse ending its family (1)
            [
                1.0, 1.0, 1.0, 4.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 8.0, 1.0, 4.0, 2.0,
                1.0, 5.0, 1.0, 0.0
            ],
            "{backend:?}: {names:#?}"
        );
        // No series is keyed by a raw path, and the build is there.
        assert!(
            !after.keys().any(|k| k.contains("not-a-session")),
            "{backend:?}"
        );
        assert_eq!(
            after[&sample(
                "build_info",
                &format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))
            )],
            1.0
        );
        // The revocation view: the reused family's session is in it, and it is current.
        let entries = sample("revocation_entries", "").replace("{,", "{");
        assert!(
            deltas(&before, &after, &[&entries])[0] >= 1.0,
            "{backend:?}"
        );
        let staleness = after[&sample("revocation_staleness_seconds", "").replace("{,", "{")];
        assert!((0.0..5.0).contains(&staleness), "{backend:?}: {staleness}");
        // Hashing: every login and registration above hashed or verified once.
        let hashes = sample("password_hash_seconds_count", "").replace("{,", "{");
        assert_eq!(
            deltas(&before, &after, &[&hashes]),
            [1.0 + 6.0],
            "{backend:?}"
        );
        assert_eq!(
            after[&sample("password_hash_queue_depth", "").replace("{,", "{")],
            0.0
        );
    }
}
