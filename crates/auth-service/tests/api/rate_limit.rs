//! Login throttling per username and per client IP: 429 with `Retry-After`, lifted when the
//! window (on the injected clock) passes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, json_ok, spawn_app_with, Backend, BACKENDS, PASSWORD};

#[tokio::test]
async fn too_many_attempts_on_one_username_are_429_until_the_window_passes() {
    for backend in BACKENDS {
        let app = spawn_app_with(backend, |s| {
            s.rate_limit.username_attempts = 3;
            s.rate_limit.username_window_secs = 600;
        })
        .await;
        app.register("rita").await;
        for _ in 0..3 {
            let response = app.login_response("rita", "wrong password").await;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let response = app.login_response("RITA", PASSWORD).await;
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=600).contains(&retry_after), "{retry_after}");
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // Other names are unaffected.
        app.register("sam").await;
        json_ok(app.login_response("sam", PASSWORD).await).await;

        app.clock.advance(Duration::from_secs(600));
        json_ok(app.login_response("rita", PASSWORD).await).await;
    }
}

#[tokio::test]
async fn too_many_attempts_from_one_ip_are_429() {
    let app = spawn_app_with(Backend::Memory, |s| {
        s.rate_limit.ip_attempts = 4;
        s.rate_limit.ip_window_secs = 60;
    })
    .await;
    app.register("tom").await;
    for name in ["a1b", "a2b", "a3b"] {
        let response = app.login_response(name, PASSWORD).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let response = app.login_response("tom", PASSWORD).await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let response = app
        .post(
            "/auth/register",
            &json!({ "username": "uma", "password": PASSWORD }),
        )
        .await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn forwarded_for_is_only_trusted_when_configured() {
    for trust in [false, true] {
        let app = spawn_app_with(Backend::Memory, |s| s.trust_forwarded_for = trust).await;
        app.register("vic").await;
        let response = app
            .client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
            .json(&json!({ "username": "vic", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        let login = json_ok(response).await;
        let sessions = app.sessions(login["access_token"].as_str().unwrap()).await;
        let expected = if trust { "198.51.100.7" } else { "127.0.0.1" };
        assert_eq!(sessions[0]["ip"], expected);
    }
}
