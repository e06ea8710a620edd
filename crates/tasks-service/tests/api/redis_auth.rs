//! A Redis that requires a password: the password comes from `TASKS__REDIS__PASSWORD_FILE`
//! (a Docker secret in the compose deployment), and `healthcheck` reports readiness. A Redis
//! behind TLS (`rediss://`), trusted through `TASKS__REDIS__CA_FILE`.

use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use secrecy::SecretString;
use tasks_service::{Application, Settings};
use testkit::RedisServer;

use crate::helpers::{assert_error, json_ok, spawn_app_with, Backend};

const PASSWORD: &str = "compose-test-redis-password-0123456789";

/// A file holding `contents`, named after the test.
fn secret_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tessera-{name}-{}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn the_password_file_opens_a_protected_redis() {
    let redis = RedisServer::start_with_password(PASSWORD);
    let file = secret_file("redis-password-good", &format!("{PASSWORD}\n"));
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.redis.url = Some(SecretString::from(redis.url()));
        settings.redis.password_file = Some(file.clone());
    })
    .await;
    let token = app.token_for("alice");
    app.create_task(&token, "stored behind a password").await;
    let tasks = json_ok(app.get("/tasks", &token).await).await;
    assert_eq!(tasks["tasks"][0]["title"], "stored behind a password");
    std::fs::remove_file(file).unwrap();
}

#[tokio::test]
async fn a_tls_redis_is_reached_with_its_ca_and_refused_without_it() {
    let redis = RedisServer::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.redis.url = Some(SecretString::from(redis.url()));
        settings.redis.ca_file = Some(redis.ca_file());
    })
    .await;
    let token = app.token_for("alice");
    app.create_task(&token, "stored over TLS").await;
    let tasks = json_ok(app.get("/tasks", &token).await).await;
    assert_eq!(tasks["tasks"][0]["title"], "stored over TLS");

    // The system's roots do not know the test CA: the certificate is refused.
    let untrusting = spawn_app_with(Backend::Memory, |settings| {
        settings.redis.url = Some(SecretString::from(redis.url()));
    })
    .await;
    let response = untrusting
        .client
        .get(untrusting.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;

    let mut settings = Settings::default();
    settings.jwt.secret = Some(SecretString::from(crate::helpers::SECRET));
    settings.redis.url = Some(SecretString::from(redis.url()));
    settings.redis.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(err.contains("TASKS__REDIS__CA_FILE"), "{err}");
}

#[tokio::test]
async fn a_wrong_password_is_not_ready_and_the_healthcheck_says_so() {
    let redis = RedisServer::start_with_password(PASSWORD);
    let file = secret_file("redis-password-bad", "not-the-password");
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.redis.url = Some(SecretString::from(redis.url()));
        settings.redis.password_file = Some(file.clone());
    })
    .await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
    )
    .await;
    let listen = app.address.trim_start_matches("http://");
    let status = healthcheck(listen);
    assert_eq!(status.code(), Some(1), "unready instance: {status:?}");
    std::fs::remove_file(file).unwrap();
}

#[tokio::test]
async fn the_healthcheck_passes_on_a_ready_instance_and_fails_on_a_closed_port() {
    let app = spawn_app_with(Backend::Redis, |_| {}).await;
    let listen = app.address.trim_start_matches("http://").to_owned();
    // `tokio::process` would need another tokio feature; the probe is quick.
    let status = tokio::task::spawn_blocking(move || healthcheck(&listen))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let closed = format!("127.0.0.1:{}", testkit::free_port());
    assert_eq!(healthcheck(&closed).code(), Some(1));
}

#[tokio::test]
async fn a_password_in_the_url_and_a_password_file_is_refused() {
    let file = secret_file("redis-password-twice", PASSWORD);
    let mut settings = Settings::default();
    settings.jwt.secret = Some(SecretString::from(crate::helpers::SECRET));
    settings.redis.url = Some(SecretString::from("redis://:inline@127.0.0.1:1"));
    settings.redis.password_file = Some(file.clone());
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(err.contains("TASKS__REDIS__PASSWORD_FILE"), "{err}");
    assert!(!err.contains("inline"), "the password never appears: {err}");

    let mut settings = Settings::default();
    settings.jwt.secret = Some(SecretString::from(crate::helpers::SECRET));
    settings.redis.password_file = Some(file.clone());
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(
        err.contains("PASSWORD_FILE is set but no Redis is"),
        "{err}"
    );
    std::fs::remove_file(file).unwrap();
}

/// Runs `tasks-service healthcheck` against `listen`.
fn healthcheck(listen: &str) -> std::process::ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_tasks-service"))
        .arg("healthcheck")
        .env("TASKS__LISTEN", listen)
        .output()
        .unwrap()
        .status
}
