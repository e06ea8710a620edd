//! Service sessions (client-credentials grant) against the auth-service's real
//! `/oauth/token`, reached through a counting pass-through so the tests can see how many
//! tokens the client asked for. The tasks-service verifies what it hands out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use auth_core::ManualClock;
use auth_service::oauth::ClientSettings;
use base64::Engine;
use secrecy::SecretString;
use tessera_client::{ClientError, Session, TasksClient};
use tokio::task::JoinSet;

use crate::helpers::{spawn_stack, ACCESS_TTL};

const CLIENT_ID: &str = "reporter";
/// A secret with characters that RFC 6749 §2.3.1's form-encoding changes.
const CLIENT_SECRET: &str = "s3cr+t é/=&:%";

/// The auth-service's entry for [`CLIENT_ID`].
fn reporter() -> ClientSettings {
    use ring::digest::{digest, SHA256};
    ClientSettings {
        id: CLIENT_ID.into(),
        secret_sha256: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(digest(&SHA256, CLIENT_SECRET.as_bytes())),
        scopes: vec!["tasks:purge".into()],
    }
}

/// Where the pass-through sends requests, and how many token requests it passed.
struct Upstream {
    url: String,
    http: reqwest::Client,
    token_requests: AtomicUsize,
}

async fn pass(req: HttpRequest, body: web::Bytes, upstream: web::Data<Upstream>) -> HttpResponse {
    upstream.token_requests.fetch_add(1, Ordering::SeqCst);
    let mut request = upstream
        .http
        .post(format!("{}{}", upstream.url, req.path()));
    for name in ["authorization", "content-type"] {
        if let Some(value) = req.headers().get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let response = request.body(body.to_vec()).send().await.unwrap();
    let mut reply = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(response.status().as_u16()).unwrap(),
    );
    for (name, value) in response.headers() {
        reply.insert_header((name.as_str(), value.as_bytes()));
    }
    reply.body(response.bytes().await.unwrap())
}

/// A pass-through to `auth_url`'s `/oauth/token` on a free port.
fn spawn_counter(auth_url: &str) -> (String, web::Data<Upstream>) {
    let upstream = web::Data::new(Upstream {
        url: auth_url.to_owned(),
        http: testkit::http::client(),
        token_requests: AtomicUsize::new(0),
    });
    let data = upstream.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/oauth/token", web::post().to(pass))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    (url, upstream)
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
    let stack = spawn_stack(|auth| auth.oauth.clients = vec![reporter()]).await;
    let (url, endpoint) = spawn_counter(&stack.auth_url);
    let session = service_session(&url, &stack.clock, CLIENT_SECRET);
    let tasks = Arc::new(TasksClient::new(session.clone(), &stack.tasks_url));

    let mut calls = JoinSet::new();
    for _ in 0..20 {
        let tasks = tasks.clone();
        calls.spawn(async move { tasks.me().await });
    }
    while let Some(me) = calls.join_next().await {
        let me = me.unwrap().unwrap();
        assert_eq!(me.sub, "svc:reporter");
        assert_eq!(me.scope.as_deref(), Some("tasks:purge"));
    }
    assert_eq!(
        endpoint.token_requests.load(Ordering::SeqCst),
        1,
        "single flight"
    );

    stack.clock.advance(ACCESS_TTL - Duration::from_secs(10));
    tasks.me().await.unwrap();
    assert_eq!(
        endpoint.token_requests.load(Ordering::SeqCst),
        2,
        "renewed before expiry"
    );
}

#[tokio::test]
async fn wrong_client_credentials_are_the_endpoints_oauth_error() {
    let stack = spawn_stack(|auth| auth.oauth.clients = vec![reporter()]).await;
    let session = service_session(&stack.auth_url, &stack.clock, "not the secret");
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
}
