//! The skeleton every service's HTTP server is built on ([`serve`]): bound, the common
//! middleware stack (request edges, root span, CORS when configured), JSON errors for bad
//! input and unknown routes, the service's own routes, workers and limits — and how a
//! service process ends ([`exit_code`]).
//!
//! The limits: how long a client may take to send a request and how many connections one
//! process holds (the `…__HTTP__*` settings). Clients that never finish a request (a slow
//! head, a slow body) are cut off, and the open-file limit is raised and shared out so held
//! connections cannot starve the rest. The per-request half (upgrade refusal, the body
//! deadline) is [`crate::http::edges`].

use std::fmt::Display;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use thiserror::Error;
use tracing_actix_web::TracingLogger;

use crate::http::{edges, input_config, method_not_allowed, not_found, RootSpan};
use crate::metrics::{exposition, track, Metrics, MetricsSettings};

/// Open files kept back from client connections: Redis, outbound calls, key files, logs.
pub const RESERVED_FILES: u64 = 256;
/// The most connections one worker holds however high the open-file limit (actix-web's
/// own default).
pub const MAX_CONNECTIONS_PER_WORKER: usize = 25_000;
/// Longest head or body timeout accepted.
const MAX_TIMEOUT_SECS: u64 = 300;

/// The `http` section both services share (`…__HTTP__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Seconds a client has to send a request's head (`…__HTTP__HEAD_TIMEOUT_SECS`);
    /// then 408 and the connection is closed.
    pub head_timeout_secs: u64,
    /// Seconds a client has to send a request's body once the head has arrived
    /// (`…__HTTP__BODY_TIMEOUT_SECS`); then 408 and the connection is closed.
    pub body_timeout_secs: u64,
    /// Connections each worker holds at most (`…__HTTP__MAX_CONNECTIONS`); beyond it the
    /// worker stops accepting until one closes. 0: the open-file limit, less
    /// [`RESERVED_FILES`], shared by the workers (at most [`MAX_CONNECTIONS_PER_WORKER`]).
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            head_timeout_secs: 5,
            body_timeout_secs: 10,
            max_connections: 0,
        }
    }
}

impl HttpSettings {
    /// Refuses timeouts that are zero (no bound) or absurd, naming the setting.
    pub fn check(&self, prefix: &str) -> Result<(), String> {
        let range = 1..=MAX_TIMEOUT_SECS;
        if range.contains(&self.head_timeout_secs) && range.contains(&self.body_timeout_secs) {
            Ok(())
        } else {
            Err(format!(
                "{prefix}__HTTP__HEAD_TIMEOUT_SECS and {prefix}__HTTP__BODY_TIMEOUT_SECS must be \
                 1 to {MAX_TIMEOUT_SECS}"
            ))
        }
    }

    /// The limits a server with `workers` workers (0: one per CPU, as actix-web counts)
    /// runs with. Raises the open-file limit first (see [`raise_open_files_limit`]).
    pub fn limits(&self, workers: usize) -> Limits {
        let open_files = raise_open_files_limit();
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        };
        let connections_per_worker = match self.max_connections {
            0 => {
                let shared = open_files.saturating_sub(RESERVED_FILES) / workers as u64;
                usize::try_from(shared)
                    .unwrap_or(usize::MAX)
                    .clamp(1, MAX_CONNECTIONS_PER_WORKER)
            }
            n => n,
        };
        tracing::info!(
            open_files,
            workers,
            connections_per_worker,
            head_timeout_secs = self.head_timeout_secs,
            body_timeout_secs = self.body_timeout_secs,
            "connection limits"
        );
        Limits {
            head_timeout: Duration::from_secs(self.head_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            connections_per_worker,
        }
    }
}

/// What a server is built with (`HttpServer::client_request_timeout`, `max_connections`,
/// and [`crate::http::edges`]'s body deadline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub head_timeout: Duration,
    pub body_timeout: Duration,
    pub connections_per_worker: usize,
}

/// Raises this process's soft open-file limit to its hard limit (the common soft default
/// of 1024 is what a few hundred held connections exhaust; the kernel's `nr_open` caps an
/// unlimited hard limit) and returns the limit now in force. Done once per process; later
/// calls return the same number.
pub fn raise_open_files_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| match rlimit::increase_nofile_limit(kernel_max_open_files()) {
        Ok(limit) => {
            tracing::info!(open_files = limit, "open-file limit raised to the hard limit");
            limit
        }
        Err(err) => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            tracing::warn!(error = %err, open_files = soft, "could not raise the open-file limit");
            soft
        }
    })
}

/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE_SECS: usize = 3600;

/// What a service's server is made of, besides its routes.
#[derive(Clone, Copy, Debug)]
pub struct Skeleton<'a> {
    /// For log lines and messages, e.g. `tasks-service`.
    pub name: &'static str,
    /// The environment prefix, e.g. `TASKS`, for messages naming a setting.
    pub prefix: &'static str,
    /// `host:port` (`…__LISTEN`); port 0 picks a free one (tests).
    pub listen: &'a str,
    /// HTTP workers; 0: one per CPU.
    pub workers: usize,
    pub http: &'a HttpSettings,
    /// Origins allowed to call from a browser; empty: no CORS headers at all.
    pub cors_origins: &'a [String],
    /// The service's API document, served at `GET /openapi.json`.
    pub openapi: &'a utoipa::openapi::OpenApi,
    /// Where requests are counted, served at `GET /metrics`.
    pub metrics: &'a Metrics,
    /// Whether to count and serve them, and where (`…__METRICS__*`).
    pub metrics_settings: &'a MetricsSettings,
}

