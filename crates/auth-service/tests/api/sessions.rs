//! Lifetimes, logout, logout everywhere, per-session revocation and password change, on
//! both stores, with time moved by the injected clock.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, json_ok, spawn_app, token, TestApp, BACKENDS, PASSWORD};

const DAY: u64 = 24 * 3600;

async fn logged_in(app: &TestApp, name: &str) -> serde_json::Value {
    app.register(name).await;
    app.login(name).await
}

#[tokio::test]
async fn idle_lifetime_ends_an_unused_session() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let login = logged_in(&app, "ivy").await;
        app.clock.advance(Duration::from_secs(7 * DAY));
        let response = app.refresh_response(token(&login, "refresh_token")).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "session_expired").await;
    }
}

#[tokio::test]
async fn use_keeps_a_session_alive_but_never_past_its_absolute_lifetime() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let login = logged_in(&app, "jack").await;
        let mut refresh = token(&login, "refresh_token").to_owned();
        for _ in 0..4 {
            app.clock.advance(Duration::from_secs(6 * DAY));
            let body = app.refresh(&refresh).await;
            let remaining = body["refresh_expires_in"].as_u64().unwrap();
            assert!(remaining <= 30 * DAY, "{backend:?}");
            refresh = token(&body, "refresh_token").to_owned();
        }
        // Day 29: the idle window (7 days) now reaches past the absolute end (day 30).
        app.clock.advance(Duration::from_secs(5 * DAY));
        let body = app.refresh(&refresh).await;
        assert_eq!(
            body["refresh_expires_in"], DAY,
            "{backend:?}: capped by the absolute lifetime"
        );
        refresh = token(&body, "refresh_token").to_owned();
        app.clock.advance(Duration::from_secs(DAY));
        let response = app.refresh_response(&refresh).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "session_expired").await;
    }
}

#[tokio::test]
async fn logout_ends_one_session_and_is_idempotent() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let first = logged_in(&app, "kate").await;
        let second = app.login("kate").await;
        let body = json!({ "refresh_token": token(&first, "refresh_token") });
        for _ in 0..2 {
            assert_eq!(
                app.post("/auth/logout", &body).await.status(),
                StatusCode::NO_CONTENT
            );
        }
        let garbage = app
            .post("/auth/logout", &json!({ "refresh_token": "nonsense" }))
            .await;
        assert_eq!(garbage.status(), StatusCode::NO_CONTENT);
        let response = app.refresh_response(token(&first, "refresh_token")).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        app.refresh(token(&second, "refresh_token")).await;
    }
}

#[tokio::test]
async fn logout_all_ends_every_session_and_old_access_tokens_here() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let first = logged_in(&app, "leo").await;
        let second = app.login("leo").await;
        let access = token(&first, "access_token");
        assert_eq!(app.sessions(access).await.len(), 2);
        let response = app
            .post_bearer("/auth/logout-all", access, &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        for login in [&first, &second] {
            let response = app.refresh_response(token(login, "refresh_token")).await;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        }
        let response = app.get_bearer("/auth/sessions", access).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let fresh = app.login("leo").await;
        assert_eq!(
            app.sessions(token(&fresh, "access_token")).await.len(),
            1,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let first = logged_in(&app, "mia").await;
        app.clock.advance(Duration::from_secs(60));
        let second = app.login("mia").await;
        let access = token(&first, "access_token");

        let listed = app.sessions(access).await;
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (listed[0]["id"].clone(), listed[0]["current"].clone()),
            (first["session_id"].clone(), json!(true))
        );
        assert_eq!(
            (listed[1]["id"].clone(), listed[1]["current"].clone()),
            (second["session_id"].clone(), json!(false))
        );
        assert_eq!(listed[0]["ip"], "127.0.0.1");
        assert!(listed[0]["created_at"].as_str().unwrap().ends_with('Z'));

        let path = format!("/auth/sessions/{}", token(&second, "session_id"));
        let revoke = app
            .client
            .delete(app.url(&path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
        let again = app
            .client
            .delete(app.url(&path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
        let response = app.refresh_response(token(&second, "refresh_token")).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_eq!(app.sessions(access).await.len(), 1);

        // Another user's session id is the same 404, and stays alive.
        let other = logged_in(&app, "noah").await;
        let path = format!("/auth/sessions/{}", token(&other, "session_id"));
        let response = app
            .client
            .delete(app.url(&path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = app
            .client
            .delete(app.url("/auth/sessions/garbage"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        app.refresh(token(&other, "refresh_token")).await;
    }
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let current = logged_in(&app, "olga").await;
        let other = app.login("olga").await;
        let access = token(&current, "access_token");
        let change = |current_password: &str| json!({ "current_password": current_password, "new_password": "a brand new secret" });

        let wrong = app
            .post_bearer("/auth/password", access, &change("not it"))
            .await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let short = app
            .post_bearer(
                "/auth/password",
                access,
                &json!({ "current_password": PASSWORD, "new_password": "short" }),
            )
            .await;
        assert_error(short, StatusCode::BAD_REQUEST, "validation_failed").await;

        let ok = app
            .post_bearer("/auth/password", access, &change(PASSWORD))
            .await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "{backend:?}");

        let response = app.refresh_response(token(&other, "refresh_token")).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        let refreshed = app.refresh(token(&current, "refresh_token")).await;
        assert_eq!(
            app.sessions(token(&refreshed, "access_token")).await.len(),
            1
        );

        let old = app.login_response("olga", PASSWORD).await;
        assert_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        json_ok(app.login_response("olga", "a brand new secret").await).await;
    }
}

#[tokio::test]
async fn me_names_the_caller_until_the_token_is_revoked() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        app.register("Mona").await;
        let tokens = app.login("mona").await;
        let access = token(&tokens, "access_token");
        let me = json_ok(app.get_bearer("/auth/me", access).await).await;
        assert_eq!(me["username"], "Mona", "{backend:?}: as registered");
        assert_eq!(me["role"], "user");
        assert!(me["user_id"].is_string());
        let response = app
            .post_bearer("/auth/logout-all", access, &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let response = app.get_bearer("/auth/me", access).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}
