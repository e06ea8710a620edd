//! The key ring a service verifies (and the auth-service signs) with, from its `jwt`
//! settings. `hs256`: the shared secret under the rules of [`crate::secret`]. `eddsa` /
//! `es256`: the auth-service signs with its rotating key set (`KEYS_DIR`, see
//! [`crate::keyset`]) or a single private key file, and also publishes and accepts the
//! public key files (earlier keys); a resource server holds public key files or fetches
//! the JWKS, and refuses a secret or a private key, so it never has the means to mint
//! tokens.

use std::path::{Path, PathBuf};

use auth_core::{Key, KeyRing, SetupError};
use thiserror::Error;

use crate::keyset::{self, KeySetError};
use crate::secret::{self, SecretError};
use crate::settings::{JwtSettings, SigningMode};

/// Which side of the tokens a service is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The auth-service: signs.
    Issuer,
    /// A resource server: verifies only.
    Verifier,
}

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
    #[error("AUTH__JWT__KEYS_DIR: {0}")]
    KeySet(#[from] KeySetError),
}

/// The key ring for `role` from `jwt` at `now` (`prefix`: `AUTH`, `TASKS`, for messages).
/// A resource server with a JWKS URL gets an empty ring, for [`crate::jwks`] to fill.
pub fn key_ring(
    jwt: &JwtSettings,
    prefix: &str,
    role: Role,
    dev: bool,
    now: u64,
) -> Result<KeyRing, KeyError> {
    let misplaced = |setting, why| KeyError::Misplaced {
        prefix: prefix.to_owned(),
        setting,
        mode: jwt.algorithm,
        why,
    };
    let alg = jwt.algorithm.algorithm();
    match jwt.algorithm {
        SigningMode::Hs256 => {
            if jwt.private_key_file.is_some() {
                return Err(misplaced(
                    "PRIVATE_KEY_FILE",
                    "HS256 signs with the shared secret",
                ));
            }
            if !jwt.public_key_files.is_empty() {
                return Err(misplaced(
                    "PUBLIC_KEY_FILES",
                    "HS256 verifies with the shared secret",
                ));
            }
            if jwt.keys_dir.is_some() {
                return Err(misplaced("KEYS_DIR", "HS256 signs with the shared secret"));
            }
            if jwt.jwks_url.is_some() {
                return Err(misplaced(
                    "JWKS_URL",
                    "HS256 keys are secret and never published",
                ));
            }
            let setting = format!("{prefix}__JWT__SECRET");
            Ok(KeyRing::new(secret::hs256_key(
                &jwt.secret_source(&setting, dev),
            )?)?)
        }
        SigningMode::Eddsa | SigningMode::Es256 => {
            if jwt.secret.is_some() || jwt.secret_file.is_some() {
                return Err(misplaced(
                    "SECRET",
                    "asymmetric modes have no shared secret (remove it so no service holds one)",
                ));
            }
            let public = jwt
                .public_key_files
                .iter()
                .map(|path| {
                    read(path).and_then(|pem| parsed(path, Key::from_public_pem(alg, &pem)))
                })
                .collect::<Result<Vec<Key>, KeyError>>()?;
            match role {
                Role::Issuer => {
                    if jwt.jwks_url.is_some() {
                        return Err(misplaced(
                            "JWKS_URL",
                            "the auth-service publishes the JWKS; it never fetches one",
                        ));
                    }
                    let mut ring = match (&jwt.private_key_file, &jwt.keys_dir) {
                        (Some(path), None) => {
                            KeyRing::new(parsed(path, Key::from_private_pem(alg, &read(path)?))?)?
                        }
                        (None, Some(dir)) => keyset::load_ring(dir, alg, now)?,
                        (Some(_), Some(_)) => {
                            return Err(misplaced(
                                "PRIVATE_KEY_FILE",
                                "KEYS_DIR holds the signing keys; set one of the two",
                            ))
                        }
                        (None, None) => {
                            return Err(KeyError::Missing {
                                prefix: prefix.to_owned(),
                                setting: "KEYS_DIR (or PRIVATE_KEY_FILE)",
                                mode: jwt.algorithm,
                            })
                        }
                    };
                    for key in public {
                        ring = ring.with_verify_key(key)?;
                    }
                    Ok(ring)
                }
                Role::Verifier => {
                    if jwt.private_key_file.is_some() || jwt.keys_dir.is_some() {
                        let setting = match jwt.keys_dir {
                            Some(_) => "KEYS_DIR",
                            None => "PRIVATE_KEY_FILE",
                        };
                        return Err(misplaced(
                            setting,
                            "a resource server holds public keys only",
                        ));
                    }
                    match (public.is_empty(), &jwt.jwks_url) {
                        (false, Some(_)) => Err(misplaced(
                            "JWKS_URL",
                            "set either PUBLIC_KEY_FILES or JWKS_URL, not both",
                        )),
                        (true, None) => Err(KeyError::Missing {
                            prefix: prefix.to_owned(),
                            setting: "PUBLIC_KEY_FILES (or JWKS_URL)",
                            mode: jwt.algorithm,
                        }),
                        // Filled by the JWKS fetcher (`crate::jwks`).
                        (true, Some(_)) => Ok(KeyRing::empty()),
                        (false, None) => Ok(KeyRing::verify_only(public)?),
                    }
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    })
}

fn parsed(path: &Path, key: Result<Key, SetupError>) -> Result<Key, KeyError> {
    key.map_err(|source| KeyError::Invalid {
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
    fn issuer_signs_with_the_private_key_and_verifier_checks_with_the_public_one() {
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
            let issuer = JwtSettings {
                algorithm: mode,
                private_key_file: Some(private.clone()),
                ..JwtSettings::default()
            };
            let verifier = JwtSettings {
                algorithm: mode,
                public_key_files: vec![public.clone()],
                ..JwtSettings::default()
            };
            let signing = key_ring(&issuer, "AUTH", Role::Issuer, false, 0).unwrap();
            let checking = key_ring(&verifier, "TASKS", Role::Verifier, false, 0).unwrap();
            assert!(
                checking.signing_key_at(u64::MAX).is_none(),
                "a resource server cannot sign"
            );
            let clock = ManualClock::starting_now();
            let claims = ClaimsBuilder::user("tessera", "tasks", "u", "s")
                .build(auth_core::Clock::now(&clock))
                .unwrap();
            let token = signing.sign(&claims).unwrap();
            let verify = Verifier::new(checking, verifier.validation(), Arc::new(clock)).unwrap();
            assert_eq!(verify.verify(&token).unwrap().sub, "u");
            assert_eq!(signing.jwks_at(0).keys.len(), 1, "published");

            // Misplaced material is refused, naming the setting.
            let err = key_ring(
                &JwtSettings {
                    private_key_file: Some(private.clone()),
                    ..verifier.clone()
                },
                "TASKS",
                Role::Verifier,
                false,
                0,
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("TASKS__JWT__PRIVATE_KEY_FILE"),
                "{err}"
            );
            let err = key_ring(
                &JwtSettings {
                    secret: Some("k3J9xQ2mZ7pL4vB8nR1tY6wE0aS5dF3gH8jK2lP9".into()),
                    ..verifier.clone()
                },
                "TASKS",
                Role::Verifier,
                false,
                0,
            )
            .unwrap_err();
            assert!(err.to_string().contains("TASKS__JWT__SECRET"), "{err}");
            let err = key_ring(
                &JwtSettings {
                    public_key_files: vec![],
                    ..verifier
                },
                "TASKS",
                Role::Verifier,
                false,
                0,
            )
            .unwrap_err();
            assert!(
                err.to_string()
                    .contains("PUBLIC_KEY_FILES (or JWKS_URL) is required"),
                "{err}"
            );
            // A key of the other algorithm does not load.
            let err = key_ring(
                &JwtSettings {
                    algorithm: if mode == SigningMode::Eddsa {
                        SigningMode::Es256
                    } else {
                        SigningMode::Eddsa
                    },
                    ..issuer
                },
                "AUTH",
                Role::Issuer,
                false,
                0,
            )
            .unwrap_err();
            assert!(matches!(err, KeyError::Invalid { .. }), "{err}");
            for path in [private, public] {
                std::fs::remove_file(path).unwrap();
            }
        }
    }

    #[test]
    fn key_sources_in_the_wrong_place_are_refused_naming_the_setting() {
        let refused = |jwt: JwtSettings, role, setting: &str| {
            let err = key_ring(&jwt, "X", role, true, 0).unwrap_err();
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
            Role::Verifier,
            "JWKS_URL",
        );
        refused(
            JwtSettings {
                keys_dir: Some("keys/signing".into()),
                ..hs256
            },
            Role::Issuer,
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
            Role::Issuer,
            "JWKS_URL",
        );
        refused(
            JwtSettings {
                jwks_url: url.clone(),
                keys_dir: Some("keys/signing".into()),
                ..eddsa.clone()
            },
            Role::Verifier,
            "KEYS_DIR",
        );
        refused(
            eddsa.clone(),
            Role::Issuer,
            "KEYS_DIR (or PRIVATE_KEY_FILE)",
        );
        // A resource server with only a URL starts empty; the fetcher fills the ring.
        let ring = key_ring(
            &JwtSettings {
                jwks_url: url,
                ..eddsa
            },
            "X",
            Role::Verifier,
            false,
            0,
        )
        .unwrap();
        assert!(ring.is_empty());
    }
}
