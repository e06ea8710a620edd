//! Assertions on responses of Tessera services: every error is
//! `{"error": "<code>", "message": "<text>"}`, and tests assert on the code.

use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

/// The HTTP client tests use: [`service_kit::outbound::client`] with a 10 s timeout.
pub fn client() -> Client {
    service_kit::outbound::client(Duration::from_secs(10)).expect("build the test HTTP client")
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

/// The samples of a Prometheus text exposition (`GET /metrics`): `name{labels}` → value.
pub fn metric_samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}
