//! Mints access tokens for load tests, one per line on stdout, so every request of a
//! benchmark can carry a different token (nothing may benefit from a hot cache).
//!
//! `TESSERA_BENCH_SECRET=… cargo run --release -p auth-core --example mint_tokens -- COUNT USERS`
//! signs with HS256; `TESSERA_BENCH_KEY=<PKCS#8 PEM file> TESSERA_BENCH_ALG=EdDSA|ES256`
//! signs with that private key instead. Token `i` is for user `bench-user-<i % USERS>`,
//! valid for an hour.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use auth_core::{Algorithm, ClaimsBuilder, Clock, Key, KeyRing, SystemClock};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mint_tokens: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize| -> Result<usize, String> {
        args.get(index)
            .and_then(|arg| arg.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| "usage: mint_tokens COUNT USERS".to_owned())
    };
    let (count, users) = (number(0)?, number(1)?);
    let key = match std::env::var("TESSERA_BENCH_KEY") {
        Ok(path) => {
            let alg = std::env::var("TESSERA_BENCH_ALG").unwrap_or_default();
            let alg =
                Algorithm::from_name(&alg).ok_or("set TESSERA_BENCH_ALG to EdDSA or ES256")?;
            let pem = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            Key::from_private_pem(alg, &pem).map_err(|e| e.to_string())?
        }
        Err(_) => {
            let secret = std::env::var("TESSERA_BENCH_SECRET")
                .map_err(|_| "set TESSERA_BENCH_SECRET or TESSERA_BENCH_KEY")?;
            Key::hs256_fingerprinted(secret.as_bytes()).map_err(|e| e.to_string())?
        }
    };
    let ring = KeyRing::new(key).map_err(|e| e.to_string())?;
    let now = SystemClock.now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let user = format!("bench-user-{}", i % users);
        let claims = ClaimsBuilder::user("tessera", "tasks", user, format!("bench-session-{i}"))
            .lifetime(Duration::from_secs(3600))
            .build(now)
            .map_err(|e| e.to_string())?;
        let token = ring.sign(&claims).map_err(|e| e.to_string())?;
        writeln!(out, "{token}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
