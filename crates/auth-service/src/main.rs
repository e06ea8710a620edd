//! `auth-service`: serve (the default), run an operator command against the store, or
//! probe a running instance (`healthcheck`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use auth_core::{Algorithm, Clock, SystemClock};
use auth_service::{admin, oauth, signing_keys, Application, Settings};
use clap::{Parser, Subcommand};
use service_kit::keyset::{self, Manifest, Rotated};

/// Tessera's auth-service. Configuration: built-in defaults, then `--config`, then
/// `AUTH__*` environment variables (see the README).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
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
enum KeysCommand {
    /// Create a key set in DIR: `keyset.json` plus the first key, signing from now —
    /// `<kid>.pem` (private, 0600) and `<kid>.pub.pem` (public). Refuses an existing set.
    Generate {
        /// `eddsa` (Ed25519) or `es256` (P-256).
        #[arg(long, value_parser = ["eddsa", "es256"])]
        alg: String,
        /// The key-set directory (default: AUTH__JWT__KEYS_DIR, else `keys/signing`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// One rotation step: delete the keys whose time is up, then (unless a key is already
    /// waiting) publish a new key that signs after --lead seconds and schedule the current
    /// one to be dropped once its tokens have expired. Safe to run from cron.
    Rotate {
        /// The key-set directory (default: AUTH__JWT__KEYS_DIR, else `keys/signing`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seconds between publishing the new key and signing with it (default and least:
        /// AUTH__JWT__JWKS_MAX_AGE_SECS + AUTH__JWT__KEYS_RELOAD_SECS + 60).
        #[arg(long)]
        lead: Option<u64>,
        /// A key is compromised: sign with a new key at once and delete every other key.
        /// Access tokens signed before stop verifying; clients refresh.
        #[arg(long)]
        emergency: bool,
    },
    /// Show each key of the set and its state now.
    Status {
        /// The key-set directory (default: AUTH__JWT__KEYS_DIR, else `keys/signing`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Make a secret for a new confidential client: prints the secret once (for the
    /// service) and the `[[oauth.clients]]` entry to add to the configuration file.
    New {
        /// The client id, e.g. `billing` (tokens say `sub: svc:billing`).
        id: String,
        /// A scope the client may be granted (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Give a user the admin role (effective at their next refresh).
    GrantAdmin { username: String },
    /// Take the admin role away; the user's sessions must log in again.
    RevokeAdmin { username: String },
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
            service_kit::telemetry::init(&settings.log);
            serve(settings).await
        }
        Command::Users { action } => {
            service_kit::telemetry::init(&settings.log);
            users(settings, action).await
        }
        Command::Clients {
            action: ClientsCommand::New { id, scopes },
        } => new_client(&id, scopes),
        Command::Keys { action } => keys(&settings, action),
    }
}

fn keys(settings: &Settings, action: KeysCommand) -> ExitCode {
    let dir_or_default = |dir: Option<PathBuf>| {
        dir.or_else(|| settings.jwt.keys_dir.clone())
            .unwrap_or_else(|| PathBuf::from("keys/signing"))
    };
    let now = SystemClock.now();
    let result = match action {
        KeysCommand::Generate { alg, dir } => {
            let (alg, mode) = match alg.as_str() {
                "eddsa" => (Algorithm::EdDSA, "eddsa"),
                _ => (Algorithm::ES256, "es256"),
            };
            let dir = dir_or_default(dir);
            keyset::generate(&dir, alg, now).map(|first| {
                println!("key set created in {}: {} signs from now", dir.display(), first.kid);
                println!("auth-service:    AUTH__JWT__ALGORITHM={mode} AUTH__JWT__KEYS_DIR={}", dir.display());
                println!("resource server: TASKS__JWT__ALGORITHM={mode} TASKS__JWT__JWKS_URL=<auth-service>/.well-known/jwks.json");
                println!(
                    "                 (or TASKS__JWT__PUBLIC_KEY_FILES={})",
                    dir.join(keyset::public_file(&first.kid)).display()
                );
            })
        }
        KeysCommand::Rotate {
            dir,
            lead,
            emergency,
        } => {
            let dir = dir_or_default(dir);
            let timing = signing_keys::timing(settings, lead);
            set_algorithm(&dir)
                .and_then(|alg| keyset::rotate(&dir, alg, now, timing, emergency))
                .map(|rotated| {
                    match rotated {
                        Rotated::Scheduled(key) if emergency => {
                            println!("{} signs now; every other key is deleted", key.kid);
                        }
                        Rotated::Scheduled(key) => println!(
                            "{} is published and signs from {} (in {}s)",
                            key.kid,
                            time(key.signs_from),
                            key.signs_from.saturating_sub(now)
                        ),
                        Rotated::AlreadyPending(key) => println!(
                            "{} already waits to sign from {}: nothing to rotate",
                            key.kid,
                            time(key.signs_from)
                        ),
                    }
                    print_status(&dir, now);
                })
        }
        KeysCommand::Status { dir } => {
            let dir = dir_or_default(dir);
            set_algorithm(&dir).map(|_| print_status(&dir, now))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The algorithm of the key set in `dir`.
fn set_algorithm(dir: &Path) -> Result<Algorithm, keyset::KeySetError> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| keyset::KeySetError::Missing(dir.into()))?;
    Algorithm::from_name(&manifest.alg).ok_or_else(|| keyset::KeySetError::Manifest {
        path: dir.join(keyset::MANIFEST),
        reason: format!("unknown algorithm {:?}", manifest.alg),
    })
}

fn print_status(dir: &Path, now: u64) {
    let Ok(Some(manifest)) = Manifest::read(dir) else {
        return;
    };
    println!("{:<44} {:<8} {:<21} drop at", "kid", "state", "signs from");
    for (key, state) in manifest.states(now) {
        println!(
            "{:<44} {:<8} {:<21} {}",
            key.kid,
            state.to_string(),
            time(key.signs_from),
            key.drop_at.map(time).unwrap_or_else(|| "-".to_owned())
        );
    }
}

/// Unix seconds as RFC 3339 UTC.
fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn new_client(id: &str, scopes: Vec<String>) -> ExitCode {
    let result = oauth::new_secret()
        .map_err(|_| "no randomness available".to_owned())
        .and_then(|(secret, hash)| {
            let client = oauth::ClientSettings {
                id: id.to_owned(),
                secret_sha256: hash,
                scopes,
            };
            oauth::Clients::new(&[], std::slice::from_ref(&client))?;
            Ok((secret, client))
        });
    match result {
        Ok((secret, client)) => {
            let scopes: Vec<String> = client.scopes.iter().map(|s| format!("{s:?}")).collect();
            println!("client_secret for {id} (give it to the service; it is stored nowhere):");
            println!("{secret}");
            println!();
            println!("Add to the auth-service configuration file (--config):");
            println!("[[oauth.clients]]");
            println!("id = {:?}", client.id);
            println!("secret_sha256 = {:?}", client.secret_sha256);
            println!("scopes = [{}]", scopes.join(", "));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
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
        Ok(app) => app.run_until_stopped().await.map_err(Into::into),
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "auth-service stopped");
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
    }
}
