//! `GET /admin/tasks` needs the admin role.

use reqwest::StatusCode;

use crate::helpers::{assert_error, json_ok, spawn_app, Backend};

#[tokio::test]
async fn admin_lists_any_users_tasks() {
    let app = spawn_app(Backend::Redis).await;
    let task = app.create_task(&app.token_for("alice"), "audit me").await;
    let page = json_ok(
        app.get("/admin/tasks?user=alice", &app.admin_token("root"))
            .await,
    )
    .await;
    assert_eq!(page["tasks"][0], task);
}

#[tokio::test]
async fn non_admin_gets_403_insufficient_scope() {
    let app = spawn_app(Backend::Memory).await;
    let response = app
        .get("/admin/tasks?user=alice", &app.token_for("bob"))
        .await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert_error(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[tokio::test]
async fn admin_listing_requires_a_user() {
    let app = spawn_app(Backend::Memory).await;
    let admin = app.admin_token("root");
    for path in ["/admin/tasks", "/admin/tasks?user="] {
        assert_error(
            app.get(path, &admin).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        )
        .await;
    }
}
