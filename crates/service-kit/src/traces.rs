//! Traces: the `tracing` spans of requests, store operations, password hashing and calls to
//! other services, exported over OTLP/HTTP (protobuf) when `…__OTEL__ENDPOINT` is set.
//! W3C `traceparent` is read on every request (the request's span continues the caller's
//! trace) and sent on outbound calls, so one account deletion is one trace across both
//! services. Off by default: no exporter, no propagation, and the spans below `info` are
//! never built.
//!
//! Spans go out in batches from the SDK's own thread (reqwest's blocking client), so a
//! slow or absent collector never holds a request; a full queue drops spans.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use serde::Deserialize;
use thiserror::Error;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Where an OTLP/HTTP collector takes traces (`…__OTEL__*`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtelSettings {
    /// The collector's OTLP/HTTP base URL (`…__OTEL__ENDPOINT`), e.g.
    /// `http://otel-collector:4318`: spans are posted to `<endpoint>/v1/traces`. Unset: no
    /// traces.
    pub endpoint: Option<String>,
}

/// Why traces could not be set up.
#[derive(Debug, Error)]
#[error("traces ({setting}): {reason}")]
pub struct TraceSetupError {
    setting: String,
    reason: String,
}

/// The process's provider, once traces are on.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported (and `traceparent` read and sent).
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// The tracer for `service`'s spans, exporting to `settings.endpoint`; `None` when it is
/// unset. The first call in a process sets the provider; later ones (tests start many
/// services) share it.
pub fn tracer(
    service: &'static str,
    settings: &OtelSettings,
    prefix: &str,
) -> Result<Option<SdkTracer>, TraceSetupError> {
    let Some(endpoint) = settings.endpoint.as_deref() else {
        return Ok(None);
    };
    let refuse = |reason: String| TraceSetupError {
        setting: format!("{prefix}__OTEL__ENDPOINT"),
        reason,
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(refuse(format!(
            "{endpoint:?} is not an http:// or https:// URL"
        )));
    }
    // reqwest's TLS takes the process-wide provider (ring, as everywhere in Tessera).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()
        .map_err(|err| refuse(err.to_string()))?;
    let provider = PROVIDER.get_or_init(|| {
        let resource = Resource::builder()
            .with_service_name(service)
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build()
    });
    Ok(Some(provider.tracer(service)))
}

/// Sends every span ended so far (tests; the exporter otherwise sends every few seconds).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// Sends what is left and stops the exporter (at the end of a process).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown();
    }
}

/// Makes `span` continue the trace of an incoming request's `traceparent` (if it has a
/// valid one) and returns its trace id, as hex.
pub fn continue_trace(span: &Span, headers: &HeaderMap) -> String {
    let parent = TraceContextPropagator::new().extract(&Incoming(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    span.context().span().span_context().trace_id().to_string()
}

/// Names a request's span after its route, once matched (`DELETE /auth/account`). The
/// span has started by then (its trace id is in the log lines), so the name is set on the
/// started span.
pub fn name_after_route(span: &Span, method: &str, route: &str) {
    span.context()
        .span()
        .update_name(format!("{method} {route}"));
    span.record("http.route", route);
}

/// An incoming request's headers, for the propagator.
struct Incoming<'h>(&'h HeaderMap);

impl Extractor for Incoming<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// The headers that carry `span`'s trace to another service (`traceparent`, and
/// `tracestate` when there is one); none when traces are off.
pub fn outgoing(span: &Span) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    if enabled() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_must_be_a_url() {
        let settings = OtelSettings {
            endpoint: Some("collector:4318".to_owned()),
        };
        let err = tracer("test", &settings, "TASKS").unwrap_err();
        assert!(err.to_string().contains("TASKS__OTEL__ENDPOINT"), "{err}");
        assert!(tracer("test", &OtelSettings::default(), "TASKS")
            .unwrap()
            .is_none());
        assert!(outgoing(&Span::none()).is_empty(), "off: nothing sent");
    }
}
