//! Prometheus metrics. Each service owns one [`Metrics`]: a registry of its own (no
//! process-global state, so services started in one test process count apart) whose every
//! series carries `service`, served as the text format at `GET /metrics` on the service's
//! port (the front door never routes it). The skeleton records every request
//! (`tessera_http_requests_total{route,method,status}`,
//! `tessera_http_request_duration_seconds{route,method}`) and every refused access token
//! (`tessera_token_rejected_total{reason}`); services register their own series on
//! [`Metrics::registry`].
//!
//! Recording allocates nothing: `route` is the matched resource's name — each resource is
//! named after its pattern (`/tasks/{id}`, never a raw path with an id), `unmatched`
//! otherwise — and label values are `&str`s the request already holds; the counters behind
//! them are looked up under a read lock, and created once per label set.

use std::future::Future;

use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use auth_core::actix::AuthError;
use auth_core::jwks::RemoteKeys;
use auth_core::{Clock, RevocationView};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The `metrics` section both services share (`…__METRICS__*`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether requests and store operations are measured and `GET /metrics` served
    /// (`…__METRICS__ENABLED`, default `true`). `false` leaves the code compiled in but
    /// idle: no request or store timing, `/metrics` answers 404 (the benchmark's baseline,
    /// and for operators who scrape nothing).
    pub enabled: bool,
    /// `host:port` of a listener of its own for `GET /metrics` (`…__METRICS__LISTEN`), for
    /// operators who keep it off the service port (which then answers it 404). Unset:
    /// served on the service port.
    pub listen: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            listen: None,
        }
    }
}

/// Every series' name starts with this.
pub const PREFIX: &str = "tessera";

/// Request latency buckets, in seconds: a verification is tens of microseconds, a login
/// tens of milliseconds, a store timeout two seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A service's registry and the series every service records.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    rejected: IntCounterVec,
    /// Run before each scrape: gauges read from state that lives elsewhere.
    before_scrape: Arc<Mutex<Vec<ScrapeHook>>>,
}

type ScrapeHook = Box<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry whose series carry `service="<service>"`, with the request and
    /// rejection series and `tessera_build_info{version}` (always 1).
    pub fn new(service: &str) -> Result<Metrics, prometheus::Error> {
        let labels = [("service".to_owned(), service.to_owned())].into();
        let registry = Registry::new_custom(Some(PREFIX.to_owned()), Some(labels))?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route pattern",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from the request's head to its answer",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "token_rejected_total",
                "Access tokens refused (401/403/503 from Bearer authentication), by reason",
            ),
            &["reason"],
        )?;
        let build = IntGaugeVec::new(
            Opts::new("build_info", "The running build (always 1)"),
            &["version"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(build.clone()))?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Ok(Metrics {
            registry,
            requests,
            duration,
            rejected,
            before_scrape: Arc::default(),
        })
    }

    /// Runs `hook` before every scrape (to set gauges from state kept elsewhere).
    pub fn before_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.hooks().push(Box::new(hook));
    }

    fn hooks(&self) -> std::sync::MutexGuard<'_, Vec<ScrapeHook>> {
        self.before_scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `tessera_revocation_entries` and `tessera_revocation_staleness_seconds` of `view`
    /// at each scrape (staleness `+Inf` before the view ever heard from the store).
    pub fn watch_revocation(
        &self,
        view: Arc<RevocationView>,
        clock: Arc<dyn Clock>,
    ) -> Result<(), prometheus::Error> {
        let entries = self.gauge(
            "revocation_entries",
            "Revoked sessions, users and tokens the revocation view holds",
        )?;
        let staleness = Gauge::new(
            "revocation_staleness_seconds",
            "Seconds since the revocation view last heard from the store (+Inf: never)",
        )?;
        self.registry.register(Box::new(staleness.clone()))?;
        self.before_scrape(move || {
            entries.set(i64::try_from(view.len()).unwrap_or(i64::MAX));
            let seconds = view.staleness_at(clock.now());
            staleness.set(seconds.map_or(f64::INFINITY, |s| s as f64));
        });
        Ok(())
    }

    /// Where a service registers its own series.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a counter family named `tessera_<name>` with one `label`, and returns its
    /// counters for `values`, in order (a service's fixed outcomes, resolved once).
    pub fn counters<const N: usize>(
        &self,
        name: &str,
        help: &str,
        label: &str,
        values: [&str; N],
    ) -> Result<[prometheus::IntCounter; N], prometheus::Error> {
        let family = IntCounterVec::new(Opts::new(name, help), &[label])?;
        self.registry.register(Box::new(family.clone()))?;
        Ok(values.map(|value| family.with_label_values(&[value])))
    }

    /// Registers the histogram `tessera_<name>` with `buckets`.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        buckets: &[f64],
    ) -> Result<Histogram, prometheus::Error> {
        let histogram =
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
        self.registry.register(Box::new(histogram.clone()))?;
        Ok(histogram)
    }

    /// Registers the gauge `tessera_<name>`.
    pub fn gauge(&self, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
        let gauge = IntGauge::new(name, help)?;
        self.registry.register(Box::new(gauge.clone()))?;
        Ok(gauge)
    }

    /// `tessera_jwks_fetch_total{outcome="success"|"error"}` of `keys`, read at each
    /// scrape.
    pub fn watch_jwks(&self, keys: Arc<RemoteKeys>) -> Result<(), prometheus::Error> {
        let [success, error] = self.counters(
            "jwks_fetch_total",
            "Fetches of the auth-service's public keys (JWKS), by outcome",
            "outcome",
            ["success", "error"],
        )?;
        self.before_scrape(move || {
            let (succeeded, failed) = keys.fetch_counts();
            success.inc_by(succeeded.saturating_sub(success.get()));
            error.inc_by(failed.saturating_sub(error.get()));
        });
        Ok(())
    }

    /// `tessera_store_operation_seconds{op}` and `tessera_store_errors_total{op}` for each
    /// of a store's operations, resolved once, in order.
    pub fn store_ops<const N: usize>(
        &self,
        ops: [&'static str; N],
    ) -> Result<[StoreOp; N], prometheus::Error> {
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "store_operation_seconds",
                "Time one store operation took (Redis round trips, or the in-memory store)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "store_errors_total",
                "Store operations that failed because the store was unavailable",
            ),
            &["op"],
        )?;
        self.registry.register(Box::new(seconds.clone()))?;
        self.registry.register(Box::new(errors.clone()))?;
        Ok(ops.map(|op| StoreOp {
            op,
            seconds: seconds.with_label_values(&[op]),
            errors: errors.with_label_values(&[op]),
        }))
    }

    /// The text exposition of every series.
    pub fn render(&self) -> Vec<u8> {
        for hook in self.hooks().iter() {
            hook();
        }
        let mut text = Vec::with_capacity(16 * 1024);
        // Encoding into memory fails only for series that break the format, which names
        // and labels fixed in code cannot.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        text
    }

    fn record(&self, response: &ServiceResponse<impl MessageBody>, started: Instant) {
        let request = response.request();
        let route = request.match_name().unwrap_or("unmatched");
        let method = request.method().as_str();
        let status = response.status();
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[route, method])
            .observe(started.elapsed().as_secs_f64());
        if let Some(refusal) = response
            .response()
            .error()
            .and_then(|e| e.as_error::<AuthError>())
        {
            self.rejected.with_label_values(&[refusal.reason()]).inc();
        }
    }
}

