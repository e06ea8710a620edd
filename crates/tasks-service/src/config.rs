//! Configuration (`TASKS__*`): defaults here, then an optional TOML file, then the
//! environment. Field names are a contract that deployment tooling depends on.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::secret::{self, SecretError, SecretSource};
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
    pub redis: RedisSettings,
    pub jwt: JwtSettings,
    pub cors: CorsSettings,
    pub log: LogSettings,
}

/// Task storage.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `TASKS__REDIS__URL`; unset means the embedded in-memory store (single instance
    /// only). A secret because it may hold the Redis password.
    pub url: Option<SecretString>,
    /// Prefix of every key (`TASKS__REDIS__KEY_PREFIX`).
    pub key_prefix: String,
}

/// Access-token verification.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// HS256 shared secret (`TASKS__JWT__SECRET`), at least 32 bytes.
    pub secret: Option<SecretString>,
    /// File holding the secret (`TASKS__JWT__SECRET_FILE`), e.g. a Docker secret.
    pub secret_file: Option<PathBuf>,
    /// Expected `iss` (`TASKS__JWT__ISSUER`).
    pub issuer: String,
    /// Expected `aud` (`TASKS__JWT__AUDIENCE`).
    pub audience: String,
    /// Clock-skew allowance in seconds, at most 60 (`TASKS__JWT__LEEWAY_SECS`).
    pub leeway_secs: u64,
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
            log: LogSettings::default(),
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: None,
            key_prefix: "tessera:".to_owned(),
        }
    }
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            secret: None,
            secret_file: None,
            issuer: "tessera".to_owned(),
            audience: "tasks".to_owned(),
            leeway_secs: 30,
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then `TASKS__*` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, service_kit::settings::ConfigError> {
        service_kit::settings::load(ENV_PREFIX, file, &["cors.allowed_origins"])
    }

    /// The HS256 verification key, under the shared secret rules.
    pub fn jwt_key(&self) -> Result<auth_core::Key, SecretError> {
        secret::hs256_key(&SecretSource {
            setting: "TASKS__JWT__SECRET",
            value: self.jwt.secret.as_ref(),
            file: self.jwt.secret_file.as_deref(),
            dev: self.dev,
        })
    }
}
