//! `DELETE /internal/users/{id}/tasks`: only a service token with `tasks:purge` may purge a
//! user's tasks; the call is idempotent; other users' tasks stay.

use auth_core::ClaimsBuilder;
use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app, Backend, TestApp, BACKENDS};

const ALICE: &str = "0192a1b2-0000-4000-8000-00000000a11c";
const BOB: &str = "0192a1b2-0000-4000-8000-000000000b0b";

fn service_token(app: &TestApp, scope: &str) -> String {
    app.token_with(
        ClaimsBuilder::service("tessera", "tasks", "auth-service", "client_credentials")
            .scope(scope),
    )
}

#[tokio::test]
async fn a_purge_deletes_one_users_tasks_once_and_for_all() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let (alice, bob) = (app.token_for(ALICE), app.token_for(BOB));
        app.create_task(&alice, "one").await;
        app.create_task(&alice, "two").await;
        app.create_task(&bob, "bob's").await;
        let purger = service_token(&app, "tasks:purge");
        let path = format!("/internal/users/{ALICE}/tasks");
        for _ in 0..2 {
            let response = app.delete(&path, &purger).await;
            assert_eq!(
                response.status(),
                StatusCode::NO_CONTENT,
                "{backend:?}, idempotent"
            );
        }
        assert!(app.all_task_ids(&alice, "").await.is_empty());
        assert_eq!(app.all_task_ids(&bob, "").await.len(), 1);
    }
}

#[tokio::test]
async fn users_and_services_without_the_scope_are_403() {
    let app = spawn_app(Backend::Memory).await;
    let alice = app.token_for(ALICE);
    app.create_task(&alice, "kept").await;
    let path = format!("/internal/users/{ALICE}/tasks");
    let user_with_scope = app
        .token_with(ClaimsBuilder::user("tessera", "tasks", BOB, "sid-bob").scope("tasks:purge"));
    for token in [
        alice.clone(),
        app.admin_token(BOB),
        user_with_scope,
        service_token(&app, "tasks:read"),
    ] {
        assert_error(
            app.delete(&path, &token).await,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        )
        .await;
    }
    assert_eq!(
        app.all_task_ids(&alice, "").await.len(),
        1,
        "nothing purged"
    );
    let purger = service_token(&app, "tasks:purge");
    let malformed = app
        .delete("/internal/users/not-a-uuid/tasks", &purger)
        .await;
    assert_error(malformed, StatusCode::NOT_FOUND, "not_found").await;
}
