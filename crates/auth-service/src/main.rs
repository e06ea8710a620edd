//! `auth-service`: serve (the default), run an operator command against the store, or
//! probe a running instance (`healthcheck`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use auth_core::{Algorithm, Key};
use auth_service::{admin, oauth, Application, Settings};
use clap::{Parser, Subcommand};

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
    /// Signing keys for the `eddsa` and `es256` modes.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write a new key pair into DIR: `<alg>-<kid>-private.pem` (0600, for the
    /// auth-service) and `<alg>-<kid>-public.pem` (for resource servers). Never overwrites.
    Generate {
        /// `eddsa` (Ed25519) or `es256` (P-256).
        #[arg(long, value_parser = ["eddsa", "es256"])]
        alg: String,
        /// Where to write the files.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
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
        Command::Keys {
            action: KeysCommand::Generate { alg, dir },
        } => generate_key(&alg, &dir),
    }
}

fn generate_key(alg: &str, dir: &Path) -> ExitCode {
    let (alg, mode) = match alg {
        "eddsa" => (Algorithm::EdDSA, "eddsa"),
        _ => (Algorithm::ES256, "es256"),
    };
    match write_key_pair(alg, dir) {
        Ok((private, public, kid)) => {
            println!("kid {kid}");
            println!(
                "auth-service:   AUTH__JWT__ALGORITHM={mode} AUTH__JWT__PRIVATE_KEY_FILE={}",
                private.display()
            );
            println!(
                "resource server: TASKS__JWT__ALGORITHM={mode} TASKS__JWT__PUBLIC_KEY_FILES={}",
                public.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a fresh key pair; the private file is created 0600 and never replaces a file.
fn write_key_pair(alg: Algorithm, dir: &Path) -> Result<(PathBuf, PathBuf, String), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let generated = Key::generate(alg).map_err(|err| err.to_string())?;
    let kid = generated.key.kid().to_owned();
    let public_pem = generated.key.public_key_pem().ok_or("no public half")?;
    std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let stem = format!(
        "{}-{}",
        alg.name().to_ascii_lowercase(),
        &kid[..12.min(kid.len())]
    );
    let private = dir.join(format!("{stem}-private.pem"));
    let public = dir.join(format!("{stem}-public.pem"));
    for (path, text, mode) in [
        (&private, &generated.private_pem, 0o600),
        (&public, &public_pem, 0o644),
    ] {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|err| format!("{}: {err}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|err| format!("{}: {err}", path.display()))?;
    }
    Ok((private, public, kid))
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
