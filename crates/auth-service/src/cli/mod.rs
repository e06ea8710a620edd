//! The `auth-service` command line: serve (the default), probe a running instance
//! (`healthcheck`), or an operator command — `users` (roles, against the configured
//! store), `clients` (OAuth confidential clients), `keys` (the rotating key set). `main.rs`
//! only parses and calls [`run`].

mod clients;
mod keys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::clients::ClientsCommand;
use self::keys::KeysCommand;
use crate::{admin, Application, Settings, StartupError};

/// Tessera's auth-service. Configuration: built-in defaults, then `--config`, then
/// `AUTH__*` environment variables (see the README).
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    /// Optional TOML configuration file.
    #[arg(long, env = "AUTH_CONFIG", global = true)]
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
    /// Manage users in the configured store.
    Users {
        #[command(subcommand)]
        action: UsersCommand,
    },
    /// OAuth 2.0 confidential clients (services).
    Clients {
        #[command(subcommand)]
        action: ClientsCommand,
    },
    /// The rotating signing-key set of the `eddsa` and `es256` modes.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Give a user the admin role (effective at their next refresh).
    GrantAdmin { username: String },
    /// Take the admin role away; the user's sessions must log in again.
    RevokeAdmin { username: String },
}

/// Runs what `cli` asks for; the process's exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("auth-service: configuration error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        // Quiet: a container runtime runs this every few seconds.
        Command::Healthcheck => service_kit::health::healthcheck("auth-service", &settings.listen),
        Command::Serve => {
            let traced = service_kit::telemetry::init_traced(
                "auth-service",
                crate::config::ENV_PREFIX,
                &settings.log,
                &settings.otel,
            );
            if let Err(err) = traced {
                eprintln!("auth-service: configuration error: {err}");
                return ExitCode::FAILURE;
            }
            serve(settings).await
        }
        Command::Users { action } => {
            service_kit::telemetry::init(&settings.log);
            users(settings, action).await
        }
        Command::Clients { action } => clients::run(action),
        Command::Keys { action } => keys::run(&settings, action),
    }
}

async fn users(settings: Settings, action: UsersCommand) -> ExitCode {
    let (name, grant) = match &action {
        UsersCommand::GrantAdmin { username } => (username, true),
        UsersCommand::RevokeAdmin { username } => (username, false),
    };
    match admin::set_admin(&settings, name, grant).await {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let result = match Application::build(settings).await {
        Ok(app) => app
            .run_until_stopped()
            .await
            .map_err(|err| StartupError::Serve(err.into())),
        Err(err) => Err(err),
    };
    service_kit::traces::shutdown();
    service_kit::server::exit_code("auth-service", result)
}
