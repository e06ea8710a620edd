//! Clients that never finish a request cannot take the service down: 2,000 connections
//! held mid-head and mid-body leave `/me` answering, and an upgrade request is answered.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::raw::{authority, exchange, open};

use crate::helpers::{spawn_app, Backend};

/// Connections held open at once (half mid-head, half mid-body).
const HELD: usize = 2_000;
/// `/me` calls made while they are held.
const CALLS: usize = 50;

#[tokio::test]
async fn held_connections_leave_me_answering() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("hana");
    let address = authority(&app.address).to_owned();
    let head = "POST /tasks HTTP/1.1\r\nHost: tasks\r\nContent-Type: application/json\r\n";
    let body = format!("{head}Authorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n{{");
    let held: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..HELD)
            .map(|n| open(&address, if n % 2 == 0 { head } else { &body }.as_bytes()))
            .collect()
    })
    .await
    .unwrap();

    let mut latencies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let response = app.get("/me", &token).await;
        latencies.push(start.elapsed());
        assert_eq!(response.status(), StatusCode::OK);
    }
    latencies.sort();
    eprintln!(
        "/me with {} connections held: p50 {:?}, max {:?}",
        held.len(),
        latencies[CALLS / 2],
        latencies[CALLS - 1]
    );
    drop(held);
}

#[tokio::test]
async fn an_upgrade_request_is_answered() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("hana");
    let address = authority(&app.address).to_owned();
    let body = r#"{"title":"never created"}"#;
    let request = format!(
        "POST /tasks HTTP/1.1\r\nHost: tasks\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = tokio::task::spawn_blocking(move || {
        exchange(&address, request.as_bytes(), Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert_eq!(answer.status(), Some(400), "{answer:?}");
    assert_eq!(answer.json()["error"], "upgrade_not_supported");
    assert!(
        app.all_task_ids(&token, "").await.is_empty(),
        "no task created"
    );
}
