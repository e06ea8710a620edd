//! The token session: single-flight refresh (proactive and reactive), proactive timing,
//! the "log in again" path, and processes sharing one token file.

use std::sync::Arc;
use std::time::Duration;

use auth_core::ManualClock;
use tessera_client::{ClientError, FileStore, MemoryStore, TokenStore};
use tokio::task::JoinSet;

use crate::helpers::{spawn_stack, temp_dir, Stack, ACCESS_TTL, PASSWORD};

const PARALLEL: usize = 20;

/// Runs `PARALLEL` `/me` calls at once; every one must succeed.
async fn parallel_me(tasks: &Arc<tessera_client::TasksClient>) {
    let mut calls = JoinSet::new();
    for _ in 0..PARALLEL {
        let tasks = tasks.clone();
        calls.spawn(async move { tasks.me().await });
    }
    while let Some(result) = calls.join_next().await {
        result.unwrap().expect("every concurrent request succeeds");
    }
}

/// No grace window: a second refresh with the same token would be taken for reuse and
/// revoke the family, so a duplicate refresh cannot hide.
async fn strict_stack() -> Stack {
    spawn_stack(|settings| settings.refresh.grace_secs = 0).await
}

#[tokio::test]
async fn expired_token_and_twenty_concurrent_requests_make_exactly_one_refresh() {
    let stack = strict_stack().await;
    stack.register("alice").await;
    let session = stack.session(&stack.clock, Arc::new(MemoryStore::new()));
    session.login("alice", PASSWORD).await.unwrap();
    let tasks = stack.tasks(&session);

    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    parallel_me(&tasks).await;
    assert_eq!(session.refresh_count(), 1);

    // The family is intact: the next expiry refreshes again, and that works.
    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    tasks.me().await.unwrap();
    assert_eq!(session.refresh_count(), 2);
}

#[tokio::test]
async fn twenty_requests_refused_with_401_share_one_reactive_refresh() {
    let stack = strict_stack().await;
    stack.register("bob").await;
    // The client's clock stays put, so it believes its token is fresh; only the servers
    // see it expired, and answer 401 invalid_token.
    let client_clock = ManualClock::starting_now();
    let session = stack.session(&client_clock, Arc::new(MemoryStore::new()));
    session.login("bob", PASSWORD).await.unwrap();
    let tasks = stack.tasks(&session);

    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    parallel_me(&tasks).await;
    assert_eq!(session.refresh_count(), 1);
}

#[tokio::test]
async fn refresh_happens_before_expiry_within_the_margin() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("carol").await;
    let session = stack.session(&stack.clock, Arc::new(MemoryStore::new()));
    session.login("carol", PASSWORD).await.unwrap();
    let tasks = stack.tasks(&session);
    let before = session.tokens().await.unwrap();

    tasks.me().await.unwrap();
    assert_eq!(session.refresh_count(), 0, "a fresh token is used as is");

    // 10 s before expiry: the old token is still valid, yet the session refreshes first.
    stack.clock.advance(ACCESS_TTL - Duration::from_secs(10));
    let old_still_valid = testkit::http::client()
        .get(format!("{}/me", stack.tasks_url))
        .bearer_auth(&before.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(old_still_valid.status(), 200);
    tasks.me().await.unwrap();
    assert_eq!(session.refresh_count(), 1);
    let after = session.tokens().await.unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(after.refresh_token, before.refresh_token, "refresh rotates");
    assert_eq!(after.session_id, before.session_id);
}

#[tokio::test]
async fn a_refused_refresh_is_login_required_and_forgets_the_tokens() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("dave").await;
    let dir = temp_dir("refused");
    let store = Arc::new(FileStore::new(dir.join("default.json")));
    let session = stack.session(&stack.clock, store.clone());
    session.login("dave", PASSWORD).await.unwrap();
    let tasks = stack.tasks(&session);
    assert!(store.load().unwrap().is_some(), "login saves the tokens");

    // Another device ends every session of the account.
    let other = stack.session(&stack.clock, Arc::new(MemoryStore::new()));
    other.login("dave", PASSWORD).await.unwrap();
    other.logout_all().await.unwrap();

    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    let err = tasks.me().await.unwrap_err();
    assert!(matches!(err, ClientError::LoginRequired { .. }), "{err:?}");
    assert!(session.tokens().await.is_none());
    assert!(
        store.load().unwrap().is_none(),
        "the dead tokens are removed"
    );
    let again = tasks.me().await.unwrap_err();
    assert!(
        matches!(again, ClientError::LoginRequired { .. }),
        "{again:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn sessions_sharing_a_token_file_adopt_each_others_rotations() {
    // Several CLI runs on one profile, each holding the tokens it loaded in memory.
    // Presenting a spent refresh token (no grace window here) would revoke the family.
    let stack = strict_stack().await;
    stack.register("erin").await;
    let dir = temp_dir("shared-file");
    let path = dir.join("default.json");
    let first = stack.session(&stack.clock, Arc::new(FileStore::new(&path)));
    first.login("erin", PASSWORD).await.unwrap();
    let second = stack.session(&stack.clock, Arc::new(FileStore::new(&path)));
    let third = stack.session(&stack.clock, Arc::new(FileStore::new(&path)));

    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    stack.tasks(&first).me().await.unwrap();
    stack.tasks(&second).me().await.unwrap();
    assert_eq!(
        (first.refresh_count(), second.refresh_count()),
        (1, 0),
        "the second session took the first one's fresh tokens from the file"
    );
    assert_eq!(first.tokens().await, second.tokens().await);

    // Two expiries later the third still holds the login's tokens; the saved ones are due
    // too, so it refreshes with those, not with its own spent token.
    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    stack.tasks(&second).me().await.unwrap();
    stack.clock.advance(ACCESS_TTL + Duration::from_secs(60));
    stack.tasks(&third).me().await.unwrap();
    assert_eq!(third.refresh_count(), 1);
    stack.tasks(&first).me().await.unwrap();
    assert_eq!(first.refresh_count(), 1, "the family is alive and shared");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn errors_carry_the_service_code_or_say_the_service_is_unreachable() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("frank").await;
    let session = stack.session(&stack.clock, Arc::new(MemoryStore::new()));

    let err = session.login("frank", "wrong password!").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { status: 401, code, .. } if code == "invalid_credentials"),
        "{err:?}"
    );
    let err = stack.tasks(&session).me().await.unwrap_err();
    assert!(matches!(err, ClientError::LoginRequired { .. }), "{err:?}");

    let nowhere =
        tessera_client::Session::builder(&format!("http://127.0.0.1:{}", testkit::free_port()))
            .build()
            .unwrap();
    let err = nowhere.login("frank", PASSWORD).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn logout_ends_the_session_at_the_server() {
    let stack = spawn_stack(|_| {}).await;
    stack.register("grace").await;
    let session = stack.session(&stack.clock, Arc::new(MemoryStore::new()));
    session.login("grace", PASSWORD).await.unwrap();
    let spent = session.tokens().await.unwrap().refresh_token;
    session.logout().await.unwrap();

    let refused = testkit::http::client()
        .post(format!("{}/auth/refresh", stack.auth_url))
        .json(&serde_json::json!({ "refresh_token": spent }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(session.tokens().await.is_none());
}
