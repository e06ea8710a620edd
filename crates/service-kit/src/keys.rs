//! Verification keys from the `jwt` settings, for any resource server: `hs256`, the shared
//! secret under the rules of [`crate::secret`]; `eddsa` / `es256`, public key files, or an
//! empty ring that [`crate::jwks`] fills from the auth-service's JWKS. A resource server
//! refuses a secret in the asymmetric modes and the issuer's own material (a private key,
//! a key set) in every mode, so it never holds the means to mint tokens.
//!
//! The pieces both sides share ([`shared_secret`], [`public_keys`], [`refuse_secret`],
//! [`KeyError`]) are public: the auth-service builds its signing ring from them and its key
//! set (see its `keys` module), refusing a JWKS URL in turn.

use std::path::{Path, PathBuf};

use auth_core::{Key, KeyRing, SetupError};
use thiserror::Error;

use crate::secret::{self, SecretError};
use crate::settings::{JwtSettings, SigningMode};

/// Why the keys cannot be set up; names the setting to fix.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{prefix}__JWT__{setting} does not apply to {mode:?} mode: {why}")]
    Misplaced {
        prefix: String,
        setting: &'static str,
        mode: SigningMode,
        why: &'static str,
    },
    #[error("{prefix}__JWT__{setting} is required in {mode:?} mode")]
    Missing {
        prefix: String,
        setting: &'static str,
        mode: SigningMode,
    },
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: SetupError },
    #[error(transparent)]
    Ring(#[from] SetupError),
}

impl KeyError {
    /// `{prefix}__JWT__{setting}` does not belong in `jwt`'s mode, because `why`.
    pub fn misplaced(
        jwt: &JwtSettings,
        prefix: &str,
        setting: &'static str,
        why: &'static str,
    ) -> KeyError {
        KeyError::Misplaced {
            prefix: prefix.to_owned(),
            setting,
            mode: jwt.algorithm,
            why,
        }
    }
}

/// A resource server's ring from `jwt` (`prefix`: the service's environment prefix, for
/// messages). With a JWKS URL it starts empty, for [`crate::jwks`] to fill.
pub fn verification_keys(jwt: &JwtSettings, prefix: &str, dev: bool) -> Result<KeyRing, KeyError> {
    if jwt.algorithm == SigningMode::Hs256 {
        return shared_secret(jwt, prefix, dev);
    }
    refuse_secret(jwt, prefix)?;
    let issuer_only = "a resource server holds public keys only";
    if jwt.keys_dir.is_some() {
        return Err(KeyError::misplaced(jwt, prefix, "KEYS_DIR", issuer_only));
    }
    if jwt.private_key_file.is_some() {
        return Err(KeyError::misplaced(
            jwt,
            prefix,
            "PRIVATE_KEY_FILE",
            issuer_only,
        ));
    }
    let public = public_keys(jwt)?;
    match (public.is_empty(), &jwt.jwks_url) {
        (false, Some(_)) => Err(KeyError::misplaced(
            jwt,
            prefix,
            "JWKS_URL",
            "set either PUBLIC_KEY_FILES or JWKS_URL, not both",
        )),
        (true, None) => Err(KeyError::Missing {
            prefix: prefix.to_owned(),
            setting: "PUBLIC_KEY_FILES (or JWKS_URL)",
            mode: jwt.algorithm,
        }),
        (true, Some(_)) => Ok(KeyRing::empty()),
        (false, None) => Ok(KeyRing::verify_only(public)?),
    }
}

/// `hs256`: the ring of the shared secret, the same on both sides. Key files, a key set and
/// a JWKS URL have no place in this mode.
pub fn shared_secret(jwt: &JwtSettings, prefix: &str, dev: bool) -> Result<KeyRing, KeyError> {
    let signs = "HS256 signs with the shared secret";
    let misplaced = [
        (jwt.private_key_file.is_some(), "PRIVATE_KEY_FILE", signs),
        (
            !jwt.public_key_files.is_empty(),
            "PUBLIC_KEY_FILES",
            "HS256 verifies with the shared secret",
        ),
        (jwt.keys_dir.is_some(), "KEYS_DIR", signs),
        (
            jwt.jwks_url.is_some(),
            "JWKS_URL",
            "HS256 keys are secret and never published",
        ),
    ];
    if let Some((_, setting, why)) = misplaced.into_iter().find(|(set, _, _)| *set) {
        return Err(KeyError::misplaced(jwt, prefix, setting, why));
    }
    let setting = format!("{prefix}__JWT__SECRET");
    Ok(KeyRing::new(secret::hs256_key(
        &jwt.secret_source(&setting, dev),
    )?)?)
}

/// The asymmetric modes have no shared secret: refuse one, so no service holds it.
pub fn refuse_secret(jwt: &JwtSettings, prefix: &str) -> Result<(), KeyError> {
    if jwt.secret.is_some() || jwt.secret_file.is_some() {
        return Err(KeyError::misplaced(
            jwt,
            prefix,
            "SECRET",
            "asymmetric modes have no shared secret (remove it so no service holds one)",
        ));
    }
    Ok(())
}

