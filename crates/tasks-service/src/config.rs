//! Configuration (`TASKS__*`): defaults here, then an optional TOML file, then the
//! environment. Field names are a contract that deployment tooling depends on.

use service_kit::metrics::MetricsSettings;
use service_kit::traces::OtelSettings;
use std::path::Path;

use serde::Deserialize;
use service_kit::revocation::RevocationSettings;
use service_kit::server::HttpSettings;
use service_kit::settings::{ConfigError, JwtSettings, RedisSettings};
use service_kit::telemetry::LogSettings;

/// Environment prefix of every setting.
pub const ENV_PREFIX: &str = "TASKS";

/// Everything tasks-service can be told.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `host:port` to listen on (`TASKS__LISTEN`).
    pub listen: String,
    /// Dev mode (`TASKS__DEV`): allows the built-in development secret.
    pub dev: bool,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Task storage (`TASKS__REDIS__*`).
    pub redis: RedisSettings,
    /// Access-token verification (`TASKS__JWT__*`).
    pub jwt: JwtSettings,
    pub cors: CorsSettings,
    /// Request timeouts and connection limits (`TASKS__HTTP__*`).
    pub http: HttpSettings,
    /// How stale the revocation view may grow, and what then (`TASKS__REVOCATION__*`).
    pub revocation: RevocationSettings,
    pub log: LogSettings,
    /// Where `GET /metrics` is served (`TASKS__METRICS__LISTEN`).
    pub metrics: MetricsSettings,
    /// Traces over OTLP (`TASKS__OTEL__ENDPOINT`); off when unset.
    pub otel: OtelSettings,
}

/// Cross-origin access.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins allowed to call from a browser (`TASKS__CORS__ALLOWED_ORIGINS`,
    /// comma-separated). Empty: no CORS headers at all, same-origin use only.
    pub allowed_origins: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8082".to_owned(),
            dev: false,
            workers: 0,
            redis: RedisSettings::default(),
            jwt: JwtSettings::default(),
            cors: CorsSettings::default(),
            http: HttpSettings::default(),
            revocation: RevocationSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
            otel: OtelSettings::default(),
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then `TASKS__*` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        service_kit::settings::load(
            ENV_PREFIX,
            file,
            &[
                "cors.allowed_origins",
                "jwt.public_key_files",
                "redis.cluster_nodes",
                "redis.sentinels",
            ],
        )
    }
}
