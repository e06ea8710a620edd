//! Traces: one account deletion, started by a client with its own `traceparent`, arrives
//! at a small OTLP/HTTP receiver as one trace across both services — the auth-service's
//! request, its password check and store operations, its purge call, and the
//! tasks-service's request (a child of that call) with its store operation — and the
//! request's log line carries the trace id. A test binary of its own, because the
//! subscriber and the tracer provider are process-global.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use auth_core::ManualClock;
use auth_service::Application;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use secrecy::SecretString;
use serde_json::{json, Value};
use service_kit::settings::SigningMode;
use service_kit::telemetry::{init_traced_with_writer, LogFormat, LogSettings};
use service_kit::traces::OtelSettings;
use testkit::capture::Capture;

const SECRET: &str = "trace-test-secret-0123456789abcdefghijklmnop";
const PASSWORD: &str = "traced-and-deleted-passphrase";
/// The client's trace and span: the deletion continues them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Every span posted to `/v1/traces`, with its resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().unwrap().clone()
    }
}

async fn receive(body: web::Bytes, received: web::Data<Received>) -> HttpResponse {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut spans = received.0.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Any::StringValue(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource.scope_spans {
            spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Any::StringValue(text) => Some(text.clone()),
            other => Some(format!("{other:?}")),
        })
}

#[tokio::test]
async fn one_account_deletion_is_one_trace_across_both_services() {
    let received = Received::default();
    let data = web::Data::new(received.clone());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .route("/v1/traces", web::post().to(receive))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let endpoint = format!("http://{}", receiver.addrs()[0]);
    tokio::spawn(receiver.run());

    let logs = Capture::default();
    let writer = logs.clone();
    let log = LogSettings {
        format: LogFormat::Json,
        level: "info".to_owned(),
        audit: true,
    };
    let otel = OtelSettings {
        endpoint: Some(endpoint),
    };
    init_traced_with_writer("auth-service", "AUTH", &log, &otel, move || writer.clone()).unwrap();
    assert!(service_kit::traces::enabled());

    let clock = ManualClock::starting_now();
    let tasks = testkit::support::spawn_tasks_service(&clock, |settings| {
        settings.jwt.secret = Some(SecretString::from(SECRET));
    })
    .await;
    let mut settings = common::settings(SECRET);
    settings.purge.tasks_urls = vec![tasks.clone()];
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = testkit::http::client();

    let credentials = json!({ "username": "tracy", "password": PASSWORD });
    let register = client.post(format!("{base}/auth/register"));
    assert_eq!(
        register.json(&credentials).send().await.unwrap().status(),
        201
    );
    let login = client.post(format!("{base}/auth/login"));
    let tokens: Value = login
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let created = client
        .post(format!("{tasks}/tasks"))
        .bearer_auth(access)
        .json(&json!({ "title": "to be purged" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let deleted = client
        .delete(format!("{base}/auth/account"))
        .bearer_auth(access)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // Both request spans end just after their answers: flush until they are there.
    let traced = || {
        received
            .spans()
            .into_iter()
            .filter(|(_, span)| hex(&span.trace_id) == TRACE_ID)
            .collect::<Vec<_>>()
    };
    let bound = Duration::from_secs(10);
    testkit::support::eventually("both services' request spans", bound, || async {
        tokio::task::spawn_blocking(service_kit::traces::flush)
            .await
            .unwrap();
        let spans = traced();
        ["DELETE /auth/account", "DELETE /internal/users/{id}/tasks"]
            .iter()
            .all(|name| spans.iter().any(|(_, span)| span.name == *name))
    })
    .await;

    let spans = traced();
    let named = |name: &str| -> Vec<&Span> {
        spans
            .iter()
            .map(|(_, span)| span)
            .filter(|span| span.name == name)
            .collect()
    };
    let one = |name: &str| -> &Span {
        let found = named(name);
        assert_eq!(found.len(), 1, "one {name}: {:#?}", names(&spans));
        found[0]
    };
    let deletion = one("DELETE /auth/account");
    assert_eq!(
        hex(&deletion.parent_span_id),
        CLIENT_SPAN,
        "the client's span"
    );
    assert_eq!(
        attribute(deletion, "http.route").as_deref(),
        Some("/auth/account")
    );
    let hashing = one("password_hash");
    assert_eq!(hashing.parent_span_id, deletion.span_id);
    let store_ops: Vec<String> = named("store")
        .iter()
        .filter(|span| span.parent_span_id == deletion.span_id)
        .filter_map(|span| attribute(span, "op"))
        .collect();
    for op in ["user_by_id", "enqueue_purge", "delete_user", "purge_done"] {
        assert!(store_ops.iter().any(|o| o == op), "{op} in {store_ops:?}");
    }
    let call = one("purge_call");
    assert_eq!(call.parent_span_id, deletion.span_id);
    let purge = one("DELETE /internal/users/{id}/tasks");
    assert_eq!(
        purge.parent_span_id, call.span_id,
        "the tasks-service continues the purge call's traceparent"
    );
    let purge_store: Vec<String> = named("store")
        .iter()
        .filter(|span| span.parent_span_id == purge.span_id)
        .filter_map(|span| attribute(span, "op"))
        .collect();
    assert_eq!(purge_store, ["purge"]);
    assert!(spans.iter().all(|(service, _)| service == "auth-service"));

    // A resource server's JWKS fetch is a trace of its own, which the auth-service's
    // answer joins.
    testkit::support::spawn_tasks_service(&clock, |settings| {
        settings.jwt.algorithm = SigningMode::Eddsa;
        settings.jwt.jwks_url = Some(format!("{base}/.well-known/jwks.json"));
    })
    .await;
    let fetch_traced = || {
        let spans = received.spans();
        let fetches: Vec<&Span> = spans
            .iter()
            .map(|(_, span)| span)
            .filter(|span| span.name == "jwks_fetch")
            .collect();
        spans.iter().any(|(_, answer)| {
            answer.name == "GET /.well-known/jwks.json"
                && fetches.iter().any(|fetch| {
                    answer.parent_span_id == fetch.span_id && answer.trace_id == fetch.trace_id
                })
        })
    };
    testkit::support::eventually(
        "the JWKS answer within the fetch's trace",
        bound,
        || async {
            tokio::task::spawn_blocking(service_kit::traces::flush)
                .await
                .unwrap();
            fetch_traced()
        },
    )
    .await;

    // The request's log line carries the trace id.
    let text = logs.text();
    let line = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["span"]["path"] == "/auth/account")
        .expect("a log line of the deletion");
    assert_eq!(line["span"]["trace_id"], TRACE_ID, "{line}");
}

fn names(spans: &[(String, Span)]) -> Vec<&str> {
    spans.iter().map(|(_, span)| span.name.as_str()).collect()
}
