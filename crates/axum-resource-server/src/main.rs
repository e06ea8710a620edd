//! The smallest Tessera resource server: axum and auth-core, nothing else. Copy it.
//!
//! `GET /public` needs nothing; `GET /hello` needs a valid access token and answers
//! `{"sub": …}`. Configuration, all from the environment:
//!
//! - `LISTEN`: the address to listen on (default `127.0.0.1:8090`).
//! - `TESSERA_JWT_SECRET_FILE`: HS256, a file holding the auth-service's shared secret; or
//! - `TESSERA_JWKS_URL`: EdDSA/ES256, the auth-service's JWKS
//!   (`http://auth:8081/.well-known/jwks.json`), with `TESSERA_ALGORITHM` (`EdDSA`, the
//!   default, or `ES256`): the one algorithm accepted, whatever a token says.
//! - `TESSERA_ISSUER` (default `tessera`) and `TESSERA_AUDIENCE` (default `tasks`): what
//!   the auth-service issues unless configured otherwise.
//!
//! Tokens that verified are cached by their bytes (auth-core's `VerifiedCache`), so a
//! token presented again costs well under a microsecond; every hit is still checked
//! against the keys and the clock.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;

use auth_core::axum::{Authenticated, BearerAuth};
use auth_core::jwks::RemoteKeys;
use auth_core::{Algorithm, Key, KeyRing, SystemClock, Validation, VerifiedCache, Verifier};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

/// Room for about 100,000 tokens.
const CACHE_BYTES: u64 = 96 << 20;

async fn public() -> Json<Value> {
    Json(json!({ "hello": "anyone" }))
}

async fn hello(caller: Authenticated) -> Json<Value> {
    Json(json!({ "sub": caller.sub }))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("axum-resource-server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let listen = env("LISTEN").unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let app = Router::new()
        .route("/public", get(public))
        .route("/hello", get(hello))
        .layer(Extension(bearer_auth().await?));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!(
        "axum-resource-server listening on {}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// The verifier for the configured mode, with the key source that keeps it current.
async fn bearer_auth() -> Result<BearerAuth, Box<dyn Error>> {
    let validation = Validation::new(
        env("TESSERA_ISSUER").unwrap_or_else(|| "tessera".to_owned()),
        env("TESSERA_AUDIENCE").unwrap_or_else(|| "tasks".to_owned()),
    );
    let clock = Arc::new(SystemClock);
    let cache = Arc::new(VerifiedCache::new(CACHE_BYTES));
    match (env("TESSERA_JWT_SECRET_FILE"), env("TESSERA_JWKS_URL")) {
        (Some(path), None) => {
            let secret = std::fs::read_to_string(&path)
                .map_err(|err| format!("TESSERA_JWT_SECRET_FILE {path}: {err}"))?;
            // The auth-service derives the `kid` from the secret the same way.
            let key = Key::hs256_fingerprinted(secret.trim_end().as_bytes())?;
            let validation = validation.algorithms(&[Algorithm::HS256]);
            let verifier = Verifier::new(KeyRing::new(key)?, validation, clock)?;
            Ok(BearerAuth::new(Arc::new(verifier.with_cache(cache))))
        }
        (None, Some(url)) => {
            let alg = match env("TESSERA_ALGORITHM").as_deref() {
                None => Algorithm::EdDSA,
                Some(name) => Algorithm::from_name(name)
                    .filter(|alg| *alg != Algorithm::HS256)
                    .ok_or("TESSERA_ALGORITHM must be EdDSA or ES256")?,
            };
            let validation = validation.algorithms(&[alg]);
            let verifier = Verifier::new(KeyRing::empty(), validation, clock.clone())?;
            let verifier = Arc::new(verifier.with_cache(cache));
            let keys = RemoteKeys::new(url, alg, verifier.clone(), clock)?
                .start()
                .await;
            Ok(BearerAuth::new(verifier).with_key_source(keys))
        }
        _ => Err(
            "set one of TESSERA_JWT_SECRET_FILE (HS256) or TESSERA_JWKS_URL (EdDSA/ES256)".into(),
        ),
    }
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
