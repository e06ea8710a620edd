//! [`Application`]: shared state built once (verifier, store), the HTTP server bound (port 0
//! in tests), and served until SIGTERM/SIGINT with a graceful drain.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{http, web, App, HttpServer};
use auth_core::{Clock, KeySource, SetupError, SystemClock, Verifier};
use service_kit::http::{edges, input_config, not_found, RootSpan};
use service_kit::jwks::{JwksError, RemoteKeys};
use service_kit::keys::{verification_keys, KeyError};
use service_kit::redis::{RedisConn, RedisSetupError};
use thiserror::Error;
use tracing_actix_web::TracingLogger;

use crate::config::{Settings, ENV_PREFIX};
use crate::routes;
use crate::routes::health::Readiness;
use crate::store::{MemoryTaskStore, RedisTaskStore, TaskStore};

/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE_SECS: usize = 3600;

/// Why the service did not start. Each message names the setting to fix.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("invalid JWT settings (TASKS__JWT__*): {0}")]
    Jwt(#[from] SetupError),
    #[error(transparent)]
    Jwks(#[from] JwksError),
    #[error(transparent)]
    Redis(#[from] RedisSetupError),
    #[error("cannot listen on {address} (TASKS__LISTEN): {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Server(#[from] std::io::Error),
}

/// A bound, not yet running, tasks-service.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the service on the real clock.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Application::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service with the clock token checks read (tests move it by hand).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        settings
            .http
            .check(ENV_PREFIX)
            .map_err(StartupError::Config)?;
        let keys = verification_keys(&settings.jwt, ENV_PREFIX, settings.dev)?;
        let verifier = Arc::new(Verifier::new(
            keys,
            settings.jwt.validation(),
            clock.clone(),
        )?);
        let remote =
            RemoteKeys::new(&settings.jwt, ENV_PREFIX, verifier.clone(), clock)?.map(Arc::new);
        if let Some(remote) = &remote {
            remote.fetch_at_start().await;
            remote.clone().spawn_refresher();
        }
        let readiness = web::Data::new(Readiness {
            keys: remote.clone(),
        });
        let key_source = remote.map(|remote| web::Data::from(remote as Arc<dyn KeySource>));
        let verifier = web::Data::from(verifier);
        let store = web::Data::from(task_store(&settings)?);

        let listener =
            TcpListener::bind(&settings.listen).map_err(|source| StartupError::Bind {
                address: settings.listen.clone(),
                source,
            })?;
        let port = listener.local_addr()?.port();
        let origins = settings.cors.allowed_origins.clone();
        let limits = settings.http.limits(settings.workers);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
                .wrap(from_fn(move |req, next| {
                    edges(req, next, limits.body_timeout)
                }))
                .wrap(TracingLogger::<RootSpan>::new())
                .app_data(verifier.clone())
                .app_data(readiness.clone())
                .app_data(store.clone())
                .configure(|config| {
                    // By type: registered only when there is a source to ask.
                    if let Some(source) = &key_source {
                        config.app_data(source.clone());
                    }
                })
                .configure(input_config)
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .client_request_timeout(limits.head_timeout)
        .max_connections(limits.connections_per_worker)
        .listen(listener)?;
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        tracing::info!(port, "tasks-service listening");
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    /// The bound port (useful when listening on port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn task_store(settings: &Settings) -> Result<Arc<dyn TaskStore>, StartupError> {
    match RedisConn::from_settings(&settings.redis, ENV_PREFIX)? {
        Some(redis) => {
            tracing::info!("task store: Redis");
            Ok(Arc::new(RedisTaskStore::new(
                redis,
                &settings.redis.key_prefix,
            )))
        }
        None => {
            tracing::warn!(
                "task store: IN-MEMORY (TASKS__REDIS__URL is not set). Tasks vanish at restart \
                 and are not shared: run a single instance only"
            );
            Ok(Arc::new(MemoryTaskStore::new()))
        }
    }
}

fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([http::header::AUTHORIZATION, http::header::CONTENT_TYPE])
        .expose_headers([http::header::WWW_AUTHENTICATE])
        .max_age(CORS_MAX_AGE_SECS)
}
