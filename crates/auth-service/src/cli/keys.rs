//! `auth-service keys generate|rotate|status`: the rotating key set of the `eddsa` and
//! `es256` modes, on the directory the running instances re-read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use auth_core::{Algorithm, Clock, SystemClock};
use clap::Subcommand;

use crate::keys::set::{self, KeySetError, Manifest, Rotated};
use crate::Settings;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
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

pub fn run(settings: &Settings, action: KeysCommand) -> ExitCode {
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
            set::generate(&dir, alg, now).map(|first| {
                println!("key set created in {}: {} signs from now", dir.display(), first.kid);
                println!("auth-service:    AUTH__JWT__ALGORITHM={mode} AUTH__JWT__KEYS_DIR={}", dir.display());
                println!("resource server: TASKS__JWT__ALGORITHM={mode} TASKS__JWT__JWKS_URL=<auth-service>/.well-known/jwks.json");
                println!(
                    "                 (or TASKS__JWT__PUBLIC_KEY_FILES={})",
                    dir.join(set::public_file(&first.kid)).display()
                );
            })
        }
        KeysCommand::Rotate {
            dir,
            lead,
            emergency,
        } => {
            let dir = dir_or_default(dir);
            let timing = crate::keys::timing(settings, lead);
            set_algorithm(&dir)
                .and_then(|alg| set::rotate(&dir, alg, now, timing, emergency))
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
fn set_algorithm(dir: &Path) -> Result<Algorithm, KeySetError> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| KeySetError::Missing(dir.into()))?;
    Algorithm::from_name(&manifest.alg).ok_or_else(|| KeySetError::Manifest {
        path: dir.join(set::MANIFEST),
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
