//! Malformed requests to every JSON endpoint: a 4xx JSON error, never a 5xx, and no user
//! or session is created.

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app, Backend, PASSWORD};

#[tokio::test]
async fn malformed_bodies_are_4xx_json_and_change_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let json_type = Some("application/json");
    let valid = format!(r#"{{"username":"quinn","password":"{PASSWORD}"}}"#);
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            json_type,
            br#"{"username":"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (json_type, b"null".to_vec(), StatusCode::BAD_REQUEST),
        (
            json_type,
            br#"{"username":5,"password":"12345678"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            json_type,
            br#"{"username":"quinn"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            json_type,
            format!(r#"{{"username":"quinn","password":"{PASSWORD}","role":"admin"}}"#)
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            json_type,
            b"{\"username\":\"qu\xffinn\",\"password\":\"12345678\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            json_type,
            format!(
                r#"{{"username":"quinn","password":"{}"}}"#,
                "x".repeat(20_000)
            )
            .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            None,
            valid.clone().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("text/plain"),
            valid.into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
    ] {
        for (content_type, body, status) in &cases {
            let mut request = app.client.post(app.url(path)).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, *content_type);
            }
            let response = request.send().await.unwrap();
            let shown = String::from_utf8_lossy(&body[..body.len().min(50)]).into_owned();
            let actual = response.status();
            assert_eq!(actual, *status, "{path} {shown}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(
                body["error"].is_string() && body["message"].is_string(),
                "{path}: {body}"
            );
        }
    }
    // None of that registered anyone.
    let response = app.login_response("quinn", PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn bearer_endpoints_without_a_token_are_401() {
    let app = spawn_app(Backend::Memory).await;
    for (method, path) in [
        ("GET", "/auth/sessions"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/password"),
        ("DELETE", "/auth/sessions/x"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .split(',')
                .next(),
            Some(r#"Bearer realm="tessera""#)
        );
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[tokio::test]
async fn unknown_routes_methods_and_huge_headers() {
    let app = spawn_app(Backend::Memory).await;
    let response = app.client.get(app.url("/auth/nope")).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.client.get(app.url("/auth/login")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(256 * 1024))
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
    // Still serving (on a fresh connection: the refused one was closed by the server).
    let response = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
