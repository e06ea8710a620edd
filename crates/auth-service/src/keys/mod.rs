//! The auth-service's key material: the signing ring from the `jwt` settings (the HS256
//! secret, one private key file, or the rotating key set), the key set on disk ([`set`]),
//! and its reloading in running instances ([`reload`]). The operator's `keys` commands are
//! in `crate::cli`. Resource servers get theirs from `service_kit::keys`.

pub mod reload;
pub mod set;

use auth_core::{Key, KeyRing};
use service_kit::keys::{key_file, public_keys, refuse_secret, shared_secret, KeyError};
use service_kit::settings::{JwtSettings, SigningMode};
use thiserror::Error;

use crate::config::{Settings, ENV_PREFIX};
use set::KeySetError;

/// Why the signing keys cannot be set up; names the setting to fix.
#[derive(Debug, Error)]
pub enum SigningKeyError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("AUTH__JWT__KEYS_DIR: {0}")]
    KeySet(#[from] KeySetError),
}

/// The ring the auth-service signs with at `now`, plus the earlier public keys it still
/// publishes and accepts (`PUBLIC_KEY_FILES`). A JWKS URL is refused: this service
/// publishes the JWKS, it never fetches one.
pub fn signing_keys(jwt: &JwtSettings, dev: bool, now: u64) -> Result<KeyRing, SigningKeyError> {
    if jwt.algorithm == SigningMode::Hs256 {
        return Ok(shared_secret(jwt, ENV_PREFIX, dev)?);
    }
    refuse_secret(jwt, ENV_PREFIX)?;
    let misplaced = |setting, why| KeyError::misplaced(jwt, ENV_PREFIX, setting, why);
    if jwt.jwks_url.is_some() {
        let why = "the auth-service publishes the JWKS; it never fetches one";
        return Err(misplaced("JWKS_URL", why).into());
    }
    let alg = jwt.algorithm.algorithm();
    let mut ring = match (&jwt.private_key_file, &jwt.keys_dir) {
        (Some(path), None) => KeyRing::new(key_file(path, |pem| Key::from_private_pem(alg, pem))?)
            .map_err(KeyError::from)?,
        (None, Some(dir)) => set::load_ring(dir, alg, now)?,
        (Some(_), Some(_)) => {
            let why = "KEYS_DIR holds the signing keys; set one of the two";
            return Err(misplaced("PRIVATE_KEY_FILE", why).into());
        }
        (None, None) => {
            return Err(KeyError::Missing {
                prefix: ENV_PREFIX.to_owned(),
                setting: "KEYS_DIR (or PRIVATE_KEY_FILE)",
                mode: jwt.algorithm,
            }
            .into())
        }
    };
    for key in public_keys(jwt)? {
        ring = ring.with_verify_key(key).map_err(KeyError::from)?;
    }
    Ok(ring)
}

/// The `keys rotate` timing these settings imply: a new key is published at least the
/// JWKS cache lifetime plus the reload interval plus a minute before it signs, and a
/// superseded key is kept until the longest token it signed has expired (plus leeway).
pub fn timing(settings: &Settings, lead: Option<u64>) -> set::Timing {
    let jwt = &settings.jwt;
    let min_lead = jwt.jwks_max_age_secs + jwt.keys_reload_secs + 60;
    set::Timing {
        lead: lead.unwrap_or(min_lead),
        min_lead,
        retain: settings.access_ttl_secs + auth_core::verify::MAX_LEEWAY.as_secs(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use auth_core::{Algorithm, ClaimsBuilder, ManualClock, Verifier};
    use service_kit::keys::verification_keys;

    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("tessera-signing-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_issuer_signs_with_the_private_key_and_a_verifier_checks_with_the_public_one() {
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
            let signing = signing_keys(&issuer, false, 0).unwrap();
            let checking = verification_keys(&verifier, "TASKS", false).unwrap();
            let clock = ManualClock::starting_now();
            let claims = ClaimsBuilder::user("tessera", "tasks", "u", "s")
                .build(auth_core::Clock::now(&clock))
                .unwrap();
            let token = signing.sign(&claims).unwrap();
            let verify = Verifier::new(checking, verifier.validation(), Arc::new(clock)).unwrap();
            assert_eq!(verify.verify(&token).unwrap().sub, "u");
            assert_eq!(signing.jwks_at(0).keys.len(), 1, "published");
            // A key of the other algorithm does not load.
            let other = if mode == SigningMode::Eddsa {
                SigningMode::Es256
            } else {
                SigningMode::Eddsa
            };
            let err = signing_keys(
                &JwtSettings {
                    algorithm: other,
                    ..issuer
                },
                false,
                0,
            );
            assert!(
                matches!(err, Err(SigningKeyError::Keys(KeyError::Invalid { .. }))),
                "{err:?}"
            );
            for path in [private, public] {
                std::fs::remove_file(path).unwrap();
            }
        }
    }

    #[test]
    fn verifier_settings_are_refused_naming_the_setting() {
        let refused = |jwt: JwtSettings, setting: &str| {
            let err = signing_keys(&jwt, true, 0).unwrap_err();
            assert!(
                err.to_string().contains(&format!("AUTH__JWT__{setting}")),
                "{setting}: {err}"
            );
        };
        let url = Some("http://127.0.0.1:1/.well-known/jwks.json".to_owned());
        refused(
            JwtSettings {
                keys_dir: Some("keys/signing".into()),
                ..JwtSettings::default()
            },
            "KEYS_DIR",
        );
        let eddsa = JwtSettings {
            algorithm: SigningMode::Eddsa,
            ..JwtSettings::default()
        };
        refused(
            JwtSettings {
                jwks_url: url,
                keys_dir: Some("keys/signing".into()),
                ..eddsa.clone()
            },
            "JWKS_URL",
        );
        refused(eddsa, "KEYS_DIR (or PRIVATE_KEY_FILE)");
    }
}
