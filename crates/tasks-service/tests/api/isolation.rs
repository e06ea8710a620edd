//! One user can never see, change or delete another's tasks; every such attempt is the
//! same 404 as for an id that does not exist.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, json_ok, spawn_app, BACKENDS};

#[tokio::test]
async fn another_users_task_is_not_found_on_every_route() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let alice = app.token_for("alice");
        let mallory = app.token_for("mallory");
        let task = app.create_task(&alice, "private").await;
        let path = format!("/tasks/{}", task["id"].as_str().unwrap());

        assert_error(
            app.get(&path, &mallory).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        let response = app.patch(&path, &mallory, &json!({ "done": true })).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        assert_error(
            app.delete(&path, &mallory).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert!(
            app.all_task_ids(&mallory, "").await.is_empty(),
            "{backend:?}"
        );
        let cursor = format!("/tasks?cursor={}", task["id"].as_str().unwrap());
        assert!(json_ok(app.get(&cursor, &mallory).await).await["tasks"]
            .as_array()
            .unwrap()
            .is_empty());

        // Nothing changed for the owner.
        assert_eq!(
            json_ok(app.get(&path, &alice).await).await,
            task,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn malformed_ids_are_not_found() {
    let app = spawn_app(crate::helpers::Backend::Memory).await;
    let token = app.token_for("alice");
    for id in [
        "nope",
        "..%2F..%2Fetc",
        "0190aaaa-0000-7000-8000-00000000000",
    ] {
        let response = app.get(&format!("/tasks/{id}"), &token).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}
