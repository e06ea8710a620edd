//! The OAuth 2.0 surface over real HTTP: `/oauth/token` with each grant and each way a
//! client authenticates, RFC 6749 §5.2 errors, `/oauth/revoke` (RFC 7009) and the RFC 8414
//! metadata (introspection and access-token revocation: `revocation.rs`). A stock client
//! library runs the same flows in `oauth2_client.rs`.

use auth_core::{Role, Subject};
use auth_service::oauth::ClientSettings;
use base64::Engine;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::{
    json_ok, resource_server_verifier, spawn_app, spawn_app_with, Backend, TestApp, BACKENDS,
    PASSWORD, PUBLIC_URL,
};

pub const CLIENT_ID: &str = "billing";
/// A secret with every character RFC 6749 §2.3.1's form-encoding has to carry.
pub const CLIENT_SECRET: &str = "s3cr+t é/=&:%";

/// The `[[oauth.clients]]` entry for [`CLIENT_ID`].
pub fn billing_client() -> ClientSettings {
    use ring::digest::{digest, SHA256};
    ClientSettings {
        id: CLIENT_ID.into(),
        secret_sha256: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(digest(&SHA256, CLIENT_SECRET.as_bytes())),
        scopes: vec!["tasks:purge".into(), "reports:read".into()],
    }
}

pub async fn spawn_oauth_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.oauth.clients = vec![billing_client()]
    })
    .await
}

fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(id), form_encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

impl TestApp {
    /// `POST` a form to `path`, optionally with an `Authorization` header.
    pub async fn form(&self, path: &str, auth: Option<&str>, params: &[(&str, &str)]) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send().await.unwrap()
    }
}

