//! The HS256 shared secret: where it comes from (a value or a `_FILE`, as Docker secrets
//! do), the development fallback, and the refusals that stop a service from starting on a
//! secret that would let anyone mint tokens.

use std::path::{Path, PathBuf};

use auth_core::keys::{MIN_HMAC_SECRET_LEN, SECRET_REMEDY};
use auth_core::Key;
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

/// The one development secret, shared by every service's dev mode so `make run` works with
/// no configuration. Refused outside dev mode.
pub const DEV_SECRET: &str = "tessera-DEVELOPMENT-ONLY-secret-never-use-in-production";

/// Publicly known values people paste into configs (jwt.io's example and friends).
const WELL_KNOWN: &[&str] = &[
    DEV_SECRET,
    "your-256-bit-secret",
    "your-secret-key",
    "changeme",
    "change-me",
    "secret",
    "supersecret",
];

/// Fewest distinct bytes a secret must contain: catches `aaaa…` and `0000…`.
const MIN_DISTINCT_BYTES: usize = 8;

/// Where a service's secret is configured.
#[derive(Debug)]
pub struct SecretSource<'a> {
    /// The setting's environment name, e.g. `AUTH__JWT__SECRET`, quoted in every error.
    pub setting: &'a str,
    /// The secret itself, if set.
    pub value: Option<&'a SecretString>,
    /// A file holding the secret (trailing whitespace ignored), if set.
    pub file: Option<&'a Path>,
    /// Dev mode: a missing secret falls back to [`DEV_SECRET`].
    pub dev: bool,
}

/// Why a service refuses to start with its secret. Never contains the secret.
#[derive(Debug, Error)]
pub enum SecretError {
    #[error("{setting} and {setting}_FILE are both set; set exactly one")]
    Both { setting: String },
    #[error("cannot read {setting}_FILE ({path}): {source}")]
    Unreadable {
        setting: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{setting} is not set: set {setting}_FILE (or {setting}); {SECRET_REMEDY}")]
    Missing { setting: String },
    #[error("{setting} is the built-in development secret, which is refused outside dev mode; {SECRET_REMEDY}")]
    DevSecret { setting: String },
    #[error("{setting} is a well-known or low-entropy value; {SECRET_REMEDY}")]
    Weak { setting: String },
    #[error(
        "{setting} is {len} bytes; at least {MIN_HMAC_SECRET_LEN} are required; {SECRET_REMEDY}"
    )]
    TooShort { setting: String, len: usize },
}

/// The HS256 key for a configured secret, with a `kid` derived from it (so services sharing
/// a secret agree on the `kid`). See [`resolve`] for the rules.
pub fn hs256_key(source: &SecretSource<'_>) -> Result<Key, SecretError> {
    let secret = resolve(source)?;
    Key::hs256_fingerprinted(secret.expose_secret().as_bytes()).map_err(|_| SecretError::TooShort {
        setting: source.setting.to_owned(),
        len: secret.expose_secret().len(),
    })
}

