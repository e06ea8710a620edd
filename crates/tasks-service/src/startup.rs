//! [`Application`]: shared state built once (store, verifier, key source), the HTTP server
//! (service-kit's skeleton around [`routes`]) bound — port 0 in tests — and served until
//! SIGTERM/SIGINT with a graceful drain.

use std::sync::Arc;

use actix_web::web;
use auth_core::{Clock, KeySource, SetupError, SystemClock, Verifier};
use service_kit::jwks::{remote_keys, JwksError};
use service_kit::keys::{verification_keys, KeyError};
use service_kit::metrics::Metrics;
use service_kit::redis::RedisSetupError;
use service_kit::revocation::FIRST_LOAD_WAIT;
use service_kit::server::{serve, ServeError, Service, Skeleton};
use thiserror::Error;

use crate::config::{Settings, ENV_PREFIX};
use crate::routes;
use crate::routes::health::Readiness;
use crate::store::{Measured, MemoryTaskStore, RedisTaskStore, TaskStore};

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
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A bound, not yet running, tasks-service.
#[derive(Debug)]
pub struct Application {
    service: Service,
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
            .and_then(|()| settings.revocation.check(ENV_PREFIX))
            .map_err(StartupError::Config)?;
        let keys = verification_keys(&settings.jwt, ENV_PREFIX, settings.dev)?;
        let mut verifier = Verifier::new(keys, settings.jwt.validation(), clock.clone())?;
        let revoked = service_kit::revocation::configured(
            &settings.redis,
            ENV_PREFIX,
            &settings.revocation,
            clock.clone(),
        )?;
        if let Some(view) = &revoked {
            verifier = verifier.with_revocation(view.clone());
            service_kit::revocation::first_load(view, FIRST_LOAD_WAIT).await;
        }
        if let Some(cache) = settings.jwt.verified_cache() {
            verifier = verifier.with_cache(cache);
        }
        let verifier = Arc::new(verifier);
        let remote = match remote_keys(&settings.jwt, verifier.clone(), clock.clone())? {
            Some(remote) => Some(remote.start().await),
            None => None,
        };
        let metrics = Metrics::new("tasks-service")?;
        if let Some(view) = &revoked {
            metrics.watch_revocation(view.clone(), clock.clone())?;
        }
        if let Some(keys) = &remote {
            metrics.watch_jwks(keys.clone())?;
        }
        let readiness = web::Data::new(Readiness {
            keys: remote.clone(),
            revoked,
            clock,
        });
        let key_source = remote.map(|remote| web::Data::from(remote as Arc<dyn KeySource>));
        let verifier = web::Data::from(verifier);
        let mut store = task_store(&settings)?;
        if settings.metrics.enabled {
            store = Measured::wrap(store, &metrics)?;
        }
        let store = web::Data::from(store);
        let skeleton = Skeleton {
            name: "tasks-service",
            prefix: ENV_PREFIX,
            listen: &settings.listen,
            workers: settings.workers,
            http: &settings.http,
            cors_origins: &settings.cors.allowed_origins,
            openapi: &crate::openapi::document(),
            metrics: &metrics,
            metrics_settings: &settings.metrics,
        };
        let service = serve(skeleton, move |config| {
            config
                .app_data(verifier.clone())
                .app_data(readiness.clone())
                .app_data(store.clone());
            // By type: registered only when there is a source to ask.
            if let Some(source) = &key_source {
                config.app_data(source.clone());
            }
            config.configure(routes::configure);
        })?;
        Ok(Application { service })
    }

    /// The bound port (useful when listening on port 0).
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The port of the separate `/metrics` listener (`TASKS__METRICS__LISTEN`), if set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.service.metrics_port()
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.service.run_until_stopped().await
    }
}

/// The configured store: Redis if the settings name one (`TASKS__REDIS__URL`, a cluster or
/// Sentinels), else in memory.
fn task_store(settings: &Settings) -> Result<Arc<dyn TaskStore>, StartupError> {
    let prefix = &settings.redis.key_prefix;
    Ok(service_kit::redis::store_or_memory(
        &settings.redis,
        ENV_PREFIX,
        "task store",
        |redis| Arc::new(RedisTaskStore::new(redis, prefix)) as Arc<dyn TaskStore>,
        || Arc::new(MemoryTaskStore::new()),
    )?)
}
