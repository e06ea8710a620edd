//! CORS: configured origins get a cacheable preflight; others get no CORS grant and a JSON
//! 400 `cors_rejected`; with no
//! origins configured, requests carrying an `Origin` (same-origin browsers) still work.

use reqwest::{Method, StatusCode};

use crate::helpers::{assert_error, json_ok, spawn_app, spawn_app_with, Backend};

const ALLOWED: &str = "https://app.example";

async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/tasks"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn configured_origin_gets_a_cached_preflight() {
    let app = spawn_app_with(Backend::Memory, |s| {
        s.cors.allowed_origins = vec![ALLOWED.to_owned()]
    })
    .await;
    let response = preflight(&app, ALLOWED).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(response.headers()["access-control-max-age"], "3600");
    assert!(!response
        .headers()
        .contains_key("access-control-allow-credentials"));

    let response = preflight(&app, "https://evil.example").await;
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert_error(response, StatusCode::BAD_REQUEST, "cors_rejected").await;

    let response = app
        .client
        .request(Method::OPTIONS, app.url("/tasks"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    let body = assert_error(response, StatusCode::BAD_REQUEST, "cors_rejected").await;
    assert_eq!(body["message"], "Requested method is not allowed");
}

#[tokio::test]
async fn without_cors_configuration_origin_headers_are_harmless() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("alice");
    let response = app
        .client
        .get(app.url("/me"))
        .bearer_auth(&token)
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));
    json_ok(response).await;
}
