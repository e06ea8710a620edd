//! `tasks-service`: load configuration, start logging, serve until SIGTERM/SIGINT (or
//! probe a running instance: `healthcheck`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tasks_service::{Application, Settings, StartupError};

/// Tessera's example resource server. Configuration: built-in defaults, then `--config`,
/// then `TASKS__*` environment variables (see the README).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Optional TOML configuration file.
    #[arg(long, env = "TASKS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Exit 0 if the instance configured here answers `GET /readyz` with 200 (for container
    /// healthchecks).
    Healthcheck,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("tasks-service: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Healthcheck) = cli.command {
        // Quiet: a container runtime runs this every few seconds.
        return service_kit::health::healthcheck("tasks-service", &settings.listen);
    }
    if let Err(err) = service_kit::telemetry::init_traced(
        "tasks-service",
        tasks_service::config::ENV_PREFIX,
        &settings.log,
        &settings.otel,
    ) {
        eprintln!("tasks-service: configuration error: {err}");
        return ExitCode::FAILURE;
    }
    let result = match Application::build(settings).await {
        Ok(app) => app
            .run_until_stopped()
            .await
            .map_err(|err| StartupError::Serve(err.into())),
        Err(err) => Err(err),
    };
    service_kit::traces::shutdown();
    service_kit::server::exit_code("tasks-service", result)
}
