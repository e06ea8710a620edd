//! Service sessions (client-credentials grant). The auth-service's own `/oauth/token`
//! does not exist yet (issue 5), so these tests run the client against a minimal RFC 6749
//! §4.4 token endpoint here, whose tokens the real tasks-service verifies.
//! When issue 5 adds that endpoint, these tests should move onto it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use auth_core::{ClaimsBuilder, Clock, Key, KeyRing, ManualClock};
use base64::Engine;
use secrecy::SecretString;
use serde_json::json;
use tessera_client::{ClientError, Session, TasksClient};
use tokio::task::JoinSet;

use crate::helpers::{spawn_stack, SECRET};

const CLIENT_ID: &str = "report:er";
/// A secret with characters that RFC 6749 §2.3.1's form-encoding changes.
const CLIENT_SECRET: &str = "s3cr+t é/=&";
const TOKEN_TTL_SECS: u64 = 120;

/// What the endpoint saw.
struct Endpoint {
    keys: KeyRing,
    clock: ManualClock,
    grants: AtomicUsize,
}

/// `POST /oauth/token`: HTTP Basic with the form-encoded id and secret, the
/// `client_credentials` grant; RFC 6749 §5.1 / §5.2 bodies.
async fn token(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    endpoint: web::Data<Endpoint>,
) -> HttpResponse {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("report%3Aer:s3cr%2Bt+%C3%A9%2F%3D%26")
    );
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    if authorization != Some(expected.as_str()) {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Basic realm=\"tessera\""))
            .json(json!({ "error": "invalid_client", "error_description": "client authentication failed" }));
    }
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    if field("grant_type").as_deref() != Some("client_credentials") {
        return HttpResponse::BadRequest().json(json!({ "error": "unsupported_grant_type" }));
    }
    endpoint.grants.fetch_add(1, Ordering::SeqCst);
    let scope = field("scope").unwrap_or_default();
    let claims = ClaimsBuilder::service("tessera", "tasks", "report:er", "svc")
        .scope(scope.clone())
        .lifetime(Duration::from_secs(TOKEN_TTL_SECS))
        .build(endpoint.clock.now())
        .unwrap();
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "access_token": endpoint.keys.sign(&claims).unwrap(),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_SECS,
            "scope": scope,
        }))
}

/// The token endpoint on a free port; returns its URL and its counters.
fn spawn_endpoint(clock: &ManualClock) -> (String, web::Data<Endpoint>) {
    let endpoint = web::Data::new(Endpoint {
        keys: KeyRing::new(Key::hs256_fingerprinted(SECRET.as_bytes()).unwrap()).unwrap(),
        clock: clock.clone(),
        grants: AtomicUsize::new(0),
    });
    let data = endpoint.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/oauth/token", web::post().to(token))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    (url, endpoint)
}

fn service_session(url: &str, clock: &ManualClock, secret: &str) -> Arc<Session> {
    Arc::new(
        Session::builder(url)
            .clock(Arc::new(clock.clone()))
            .client_credentials(CLIENT_ID, SecretString::from(secret), Some("tasks:purge"))
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_service_fetches_one_token_for_concurrent_calls_and_a_new_one_when_due() {
    let stack = spawn_stack(|_| {}).await;
    let (url, endpoint) = spawn_endpoint(&stack.clock);
    let session = service_session(&url, &stack.clock, CLIENT_SECRET);
    let tasks = Arc::new(TasksClient::new(session.clone(), &stack.tasks_url));

    let mut calls = JoinSet::new();
    for _ in 0..20 {
        let tasks = tasks.clone();
        calls.spawn(async move { tasks.me().await });
    }
    while let Some(me) = calls.join_next().await {
        let me = me.unwrap().unwrap();
        assert_eq!(me.sub, "svc:report:er");
        assert_eq!(me.scope.as_deref(), Some("tasks:purge"));
    }
    assert_eq!(endpoint.grants.load(Ordering::SeqCst), 1, "single flight");

    stack
        .clock
        .advance(Duration::from_secs(TOKEN_TTL_SECS - 10));
    tasks.me().await.unwrap();
    assert_eq!(
        endpoint.grants.load(Ordering::SeqCst),
        2,
        "renewed before expiry"
    );
}

#[tokio::test]
async fn wrong_client_credentials_are_the_endpoints_oauth_error() {
    let stack = spawn_stack(|_| {}).await;
    let (url, endpoint) = spawn_endpoint(&stack.clock);
    let session = service_session(&url, &stack.clock, "not the secret");
    let err = TasksClient::new(session, &stack.tasks_url)
        .me()
        .await
        .unwrap_err();
    match err {
        ClientError::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!((status, code.as_str()), (401, "invalid_client"));
            assert_eq!(message, "client authentication failed", "error_description");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(endpoint.grants.load(Ordering::SeqCst), 0);
}
