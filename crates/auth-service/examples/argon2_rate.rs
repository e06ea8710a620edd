//! The raw argon2id rate of this machine with the auth-service's default parameters (or
//! `AUTH__PASSWORD__*`): the ceiling `POST /auth/login` is compared against. Hashes on the
//! current thread for SECONDS (default 5) and prints `hashes_per_sec=<n>`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use auth_service::Settings;

fn main() -> ExitCode {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(5);
    let settings = match Settings::load(None) {
        Ok(settings) => settings.password,
        Err(err) => {
            eprintln!("argon2_rate: {err}");
            return ExitCode::FAILURE;
        }
    };
    let params = match Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    ) {
        Ok(params) => params,
        Err(err) => {
            eprintln!("argon2_rate: {err}");
            return ExitCode::FAILURE;
        }
    };
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = [7u8; 16];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut hashes = 0u64;
    while Instant::now() < deadline {
        if argon
            .hash_password_with_salt(b"correct horse battery", &salt)
            .is_err()
        {
            eprintln!("argon2_rate: hashing failed");
            return ExitCode::FAILURE;
        }
        hashes += 1;
    }
    println!(
        "hashes_per_sec={:.2}",
        hashes as f64 / started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
