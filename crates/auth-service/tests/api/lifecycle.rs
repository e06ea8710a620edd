//! The refresh-token lifecycle: rotation, the grace window, reuse detection, on both stores.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    assert_error, json_ok, resource_server_verifier, spawn_app, spawn_app_with, token, Backend,
    BACKENDS, PASSWORD,
};

#[tokio::test]
async fn register_login_refresh_grace_then_reuse_revokes_the_family() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let user = app.register("alice").await;
        let login = app.login("alice").await;
        assert_eq!(login["token_type"], "Bearer");
        assert_eq!(login["expires_in"], 600);
        assert_eq!(login["refresh_expires_in"], 7 * 24 * 3600);
        let r0 = token(&login, "refresh_token").to_owned();
        assert!(r0.starts_with(&format!("{}.", token(&login, "session_id"))));

        let claims = resource_server_verifier(&app.clock)
            .verify(token(&login, "access_token"))
            .expect("a resource server accepts the access token");
        assert_eq!(claims.sub, user["user_id"].as_str().unwrap());
        assert_eq!(
            (claims.sid.as_str(), claims.role.as_str(), claims.ver),
            (token(&login, "session_id"), "user", 0)
        );

        let first = app.refresh(&r0).await;
        let r1 = token(&first, "refresh_token").to_owned();
        assert_ne!(r1, r0, "{backend:?}: every refresh rotates");
        assert_eq!(first["session_id"], login["session_id"]);

        app.clock.advance(Duration::from_secs(5));
        let retry = app.refresh(&r0).await;
        assert_eq!(
            token(&retry, "refresh_token"),
            r1,
            "{backend:?}: within grace, the same successor"
        );
        assert!(resource_server_verifier(&app.clock)
            .verify(token(&retry, "access_token"))
            .is_ok());

        app.clock.advance(Duration::from_secs(6));
        assert_error(
            app.refresh_response(&r0).await,
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
        )
        .await;
        assert_error(
            app.refresh_response(&r1).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
        // Reuse revoked the session: its access tokens stop here too.
        let stale = app
            .get_bearer("/auth/sessions", token(&first, "access_token"))
            .await;
        assert_error(stale, StatusCode::UNAUTHORIZED, "invalid_token").await;

        let again = app.login("alice").await;
        app.refresh(token(&again, "refresh_token")).await;
        let listed = app.sessions(token(&again, "access_token")).await;
        assert_eq!(listed.len(), 1, "{backend:?}: the reused family is gone");
        assert_eq!(listed[0]["id"], again["session_id"]);
    }
}

#[tokio::test]
async fn an_older_spent_token_is_recognised_as_reuse() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        app.register("bob").await;
        let r0 = token(&app.login("bob").await, "refresh_token").to_owned();
        let r1 = token(&app.refresh(&r0).await, "refresh_token").to_owned();
        let r2 = token(&app.refresh(&r1).await, "refresh_token").to_owned();
        let r3 = token(&app.refresh(&r2).await, "refresh_token").to_owned();
        // r0 is three rotations old: neither current nor just spent.
        assert_error(
            app.refresh_response(&r0).await,
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
        )
        .await;
        assert_error(
            app.refresh_response(&r3).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
    }
}

#[tokio::test]
async fn a_forged_secret_for_a_real_session_revokes_nothing() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        app.register("carol").await;
        let login = app.login("carol").await;
        let forged = format!(
            "{}.{}",
            token(&login, "session_id"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32])
        );
        assert_error(
            app.refresh_response(&forged).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
        app.refresh(token(&login, "refresh_token")).await;
    }
}

#[tokio::test]
async fn with_no_grace_window_an_immediate_replay_is_reuse() {
    let app = spawn_app_with(Backend::Memory, |s| s.refresh.grace_secs = 0).await;
    app.register("dave").await;
    let r0 = token(&app.login("dave").await, "refresh_token").to_owned();
    let r1 = token(&app.refresh(&r0).await, "refresh_token").to_owned();
    assert_error(
        app.refresh_response(&r0).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    assert_error(
        app.refresh_response(&r1).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn malformed_refresh_tokens_are_invalid() {
    let app = spawn_app(Backend::Memory).await;
    for bad in ["", "x", "a.b", &"A".repeat(500)] {
        assert_error(
            app.refresh_response(bad).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
    }
    let response = app.post("/auth/refresh", &json!({})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn registration_rules_and_unique_names() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let created = app.register("Erin.Smith").await;
        assert_eq!(created["username"], "Erin.Smith");
        for name in ["erin.smith", "ERIN.SMITH"] {
            let response = app
                .post(
                    "/auth/register",
                    &json!({ "username": name, "password": PASSWORD }),
                )
                .await;
            assert_error(response, StatusCode::CONFLICT, "username_taken").await;
        }
        for (username, password) in [
            ("ab", PASSWORD),
            ("has space", PASSWORD),
            ("frank", "short"),
            ("frank", &"x".repeat(1025)),
        ] {
            let response = app
                .post(
                    "/auth/register",
                    &json!({ "username": username, "password": password }),
                )
                .await;
            assert_error(response, StatusCode::BAD_REQUEST, "validation_failed").await;
        }
        // Login is case-insensitive on the name too.
        json_ok(app.login_response("erin.SMITH", PASSWORD).await).await;
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app(Backend::Memory).await;
    app.register("grace").await;
    let wrong = assert_error(
        app.login_response("grace", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_error(
        app.login_response("nobody", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
    let invalid_name = assert_error(
        app.login_response("x y", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, invalid_name);
}

#[tokio::test]
async fn jwks_is_empty_for_hs256_and_cacheable() {
    let app = spawn_app(Backend::Memory).await;
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(json_ok(response).await, json!({ "keys": [] }));
}

#[tokio::test]
async fn token_responses_are_not_cached() {
    let app = spawn_app(Backend::Memory).await;
    app.register("henry").await;
    let response = app.login_response("henry", PASSWORD).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
}
