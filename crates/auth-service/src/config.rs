//! Configuration (`AUTH__*`): defaults here, then an optional TOML file (`--config`), then
//! the environment. Field names are a contract that deployment tooling depends on.

use service_kit::metrics::MetricsSettings;
use service_kit::traces::OtelSettings;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::revocation::RevocationSettings;
use service_kit::secret::{self, SecretError, SecretSource};
use service_kit::server::HttpSettings;
use service_kit::settings::{ConfigError, JwtSettings, RedisSettings, SigningMode};
use service_kit::telemetry::LogSettings;

/// Environment prefix of every setting.
pub const ENV_PREFIX: &str = "AUTH";

/// Shortest access-token lifetime dev mode accepts (`AUTH__ACCESS_TTL_SECS`).
pub const DEV_MIN_ACCESS_TTL_SECS: u64 = 2;

/// Everything the auth-service can be told.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `host:port` to listen on (`AUTH__LISTEN`).
    pub listen: String,
    /// Dev mode (`AUTH__DEV`): the built-in development secret is allowed, and the refresh
    /// cookie may be sent without `Secure` (plain-HTTP localhost).
    pub dev: bool,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Access-token lifetime in seconds, 60–3600 (`AUTH__ACCESS_TTL_SECS`). Dev mode also
    /// allows down to [`DEV_MIN_ACCESS_TTL_SECS`], so client refresh paths can be watched
    /// working in seconds rather than minutes.
    pub access_ttl_secs: u64,
    /// Usernames that hold the `admin` role (`AUTH__ADMINS`, comma-separated). Applied at
    /// start-up and at registration; taking a name off the list does not demote it (use
    /// `auth-service users revoke-admin`).
    pub admins: Vec<String>,
    /// Take the client IP from the last `X-Forwarded-For` entry — the one the front door
    /// appended (`AUTH__TRUST_FORWARDED_FOR`). Only behind a proxy that sets it; otherwise
    /// clients could pick their own IP. `Forwarded` is not read.
    pub trust_forwarded_for: bool,
    /// Users, sessions and rate-limit counters (`AUTH__REDIS__*`).
    pub redis: RedisSettings,
    /// Access-token signing (`AUTH__JWT__*`).
    pub jwt: JwtSettings,
    pub refresh: RefreshSettings,
    pub password: PasswordSettings,
    pub rate_limit: RateLimitSettings,
    pub browser: BrowserSettings,
    pub oauth: OAuthSettings,
    pub purge: PurgeSettings,
    /// The service's public base URL (`AUTH__PUBLIC_URL`), e.g. `https://auth.example.com`:
    /// where the OAuth metadata document says the endpoints are. Required outside dev mode
    /// and never taken from a request's `Host` or `X-Forwarded-*` headers, which a client
    /// chooses (a forged one would poison every cached copy of the document). Dev mode
    /// without it: `http://` and the listen address.
    pub public_url: Option<String>,
    /// Request timeouts and connection limits (`AUTH__HTTP__*`).
    pub http: HttpSettings,
    /// How stale the revocation view may grow, and what then (`AUTH__REVOCATION__*`).
    pub revocation: RevocationSettings,
    pub log: LogSettings,
    /// Where `GET /metrics` is served (`AUTH__METRICS__LISTEN`).
    pub metrics: MetricsSettings,
    /// Traces over OTLP (`AUTH__OTEL__ENDPOINT`); off when unset.
    pub otel: OtelSettings,
}

/// Deleting an account's data in other services (`AUTH__PURGE__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PurgeSettings {
    /// Base URLs of the tasks-service instances (`AUTH__PURGE__TASKS_URLS`,
    /// comma-separated), tried in turn. Empty: deletions are recorded and wait.
    pub tasks_urls: Vec<String>,
    /// How often each instance looks for purges that are due.
    pub poll_secs: u64,
    /// First wait after a failed purge; it doubles with every failure…
    pub backoff_secs: u64,
    /// …up to this.
    pub max_backoff_secs: u64,
}

