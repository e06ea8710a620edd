//! Captured logs of a whole lifecycle (on Redis, at debug level) contain no password,
//! access token, refresh token, password hash or signing secret. A test binary of its own,
//! because the log subscriber is process-global.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use auth_core::ManualClock;
use auth_service::{Application, Settings};
use reqwest::Client;
use secrecy::SecretString;
use serde_json::{json, Value};
use service_kit::telemetry::{init_with_writer, LogFormat, LogSettings};
use testkit::capture::Capture;
use testkit::RedisServer;

const SECRET: &str = "log-test-secret-0123456789abcdefghijklmnop";
const PASSWORD: &str = "hunter2-but-longer";
const NEW_PASSWORD: &str = "an-even-better-passphrase";

async fn post(client: &Client, url: String, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut request = client.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_full_lifecycle_logs_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    let log = LogSettings {
        format: LogFormat::Json,
        level: "debug".to_owned(),
    };
    init_with_writer(&log, move || writer.clone());

    let redis = RedisServer::start();
    let mut settings = Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        ..Settings::default()
    };
    settings.jwt.secret = Some(SecretString::from(SECRET));
    settings.public_url = Some("https://auth.test".to_owned());
    settings.redis.url = Some(SecretString::from(redis.url()));
    (settings.password.memory_kib, settings.password.iterations) = testkit::support::CHEAP_ARGON2;
    let clock = ManualClock::starting_now();
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = testkit::http::client();
    let url = |path: &str| format!("{base}{path}");

    let credentials = json!({ "username": "logan", "password": PASSWORD });
    assert_eq!(
        post(&client, url("/auth/register"), credentials.clone(), None)
            .await
            .0,
        201
    );
    // A password typed into the username field must not be logged either.
    post(
        &client,
        url("/auth/login"),
        json!({ "username": PASSWORD, "password": PASSWORD }),
        None,
    )
    .await;
    let (_, login) = post(&client, url("/auth/login"), credentials.clone(), None).await;
    let (_, second) = post(&client, url("/auth/login"), credentials, None).await;
    let r0 = login["refresh_token"].as_str().unwrap().to_owned();
    let (_, rotated) = post(
        &client,
        url("/auth/refresh"),
        json!({ "refresh_token": r0 }),
        None,
    )
    .await;
    post(
        &client,
        url("/auth/refresh"),
        json!({ "refresh_token": r0 }),
        None,
    )
    .await;
    clock.advance(Duration::from_secs(30));
    let (status, _) = post(
        &client,
        url("/auth/refresh"),
        json!({ "refresh_token": r0 }),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let access = second["access_token"].as_str().unwrap().to_owned();
    let change = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    assert_eq!(
        post(&client, url("/auth/password"), change, Some(&access))
            .await
            .0,
        204
    );
    post(
        &client,
        url("/auth/logout"),
        json!({ "refresh_token": second["refresh_token"] }),
        None,
    )
    .await;
    client
        .get(url("/me?access_token=") + &access)
        .send()
        .await
        .unwrap();

    let payload = access.split('.').nth(1).unwrap();
    let payload =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    let user_id = serde_json::from_slice::<Value>(&payload).unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let conn = service_kit::redis::RedisConn::open(&redis.url()).unwrap();
    let hash: String = redis::cmd("HGET")
        .arg(format!("tessera:{{u:{user_id}}}:user"))
        .arg("password_hash")
        .query_async(&mut conn.connection().await.unwrap())
        .await
        .unwrap();
    // The root span of the last request closes after its response was sent: wait for it.
    let captured = || capture.text();
    let bound = Duration::from_secs(5);
    testkit::support::eventually("the last request's span to close", bound, || async {
        captured()
            .lines()
            .any(|line| line.contains("close") && line.contains("\"/me\""))
    })
    .await;
    let logs = captured();
    assert!(
        logs.contains("refresh_token_reuse"),
        "capture works and saw the security event"
    );
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        SECRET.to_owned(),
        hash.clone(),
        access.clone(),
    ];
    for body in [&login, &second, &rotated] {
        for field in ["access_token", "refresh_token"] {
            let value = body[field].as_str().unwrap();
            secrets.push(value.to_owned());
            secrets.push(value.rsplit(['.']).next().unwrap().to_owned()); // signature / secret half
        }
    }
    secrets.push(hash.rsplit('$').next().unwrap().to_owned());
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a secret reached the logs: {}…",
            &secret[..secret.len().min(12)]
        );
    }
}
