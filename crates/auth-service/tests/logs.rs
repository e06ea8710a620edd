//! What a whole lifecycle writes (on Redis, at debug level): every audit event with its
//! documented fields, and no password, access token, refresh token, password hash or
//! signing secret anywhere — log line or audit line. A test binary of its own, because the
//! log subscriber is process-global.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{Algorithm, Clock, ManualClock};
use auth_service::keys::set::{self as keyset, Rotated};
use auth_service::oauth::ClientSettings;
use auth_service::{Application, Settings};
use base64::Engine;
use reqwest::{Client, Method};
use secrecy::SecretString;
use serde_json::{json, Value};
use service_kit::settings::SigningMode;
use service_kit::telemetry::{init_with_writer, LogFormat, LogSettings};
use testkit::capture::Capture;
use testkit::RedisServer;

const SECRET: &str = "log-test-secret-0123456789abcdefghijklmnop";
const PASSWORD: &str = "hunter2-but-longer";
const NEW_PASSWORD: &str = "an-even-better-passphrase";
const CLIENT_SECRET: &str = "audit-client-secret-0123456789";
const USER_AGENT: &str = "audit-test/1.0";
/// Attempts per username per minute: the throttled name's fifth attempt is refused.
const NAME_ATTEMPTS: u64 = 4;

/// Every key of an audit line, in the documented order.
const KEYS: [&str; 10] = [
    "time",
    "target",
    "event",
    "outcome",
    "user_id",
    "session_id",
    "client_ip",
    "user_agent",
    "request_id",
    "details",
];

struct Api {
    client: Client,
    base: String,
}

impl Api {
    /// Status, body and `X-Request-Id` of a JSON request.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> (u16, Value, String) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        (status, response.json().await.unwrap_or(Value::Null), id)
    }

    async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
        let (status, body, _) = self.call(Method::POST, path, Some(body), bearer).await;
        (status, body)
    }

    async fn form(&self, path: &str, form: &[(&str, &str)], basic: Option<&str>) -> u16 {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(id) = basic {
            request = request.basic_auth(id, Some(CLIENT_SECRET));
        }
        request.send().await.unwrap().status().as_u16()
    }

    async fn login(&self, username: &str, password: &str) -> Value {
        let credentials = json!({ "username": username, "password": password });
        let (status, body) = self.post("/auth/login", credentials, None).await;
        assert_eq!(status, 200, "{username} logs in");
        body
    }
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap()
}

fn user_id(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    field(&serde_json::from_slice(&payload).unwrap(), "sub").to_owned()
}

fn settings_on(redis: &RedisServer) -> Settings {
    let mut settings = common::settings(SECRET);
    settings.redis.url = Some(SecretString::from(redis.url()));
    settings
}

/// The audit lines in `logs` (one JSON object each, `"target":"audit"`).
fn audit_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "audit")
        .collect()
}

