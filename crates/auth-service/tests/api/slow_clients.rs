//! Requests that never finish, over raw sockets: an upgrade request is answered (400) and
//! changes nothing, a stalled body or head is answered 408 and the connection closed
//! within the configured bound.

use std::time::Duration;

use reqwest::StatusCode;
use testkit::raw::{authority, exchange};

use crate::helpers::{spawn_app, spawn_app_with, Backend, PASSWORD};

/// How long a test waits for the server to answer and close: a bound on a hang.
const BOUND: Duration = Duration::from_secs(10);

fn post(path: &str, content_type: &str, extra: &str, length: usize, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: auth\r\nContent-Type: {content_type}\r\n{extra}\
         Content-Length: {length}\r\n\r\n{body}"
    )
    .into_bytes()
}

#[tokio::test]
async fn upgrade_requests_are_answered_and_change_nothing() {
    let app = spawn_app(Backend::Memory).await;
    let address = authority(&app.address).to_owned();
    let credentials = format!(r#"{{"username":"ulla","password":"{PASSWORD}"}}"#);
    let form = "grant_type=password&client_id=tessera-cli&username=ulla&password=x".to_owned();
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n";
    let requests = [
        ("/auth/register", "application/json", credentials.clone()),
        ("/auth/login", "application/json", credentials),
        ("/oauth/token", "application/x-www-form-urlencoded", form),
    ];
    for (path, content_type, body) in requests {
        let request = post(path, content_type, upgrade, body.len(), &body);
        let address = address.clone();
        let answer = tokio::task::spawn_blocking(move || exchange(&address, &request, BOUND))
            .await
            .unwrap();
        assert_eq!(answer.status(), Some(400), "{path}: {answer:?}");
        assert_eq!(answer.json()["error"], "upgrade_not_supported", "{path}");
        assert!(answer.closed, "{path}: the connection is closed");
    }
    let login = app.login_response("ulla", PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::UNAUTHORIZED,
        "the upgrade registration created no user"
    );
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_closed() {
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.http.body_timeout_secs = 1;
    })
    .await;
    let address = authority(&app.address).to_owned();
    for (path, content_type) in [
        ("/auth/login", "application/json"),
        ("/oauth/token", "application/x-www-form-urlencoded"),
    ] {
        // One byte of the hundred declared, then nothing.
        let request = post(path, content_type, "", 100, "{");
        let address = address.clone();
        let answer = tokio::task::spawn_blocking(move || exchange(&address, &request, BOUND))
            .await
            .unwrap();
        assert!(answer.closed, "{path}: still open after {BOUND:?}");
        assert_eq!(answer.status(), Some(408), "{path}: {answer:?}");
        eprintln!("{path}: stalled body closed after {:?}", answer.elapsed);
    }
}

#[tokio::test]
async fn a_stalled_head_is_closed() {
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.http.head_timeout_secs = 1;
    })
    .await;
    let address = authority(&app.address).to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        exchange(&address, b"POST /auth/login HTTP/1.1\r\nHost: a", BOUND)
    })
    .await
    .unwrap();
    assert!(answer.closed, "still open after {BOUND:?}");
    assert_eq!(answer.status(), Some(408), "{answer:?}");
    eprintln!("stalled head closed after {:?}", answer.elapsed);
}
