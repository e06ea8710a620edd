//! Concurrent refreshes and several instances: one family never forks.

use std::time::Duration;

use auth_core::ManualClock;
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::helpers::{assert_error, spawn_app, spawn_on, token, BACKENDS};

#[tokio::test]
async fn fifty_concurrent_refreshes_with_one_token_agree() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        app.register("tabs").await;
        let login = app.login("tabs").await;
        let presented = token(&login, "refresh_token").to_owned();

        let mut refreshes = JoinSet::new();
        for _ in 0..50 {
            let (client, url, presented) = (
                app.client.clone(),
                app.url("/auth/refresh"),
                presented.clone(),
            );
            refreshes.spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({ "refresh_token": presented }))
                    .send()
                    .await
                    .unwrap()
            });
        }
        let mut successors = Vec::new();
        while let Some(response) = refreshes.join_next().await {
            let response = response.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{backend:?}");
            let body: serde_json::Value = response.json().await.unwrap();
            successors.push(token(&body, "refresh_token").to_owned());
        }
        successors.dedup();
        assert_eq!(successors.len(), 1, "{backend:?}: one successor for all");
        let next = app.refresh(&successors[0]).await;
        assert_eq!(
            app.sessions(token(&next, "access_token")).await.len(),
            1,
            "one live family"
        );
    }
}

#[tokio::test]
async fn two_instances_on_one_redis_share_rotation_and_reuse_detection() {
    let redis = testkit::RedisServer::start();
    let clock = ManualClock::starting_now();
    let a = spawn_on(Some(&redis.url()), clock.clone(), |_| {}).await;
    let b = spawn_on(Some(&redis.url()), clock.clone(), |_| {}).await;

    a.register("nomad").await;
    let login = b.login("nomad").await;
    let r0 = token(&login, "refresh_token").to_owned();
    let r1 = token(&b.refresh(&r0).await, "refresh_token").to_owned();
    assert_eq!(
        token(&a.refresh(&r0).await, "refresh_token"),
        r1,
        "grace answer is the same on A"
    );
    clock.advance(Duration::from_secs(11));
    assert_error(
        a.refresh_response(&r0).await,
        reqwest::StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    assert_error(
        b.refresh_response(&r1).await,
        reqwest::StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
}