/// The `PUBLIC_KEY_FILES` (SPKI PEM) of the configured algorithm.
pub fn public_keys(jwt: &JwtSettings) -> Result<Vec<Key>, KeyError> {
    let alg = jwt.algorithm.algorithm();
    jwt.public_key_files
        .iter()
        .map(|path| key_file(path, |pem| Key::from_public_pem(alg, pem)))
        .collect()
}

/// The key in the PEM file at `path`, as `parse` reads it; errors name the file.
pub fn key_file(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<Key, SetupError>,
) -> Result<Key, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    parse(&pem).map_err(|source| KeyError::Invalid {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use auth_core::{Algorithm, ClaimsBuilder, ManualClock, Verifier};
    use std::sync::Arc;

    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("tessera-keys-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_resource_server_verifies_with_public_key_files_and_cannot_sign() {
        for (mode, alg) in [
            (SigningMode::Eddsa, Algorithm::EdDSA),
            (SigningMode::Es256, Algorithm::ES256),
        ] {
            let generated = Key::generate(alg).unwrap();
            let private = write(&format!("{alg}-private.pem"), &generated.private_pem);
            let public = write(
                &format!("{alg}-public.pem"),
                &generated.key.public_key_pem().unwrap(),
            );
            let verifier = JwtSettings {
                algorithm: mode,
                public_key_files: vec![public.clone()],
                ..JwtSettings::default()
            };
            let checking = verification_keys(&verifier, "TASKS", false).unwrap();
            assert!(
                checking.signing_key_at(u64::MAX).is_none(),
                "a resource server cannot sign"
            );
            let clock = ManualClock::starting_now();
            let claims = ClaimsBuilder::user("tessera", "tasks", "u", "s")
                .build(auth_core::Clock::now(&clock))
                .unwrap();
            let signing = KeyRing::new(generated.key).unwrap();
            let token = signing.sign(&claims).unwrap();
            let verify = Verifier::new(checking, verifier.validation(), Arc::new(clock)).unwrap();
            assert_eq!(verify.verify(&token).unwrap().sub, "u");

            // Misplaced material is refused, naming the setting.
            let refused = |jwt: JwtSettings| verification_keys(&jwt, "TASKS", false).unwrap_err();
            let err = refused(JwtSettings {
                private_key_file: Some(private.clone()),
                ..verifier.clone()
            });
            assert!(
                err.to_string().contains("TASKS__JWT__PRIVATE_KEY_FILE"),
                "{err}"
            );
            let err = refused(JwtSettings {
                secret: Some("k3J9xQ2mZ7pL4vB8nR1tY6wE0aS5dF3gH8jK2lP9".into()),
                ..verifier.clone()
            });
            assert!(err.to_string().contains("TASKS__JWT__SECRET"), "{err}");
            let err = refused(JwtSettings {
                public_key_files: vec![],
                ..verifier.clone()
            });
            assert!(
                err.to_string()
                    .contains("PUBLIC_KEY_FILES (or JWKS_URL) is required"),
                "{err}"
            );
            // A key of the other algorithm does not load.
            let err = refused(JwtSettings {
                algorithm: if mode == SigningMode::Eddsa {
                    SigningMode::Es256
                } else {
                    SigningMode::Eddsa
                },
                ..verifier
            });
            assert!(matches!(err, KeyError::Invalid { .. }), "{err}");
            for path in [private, public] {
                std::fs::remove_file(path).unwrap();
            }
        }
    }

    #[test]
    fn key_sources_in_the_wrong_place_are_refused_naming_the_setting() {
        let refused = |jwt: JwtSettings, setting: &str| {
            let err = verification_keys(&jwt, "X", true).unwrap_err();
            assert!(
                err.to_string().contains(&format!("X__JWT__{setting}")),
                "{setting}: {err}"
            );
        };
        let url = Some("http://127.0.0.1:1/.well-known/jwks.json".to_owned());
        let hs256 = JwtSettings::default();
        refused(
            JwtSettings {
                jwks_url: url.clone(),
                ..hs256.clone()
            },
            "JWKS_URL",
        );
        refused(
            JwtSettings {
                keys_dir: Some("keys/signing".into()),
                ..hs256
            },
            "KEYS_DIR",
        );
        let eddsa = JwtSettings {
            algorithm: SigningMode::Eddsa,
            ..JwtSettings::default()
        };
        refused(
            JwtSettings {
                jwks_url: url.clone(),
                keys_dir: Some("keys/signing".into()),
                ..eddsa.clone()
            },
            "KEYS_DIR",
        );
        // A resource server with only a URL starts empty; the fetcher fills the ring.
        let ring = verification_keys(
            &JwtSettings {
                jwks_url: url,
                ..eddsa
            },
            "X",
            false,
        )
        .unwrap();
        assert!(ring.is_empty());
    }
}
