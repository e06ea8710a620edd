//! Forged, expired and misplaced tokens through real HTTP: all 401 `invalid_token`, and
//! nothing is created on their behalf.

use std::time::Duration;

use auth_core::{ClaimsBuilder, Key, KeyRing};
use base64::Engine as _;
use reqwest::header::AUTHORIZATION;
use serde_json::json;

use crate::helpers::{assert_invalid_token, json_ok, spawn_app, Backend, TestApp, SECRET};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn user_claims() -> ClaimsBuilder {
    ClaimsBuilder::user("tessera", "tasks", "eve", "sid-eve")
}

/// The app's header and a valid payload, but `alg: none` and the given signature.
fn alg_none(app: &TestApp, signature: &str) -> String {
    let valid = app.token_for("eve");
    let kid = Key::hs256_fingerprinted(SECRET.as_bytes())
        .unwrap()
        .kid()
        .to_owned();
    let header = json!({ "alg": "none", "typ": "at+jwt", "kid": kid }).to_string();
    let payload = valid.split('.').nth(1).unwrap();
    format!("{}.{payload}.{signature}", b64(header.as_bytes()))
}

async fn assert_refused_everywhere(app: &TestApp, token: &str) {
    assert_invalid_token(app.get("/me", token).await).await;
    assert_invalid_token(app.get("/tasks", token).await).await;
    assert_invalid_token(
        app.post("/tasks", token, &json!({ "title": "forged" }))
            .await,
    )
    .await;
}

#[tokio::test]
async fn forged_tokens_are_401_invalid_token() {
    let app = spawn_app(Backend::Memory).await;
    let other_secret = b"some-other-secret-that-is-long-enough-42";
    let wrong_key = KeyRing::new(Key::hs256_fingerprinted(other_secret).unwrap()).unwrap();
    let our_kid = Key::hs256_fingerprinted(SECRET.as_bytes())
        .unwrap()
        .kid()
        .to_owned();
    let wrong_key_our_kid = KeyRing::new(Key::hs256(our_kid, other_secret).unwrap()).unwrap();
    let claims = || {
        user_claims()
            .build(auth_core::Clock::now(&app.clock))
            .unwrap()
    };
    let valid = app.token_for("eve");
    let (input, _) = valid.rsplit_once('.').unwrap();

    let forged = [
        alg_none(&app, ""),
        alg_none(&app, "c2ln"),
        wrong_key.sign(&claims()).unwrap(),
        wrong_key_our_kid.sign(&claims()).unwrap(),
        app.token_with(ClaimsBuilder::user("tessera", "billing", "eve", "sid")),
        app.token_with(ClaimsBuilder::user("someone-else", "tasks", "eve", "sid")),
        format!("{input}."),
        format!("{input}.{}", b64(&[0u8; 32])),
        "not-a-token".to_owned(),
    ];
    for token in &forged {
        assert_refused_everywhere(&app, token).await;
    }
    assert!(
        app.all_task_ids(&valid, "").await.is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn expired_token_is_401_and_says_so() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("eve");
    json_ok(app.get("/me", &token).await).await;
    app.clock.advance(Duration::from_secs(600 + 31));
    let response = app.get("/me", &token).await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("token has expired"), "{challenge}");
    assert_invalid_token(response).await;
}

#[tokio::test]
async fn missing_token_and_token_in_query_are_401() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("eve");
    for path in [
        "/me".to_owned(),
        format!("/me?access_token={token}"),
        format!("/tasks?access_token={token}"),
    ] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_invalid_token(response).await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_401() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("eve");
    let response = app
        .client
        .get(app.url("/me"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_invalid_token(response).await;
}

#[tokio::test]
async fn service_started_without_a_secret_refuses_outside_dev_mode() {
    let settings = tasks_service::Settings {
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let err = tasks_service::Application::build(settings)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TASKS__JWT__SECRET"), "{err}");
}

#[tokio::test]
async fn a_service_token_has_no_tasks_of_its_own() {
    let app = spawn_app(Backend::Memory).await;
    let service = app.token_with(
        ClaimsBuilder::service("tessera", "tasks", "billing", "client_credentials")
            .scope("tasks:purge"),
    );
    let me = json_ok(app.get("/me", &service).await).await;
    assert_eq!(me["sub"], "svc:billing");
    for response in [
        app.get("/tasks", &service).await,
        app.post("/tasks", &service, &json!({ "title": "as a service" }))
            .await,
        app.get("/admin/tasks", &service).await,
    ] {
        let body = crate::helpers::assert_error(
            response,
            reqwest::StatusCode::FORBIDDEN,
            "insufficient_scope",
        )
        .await;
        assert!(body["message"].is_string());
    }
}
