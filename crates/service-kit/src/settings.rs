//! Configuration loading (docs/ARCHITECTURE.md, "Configuration"): the service's own
//! `Default`, then an optional file, then environment variables `<PREFIX>__SECTION__KEY`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::secret::SecretSource;

pub use config::ConfigError;

/// Loads settings of type `T` (whose serde defaults are the built-in defaults).
///
/// `prefix` is `AUTH` or `TASKS`; both separators are set explicitly to `__` because the
/// crate's default changed between versions. `list_keys` names settings that take a
/// comma-separated list from the environment (e.g. `cors.allowed_origins`).
pub fn load<T: DeserializeOwned>(
    prefix: &str,
    file: Option<&Path>,
    list_keys: &[&str],
) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(config::File::from(path).required(true));
    }
    let mut env = config::Environment::with_prefix(prefix)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true);
    if !list_keys.is_empty() {
        env = env.list_separator(",");
        for key in list_keys {
            env = env.with_list_parse_key(key);
        }
    }
    builder.add_source(env).build()?.try_deserialize()
}

/// The `redis` section both services share.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `…__REDIS__URL`: one standalone Redis. With none of `url`, `cluster_nodes` and
    /// `sentinels` set, the service runs on the embedded in-memory store (single instance
    /// only). A secret because it may hold the Redis password.
    pub url: Option<SecretString>,
    /// `…__REDIS__CLUSTER_NODES`: comma-separated `redis://` seed nodes of a Redis Cluster
    /// (any few; the rest are discovered).
    pub cluster_nodes: Vec<SecretString>,
    /// `…__REDIS__SENTINELS`: comma-separated `redis://` addresses of Redis Sentinels, with
    /// `sentinel_master`, the name of the master they watch (`…__REDIS__SENTINEL_MASTER`).
    pub sentinels: Vec<SecretString>,
    pub sentinel_master: Option<String>,
    /// File holding the Redis password (`…__REDIS__PASSWORD_FILE`), e.g. a Docker secret;
    /// used for every Redis node (not the sentinels) when their URLs carry none.
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the Redis servers' certificates
    /// (`…__REDIS__CA_FILE`), for `rediss://` URLs; unset, the system's trusted roots.
    pub ca_file: Option<PathBuf>,
    /// Prefix of every key (`…__REDIS__KEY_PREFIX`).
    pub key_prefix: String,
    /// After a command gets no answer, refuse store requests at once (503) for this many
    /// milliseconds before one probe checks Redis again (`…__REDIS__BREAKER_MS`; 0: never
    /// refuse, every request waits for its own timeout).
    pub breaker_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: None,
            cluster_nodes: Vec::new(),
            sentinels: Vec::new(),
            sentinel_master: None,
            password_file: None,
            ca_file: None,
            key_prefix: "tessera:".to_owned(),
            breaker_ms: 500,
        }
    }
}

/// How access tokens are signed (`…__JWT__ALGORITHM`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningMode {
    /// One shared secret: the auth-service signs and every resource server verifies with it.
    #[default]
    Hs256,
    /// Ed25519: the auth-service holds the private key, resource servers public keys only.
    Eddsa,
    /// ECDSA P-256, like `eddsa`.
    Es256,
}

impl SigningMode {
    /// The JWS algorithm this mode signs and verifies with.
    pub fn algorithm(self) -> auth_core::Algorithm {
        match self {
            SigningMode::Hs256 => auth_core::Algorithm::HS256,
            SigningMode::Eddsa => auth_core::Algorithm::EdDSA,
            SigningMode::Es256 => auth_core::Algorithm::ES256,
        }
    }
}