impl Default for PurgeSettings {
    fn default() -> Self {
        PurgeSettings {
            tasks_urls: Vec::new(),
            poll_secs: 5,
            backoff_secs: 5,
            max_backoff_secs: 600,
        }
    }
}

/// OAuth 2.0 clients (`AUTH__OAUTH__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthSettings {
    /// First-party public clients (`AUTH__OAUTH__PUBLIC_CLIENTS`, comma-separated): they
    /// may use the `password` and `refresh_token` grants with their `client_id` alone.
    pub public_clients: Vec<String>,
    /// Confidential clients, from the configuration file only (`[[oauth.clients]]` with
    /// `id`, `secret_sha256`, `scopes`; `auth-service clients new` prints one).
    pub clients: Vec<ClientSettings>,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            public_clients: vec!["tessera-cli".to_owned(), "tessera-web".to_owned()],
            clients: Vec::new(),
        }
    }
}

/// A confidential OAuth client as configured (`[[oauth.clients]]` in the configuration
/// file; `auth-service clients new` prints one).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The `client_id`; its tokens' subject is `svc:<id>`.
    pub id: String,
    /// SHA-256 of the secret, base64url without padding.
    pub secret_sha256: String,
    /// Scopes this client may be granted; a request without `scope` gets all of them.
    pub scopes: Vec<String>,
}

/// Refresh-token lifetimes and successor key (`AUTH__REFRESH__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshSettings {
    /// Key of the refresh-token successor derivation (`AUTH__REFRESH__SECRET` or
    /// `…_SECRET_FILE`, ≥ 32 bytes). Required with `eddsa`/`es256`; with `hs256` it defaults
    /// to the JWT secret. Every instance needs the same one.
    pub secret: Option<SecretString>,
    pub secret_file: Option<std::path::PathBuf>,
    /// How long a just-spent refresh token still yields the same successor (0–60).
    pub grace_secs: u64,
    /// A session unused this long ends.
    pub idle_secs: u64,
    /// A session ends this long after login, however often it is refreshed.
    pub absolute_secs: u64,
}

/// argon2id parameters and the hashing pool (`AUTH__PASSWORD__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    /// Memory cost in KiB (OWASP: 19 MiB).
    pub memory_kib: u32,
    /// Passes (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
    /// Hashes running at once; 0 means CPUs − 1 (at least 1), leaving a core for refresh
    /// and verification during a login storm.
    pub max_concurrent: usize,
    /// Hash requests allowed to wait for the pool; beyond this, 503 `server_busy`.
    pub max_queue: usize,
}

/// Login throttling (`AUTH__RATE_LIMIT__*`): fixed windows, counted in the store so all
/// instances share them.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Login attempts per username per window.
    pub username_attempts: u64,
    pub username_window_secs: u64,
    /// Login and registration attempts per client IP per window.
    pub ip_attempts: u64,
    pub ip_window_secs: u64,
}

/// Browser mode (`AUTH__BROWSER__*`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrowserSettings {
    /// Origins whose pages may refresh or log out with the cookie
    /// (`AUTH__BROWSER__ALLOWED_ORIGINS`, comma-separated), e.g. `https://app.example.com`.
    pub allowed_origins: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8081".to_owned(),
            dev: false,
            workers: 0,
            access_ttl_secs: 600,
            admins: Vec::new(),
            trust_forwarded_for: false,
            redis: RedisSettings::default(),
            jwt: JwtSettings::default(),
            refresh: RefreshSettings::default(),
            password: PasswordSettings::default(),
            rate_limit: RateLimitSettings::default(),
            browser: BrowserSettings::default(),
            oauth: OAuthSettings::default(),
            purge: PurgeSettings::default(),
            public_url: None,
            http: HttpSettings::default(),
            revocation: RevocationSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
            otel: OtelSettings::default(),
        }
    }
}

