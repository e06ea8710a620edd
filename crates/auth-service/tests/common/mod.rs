//! What the auth-service test binaries that stand alone (`logs`, `traces`, `failover`)
//! share; the `api` suite has its own helpers.

use auth_service::Settings;
use secrecy::SecretString;

/// An auth-service for an in-process test: a free loopback port, one worker, HS256 with
/// `secret`, the test public URL and cheap argon2 parameters (hashing cost is not under
/// test). The in-memory store until the caller names a Redis.
pub fn settings(secret: &str) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".to_owned(),
        workers: 1,
        ..Settings::default()
    };
    settings.jwt.secret = Some(SecretString::from(secret));
    settings.public_url = Some("https://auth.test".to_owned());
    (settings.password.memory_kib, settings.password.iterations) = testkit::support::CHEAP_ARGON2;
    settings
}
