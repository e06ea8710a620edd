//! Assertions on responses of Tessera services: every error is
//! `{"error": "<code>", "message": "<text>"}`, and tests assert on the code.

use std::sync::Once;
use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

/// The HTTP client tests use: a 10 s timeout, and ring installed first as rustls's
/// process-wide provider. When the whole workspace builds together, reqwest carries the
/// client crate's `rustls-no-provider` feature and panics on building a client while no
/// provider is installed.
pub fn client() -> Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Fails only when a provider is installed already, which then serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the test HTTP client")
}

/// Sends one request, with an optional bearer token and an optional JSON body.
pub async fn send(
    client: &Client,
    method: Method,
    url: String,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = client.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("the service answers")
}

/// Asserts 200 and returns the JSON body.
pub async fn json_ok(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Asserts the status and the JSON error code (and that a message is there); returns the
/// body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(
        (actual, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(body["message"].is_string(), "{body}");
    body
}