impl Default for RefreshSettings {
    fn default() -> Self {
        RefreshSettings {
            secret: None,
            secret_file: None,
            grace_secs: 10,
            idle_secs: 7 * 24 * 3600,
            absolute_secs: 30 * 24 * 3600,
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            max_queue: 64,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            username_attempts: 10,
            username_window_secs: 15 * 60,
            ip_attempts: 60,
            ip_window_secs: 60,
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then `AUTH__*` variables; then [`Settings::check`].
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let settings: Settings = service_kit::settings::load(
            ENV_PREFIX,
            file,
            &[
                "admins",
                "jwt.public_key_files",
                "browser.allowed_origins",
                "oauth.public_clients",
                "purge.tasks_urls",
                "redis.cluster_nodes",
                "redis.sentinels",
            ],
        )?;
        settings.check().map_err(ConfigError::Message)?;
        Ok(settings)
    }

    /// Refuses values that would make the service unsafe or useless, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        let refresh = &self.refresh;
        let min_ttl = if self.dev {
            DEV_MIN_ACCESS_TTL_SECS
        } else {
            60
        };
        let rules: [(bool, &str); 8] = [
            (
                (min_ttl..=3600).contains(&self.access_ttl_secs),
                "AUTH__ACCESS_TTL_SECS must be 60 to 3600 (1 to 60 minutes; dev mode: from 2)",
            ),
            (
                refresh.grace_secs <= 60,
                "AUTH__REFRESH__GRACE_SECS must be 0 to 60",
            ),
            (
                refresh.idle_secs > 0,
                "AUTH__REFRESH__IDLE_SECS must be positive",
            ),
            (
                refresh.absolute_secs > 0,
                "AUTH__REFRESH__ABSOLUTE_SECS must be positive",
            ),
            (
                self.password.memory_kib >= 8 * self.password.parallelism
                    && self.password.iterations > 0
                    && self.password.parallelism > 0,
                "AUTH__PASSWORD__* are not valid argon2 parameters",
            ),
            (
                self.rate_limit.username_window_secs > 0 && self.rate_limit.ip_window_secs > 0,
                "AUTH__RATE_LIMIT__*_WINDOW_SECS must be positive",
            ),
            (
                self.purge.poll_secs > 0
                    && self.purge.backoff_secs > 0
                    && self.purge.max_backoff_secs >= self.purge.backoff_secs,
                "AUTH__PURGE__POLL_SECS and AUTH__PURGE__BACKOFF_SECS must be positive, \
                 AUTH__PURGE__MAX_BACKOFF_SECS at least AUTH__PURGE__BACKOFF_SECS",
            ),
            (
                (1..=3600).contains(&self.jwt.keys_reload_secs)
                    && self.jwt.jwks_max_age_secs <= 86_400,
                "AUTH__JWT__KEYS_RELOAD_SECS must be 1 to 3600, \
                 AUTH__JWT__JWKS_MAX_AGE_SECS at most 86400",
            ),
        ];
        if let Some((_, message)) = rules.iter().find(|(ok, _)| !ok) {
            return Err((*message).to_owned());
        }
        self.http.check(ENV_PREFIX)?;
        self.revocation.check(ENV_PREFIX)?;
        match &self.public_url {
            Some(url) => check_public_url(url),
            None => Ok(()),
        }
    }

    /// What serving needs beyond [`Settings::check`] (operator commands do not):
    /// `AUTH__PUBLIC_URL` outside dev mode.
    pub fn check_serving(&self) -> Result<(), String> {
        self.check()?;
        match self.public_url {
            None if !self.dev => Err("AUTH__PUBLIC_URL is required outside dev mode: the \
                                      http(s) URL clients reach this service at, e.g. \
                                      https://auth.example.com"
                .to_owned()),
            _ => Ok(()),
        }
    }