/// Why a server could not be set up.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {address} ({setting}): {source}")]
    Bind {
        address: String,
        setting: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the OpenAPI document does not serialize: {0}")]
    Document(#[from] serde_json::Error),
}

/// A bound, not yet running, HTTP service.
pub struct Service {
    port: u16,
    server: Server,
    /// The `…__METRICS__LISTEN` server and its port, when configured.
    metrics: Option<(u16, Server)>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The bound port (useful when listening on port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            None => self.server.await,
            Some((_, metrics)) => {
                let (service, metrics) = tokio::join!(self.server, metrics);
                service.and(metrics)
            }
        }
    }
}

/// Binds `address` (the setting `setting`).
fn bind(address: &str, setting: String) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address).map_err(|source| ServeError::Bind {
        address: address.to_owned(),
        setting,
        source,
    })
}

/// `GET /metrics`, and its JSON 405 for other methods.
fn metrics_resource(metrics: Arc<Metrics>) -> actix_web::Resource {
    web::resource("/metrics")
        .name("/metrics")
        .default_service(web::to(method_not_allowed))
        .route(web::get().to(move || std::future::ready(exposition(&metrics))))
}

/// The `…__METRICS__LISTEN` server: `/metrics` and nothing else, one worker.
fn metrics_server(listener: TcpListener, metrics: Metrics) -> std::io::Result<Server> {
    let metrics = Arc::new(metrics);
    Ok(HttpServer::new(move || {
        App::new()
            .service(metrics_resource(metrics.clone()))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

/// Binds `skeleton.listen` and builds the server: the common stack around the routes and
/// shared data `configure` registers.
pub fn serve<F>(skeleton: Skeleton<'_>, configure: F) -> Result<Service, ServeError>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = bind(skeleton.listen, format!("{}__LISTEN", skeleton.prefix))?;
    let port = listener.local_addr()?.port();
    let measured = skeleton.metrics_settings.enabled;
    let metrics_listener = match (measured, &skeleton.metrics_settings.listen) {
        (true, Some(address)) => Some(bind(
            address,
            format!("{}__METRICS__LISTEN", skeleton.prefix),
        )?),
        _ => None,
    };
    let on_service_port = measured && metrics_listener.is_none();
    let document = web::Bytes::from(skeleton.openapi.to_pretty_json()?);
    let limits = skeleton.http.limits(skeleton.workers);
    let metrics = Arc::new(skeleton.metrics.clone());
    let origins = skeleton.cors_origins.to_vec();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
            .wrap(from_fn(move |req, next| {
                edges(req, next, limits.body_timeout)
            }))
            .wrap(TracingLogger::<RootSpan>::new())
            .wrap(Condition::new(
                measured,
                from_fn({
                    let metrics = metrics.clone();
                    move |req, next| track(req, next, metrics.clone())
                }),
            ))
            .configure(input_config)
            .configure(configure.clone())
            .service(
                web::resource("/openapi.json")
                    .name("/openapi.json")
                    .default_service(web::to(method_not_allowed))
                    .route(web::get().to(openapi(document.clone()))),
            )
            .configure(|config| {
                if on_service_port {
                    config.service(metrics_resource(metrics.clone()));
                }
            })
            .default_service(web::to(not_found))
    })
    .client_request_timeout(limits.head_timeout)
    .max_connections(limits.connections_per_worker)
    .listen(listener)?;
    if skeleton.workers > 0 {
        server = server.workers(skeleton.workers);
    }
    tracing::info!(port, "{} listening", skeleton.name);
    let separate = match metrics_listener {
        Some(listener) => {
            let port = listener.local_addr()?.port();
            tracing::info!(port, "metrics listening");
            Some((port, metrics_server(listener, skeleton.metrics.clone())?))
        }
        None => None,
    };
    Ok(Service {
        port,
        server: server.run(),
        metrics: separate,
    })
}

/// `GET /openapi.json`: the document, serialized once at start-up.
fn openapi(
    document: web::Bytes,
) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone + 'static {
    move || {
        std::future::ready(
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
                .body(document.clone()),
        )
    }
}

/// Cross-origin access for `origins`: the methods and headers a resource server's API
/// uses, `WWW-Authenticate` readable by the page.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(CORS_MAX_AGE_SECS)
}

/// The exit code of a service process whose run ended with `result`, having said why it
/// stopped (log and stderr) when it failed.
pub fn exit_code(name: &str, result: Result<(), impl Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "{name} stopped");
            eprintln!("{name}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The most open files the kernel lets one process have (Linux `fs.nr_open`).
fn kernel_max_open_files() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_must_be_bounded() {
        let ok = HttpSettings::default();
        assert!(ok.check("TASKS").is_ok());
        for (head, body) in [(0, 10), (5, 0), (5, MAX_TIMEOUT_SECS + 1)] {
            let settings = HttpSettings {
                head_timeout_secs: head,
                body_timeout_secs: body,
                ..HttpSettings::default()
            };
            let err = settings.check("TASKS").unwrap_err();
            assert!(err.contains("TASKS__HTTP__BODY_TIMEOUT_SECS"), "{err}");
        }
    }

    #[test]
    fn connections_share_the_open_file_limit() {
        let open_files = raise_open_files_limit();
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let target = hard.min(kernel_max_open_files());
        assert_eq!(
            (open_files, soft),
            (target, target),
            "raised to the hard limit"
        );
        let auto = HttpSettings::default().limits(2);
        let expected = (open_files.saturating_sub(RESERVED_FILES) / 2)
            .clamp(1, MAX_CONNECTIONS_PER_WORKER as u64);
        assert_eq!(auto.connections_per_worker as u64, expected);
        let fixed = HttpSettings {
            max_connections: 300,
            ..HttpSettings::default()
        };
        assert_eq!(fixed.limits(2).connections_per_worker, 300);
        assert_eq!(fixed.limits(2).body_timeout, Duration::from_secs(10));
    }
}