/// The configured secret. In dev mode a missing secret becomes [`DEV_SECRET`], with a
/// warning; outside dev mode a missing, well-known or low-entropy one is an error, and a
/// short one always is.
pub fn resolve(source: &SecretSource<'_>) -> Result<SecretString, SecretError> {
    let setting = || source.setting.to_owned();
    let secret: SecretString = match (source.value, source.file) {
        (Some(_), Some(_)) => return Err(SecretError::Both { setting: setting() }),
        (Some(value), None) => value.clone(),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
                setting: setting(),
                path: path.to_owned(),
                source,
            })?;
            SecretString::from(text.trim_end().to_owned())
        }
        (None, None) if source.dev => {
            tracing::warn!(
                setting = source.setting,
                "DEV MODE: no JWT secret configured, using the built-in development secret; \
                 anyone can mint tokens for this service"
            );
            SecretString::from(DEV_SECRET)
        }
        (None, None) => return Err(SecretError::Missing { setting: setting() }),
    };
    let bytes = secret.expose_secret().as_bytes();
    if !source.dev {
        if bytes == DEV_SECRET.as_bytes() {
            return Err(SecretError::DevSecret { setting: setting() });
        }
        let distinct = {
            let mut seen = [false; 256];
            bytes.iter().for_each(|b| seen[usize::from(*b)] = true);
            seen.iter().filter(|s| **s).count()
        };
        if WELL_KNOWN.iter().any(|known| known.as_bytes() == bytes) || distinct < MIN_DISTINCT_BYTES
        {
            return Err(SecretError::Weak { setting: setting() });
        }
    }
    if bytes.len() < MIN_HMAC_SECRET_LEN {
        return Err(SecretError::TooShort {
            setting: setting(),
            len: bytes.len(),
        });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "k3J9xQ2mZ7pL4vB8nR1tY6wE0aS5dF3gH8jK2lP9";

    fn source<'a>(
        value: Option<&'a SecretString>,
        file: Option<&'a Path>,
        dev: bool,
    ) -> SecretSource<'a> {
        SecretSource {
            setting: "TASKS__JWT__SECRET",
            value,
            file,
            dev,
        }
    }

    fn refused(value: &str, dev: bool) -> SecretError {
        let secret = SecretString::from(value);
        hs256_key(&source(Some(&secret), None, dev)).unwrap_err()
    }

    #[test]
    fn a_good_secret_gives_the_same_kid_as_auth_core() {
        let secret = SecretString::from(GOOD);
        let key = hs256_key(&source(Some(&secret), None, false)).unwrap();
        assert_eq!(
            key.kid(),
            Key::hs256_fingerprinted(GOOD.as_bytes()).unwrap().kid()
        );
    }

    #[test]
    fn missing_secret_is_refused_outside_dev_and_names_the_setting() {
        let err = hs256_key(&source(None, None, false)).unwrap_err();
        assert!(matches!(err, SecretError::Missing { .. }));
        let text = err.to_string();
        assert!(
            text.contains("TASKS__JWT__SECRET_FILE") && text.contains("make keys"),
            "{text}"
        );
    }

    #[test]
    fn dev_mode_falls_back_to_the_dev_secret() {
        let key = hs256_key(&source(None, None, true)).unwrap();
        assert_eq!(
            key.kid(),
            Key::hs256_fingerprinted(DEV_SECRET.as_bytes())
                .unwrap()
                .kid()
        );
    }

    #[test]
    fn dev_secret_is_refused_outside_dev_mode() {
        assert!(matches!(
            refused(DEV_SECRET, false),
            SecretError::DevSecret { .. }
        ));
    }

    #[test]
    fn short_secret_is_refused_even_in_dev_mode() {
        let err = refused("abcdefghijklmnop", true);
        assert!(
            matches!(err, SecretError::TooShort { len: 16, .. }),
            "{err}"
        );
    }

    #[test]
    fn low_entropy_or_well_known_secrets_are_refused() {
        assert!(matches!(
            refused(&"a".repeat(64), false),
            SecretError::Weak { .. }
        ));
        assert!(matches!(
            refused("your-256-bit-secret", false),
            SecretError::Weak { .. }
        ));
    }

    #[test]
    fn secret_file_is_read_and_trimmed() {
        let path = std::env::temp_dir().join(format!("tessera-secret-test-{}", std::process::id()));
        std::fs::write(&path, format!("{GOOD}\n")).unwrap();
        let key = hs256_key(&source(None, Some(&path), false)).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            key.kid(),
            Key::hs256_fingerprinted(GOOD.as_bytes()).unwrap().kid()
        );
    }

    #[test]
    fn both_value_and_file_is_ambiguous() {
        let secret = SecretString::from(GOOD);
        let err = hs256_key(&source(Some(&secret), Some(Path::new("/x")), false)).unwrap_err();
        assert!(matches!(err, SecretError::Both { .. }));
    }

    #[test]
    fn unreadable_file_is_reported_without_the_secret() {
        let err =
            hs256_key(&source(None, Some(Path::new("/nonexistent/secret")), false)).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/secret"));
    }
}