    /// The base of the endpoint URLs this service publishes (no trailing `/`).
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let listen = self.listen.replace("0.0.0.0", "127.0.0.1");
                format!("http://{}", listen.replace("[::]", "[::1]"))
            }
        }
    }

    /// The key the refresh-token successors are derived from: `AUTH__REFRESH__SECRET`, or
    /// in `hs256` mode without one, the JWT secret (domain-separated in [`RefreshKeys`]).
    ///
    /// [`RefreshKeys`]: crate::refresh::RefreshKeys
    pub fn refresh_secret(&self) -> Result<SecretString, SecretError> {
        let own = self.refresh.secret.is_some() || self.refresh.secret_file.is_some();
        if !own && self.jwt.algorithm == SigningMode::Hs256 {
            return secret::resolve(&self.jwt.secret_source("AUTH__JWT__SECRET", self.dev));
        }
        secret::resolve(&SecretSource {
            setting: "AUTH__REFRESH__SECRET",
            value: self.refresh.secret.as_ref(),
            file: self.refresh.secret_file.as_deref(),
            dev: self.dev,
        })
    }

    /// Access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_ttl_secs)
    }

    /// Whether `username` is on the bootstrap admin list (case-insensitively).
    pub fn is_bootstrap_admin(&self, username: &str) -> bool {
        self.admins
            .iter()
            .any(|admin| admin.eq_ignore_ascii_case(username))
    }
}

/// An absolute `http(s)` URL with a host and nothing a base URL cannot carry.
fn check_public_url(url: &str) -> Result<(), String> {
    let wrong = |why: &str| {
        Err(format!(
            "AUTH__PUBLIC_URL {why}, e.g. https://auth.example.com"
        ))
    };
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return wrong("must be an absolute URL");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return wrong("must be an http or https URL");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return wrong("must name a host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return wrong("must not carry credentials");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return wrong("must not have a query or fragment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ttl(dev: bool, access_ttl_secs: u64) -> Result<(), String> {
        Settings {
            dev,
            access_ttl_secs,
            ..Settings::default()
        }
        .check()
    }

    #[test]
    fn only_dev_mode_allows_access_tokens_shorter_than_a_minute() {
        assert!(with_ttl(false, 60).is_ok());
        assert!(with_ttl(false, 59).is_err());
        assert!(with_ttl(false, DEV_MIN_ACCESS_TTL_SECS).is_err());
        assert!(with_ttl(true, DEV_MIN_ACCESS_TTL_SECS).is_ok());
        assert!(with_ttl(true, DEV_MIN_ACCESS_TTL_SECS - 1).is_err());
        assert!(with_ttl(true, 3601).is_err());
    }

    fn with_public_url(dev: bool, url: Option<&str>) -> Result<(), String> {
        Settings {
            dev,
            public_url: url.map(str::to_owned),
            ..Settings::default()
        }
        .check_serving()
    }

    #[test]
    fn the_public_url_is_required_outside_dev_mode_and_must_be_http() {
        assert!(with_public_url(false, Some("https://auth.example.com")).is_ok());
        assert!(with_public_url(false, Some("http://127.0.0.1:8080/auth/")).is_ok());
        assert!(with_public_url(true, None).is_ok());
        let refused = [
            None,
            Some("javascript://auth.example.com"),
            Some("ftp://auth.example.com"),
            Some("auth.example.com"),
            Some("https://"),
            Some("https://user:pw@auth.example.com"),
            Some("https://auth.example.com/?next=x"),
            Some("https://auth.example.com/#x"),
        ];
        for url in refused {
            let err = with_public_url(false, url).expect_err(&format!("{url:?}"));
            assert!(err.starts_with("AUTH__PUBLIC_URL"), "{err}");
        }
        assert!(
            Settings::default().check().is_ok(),
            "operator commands need no public URL"
        );
    }

    #[test]
    fn dev_mode_publishes_its_listen_address() {
        let settings = Settings {
            dev: true,
            listen: "0.0.0.0:8081".into(),
            ..Settings::default()
        };
        assert_eq!(settings.public_base(), "http://127.0.0.1:8081");
        let settings = Settings {
            public_url: Some("https://auth.example.com/".into()),
            ..settings
        };
        assert_eq!(settings.public_base(), "https://auth.example.com");
    }
}