/// Asserts an RFC 6749 §5.2 error and returns its description.
pub async fn oauth_error(response: Response, status: StatusCode, error: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn password_then_refresh_grants_for_a_public_client() {
    for backend in BACKENDS {
        let app = spawn_oauth_app(backend).await;
        app.register("olivia").await;
        let response = app
            .form(
                "/oauth/token",
                None,
                &[
                    ("grant_type", "password"),
                    ("username", "olivia"),
                    ("password", PASSWORD),
                    ("client_id", "tessera-cli"),
                ],
            )
            .await;
        assert_eq!(response.headers()["cache-control"], "no-store");
        let first = json_ok(response).await;
        assert_eq!(first["token_type"], "Bearer");
        assert_eq!(first["expires_in"], 600);
        let claims = resource_server_verifier(&app.clock)
            .verify(first["access_token"].as_str().unwrap())
            .unwrap();
        assert!(matches!(claims.subject(), Subject::User(_)));

        let refreshed = json_ok(
            app.form(
                "/oauth/token",
                None,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", first["refresh_token"].as_str().unwrap()),
                    ("client_id", "tessera-web"),
                ],
            )
            .await,
        )
        .await;
        assert_ne!(
            refreshed["refresh_token"], first["refresh_token"],
            "rotated"
        );
        assert_eq!(refreshed["session_id"], first["session_id"]);

        // Same rotation semantics as /auth/refresh: the spent token after the grace window
        // is reuse, and the family dies.
        app.clock.advance(std::time::Duration::from_secs(11));
        let spent = app
            .form(
                "/oauth/token",
                None,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", first["refresh_token"].as_str().unwrap()),
                    ("client_id", "tessera-cli"),
                ],
            )
            .await;
        let description = oauth_error(spent, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert!(description.contains("already used"), "{description}");
        let successor = app
            .refresh_response(refreshed["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(successor.status(), StatusCode::UNAUTHORIZED, "{backend:?}");
    }
}

#[tokio::test]
async fn client_credentials_with_basic_or_post_authentication() {
    let app = spawn_oauth_app(Backend::Memory).await;
    let by_basic = json_ok(
        app.form(
            "/oauth/token",
            Some(&basic(CLIENT_ID, CLIENT_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "tasks:purge"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(by_basic["scope"], "tasks:purge");
    assert!(by_basic.get("refresh_token").is_none(), "RFC 6749 §4.4.3");
    let claims = resource_server_verifier(&app.clock)
        .verify(by_basic["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.subject(), Subject::Service(CLIENT_ID));
    assert_eq!(claims.sub, "svc:billing");
    assert_eq!(claims.role, Role::Service);
    assert!(claims.has_scope("tasks:purge") && !claims.has_scope("reports:read"));

    let by_post = json_ok(
        app.form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        by_post["scope"], "tasks:purge reports:read",
        "no scope: all allowed"
    );
}

/// A request (`Authorization` header, form) and the error it must get.
type Case<'a> = (
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn every_failure_is_an_rfc6749_error() {
    let app = spawn_oauth_app(Backend::Memory).await;
    app.register("pat").await;
    let secret_basic = basic(CLIENT_ID, CLIENT_SECRET);
    let wrong_basic = basic(CLIENT_ID, "wrong");
    let cases: Vec<Case> = vec![
        // Client authentication.
        (
            None,
            vec![("grant_type", "client_credentials")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(&*wrong_basic),
            vec![("grant_type", "client_credentials")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            vec![("grant_type", "password"), ("client_id", "mallory")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(&*secret_basic),
            vec![
                ("grant_type", "client_credentials"),
                ("client_secret", CLIENT_SECRET),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // Grants.
        (
            None,
            vec![("client_id", "tessera-cli")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "tessera-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            None,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "tessera-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            Some(&*secret_basic),
            vec![
                ("grant_type", "password"),
                ("username", "pat"),
                ("password", PASSWORD),
            ],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            None,
            vec![
                ("grant_type", "password"),
                ("username", "pat"),
                ("password", "wrong password"),
                ("client_id", "tessera-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            None,
            vec![
                ("grant_type", "password"),
                ("username", "pat"),
                ("client_id", "tessera-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            vec![
                ("grant_type", "password"),
                ("username", "pat"),
                ("password", PASSWORD),
                ("client_id", "tessera-cli"),
                ("scope", "admin"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            None,
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "not.a-token"),
                ("client_id", "tessera-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            Some(&*secret_basic),
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "tasks:purge users:delete"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        // RFC 6749 §3.2: a parameter at most once.
        (
            None,
            vec![
                ("grant_type", "password"),
                ("grant_type", "password"),
                ("client_id", "tessera-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (auth, params, status, error) in cases {
        let response = app.form("/oauth/token", auth, &params).await;
        let challenge = response.headers().get("www-authenticate").cloned();
        oauth_error(response, status, error).await;
        if error == "invalid_client" {
            assert!(
                challenge.unwrap().to_str().unwrap().starts_with("Basic"),
                "{params:?}"
            );
        }
    }

    // Not a form at all, or too big: still an OAuth error, never a 500.
    let json = app
        .client
        .post(app.url("/oauth/token"))
        .json(&serde_json::json!({ "grant_type": "password" }))
        .send()
        .await
        .unwrap();
    oauth_error(json, StatusCode::BAD_REQUEST, "invalid_request").await;
    let big = "x".repeat(20 * 1024);
    let response = app
        .form("/oauth/token", None, &[("grant_type", &big)])
        .await;
    oauth_error(response, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;
    let get = app
        .client
        .get(app.url("/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn revoke_ends_the_session_and_is_200_for_anything_else() {
    for backend in BACKENDS {
        let app = spawn_oauth_app(backend).await;
        app.register("rita").await;
        let tokens = app.login("rita").await;
        let refresh = tokens["refresh_token"].as_str().unwrap();
        for token in [
            refresh,
            refresh,
            "not-a-token",
            tokens["access_token"].as_str().unwrap(),
        ] {
            let response = app
                .form(
                    "/oauth/revoke",
                    None,
                    &[("token", token), ("client_id", "tessera-cli")],
                )
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{backend:?}");
        }
        let response = app.refresh_response(refresh).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "the session ended"
        );

        let unauthenticated = app.form("/oauth/revoke", None, &[("token", refresh)]).await;
        oauth_error(unauthenticated, StatusCode::UNAUTHORIZED, "invalid_client").await;
        let missing = app
            .form("/oauth/revoke", Some(&basic(CLIENT_ID, CLIENT_SECRET)), &[])
            .await;
        oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn metadata_names_the_endpoints_grants_and_scopes() {
    let app = spawn_app_with(Backend::Memory, |settings| {
        settings.oauth.clients = vec![billing_client()];
        settings.public_url = Some("https://auth.example.com/".into());
    })
    .await;
    let document = metadata(&app).await;
    assert_eq!(document["issuer"], "tessera");
    assert_eq!(
        document["token_endpoint"],
        "https://auth.example.com/oauth/token"
    );
    assert_eq!(
        document["revocation_endpoint"],
        "https://auth.example.com/oauth/revoke"
    );
    assert_eq!(
        document["introspection_endpoint"],
        "https://auth.example.com/oauth/introspect"
    );
    assert_eq!(
        document["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        document["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        document["grant_types_supported"],
        serde_json::json!(["password", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        document["scopes_supported"],
        serde_json::json!(["reports:read", "tasks:purge"])
    );
}

#[tokio::test]
async fn forged_host_headers_do_not_reach_the_metadata() {
    let app = spawn_app(Backend::Memory).await;
    let honest = metadata(&app).await;
    assert_eq!(
        honest["token_endpoint"],
        format!("{PUBLIC_URL}/oauth/token")
    );
    let url = app.url("/.well-known/oauth-authorization-server");
    let forgeries = [
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "javascript"),
        ("forwarded", "host=evil.example;proto=javascript"),
    ];
    for (name, value) in forgeries {
        let response = app.client.get(&url).header(name, value).send().await;
        assert_eq!(json_ok(response.unwrap()).await, honest, "{name}: {value}");
    }
}

async fn metadata(app: &TestApp) -> Value {
    let url = app.url("/.well-known/oauth-authorization-server");
    json_ok(app.client.get(url).send().await.unwrap()).await
}