/// The `jwt` section both services share: how tokens are signed and what they must say.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// `hs256` (default), `eddsa` or `es256` (`…__JWT__ALGORITHM`).
    pub algorithm: SigningMode,
    /// The issuer's PKCS#8 private key, `eddsa`/`es256` only (`…__JWT__PRIVATE_KEY_FILE`);
    /// refused by resource servers.
    pub private_key_file: Option<PathBuf>,
    /// SPKI public keys (`…__JWT__PUBLIC_KEY_FILES`, comma-separated), `eddsa`/`es256`
    /// only: what a resource server verifies with; at the auth-service, earlier keys it
    /// still publishes and accepts while their tokens live.
    pub public_key_files: Vec<PathBuf>,
    /// The issuer's rotating key set (`…__JWT__KEYS_DIR`), `eddsa`/`es256` only, instead
    /// of `private_key_file`; refused by resource servers.
    pub keys_dir: Option<PathBuf>,
    /// How often each issuer instance re-reads the key set, in seconds
    /// (`…__JWT__KEYS_RELOAD_SECS`).
    pub keys_reload_secs: u64,
    /// `Cache-Control: max-age` of the issuer's JWKS, in seconds
    /// (`…__JWT__JWKS_MAX_AGE_SECS`); rotations publish new keys at least this long
    /// (plus the reload interval and a minute) before they sign.
    pub jwks_max_age_secs: u64,
    /// A resource server's source of public keys instead of `public_key_files`
    /// (`…__JWT__JWKS_URL`, e.g. `http://auth:8081/.well-known/jwks.json`); refused by
    /// the issuer, which publishes the JWKS.
    pub jwks_url: Option<String>,
    /// Longest time between background JWKS fetches, in seconds; the JWKS's own
    /// `max-age` shortens it (`…__JWT__JWKS_REFRESH_SECS`).
    pub jwks_refresh_secs: u64,
    /// Least time between JWKS fetches caused by unknown `kid`s, in seconds; also the
    /// retry delay after a failed fetch (`…__JWT__JWKS_MIN_INTERVAL_SECS`).
    pub jwks_min_interval_secs: u64,
    /// HS256 shared secret (`…__JWT__SECRET`), at least 32 bytes.
    pub secret: Option<SecretString>,
    /// File holding the secret (`…__JWT__SECRET_FILE`), e.g. a Docker secret.
    pub secret_file: Option<PathBuf>,
    /// `iss` of tokens (`…__JWT__ISSUER`).
    pub issuer: String,
    /// `aud` of tokens (`…__JWT__AUDIENCE`).
    pub audience: String,
    /// Clock-skew allowance in seconds, at most 60 (`…__JWT__LEEWAY_SECS`).
    pub leeway_secs: u64,
    /// Memory for the verified-token cache, in MiB (`…__JWT__CACHE_MIB`, default 96: about
    /// 100,000 tokens); 0 turns it off. On in every mode: a hit costs ~0.23 µs against a
    /// full verification's ~1.5 µs (HS256) or ~60 µs (EdDSA, ES256); a token seen once costs
    /// ~0.3 µs more than without the cache.
    pub cache_mib: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            algorithm: SigningMode::Hs256,
            private_key_file: None,
            public_key_files: Vec::new(),
            keys_dir: None,
            keys_reload_secs: 10,
            jwks_max_age_secs: 300,
            jwks_url: None,
            jwks_refresh_secs: 300,
            jwks_min_interval_secs: 30,
            secret: None,
            secret_file: None,
            issuer: "tessera".to_owned(),
            audience: "tasks".to_owned(),
            leeway_secs: 30,
            cache_mib: 96,
        }
    }
}

impl JwtSettings {
    /// Where the secret comes from; `setting` is its environment name, e.g.
    /// `<PREFIX>__JWT__SECRET`, for error messages.
    pub fn secret_source<'a>(&'a self, setting: &'a str, dev: bool) -> SecretSource<'a> {
        SecretSource {
            setting,
            value: self.secret.as_ref(),
            file: self.secret_file.as_deref(),
            dev,
        }
    }

    /// The verified-token cache these settings ask for, if any (see `cache_mib`).
    pub fn verified_cache(&self) -> Option<std::sync::Arc<auth_core::VerifiedCache>> {
        match self.cache_mib {
            0 => None,
            mib => Some(std::sync::Arc::new(auth_core::VerifiedCache::new(
                mib.saturating_mul(1 << 20),
            ))),
        }
    }

    /// The verification rules these settings describe: only the configured algorithm.
    pub fn validation(&self) -> auth_core::Validation {
        auth_core::Validation::new(&self.issuer, &self.audience)
            .leeway(std::time::Duration::from_secs(self.leeway_secs))
            .algorithms(&[self.algorithm.algorithm()])
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        listen: String,
        dev: bool,
        jwt: Jwt,
        origins: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Jwt {
        secret_file: Option<String>,
        leeway_secs: u64,
    }

    /// One test touches the environment (a unique prefix keeps it from other tests).
    #[test]
    fn file_then_environment_with_double_underscores_and_lists() {
        let path =
            std::env::temp_dir().join(format!("tessera-settings-{}.toml", std::process::id()));
        std::fs::write(&path, "listen = \"0.0.0.0:1\"\n[jwt]\nleeway_secs = 5\n").unwrap();
        std::env::set_var("SKTEST__DEV", "true");
        std::env::set_var("SKTEST__JWT__SECRET_FILE", "/run/secrets/jwt");
        std::env::set_var("SKTEST__ORIGINS", "https://a.example,https://b.example");
        let loaded: Sample = load("SKTEST", Some(&path), &["origins"]).unwrap();
        assert_eq!(
            loaded,
            Sample {
                listen: "0.0.0.0:1".into(),
                dev: true,
                jwt: Jwt {
                    secret_file: Some("/run/secrets/jwt".into()),
                    leeway_secs: 5,
                },
                origins: vec!["https://a.example".into(), "https://b.example".into()],
            }
        );
        std::env::set_var("SKTEST__TYPO", "x");
        assert!(
            load::<Sample>("SKTEST", None, &["origins"]).is_err(),
            "unknown settings are refused"
        );
        for name in [
            "SKTEST__DEV",
            "SKTEST__JWT__SECRET_FILE",
            "SKTEST__ORIGINS",
            "SKTEST__TYPO",
        ] {
            std::env::remove_var(name);
        }
        std::fs::remove_file(&path).unwrap();
    }
}
