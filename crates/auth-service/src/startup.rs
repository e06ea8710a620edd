//! [`Application`]: the shared [`AppState`] built once, its background tasks started, the
//! HTTP server (service-kit's skeleton around [`routes`]) bound — port 0 in tests — and
//! served until SIGTERM/SIGINT with a graceful drain.

use std::sync::Arc;

use actix_web::web;
use auth_core::{Clock, SystemClock};
use service_kit::revocation::FIRST_LOAD_WAIT;
use service_kit::server::{serve, Service, Skeleton};

use crate::config::{Settings, ENV_PREFIX};
use crate::error::StartupError;
use crate::routes;
use crate::state::AppState;
use crate::store::AuthStore;

/// A bound, not yet running, auth-service.
#[derive(Debug)]
pub struct Application {
    service: Service,
    state: Arc<AppState>,
}

impl Application {
    /// Builds the service on the real clock.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Application::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service with the clock every lifetime check reads (tests move it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        let store = crate::store::configured(&settings)?;
        Application::build_on(settings, clock, store).await
    }

    /// Builds the service on a store made elsewhere (tests wrap the configured one to
    /// hold an operation at a chosen point).
    pub async fn build_on(
        settings: Settings,
        clock: Arc<dyn Clock>,
        store: Arc<dyn AuthStore>,
    ) -> Result<Application, StartupError> {
        let state = web::Data::new(AppState::new(settings, clock, store)?);
        if let Some(view) = state.revoked() {
            service_kit::revocation::first_load(view, FIRST_LOAD_WAIT).await;
        }
        crate::admin::bootstrap(&state).await;
        if state.settings().purge.tasks_urls.is_empty() {
            tracing::warn!(
                "AUTH__PURGE__TASKS_URLS is not set: deleted accounts' tasks are recorded for \
                 purging but not purged until it is"
            );
        }
        crate::purge::spawn_poller(state.clone().into_inner());
        crate::keys::reload::spawn_reloader(state.clone().into_inner());
        let verifier = web::Data::from(state.verifier().clone());
        let settings = state.settings();
        let skeleton = Skeleton {
            name: "auth-service",
            prefix: ENV_PREFIX,
            listen: &settings.listen,
            workers: settings.workers,
            http: &settings.http,
            cors_origins: &[],
            openapi: &crate::openapi::document(),
            metrics: state.metrics(),
            metrics_settings: &settings.metrics,
        };
        let shared = state.clone();
        let service = serve(skeleton, move |config| {
            config
                .app_data(shared.clone())
                .app_data(verifier.clone())
                .configure(routes::configure);
        })?;
        Ok(Application {
            service,
            state: state.into_inner(),
        })
    }

    /// The bound port (useful when listening on port 0).
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The state every request shares: for the background work a test drives by hand
    /// (e.g. one round of the purge poller).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// The port of the separate `/metrics` listener (`AUTH__METRICS__LISTEN`), if set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.service.metrics_port()
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.service.run_until_stopped().await
    }
}
