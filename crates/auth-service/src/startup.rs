//! [`Application`]: the shared [`AppState`] built once, the HTTP server bound (port 0 in
//! tests), served until SIGTERM/SIGINT with a graceful drain.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use auth_core::{Clock, SystemClock};
use service_kit::http::{edges, input_config, not_found, RootSpan};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::error::StartupError;
use crate::routes;
use crate::state::AppState;
use crate::store::AuthStore;

/// A bound, not yet running, auth-service.
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

        let listen = state.settings().listen.clone();
        let listener = TcpListener::bind(&listen).map_err(|source| StartupError::Bind {
            address: listen.clone(),
            source,
        })?;
        let port = listener.local_addr()?.port();
        let workers = state.settings().workers;
        let limits = state.settings().http.limits(workers);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(move |req, next| {
                    edges(req, next, limits.body_timeout)
                }))
                .wrap(TracingLogger::<RootSpan>::new())
                .app_data(state.clone())
                .app_data(verifier.clone())
                .configure(input_config)
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .client_request_timeout(limits.head_timeout)
        .max_connections(limits.connections_per_worker)
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        tracing::info!(port, "auth-service listening");
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
