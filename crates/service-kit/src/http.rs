//! The edges every service shares: JSON error bodies for malformed input (never a 500 for
//! a client's mistake, never the submitted value echoed back), JSON 404/405, upgrade
//! requests refused and request bodies bounded in time ([`edges`]), an `X-Request-Id` on
//! every response, and a root span per request that records the path but never the query
//! string (where a careless client might put a token).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_cors::CorsError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{
    InternalError, JsonPayloadError, PathError, PayloadError, QueryPayloadError,
};
use actix_web::http::header::{HeaderName, HeaderValue, USER_AGENT, X_FORWARDED_FOR};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse};
use auth_core::actix::error_response;
use futures_core::Stream;
use tokio::time::{Instant, Sleep};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// Largest JSON request body accepted.
pub const JSON_LIMIT: usize = 16 * 1024;

/// The response header carrying the request id that the logs of this request carry.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Registers JSON/query/path extractor configs whose failures are 4xx JSON errors.
pub fn input_config(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error));
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> Error {
    let response = match &err {
        JsonPayloadError::ContentType => error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("JSON bodies are limited to {JSON_LIMIT} bytes"),
            )
        }
        JsonPayloadError::Deserialize(e) => {
            let (code, message) = describe_json_error(e);
            error_response(StatusCode::BAD_REQUEST, code, &message)
        }
        JsonPayloadError::Payload(e) if body_timed_out(e) => body_timeout_response(),
        _ => error_response(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body could not be read as JSON",
        ),
    };
    InternalError::from_response(err, response).into()
}

/// The error code and message of a JSON body that did not deserialize: `validation_failed`
/// saying what was wrong and where, never the submitted value, or `invalid_json` for a
/// syntax error (which names a position and what was expected, never the input).
pub fn describe_json_error(err: &serde_json::Error) -> (&'static str, String) {
    if err.is_data() {
        ("validation_failed", data_error(err))
    } else {
        ("invalid_json", err.to_string())
    }
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> Error {
    let QueryPayloadError::Deserialize(cause) = &err else {
        let response = error_response(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "invalid query string",
        );
        return InternalError::from_response(err, response).into();
    };
    let message = format!(
        "invalid query string: {}",
        without_values(&cause.to_string())
    );
    let response = error_response(StatusCode::BAD_REQUEST, "validation_failed", &message);
    InternalError::from_response(err, response).into()
}

fn path_error(err: PathError, _: &HttpRequest) -> Error {
    let response = error_response(StatusCode::NOT_FOUND, "not_found", "no such resource");
    InternalError::from_response(err, response).into()
}

/// A serde data error (wrong type, unknown field, …) described without the submitted
/// value — a mistyped password field must not be reflected into a proxy's or client's
/// logs — keeping the position serde_json gives.
fn data_error(err: &serde_json::Error) -> String {
    let location = format!(" at line {} column {}", err.line(), err.column());
    let text = err.to_string();
    let text = text.strip_suffix(&location).unwrap_or(&text);
    format!("{}{location}", without_values(text))
}

/// serde's data-error messages with any client-supplied value removed. Only shapes known
/// to carry nothing but the service's own names and numbers pass whole; the rest keep the
/// "expected …" part (from the service's types, and last in the message, so an input that
/// itself contains ", expected " cannot fake it) or become a generic sentence.
fn without_values(message: &str) -> String {
    const OWN_NAMES_ONLY: [&str; 3] = ["missing field `", "duplicate field `", "invalid length "];
    const VALUE_FIRST: [(&str, &str); 4] = [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "invalid value"),
        ("unknown variant ", "unknown value"),
        ("unknown field ", "unknown field"),
    ];
    if OWN_NAMES_ONLY
        .iter()
        .any(|start| message.starts_with(start))
    {
        return message.to_owned();
    }
    for (start, what) in VALUE_FIRST {
        if message.starts_with(start) {
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{what}, expected {expected}"),
                None => what.to_owned(),
            };
        }
    }
    "a field has an invalid value".to_owned()
}

/// Whether a body stopped because it did not arrive within the body deadline.
pub fn body_timed_out(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

fn body_timeout_response() -> HttpResponse {
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body did not arrive in time",
    )
}

