//! The axum example as its own process in front of a real auth-service: HS256 through the
//! secret file, EdDSA through the JWKS. A logged-in user's token reaches `/hello`; every
//! attack case of the tasks-service's extractor tests is refused through the axum path
//! with the same 401 `invalid_token` and challenge.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::{Algorithm, ClaimsBuilder, Key, KeyRing};
use auth_service::Settings;
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use service_kit::settings::SigningMode;
use testkit::support::eventually;

const SECRET: &str = "axum-example-tests-secret-0123456789abcdef";
const REFRESH_SECRET: &str = "axum-example-refresh-secret-0123456789abc";
const PASSWORD: &str = "correct horse battery";

/// The example binary, stopped when dropped.
struct Example {
    url: String,
    child: Child,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Example {
    /// Starts the binary with `env` on a free port and waits for `/public`.
    async fn start(env: &[(&str, String)]) -> Example {
        let port = testkit::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_axum-resource-server"))
            .env_clear()
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start axum-resource-server");
        let example = Example {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let public = format!("{}/public", example.url);
        eventually(
            "the example answers /public",
            Duration::from_secs(10),
            || {
                let public = public.clone();
                async move { reqwest::get(public).await.is_ok_and(|r| r.status() == 200) }
            },
        )
        .await;
        example
    }

    async fn hello(&self, authorization: &[String]) -> reqwest::Response {
        let mut request = testkit::http::client().get(format!("{}/hello", self.url));
        for value in authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.send().await.unwrap()
    }

    async fn assert_refused(&self, authorization: &[String], case: &str) {
        let response = self.hello(authorization).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="tessera", error="invalid_token""#),
            "{case}: {challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{case}");
    }
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Bearer {token}")]
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tessera-axum-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// An auth-service in this process (real clock, in-memory store); its base URL.
async fn spawn_auth(customise: impl FnOnce(&mut Settings)) -> String {
    let mut settings = Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        ..Settings::default()
    };
    settings.public_url = Some("https://auth.test".to_owned());
    (settings.password.memory_kib, settings.password.iterations) = testkit::support::CHEAP_ARGON2;
    customise(&mut settings);
    let app = auth_service::Application::build(settings)
        .await
        .expect("build auth-service");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// Registers and logs in `username`; the access token.
async fn access_token(auth: &str, username: &str) -> String {
    let client = testkit::http::client();
    let credentials = json!({ "username": username, "password": PASSWORD });
    for path in ["/auth/register", "/auth/login"] {
        let response = client
            .post(format!("{auth}{path}"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        if path == "/auth/login" {
            let body: Value = response.json().await.unwrap();
            return body["access_token"].as_str().unwrap().to_owned();
        }
    }
    unreachable!()
}

/// A token with valid claims for "eve", signed by a ring holding only `key`.
fn signed_by(key: Key) -> String {
    let claims = ClaimsBuilder::user("tessera", "tasks", "eve", "sid")
        .build(now())
        .unwrap();
    KeyRing::new(key).unwrap().sign(&claims).unwrap()
}

fn payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `token`'s header and payload with `alg: none` and the given signature.
fn alg_none(token: &str, kid: &str, signature: &str) -> String {
    let header = json!({ "alg": "none", "typ": "at+jwt", "kid": kid }).to_string();
    let payload = token.split('.').nth(1).unwrap();
    format!("{}.{payload}.{signature}", b64(header.as_bytes()))
}

/// The attacks every mode refuses, given a valid token and a ring holding the real key.
fn attacks(valid: &str, real: &KeyRing, kid: &str) -> Vec<(String, Vec<String>)> {
    let claims = |issuer: &str, audience: &str, at: u64| {
        ClaimsBuilder::user(issuer, audience, "eve", "sid-eve")
            .build(at)
            .unwrap()
    };
    let other = KeyRing::new(
        Key::hs256_fingerprinted(b"some-other-secret-that-is-long-enough-42").unwrap(),
    )
    .unwrap();
    let (input, _) = valid.rsplit_once('.').unwrap();
    let mut tampered = payload(valid);
    tampered["sub"] = json!("mallory");
    let (header, _) = valid.split_once('.').unwrap();
    let (_, signature) = valid.rsplit_once('.').unwrap();
    let signed = |name: &str, token: String| (name.to_owned(), bearer(&token));
    vec![
        signed("alg none, no signature", alg_none(valid, kid, "")),
        signed("alg none, a signature", alg_none(valid, kid, "c2ln")),
        signed(
            "another key",
            other.sign(&claims("tessera", "tasks", now())).unwrap(),
        ),
        signed(
            "wrong audience",
            real.sign(&claims("tessera", "billing", now())).unwrap(),
        ),
        signed(
            "wrong issuer",
            real.sign(&claims("someone-else", "tasks", now())).unwrap(),
        ),
        signed(
            "expired",
            real.sign(&claims("tessera", "tasks", now() - 3_600))
                .unwrap(),
        ),
        signed(
            "payload changed, signature kept",
            format!(
                "{header}.{}.{signature}",
                b64(tampered.to_string().as_bytes())
            ),
        ),
        signed("empty signature", format!("{input}.")),
        signed("zero signature", format!("{input}.{}", b64(&[0u8; 64]))),
        signed("not a token", "not-a-token".to_owned()),
        ("no token".to_owned(), vec![]),
        ("basic scheme".to_owned(), vec![format!("Basic {valid}")]),
        (
            "two authorization headers".to_owned(),
            vec![format!("Bearer {valid}"), format!("Bearer {valid}")],
        ),
    ]
}

#[tokio::test]
async fn hs256_with_the_secret_file() {
    let auth = spawn_auth(|s| s.jwt.secret = Some(SecretString::from(SECRET))).await;
    let secret_file = temp_file("secret", &format!("{SECRET}\n"));
    let example =
        Example::start(&[("TESSERA_JWT_SECRET_FILE", secret_file.display().to_string())]).await;

    let token = access_token(&auth, "hana").await;
    let response = example.hello(&bearer(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], payload(&token)["sub"]);

    let real = KeyRing::new(Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap()).unwrap();
    let kid = real.keys().next().unwrap().kid().to_owned();
    let forged = signed_by(Key::hs256(&kid, b"some-other-secret-that-is-long-enough-42").unwrap());
    example
        .assert_refused(&bearer(&forged), "our kid, another secret")
        .await;
    for (case, authorization) in attacks(&token, &real, &kid) {
        example.assert_refused(&authorization, &case).await;
    }
    let query = testkit::http::client()
        .get(format!("{}/hello?access_token={token}", example.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query.status(),
        StatusCode::UNAUTHORIZED,
        "token in the query"
    );
    let _ = std::fs::remove_file(secret_file);
}

#[tokio::test]
async fn eddsa_through_the_jwks() {
    let generated = Key::generate(Algorithm::EdDSA).unwrap();
    let private = temp_file("eddsa-private.pem", &generated.private_pem);
    let auth = spawn_auth(|s| {
        s.jwt.algorithm = SigningMode::Eddsa;
        s.jwt.private_key_file = Some(private.clone());
        s.refresh.secret = Some(SecretString::from(REFRESH_SECRET));
    })
    .await;
    let example =
        Example::start(&[("TESSERA_JWKS_URL", format!("{auth}/.well-known/jwks.json"))]).await;

    let token = access_token(&auth, "ines").await;
    let response = example.hello(&bearer(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], payload(&token)["sub"]);

    let real =
        KeyRing::new(Key::from_private_pem(Algorithm::EdDSA, &generated.private_pem).unwrap())
            .unwrap();
    let kid = generated.key.kid().to_owned();
    // Algorithm confusion: HS256 under the EdDSA key's kid, keyed with its public PEM.
    let public_pem = generated.key.public_key_pem().unwrap();
    let confused = signed_by(Key::hs256(&kid, public_pem.as_bytes()).unwrap());
    example
        .assert_refused(&bearer(&confused), "HS256 keyed with the public key")
        .await;
    // A key the JWKS never published: the example asks the JWKS, and still refuses.
    let stranger = signed_by(Key::generate(Algorithm::EdDSA).unwrap().key);
    example
        .assert_refused(&bearer(&stranger), "an unpublished EdDSA key")
        .await;
    for (case, authorization) in attacks(&token, &real, &kid) {
        example.assert_refused(&authorization, &case).await;
    }
    let _ = std::fs::remove_file(private);
}

#[tokio::test]
async fn refuses_to_start_without_keys_or_with_both() {
    for env in [
        vec![],
        vec![
            ("TESSERA_JWT_SECRET_FILE", "/nonexistent".to_owned()),
            ("TESSERA_JWKS_URL", "http://127.0.0.1:1/jwks".to_owned()),
        ],
        vec![
            ("TESSERA_JWKS_URL", "http://127.0.0.1:1/jwks".to_owned()),
            ("TESSERA_ALGORITHM", "HS256".to_owned()),
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_axum-resource-server"))
            .env_clear()
            .env("LISTEN", "127.0.0.1:0")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .output()
            .unwrap();
        assert!(!output.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("TESSERA_"), "{env:?}: {stderr}");
    }
}
