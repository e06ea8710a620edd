//! Roles: the bootstrap admin list, and `users grant-admin` / `revoke-admin` against Redis.

use auth_core::{ManualClock, Verifier};
use auth_service::admin::{set_admin, AdminError};
use reqwest::StatusCode;

use crate::helpers::{
    assert_error, resource_server_verifier, spawn_app_with, spawn_on, test_settings, token, Backend,
};

fn role(verifier: &Verifier, body: &serde_json::Value) -> &'static str {
    verifier
        .verify(token(body, "access_token"))
        .unwrap()
        .role
        .as_str()
}

#[tokio::test]
async fn bootstrap_admins_get_the_admin_role() {
    let app = spawn_app_with(Backend::Memory, |s| s.admins = vec!["Root".to_owned()]).await;
    app.register("root").await;
    app.register("someone").await;
    let verifier = resource_server_verifier(&app.clock);
    assert_eq!(role(&verifier, &app.login("root").await), "admin");
    assert_eq!(role(&verifier, &app.login("someone").await), "user");
}

#[tokio::test]
async fn grant_applies_at_next_refresh_and_revoke_ends_sessions() {
    for backend in [Backend::Redis, Backend::Cluster, Backend::Sentinel] {
        grant_and_revoke_on(backend).await;
    }
}

/// The operator's commands on a store the app shares with them.
async fn grant_and_revoke_on(backend: Backend) {
    let store = backend.start();
    let app = spawn_on(None, ManualClock::starting_now(), |settings| {
        store.apply(&mut settings.redis);
    })
    .await;
    let mut settings = test_settings();
    store.apply(&mut settings.redis);
    app.register("wendy").await;
    let verifier = resource_server_verifier(&app.clock);
    let login = app.login("wendy").await;
    assert_eq!(role(&verifier, &login), "user");

    set_admin(&settings, "WENDY", true).await.unwrap();
    let refreshed = app.refresh(token(&login, "refresh_token")).await;
    assert_eq!(role(&verifier, &refreshed), "admin");

    set_admin(&settings, "wendy", false).await.unwrap();
    let response = app
        .refresh_response(token(&refreshed, "refresh_token"))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    assert_eq!(role(&verifier, &app.login("wendy").await), "user");

    assert!(matches!(
        set_admin(&settings, "nobody", true).await,
        Err(AdminError::NoSuchUser(_))
    ));
    assert!(matches!(
        set_admin(&test_settings(), "wendy", true).await,
        Err(AdminError::NoSharedStore)
    ));
}