/// `error: cause: cause…`, the whole chain for a log line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Default service: JSON 404.
pub async fn not_found() -> HttpResponse {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Default service of a resource: JSON 405.
pub async fn method_not_allowed() -> HttpResponse {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Middleware (`middleware::from_fn`, wrapped inside `TracingLogger`, which creates the
/// request id) at every request's edge:
/// - answers CORS refusals (a disallowed origin, method or header) with the JSON error body
///   (400 `cors_rejected`) instead of actix-cors's plain text;
/// - refuses upgrade requests (`Connection: Upgrade`): no route upgrades, and the HTTP
///   codec reads such a request's body until the connection closes, so a handler reading
///   it would never answer;
/// - gives the body `body_timeout` from now to arrive (then the reader gets a timeout
///   error: 408, and the connection closes with the body unread);
/// - copies the request id into `X-Request-Id`.
///
/// Requests without a body pay nothing for the deadline.
pub async fn edges(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
    body_timeout: Duration,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut response = if req.head().upgrade() {
        let refusal = error_response(
            StatusCode::BAD_REQUEST,
            "upgrade_not_supported",
            "this route does not upgrade connections; send it without Connection: Upgrade",
        );
        req.into_response(refusal).map_into_right_body()
    } else {
        match req.take_payload() {
            Payload::None => {}
            body => req.set_payload(Payload::Stream {
                payload: Box::pin(Deadline::new(body, body_timeout)),
            }),
        }
        let caller = Caller::of(&req);
        let response = CALLER.scope(caller, next.call(req)).await?;
        match response
            .response()
            .error()
            .and_then(|err| err.as_error::<CorsError>())
        {
            // actix-cors answers its refusals in plain text; ours are JSON like every error.
            Some(refusal) => {
                let json = error_response(
                    StatusCode::BAD_REQUEST,
                    "cors_rejected",
                    &refusal.to_string(),
                );
                let (req, _) = response.into_parts();
                ServiceResponse::new(req, json).map_into_right_body()
            }
            None => response.map_into_left_body(),
        }
    };
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

tokio::task_local! {
    /// Who sent the request the running task answers (set by [`edges`]), for what needs
    /// it deep in a call (the audit trail) without threading it through every signature.
    static CALLER: Caller;
}

/// What a request says about its sender, copied at the edge (header values share the
/// request's buffer: no allocation).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub request_id: Option<RequestId>,
    /// The TCP peer.
    pub peer: Option<SocketAddr>,
    pub user_agent: Option<HeaderValue>,
    /// `X-Forwarded-For` as received (whether to trust it is the service's decision).
    pub forwarded_for: Option<HeaderValue>,
}

impl Caller {
    fn of(req: &ServiceRequest) -> Caller {
        let header = |name| req.headers().get(name).cloned();
        Caller {
            request_id: req.extensions().get::<RequestId>().copied(),
            peer: req.peer_addr(),
            user_agent: header(USER_AGENT),
            forwarded_for: header(X_FORWARDED_FOR),
        }
    }

    /// The sender of the request the current task answers; `None` outside a request (a
    /// background task, a command-line tool).
    pub fn current() -> Option<Caller> {
        CALLER.try_with(Caller::clone).ok()
    }
}

/// A request body that ends in a `TimedOut` error once its deadline passes. The timer is
/// armed only when the body is not already there.
struct Deadline {
    body: Payload,
    at: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

impl Deadline {
    fn new(body: Payload, timeout: Duration) -> Deadline {
        Deadline {
            body,
            at: Instant::now() + timeout,
            timer: None,
            expired: false,
        }
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        let at = this.at;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "body deadline");
                Poll::Ready(Some(Err(PayloadError::Io(late))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The root span of each request: method, path (no query), request id, then status.
#[derive(Debug)]
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !crate::traces::enabled() {
            return tracing::info_span!(
                "request",
                method = %request.method(),
                path = %request.path(),
                request_id = %request_id,
                status = tracing::field::Empty,
            );
        }
        // Traced: the span continues the caller's `traceparent`, is named after the route
        // once it is matched, and every line logged within it carries the trace id.
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            otel.name = %request.method(),
            otel.kind = "server",
            http.route = tracing::field::Empty,
        );
        let trace_id = crate::traces::continue_trace(&span, request.headers());
        span.record("trace_id", trace_id);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
        // Traced only: finding the route pattern walks the resource map again.
        if !crate::traces::enabled() {
            return;
        }
        let Ok(response) = outcome else { return };
        let request = response.request();
        if let Some(route) = request.match_name() {
            crate::traces::name_after_route(&span, request.method().as_str(), route);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by serde only
    struct Body {
        name: String,
        done: bool,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Chore,
    }

    fn message(json: &str) -> String {
        match serde_json::from_str::<Body>(json) {
            Err(err) if err.is_data() => data_error(&err),
            other => panic!("not a data error: {other:?}"),
        }
    }

    #[test]
    fn data_errors_say_what_was_wrong_without_the_value() {
        let secret = "S3CR3T, expected a fake";
        let cases = [
            (
                format!(r#"{{"name":"n","done":"{secret}"}}"#),
                "wrong type, expected a boolean",
            ),
            (
                format!(r#"{{"name":"n","done":true,"kind":"{secret}"}}"#),
                "unknown value, expected `chore`",
            ),
            (
                format!(r#"{{"name":"n","done":true,"{secret}":1}}"#),
                "unknown field, expected one of `name`, `done`, `kind`",
            ),
            (r#"{"done":true}"#.to_owned(), "missing field `name`"),
        ];
        for (json, expected) in cases {
            let message = message(&json);
            let (text, location) = message.split_once(" at line 1 column ").unwrap();
            assert_eq!(text, expected, "{json}");
            assert!(location.parse::<u32>().is_ok(), "{message}");
        }
    }

    #[test]
    fn unknown_shapes_become_a_generic_sentence() {
        assert_eq!(
            without_values("invalid character: found `S` at 1"),
            "a field has an invalid value"
        );
        assert_eq!(
            without_values("invalid type: string \"S3CR3T\""),
            "wrong type"
        );
    }

    #[tokio::test]
    async fn a_body_past_its_deadline_ends_in_a_timeout() {
        /// One chunk, then nothing ever again: a client that stalled.
        struct Stalled(bool);
        impl Stream for Stalled {
            type Item = Result<Bytes, PayloadError>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                if std::mem::replace(&mut self.0, true) {
                    Poll::Pending
                } else {
                    Poll::Ready(Some(Ok(Bytes::from_static(b"{"))))
                }
            }
        }
        let body = Payload::Stream {
            payload: Box::pin(Stalled(false)) as Pin<Box<dyn Stream<Item = _>>>,
        };
        let mut deadline = Deadline::new(body, Duration::from_millis(20));
        async fn next(deadline: &mut Deadline) -> Option<Result<Bytes, PayloadError>> {
            std::future::poll_fn(|cx| Pin::new(&mut *deadline).poll_next(cx)).await
        }
        let first = next(&mut deadline).await;
        assert_eq!(first.unwrap().unwrap(), Bytes::from_static(b"{"));
        match next(&mut deadline).await {
            Some(Err(err)) => assert!(body_timed_out(&err), "{err}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(
            next(&mut deadline).await.is_none(),
            "nothing after the timeout"
        );
    }
}