#[tokio::test]
async fn a_full_lifecycle_is_audited_and_logs_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    let log = LogSettings {
        format: LogFormat::Json,
        level: "debug".to_owned(),
        audit: true,
    };
    init_with_writer(&log, move || writer.clone());

    let redis = RedisServer::start();
    let mut settings = settings_on(&redis);
    settings.admins = vec!["root".to_owned()];
    settings.rate_limit.ip_attempts = 1000;
    settings.rate_limit.username_attempts = NAME_ATTEMPTS;
    settings.rate_limit.username_window_secs = 60;
    settings.oauth.clients = vec![ClientSettings {
        id: "billing".into(),
        secret_sha256: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            ring::digest::digest(&ring::digest::SHA256, CLIENT_SECRET.as_bytes()),
        ),
        scopes: vec!["tasks:purge".into()],
    }];
    let clock = ManualClock::starting_now();
    let app = Application::build_with_clock(settings.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let api = Api {
        client: Client::builder().user_agent(USER_AGENT).build().unwrap(),
        base: format!("http://127.0.0.1:{}", app.port()),
    };
    tokio::spawn(app.run_until_stopped());
    let next_window = || clock.advance(Duration::from_secs(61));

    let credentials = json!({ "username": "logan", "password": PASSWORD });
    let (status, _) = api.post("/auth/register", credentials.clone(), None).await;
    assert_eq!(status, 201);
    let root = json!({ "username": "root", "password": PASSWORD });
    assert_eq!(api.post("/auth/register", root, None).await.0, 201);
    // A password typed into the username field must not be logged either.
    let typo = json!({ "username": PASSWORD, "password": PASSWORD });
    assert_eq!(api.post("/auth/login", typo, None).await.0, 401);
    let wrong = json!({ "username": "logan", "password": "not-the-password" });
    assert_eq!(api.post("/auth/login", wrong, None).await.0, 401);
    let (status, login, login_request) = api
        .call(Method::POST, "/auth/login", Some(credentials.clone()), None)
        .await;
    assert_eq!(status, 200);
    let second = api.login("logan", PASSWORD).await;
    let logan = user_id(field(&login, "access_token"));
    let r0 = field(&login, "refresh_token").to_owned();
    let (_, rotated) = api
        .post("/auth/refresh", json!({ "refresh_token": r0 }), None)
        .await;
    api.post("/auth/refresh", json!({ "refresh_token": r0 }), None)
        .await;
    clock.advance(Duration::from_secs(30));
    let (status, _) = api
        .post("/auth/refresh", json!({ "refresh_token": r0 }), None)
        .await;
    assert_eq!(status, 401, "reuse after the grace window");

    next_window();
    let access = field(&second, "access_token").to_owned();
    let change = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    assert_eq!(
        api.post("/auth/password", change, Some(&access)).await.0,
        204
    );
    let logout = json!({ "refresh_token": second["refresh_token"] });
    assert_eq!(api.post("/auth/logout", logout.clone(), None).await.0, 204);
    // Nothing left to end: no second logout event.
    assert_eq!(api.post("/auth/logout", logout, None).await.0, 204);
    api.client
        .get(format!("{}/auth/me?access_token={access}", api.base))
        .send()
        .await
        .unwrap();

    let third = api.login("logan", NEW_PASSWORD).await;
    let fourth = api.login("logan", NEW_PASSWORD).await;
    let third_access = field(&third, "access_token").to_owned();
    let (status, _, _) = api
        .call(
            Method::DELETE,
            &format!("/auth/sessions/{}", field(&fourth, "session_id")),
            None,
            Some(&third_access),
        )
        .await;
    assert_eq!(status, 204);
    let revoke = [
        ("token", third_access.as_str()),
        ("client_id", "tessera-cli"),
    ];
    assert_eq!(api.form("/oauth/revoke", &revoke, None).await, 200);
    let fifth = api.login("logan", NEW_PASSWORD).await;
    let fifth_access = field(&fifth, "access_token");
    assert_eq!(
        api.post("/auth/logout-all", json!({}), Some(fifth_access))
            .await
            .0,
        204
    );

    let service = [("grant_type", "client_credentials")];
    assert_eq!(
        api.form("/oauth/token", &service, Some("billing")).await,
        200
    );

    next_window();
    for _ in 0..NAME_ATTEMPTS {
        let guess = json!({ "username": "ratty", "password": "guess-guess-guess" });
        assert_eq!(api.post("/auth/login", guess, None).await.0, 401);
    }
    let guess = json!({ "username": "ratty", "password": "guess-guess-guess" });
    assert_eq!(api.post("/auth/login", guess, None).await.0, 429);

    let dana = json!({ "username": "dana", "password": PASSWORD });
    assert_eq!(api.post("/auth/register", dana, None).await.0, 201);
    let dana_login = api.login("dana", PASSWORD).await;
    let dana_access = field(&dana_login, "access_token");
    let dana_id = user_id(dana_access);
    let (status, _, _) = api
        .call(
            Method::DELETE,
            "/auth/account",
            Some(json!({ "password": PASSWORD })),
            Some(dana_access),
        )
        .await;
    assert_eq!(status, 204);

    // The operator's commands (no request: no client fields).
    auth_service::admin::set_admin(&settings, "logan", true)
        .await
        .unwrap();
    auth_service::admin::set_admin(&settings, "root", false)
        .await
        .unwrap();

    // A second instance signing with a key set: an emergency rotation reaches it.
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tessera-audit-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = keyset::generate(&dir, Algorithm::EdDSA, clock.now()).unwrap();
    let mut signing = settings_on(&redis);
    signing.jwt.algorithm = SigningMode::Eddsa;
    signing.jwt.secret = None;
    signing.jwt.keys_dir = Some(dir.clone());
    signing.jwt.keys_reload_secs = 1;
    signing.refresh.secret = Some(SecretString::from("audit-refresh-secret-0123456789abcdef"));
    let keyed = Application::build_with_clock(signing.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    tokio::spawn(keyed.run_until_stopped());
    let timing = auth_service::keys::timing(&signing, None);
    let Rotated::Scheduled(fresh) =
        keyset::rotate(&dir, Algorithm::EdDSA, clock.now(), timing, true).unwrap()
    else {
        panic!("an emergency rotation makes a key")
    };

    let bound = Duration::from_secs(10);
    testkit::support::eventually("the rotation's audit line", bound, || async {
        capture.text().contains("signing_key_rotated")
    })
    .await;
    let logs = capture.text();
    let audit = audit_lines(&logs);
    let events: Vec<&str> = audit.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let named =
        |name: &str| -> Vec<&Value> { audit.iter().filter(|e| e["event"] == name).collect() };
    let only = |name: &str| -> &Value {
        let found = named(name);
        assert_eq!(found.len(), 1, "one {name}: {events:?}");
        found[0]
    };

    for line in &audit {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = KEYS.to_vec();
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected, "every key, always: {line}");
        humantime::parse_rfc3339(line["time"].as_str().unwrap()).unwrap();
    }
    // Request fields: the client as the service sees it.
    let request_events = audit
        .iter()
        .filter(|e| !e["details"]["by"].is_string() && e["event"] != "signing_key_rotated");
    for line in request_events {
        assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
        assert_eq!(line["user_agent"], USER_AGENT, "{line}");
        assert!(line["request_id"].is_string(), "{line}");
    }

    let registered: Vec<&Value> = named("user_registered");
    assert_eq!(registered.len(), 3, "logan, root, dana");
    assert_eq!(registered[0]["user_id"], logan.as_str());
    let bootstrap = named("role_granted");
    assert_eq!(
        bootstrap.len(),
        2,
        "root by AUTH__ADMINS, logan by the operator"
    );
    assert_eq!(
        bootstrap[0]["details"],
        json!({"role": "admin", "by": "bootstrap"})
    );
    assert_eq!(bootstrap[0]["user_id"], registered[1]["user_id"]);
    assert_eq!(bootstrap[1]["user_id"], logan.as_str());
    assert_eq!(bootstrap[1]["details"]["by"], "operator");
    assert!(bootstrap[1]["client_ip"].is_null() && bootstrap[1]["request_id"].is_null());
    let revoked_role = only("role_revoked");
    assert_eq!(revoked_role["user_id"], registered[1]["user_id"]);

    let failed = named("login_failed");
    assert_eq!(failed.len(), 2 + NAME_ATTEMPTS as usize);
    assert!(
        failed[0]["user_id"].is_null(),
        "an unknown name has no user"
    );
    assert_eq!(failed[1]["user_id"], logan.as_str());
    assert!(failed.iter().all(|e| e["outcome"] == "failure"));

    let logins = named("login_succeeded");
    assert_eq!(logins.len(), 6, "logan ×5, dana");
    assert_eq!(logins[0]["session_id"], field(&login, "session_id"));
    assert_eq!(
        logins[0]["request_id"],
        login_request.as_str(),
        "X-Request-Id"
    );
    assert_eq!(logins[0]["outcome"], "success");

    let reuse = only("refresh_reuse_detected");
    assert_eq!(
        (&reuse["user_id"], &reuse["session_id"], &reuse["outcome"]),
        (
            &json!(logan),
            &json!(field(&login, "session_id")),
            &json!("failure")
        )
    );
    let changed = only("password_changed");
    assert_eq!(changed["session_id"], field(&second, "session_id"));
    let logout = only("logout");
    assert_eq!(logout["session_id"], field(&second, "session_id"));
    assert_eq!(logout["user_id"], logan.as_str());
    let ended = only("session_revoked");
    assert_eq!(ended["session_id"], field(&fourth, "session_id"));
    assert_eq!(ended["details"]["by_session"], field(&third, "session_id"));
    let token = only("token_revoked");
    assert_eq!(token["session_id"], field(&third, "session_id"));
    assert!(token["details"]["jti"].is_string());
    assert_eq!(
        only("logout_all")["session_id"],
        field(&fifth, "session_id")
    );
    let issued = only("client_token_issued");
    assert_eq!(
        issued["details"],
        json!({"client_id": "billing", "scope": "tasks:purge"})
    );
    assert!(issued["user_id"].is_null());
    let limited = only("rate_limited");
    assert_eq!(limited["details"]["scope"], "username");
    assert_eq!(limited["outcome"], "failure");
    let deleted = only("account_deleted");
    assert_eq!(deleted["user_id"], dana_id.as_str());
    assert_eq!(deleted["session_id"], field(&dana_login, "session_id"));
    let rotation = only("signing_key_rotated");
    assert_eq!(
        rotation["details"],
        json!({"kid": fresh.kid, "previous_kid": first.kid})
    );
    assert!(rotation["client_ip"].is_null());

    let every = [
        "user_registered",
        "login_succeeded",
        "login_failed",
        "refresh_reuse_detected",
        "session_revoked",
        "logout",
        "logout_all",
        "password_changed",
        "account_deleted",
        "role_granted",
        "role_revoked",
        "signing_key_rotated",
        "client_token_issued",
        "rate_limited",
        "token_revoked",
    ];
    let mut seen: Vec<&str> = events.clone();
    seen.sort_unstable();
    seen.dedup();
    let mut every = every.to_vec();
    every.sort_unstable();
    assert_eq!(seen, every, "each event, and no other");

    // No secret anywhere: log lines and audit lines alike.
    let conn = service_kit::redis::RedisConn::open(&redis.url()).unwrap();
    let hash: String = redis::cmd("HGET")
        .arg(format!("tessera:{{u:{logan}}}:user"))
        .arg("password_hash")
        .query_async(&mut conn.connection().await.unwrap())
        .await
        .unwrap();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        SECRET.to_owned(),
        CLIENT_SECRET.to_owned(),
        hash.clone(),
        hash.rsplit('$').next().unwrap().to_owned(),
    ];
    for body in [
        &login,
        &second,
        &rotated,
        &third,
        &fourth,
        &fifth,
        &dana_login,
    ] {
        for name in ["access_token", "refresh_token"] {
            let value = field(body, name);
            secrets.push(value.to_owned());
            secrets.push(value.rsplit('.').next().unwrap().to_owned()); // signature / secret half
        }
    }
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a secret reached the logs: {}…",
            &secret[..secret.len().min(12)]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