/// One store operation's series (see [`Metrics::store_ops`]).
#[derive(Clone, Debug)]
pub struct StoreOp {
    op: &'static str,
    seconds: Histogram,
    errors: IntCounter,
}

impl StoreOp {
    /// Runs `op`, recording how long it took and, if it fails and `unavailable` says the
    /// store was at fault (not a refusal such as a taken name), one error. With traces on,
    /// `op` is a span (`store`, attribute `op`).
    pub async fn time<T, E>(
        &self,
        op: impl Future<Output = Result<T, E>>,
        unavailable: impl FnOnce(&E) -> bool,
    ) -> Result<T, E> {
        let started = Instant::now();
        let span = tracing::debug_span!("store", op = self.op);
        let result = op.instrument(span).await;
        self.seconds.observe(started.elapsed().as_secs_f64());
        if result.as_ref().is_err_and(unavailable) {
            self.errors.inc();
        }
        result
    }
}

/// Middleware (`middleware::from_fn`) recording each request on `metrics`.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
    metrics: Arc<Metrics>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let response = next.call(req).await?;
    metrics.record(&response, started);
    Ok(response)
}

/// `GET /metrics`: the text exposition.
pub fn exposition(metrics: &Metrics) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::ManualClock;

    fn text(metrics: &Metrics) -> String {
        String::from_utf8(metrics.render()).unwrap_or_default()
    }

    #[test]
    fn a_view_that_never_heard_from_the_store_is_infinitely_stale() {
        let metrics = Metrics::new("test-service").unwrap();
        let view = Arc::new(RevocationView::new());
        metrics
            .watch_revocation(view, Arc::new(ManualClock::starting_now()))
            .unwrap();
        let text = text(&metrics);
        // The crate writes `inf`, which Prometheus parses as +Inf (Go's ParseFloat).
        let staleness = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("tessera_revocation_staleness_seconds{service=\"test-service\"} ")
            })
            .unwrap_or_default();
        assert!(
            staleness
                .trim_start_matches('+')
                .eq_ignore_ascii_case("inf"),
            "{text}"
        );
        assert!(text.contains("tessera_revocation_entries{service=\"test-service\"} 0"));
        assert!(text.contains(&format!(
            "tessera_build_info{{version=\"{}\",service=\"test-service\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn an_in_process_view_is_current() {
        let metrics = Metrics::new("test-service").unwrap();
        let view = Arc::new(RevocationView::in_process());
        metrics
            .watch_revocation(view, Arc::new(ManualClock::starting_now()))
            .unwrap();
        assert!(text(&metrics)
            .contains("tessera_revocation_staleness_seconds{service=\"test-service\"} 0"));
    }
}
