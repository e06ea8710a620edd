//! CRUD and pagination through HTTP, on both stores.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, json_ok, spawn_app, Backend, BACKENDS};

#[tokio::test]
async fn crud_round_trip() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let token = app.token_for("alice");

        let created = app.create_task(&token, "  buy milk  ").await;
        assert_eq!(
            created["title"], "buy milk",
            "{backend:?}: title is trimmed"
        );
        assert_eq!(created["done"], false);
        assert_eq!(created["created_at"], created["updated_at"]);
        let path = format!("/tasks/{}", created["id"].as_str().unwrap());

        assert_eq!(json_ok(app.get(&path, &token).await).await, created);

        let patched = json_ok(app.patch(&path, &token, &json!({ "done": true })).await).await;
        assert_eq!(
            (patched["done"].clone(), patched["title"].clone()),
            (json!(true), json!("buy milk"))
        );
        let patched = json_ok(
            app.patch(&path, &token, &json!({ "title": "buy oat milk" }))
                .await,
        )
        .await;
        assert_eq!(
            (patched["done"].clone(), patched["title"].clone()),
            (json!(true), json!("buy oat milk"))
        );
        assert_eq!(patched["created_at"], created["created_at"]);
        assert_eq!(json_ok(app.get(&path, &token).await).await, patched);

        let response = app.delete(&path, &token).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{backend:?}");
        assert_error(
            app.get(&path, &token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_error(
            app.delete(&path, &token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert!(app.all_task_ids(&token, "").await.is_empty());
    }
}

#[tokio::test]
async fn list_is_newest_first_and_pages_follow_cursors() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let token = app.token_for("bob");
        let mut ids = Vec::new();
        for i in 0..7 {
            let task = app.create_task(&token, &format!("task {i}")).await;
            ids.push(task["id"].as_str().unwrap().to_owned());
        }
        // Mark every other task done.
        for id in ids.iter().step_by(2) {
            let response = app
                .patch(&format!("/tasks/{id}"), &token, &json!({ "done": true }))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        ids.reverse();

        let first = json_ok(app.get("/tasks?limit=3", &token).await).await;
        assert_eq!(first["tasks"].as_array().unwrap().len(), 3);
        assert_eq!(first["next_cursor"], json!(ids[2]), "{backend:?}");

        assert_eq!(
            app.all_task_ids(&token, "limit=3").await,
            ids,
            "{backend:?}"
        );
        assert_eq!(app.all_task_ids(&token, "limit=100").await, ids);
        let done: Vec<_> = ids
            .iter()
            .filter(|id| ids.iter().rev().step_by(2).any(|d| d == *id))
            .cloned()
            .collect();
        assert_eq!(
            app.all_task_ids(&token, "limit=2&done=true").await,
            done,
            "{backend:?}"
        );
        let open: Vec<_> = ids
            .iter()
            .filter(|id| !done.contains(id))
            .cloned()
            .collect();
        assert_eq!(app.all_task_ids(&token, "limit=2&done=false").await, open);

        let last = json_ok(app.get("/tasks?limit=7", &token).await).await;
        assert_eq!(
            last["next_cursor"],
            json!(null),
            "exactly one page: no cursor"
        );
    }
}

#[tokio::test]
async fn the_thousand_and_first_task_is_refused() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_for("hoarder");
    for i in 0..tasks_service::store::MAX_TASKS_PER_USER {
        app.create_task(&token, &format!("t{i}")).await;
    }
    let response = app
        .post("/tasks", &token, &json!({ "title": "one too many" }))
        .await;
    assert_error(response, StatusCode::CONFLICT, "task_limit").await;
    // Someone else is unaffected.
    app.create_task(&app.token_for("other"), "fine").await;
}

#[tokio::test]
async fn me_reports_the_verified_caller_without_a_store() {
    let app = spawn_app(Backend::Memory).await;
    let token = app.token_with(
        auth_core::ClaimsBuilder::user("tessera", "tasks", "carol", "sess-9").scope("tasks:read"),
    );
    let me = json_ok(app.get("/me", &token).await).await;
    assert_eq!(me["sub"], "carol");
    assert_eq!(me["role"], "user");
    assert_eq!(me["sid"], "sess-9");
    assert_eq!(me["scope"], "tasks:read");
    assert!(me["exp"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn health_and_readiness() {
    for backend in BACKENDS {
        let app = spawn_app(backend).await;
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{backend:?}");
        assert!(response.headers().contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn the_api_document_is_served_without_a_token() {
    let app = spawn_app(Backend::Memory).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: serde_json::Value = response.json().await.unwrap();
    let generated = serde_json::to_value(tasks_service::openapi::document()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
}
