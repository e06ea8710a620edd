//! Browser mode: the refresh token only ever in an HttpOnly cookie, and cookie-authenticated
//! requests only with the custom header and an allowed Origin.

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app_with, Backend, TestApp, PASSWORD};

const APP_ORIGIN: &str = "https://app.example";

async fn browser_app(dev: bool) -> TestApp {
    spawn_app_with(Backend::Memory, |s| {
        s.dev = dev;
        s.browser.allowed_origins = vec![APP_ORIGIN.to_owned()];
    })
    .await
}

fn as_browser(request: RequestBuilder) -> RequestBuilder {
    request.header("x-tessera-client", "browser")
}

/// The `tessera_refresh` Set-Cookie line of a response.
fn set_cookie(response: &Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("tessera_refresh="))
        .expect("a tessera_refresh cookie")
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie["tessera_refresh=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn browser_login(app: &TestApp) -> (Value, String) {
    app.register("pia").await;
    let response = as_browser(app.client.post(app.url("/auth/login")))
        .json(&json!({ "username": "pia", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie(&response);
    (response.json().await.unwrap(), cookie)
}

fn cookie_refresh(app: &TestApp, cookie: &str) -> RequestBuilder {
    app.client
        .post(app.url("/auth/refresh"))
        .header(COOKIE, format!("tessera_refresh={cookie}"))
        .json(&json!({}))
}

#[tokio::test]
async fn login_puts_the_refresh_token_only_in_a_strict_httponly_cookie() {
    let app = browser_app(false).await;
    let (body, cookie) = browser_login(&app).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].is_string());
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/auth",
        "Max-Age=604800",
    ] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
}

#[tokio::test]
async fn cookie_refresh_rotates_with_the_header_and_an_allowed_origin() {
    let app = browser_app(false).await;
    let (_, cookie) = browser_login(&app).await;
    let first = cookie_value(&cookie);
    let response = as_browser(cookie_refresh(&app, &first))
        .header(ORIGIN, APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let next = cookie_value(&set_cookie(&response));
    assert_ne!(next, first);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn cookie_requests_without_csrf_proof_are_refused_and_change_nothing() {
    let app = browser_app(false).await;
    let (_, cookie) = browser_login(&app).await;
    let value = cookie_value(&cookie);
    let attempts = [
        cookie_refresh(&app, &value).header(ORIGIN, APP_ORIGIN),
        as_browser(cookie_refresh(&app, &value)),
        as_browser(cookie_refresh(&app, &value)).header(ORIGIN, "https://evil.example"),
        as_browser(cookie_refresh(&app, &value)).header(ORIGIN, "null"),
    ];
    for attempt in attempts {
        assert_error(
            attempt.send().await.unwrap(),
            StatusCode::FORBIDDEN,
            "csrf_rejected",
        )
        .await;
    }
    // The cookie still works for the real page.
    let response = as_browser(cookie_refresh(&app, &value))
        .header(ORIGIN, APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_through_the_cookie_clears_it() {
    let app = browser_app(false).await;
    let (_, cookie) = browser_login(&app).await;
    let value = cookie_value(&cookie);
    let response = as_browser(app.client.post(app.url("/auth/logout")))
        .header(COOKIE, format!("tessera_refresh={value}"))
        .header(ORIGIN, APP_ORIGIN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&response).contains("Max-Age=0"));
    let response = as_browser(cookie_refresh(&app, &value))
        .header(ORIGIN, APP_ORIGIN)
        .send()
        .await
        .unwrap();
    let cleared = set_cookie(&response);
    assert!(
        cleared.contains("Max-Age=0"),
        "a dead cookie is dropped: {cleared}"
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn secure_is_relaxed_only_in_dev_mode() {
    let app = browser_app(true).await;
    let (_, cookie) = browser_login(&app).await;
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}
