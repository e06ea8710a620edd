//! The edges every service shares: JSON error bodies for malformed input (never a 500 for
//! a client's mistake), JSON 404/405, an `X-Request-Id` on every response, and a root span
//! per request that records the path but never the query string (where a careless client
//! might put a token).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse};
use auth_core::actix::error_response;
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
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            error_response(StatusCode::BAD_REQUEST, "validation_failed", &e.to_string())
        }
        JsonPayloadError::Deserialize(e) => {
            error_response(StatusCode::BAD_REQUEST, "invalid_json", &e.to_string())
        }
        _ => error_response(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body could not be read as JSON",
        ),
    };
    InternalError::from_response(err, response).into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> Error {
    let message = format!("invalid query string: {err}");
    let response = error_response(StatusCode::BAD_REQUEST, "validation_failed", &message);
    InternalError::from_response(err, response).into()
}

fn path_error(err: PathError, _: &HttpRequest) -> Error {
    let response = error_response(StatusCode::NOT_FOUND, "not_found", "no such resource");
    InternalError::from_response(err, response).into()
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

/// Middleware (`middleware::from_fn`) copying the request id into `X-Request-Id`. Wrap it
/// inside `TracingLogger`, which creates the id.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
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
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
    }
}
