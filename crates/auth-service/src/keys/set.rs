//! A rotating key set on disk (`AUTH__JWT__KEYS_DIR`): a `keyset.json` manifest plus one
//! PKCS#8 private key (`<kid>.pem`, 0600) and its public half (`<kid>.pub.pem`) per key.
//!
//! The manifest says, per key, from when it signs (`signs_from`) and, once a successor is
//! scheduled, when it is dropped (`drop_at`). Every state follows from those two times and
//! the clock, so every auth-service instance reading the same directory agrees on which
//! key signs without talking to the others:
//!
//! | state   | when                                   | published | verifies | signs |
//! |---------|----------------------------------------|-----------|----------|-------|
//! | next    | before `signs_from`                    | yes       | yes      | no    |
//! | active  | latest `signs_from` that has come      | yes       | yes      | yes   |
//! | retired | a later key's `signs_from` has come    | yes       | yes      | no    |
//! | dropped | from `drop_at`                         | no        | no       | no    |
//!
//! [`rotate`] schedules a fresh key far enough ahead that every resource server has
//! fetched it before it signs, and drops the key it supersedes once the longest access
//! token that key signed has expired (plus the largest leeway a verifier may allow).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use auth_core::{Algorithm, Key, KeyRing, SetupError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The manifest's file name inside the key-set directory.
pub const MANIFEST: &str = "keyset.json";

/// Why a key set cannot be read, created or rotated.
#[derive(Debug, Error)]
pub enum KeySetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no key set in {0}: create one with `auth-service keys generate --alg eddsa --dir {0}`"
    )]
    Missing(PathBuf),
    #[error("{0} already holds a key set: rotate it with `auth-service keys rotate`")]
    Exists(PathBuf),
    #[error("{path}: not a key-set manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("the key set in {dir} is {found}, but the service is configured for {expected}")]
    WrongAlgorithm {
        dir: PathBuf,
        found: String,
        expected: Algorithm,
    },
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: SetupError },
    #[error("{path} holds key {found}, but the manifest names it {expected}")]
    KidMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("no key in {0} signs now (every key is dropped or not yet due)")]
    NoSigningKey(PathBuf),
    #[error(
        "a lead of {lead}s is shorter than the {min}s resource servers may need to fetch the \
         new key (AUTH__JWT__JWKS_MAX_AGE_SECS + AUTH__JWT__KEYS_RELOAD_SECS + 60); use \
         --emergency to sign with it at once"
    )]
    LeadTooShort { lead: u64, min: u64 },
}

/// One key's schedule, as the manifest stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    /// RFC 7638 thumbprint; also names the key's files.
    pub kid: String,
    /// Unix seconds from which this key signs (until a later key's time comes).
    pub signs_from: u64,
    /// Unix seconds from which it is dropped; set when a successor is scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_at: Option<u64>,
}

/// The `keyset.json` manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `EdDSA` or `ES256`: every key in a set has the one algorithm.
    pub alg: String,
    /// Oldest first.
    pub keys: Vec<Scheduled>,
}

/// Where a key stands at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Published and accepted; signs from its `signs_from`.
    Next,
    /// Signs.
    Active,
    /// Superseded: published and accepted until its tokens have expired.
    Retired,
    /// Neither published nor accepted; [`rotate`] deletes it.
    Dropped,
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Dropped => "dropped",
        })
    }
}

/// The timing a rotation works to (from the auth-service's settings).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long before signing a new key is published.
    pub lead: u64,
    /// The least lead that is safe: JWKS max-age + reload interval + a minute.
    pub min_lead: u64,
    /// How long a superseded key stays: the access-token lifetime + the largest leeway.
    pub retain: u64,
}

/// What [`rotate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotated {
    /// A new key was scheduled.
    Scheduled(Scheduled),
    /// A key is already waiting to sign; nothing new was made (so a rotation can run from
    /// cron as often as you like).
    AlreadyPending(Scheduled),
}

impl Manifest {
    /// The manifest in `dir`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, KeySetError> {
        let path = dir.join(MANIFEST);
        match std::fs::read(&path) {
            Ok(bytes) => Manifest::parse(dir, &bytes).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KeySetError::Io { path, source }),
        }
    }

    /// The manifest of the set in `dir` from its bytes (read by the caller).
    pub fn parse(dir: &Path, bytes: &[u8]) -> Result<Manifest, KeySetError> {
        let path = dir.join(MANIFEST);
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|err| KeySetError::Manifest {
                path: path.clone(),
                reason: err.to_string(),
            })?;
        if let Some(bad) = manifest.keys.iter().find(|key| !is_kid(&key.kid)) {
            return Err(KeySetError::Manifest {
                path,
                reason: format!("{:?} is not a key id (base64url only)", bad.kid),
            });
        }
        Ok(manifest)
    }

    /// The signing ring of this set (in `dir`) at `now`: every key not yet dropped, each
    /// with its schedule, so the ring itself moves through the states as time passes.
    pub fn ring(&self, dir: &Path, alg: Algorithm, now: u64) -> Result<KeyRing, KeySetError> {
        self.algorithm(dir, alg)?;
        let mut ring = KeyRing::empty();
        for (entry, state) in self.states(now) {
            if state == KeyState::Dropped {
                continue;
            }
            let path = dir.join(private_file(&entry.kid));
            let pem = std::fs::read_to_string(&path).map_err(|source| KeySetError::Io {
                path: path.clone(),
                source,
            })?;
            let key = Key::from_private_pem(alg, &pem).map_err(|source| KeySetError::Key {
                path: path.clone(),
                source,
            })?;
            if key.kid() != entry.kid {
                return Err(KeySetError::KidMismatch {
                    path,
                    expected: entry.kid.clone(),
                    found: key.kid().to_owned(),
                });
            }
            ring = ring
                .with_scheduled_key(key, entry.signs_from, entry.drop_at)
                .map_err(|source| KeySetError::Key { path, source })?;
        }
        if ring.signing_key_at(now).is_none() {
            return Err(KeySetError::NoSigningKey(dir.to_owned()));
        }
        Ok(ring)
    }

    /// Each key's state at `now`, in manifest order.
    pub fn states(&self, now: u64) -> Vec<(&Scheduled, KeyState)> {
        let live = |key: &Scheduled| key.drop_at.is_none_or(|at| now < at);
        let active = self
            .keys
            .iter()
            .filter(|key| live(key) && key.signs_from <= now)
            .max_by_key(|key| key.signs_from)
            .map(|key| key.kid.as_str());
        self.keys
            .iter()
            .map(|key| {
                let state = if !live(key) {
                    KeyState::Dropped
                } else if key.signs_from > now {
                    KeyState::Next
                } else if Some(key.kid.as_str()) == active {
                    KeyState::Active
                } else {
                    KeyState::Retired
                };
                (key, state)
            })
            .collect()
    }

    fn write(&self, dir: &Path) -> Result<(), KeySetError> {
        let path = dir.join(MANIFEST);
        let temporary = dir.join(format!(".{MANIFEST}.tmp"));
        let mut text = serde_json::to_string_pretty(self).map_err(|err| KeySetError::Manifest {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        text.push('\n');
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::File::open(&temporary)?.sync_all())
            .map_err(|source| KeySetError::Io {
                path: temporary.clone(),
                source,
            })?;
        // Atomic: a reloading instance reads the old manifest or the new, never half.
        std::fs::rename(&temporary, &path).map_err(|source| KeySetError::Io { path, source })
    }

    fn algorithm(&self, dir: &Path, expected: Algorithm) -> Result<(), KeySetError> {
        match Algorithm::from_name(&self.alg) {
            Some(alg) if alg == expected => Ok(()),
            _ => Err(KeySetError::WrongAlgorithm {
                dir: dir.to_owned(),
                found: self.alg.clone(),
                expected,
            }),
        }
    }
}

/// The signing ring of the key set in `dir` at `now` (see [`Manifest::ring`]).
pub fn load_ring(dir: &Path, alg: Algorithm, now: u64) -> Result<KeyRing, KeySetError> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| KeySetError::Missing(dir.to_owned()))?;
    manifest.ring(dir, alg, now)
}

/// Creates a key set in `dir` (made 0700 if missing) whose first key signs from `now`.
pub fn generate(dir: &Path, alg: Algorithm, now: u64) -> Result<Scheduled, KeySetError> {
    if Manifest::read(dir)?.is_some() {
        return Err(KeySetError::Exists(dir.to_owned()));
    }
    create_private_dir(dir)?;
    let first = Scheduled {
        kid: write_new_key(dir, alg)?,
        signs_from: now,
        drop_at: None,
    };
    Manifest {
        alg: alg.name().to_owned(),
        keys: vec![first.clone()],
    }
    .write(dir)?;
    Ok(first)
}

/// One rotation step at `now`:
/// 1. deletes the keys dropped by now (manifest entry and files);
/// 2. unless a key is already waiting (next), makes a key that signs from `now + lead`
///    and schedules every key without a drop time to go `retain` after that.
///
/// `emergency` (a key is compromised): the new key signs at once and every other key is
/// dropped and deleted now. Access tokens signed by them stop verifying; clients get new
/// ones with their refresh tokens, which do not depend on the signing keys.
pub fn rotate(
    dir: &Path,
    alg: Algorithm,
    now: u64,
    timing: Timing,
    emergency: bool,
) -> Result<Rotated, KeySetError> {
    let mut manifest = Manifest::read(dir)?.ok_or_else(|| KeySetError::Missing(dir.to_owned()))?;
    manifest.algorithm(dir, alg)?;
    if !emergency && timing.lead < timing.min_lead {
        return Err(KeySetError::LeadTooShort {
            lead: timing.lead,
            min: timing.min_lead,
        });
    }
    if emergency {
        for key in &mut manifest.keys {
            key.drop_at = Some(now);
        }
    }
    prune(dir, &mut manifest, now)?;
    if let Some(pending) = manifest.keys.iter().find(|key| key.signs_from > now) {
        return Ok(Rotated::AlreadyPending(pending.clone()));
    }
    let signs_from = if emergency { now } else { now + timing.lead };
    let fresh = Scheduled {
        kid: write_new_key(dir, alg)?,
        signs_from,
        drop_at: None,
    };
    for key in &mut manifest.keys {
        key.drop_at.get_or_insert(signs_from + timing.retain);
    }
    manifest.keys.push(fresh.clone());
    manifest.write(dir)?;
    Ok(Rotated::Scheduled(fresh))
}

/// Removes the keys dropped at `now` from the manifest and deletes their files.
fn prune(dir: &Path, manifest: &mut Manifest, now: u64) -> Result<(), KeySetError> {
    let dropped: Vec<String> = manifest
        .states(now)
        .into_iter()
        .filter(|(_, state)| *state == KeyState::Dropped)
        .map(|(key, _)| key.kid.clone())
        .collect();
    if dropped.is_empty() {
        return Ok(());
    }
    // The manifest first: it must never name a file that is gone.
    manifest.keys.retain(|key| !dropped.contains(&key.kid));
    manifest.write(dir)?;
    for kid in dropped {
        for path in [dir.join(private_file(&kid)), dir.join(public_file(&kid))] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(KeySetError::Io { path, source }),
            }
        }
    }
    Ok(())
}

/// `<kid>.pem`: the private key.
pub fn private_file(kid: &str) -> String {
    format!("{kid}.pem")
}

/// `<kid>.pub.pem`: the public key, for resource servers configured with key files.
pub fn public_file(kid: &str) -> String {
    format!("{kid}.pub.pem")
}

/// Generates a key and writes its two files (never replacing one); returns the `kid`.
fn write_new_key(dir: &Path, alg: Algorithm) -> Result<String, KeySetError> {
    let generated = Key::generate(alg).map_err(|source| KeySetError::Key {
        path: dir.to_owned(),
        source,
    })?;
    let kid = generated.key.kid().to_owned();
    let public = generated.key.public_key_pem().unwrap_or_default();
    write_new_file(&dir.join(private_file(&kid)), &generated.private_pem, 0o600)?;
    write_new_file(&dir.join(public_file(&kid)), &public, 0o644)?;
    Ok(kid)
}

fn write_new_file(path: &Path, text: &str, mode: u32) -> Result<(), KeySetError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .map_err(|source| KeySetError::Io {
            path: path.to_owned(),
            source,
        })
}

fn create_private_dir(dir: &Path) -> Result<(), KeySetError> {
    let io = |source| KeySetError::Io {
        path: dir.to_owned(),
        source,
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Key ids name files, so only base64url characters (what thumbprints are) are allowed.
fn is_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;
    const TIMING: Timing = Timing {
        lead: 600,
        min_lead: 370,
        retain: 660,
    };

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tessera-keyset-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn states(dir: &Path, now: u64) -> Vec<(String, KeyState)> {
        Manifest::read(dir)
            .unwrap()
            .unwrap()
            .states(now)
            .into_iter()
            .map(|(key, state)| (key.kid.clone(), state))
            .collect()
    }

    /// What `openssl pkey` derives from a private key file: the public key, SPKI PEM.
    fn openssl_public_key(private: &Path) -> String {
        let output = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(private)
            .output()
            .expect("openssl is installed (apt-get install -y openssl)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "openssl pkey refused it: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn standard_tools_read_the_generated_keys() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256] {
            let dir = temp_dir(&format!("openssl-{alg:?}"));
            let key = generate(&dir, alg, T0).unwrap();
            let derived = openssl_public_key(&dir.join(private_file(&key.kid)));
            let written = std::fs::read_to_string(dir.join(public_file(&key.kid))).unwrap();
            assert_eq!(
                Key::from_public_pem(alg, &derived).unwrap().kid(),
                Key::from_public_pem(alg, &written).unwrap().kid(),
                "{alg:?}: openssl finds the public key we published"
            );
        }
    }

    #[test]
    fn a_rotation_walks_next_active_retired_dropped() {
        let dir = temp_dir("walk");
        let first = generate(&dir, Algorithm::EdDSA, T0).unwrap();
        let mode = |path: PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.clone()), 0o700);
        assert_eq!(mode(dir.join(private_file(&first.kid))), 0o600);
        assert!(matches!(
            generate(&dir, Algorithm::EdDSA, T0),
            Err(KeySetError::Exists(_))
        ));

        let Rotated::Scheduled(second) =
            rotate(&dir, Algorithm::EdDSA, T0 + 10, TIMING, false).unwrap()
        else {
            panic!("a key should be scheduled")
        };
        assert_eq!(second.signs_from, T0 + 610);
        let a = first.kid.clone();
        let b = second.kid.clone();
        assert_eq!(
            states(&dir, T0 + 609),
            [(a.clone(), KeyState::Active), (b.clone(), KeyState::Next)]
        );
        // Rotating again while a key waits changes nothing.
        assert_eq!(
            rotate(&dir, Algorithm::EdDSA, T0 + 20, TIMING, false).unwrap(),
            Rotated::AlreadyPending(second.clone())
        );
        assert_eq!(
            states(&dir, T0 + 610),
            [
                (a.clone(), KeyState::Retired),
                (b.clone(), KeyState::Active)
            ]
        );
        assert_eq!(
            states(&dir, T0 + 610 + 660),
            [
                (a.clone(), KeyState::Dropped),
                (b.clone(), KeyState::Active)
            ]
        );

        // The ring agrees with the manifest, and leaves dropped keys out.
        let ring = load_ring(&dir, Algorithm::EdDSA, T0 + 609).unwrap();
        assert_eq!(ring.signing_key_at(T0 + 609).unwrap().kid(), a);
        assert_eq!(ring.signing_key_at(T0 + 610).unwrap().kid(), b);
        assert_eq!(ring.jwks_at(T0 + 610 + 660).keys.len(), 1);
        let later = load_ring(&dir, Algorithm::EdDSA, T0 + 610 + 660).unwrap();
        assert!(later.get(&a).is_none());

        // The next rotation deletes the dropped key's files and retires the second.
        let Rotated::Scheduled(third) =
            rotate(&dir, Algorithm::EdDSA, T0 + 2000, TIMING, false).unwrap()
        else {
            panic!("a key should be scheduled")
        };
        assert!(!dir.join(private_file(&a)).exists());
        assert!(!dir.join(public_file(&a)).exists());
        let manifest = Manifest::read(&dir).unwrap().unwrap();
        assert_eq!(manifest.keys.len(), 2);
        assert_eq!(manifest.keys[0].drop_at, Some(T0 + 2600 + 660));
        assert_eq!(manifest.keys[1], third);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_emergency_rotation_signs_at_once_and_deletes_the_old_keys() {
        let dir = temp_dir("emergency");
        let first = generate(&dir, Algorithm::ES256, T0).unwrap();
        rotate(&dir, Algorithm::ES256, T0 + 1, TIMING, false).unwrap();
        let Rotated::Scheduled(fresh) =
            rotate(&dir, Algorithm::ES256, T0 + 2, TIMING, true).unwrap()
        else {
            panic!("an emergency always makes a key")
        };
        assert_eq!(fresh.signs_from, T0 + 2);
        assert_eq!(
            states(&dir, T0 + 2),
            [(fresh.kid.clone(), KeyState::Active)]
        );
        assert!(!dir.join(private_file(&first.kid)).exists());
        let ring = load_ring(&dir, Algorithm::ES256, T0 + 2).unwrap();
        assert_eq!(ring.keys().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_sets_are_refused_with_the_reason() {
        let dir = temp_dir("bad");
        assert!(matches!(
            load_ring(&dir, Algorithm::EdDSA, T0),
            Err(KeySetError::Missing(_))
        ));
        let first = generate(&dir, Algorithm::EdDSA, T0).unwrap();
        assert!(matches!(
            load_ring(&dir, Algorithm::ES256, T0),
            Err(KeySetError::WrongAlgorithm { .. })
        ));
        let short = Timing { lead: 60, ..TIMING };
        assert!(matches!(
            rotate(&dir, Algorithm::EdDSA, T0, short, false),
            Err(KeySetError::LeadTooShort { lead: 60, min: 370 })
        ));
        assert!(matches!(
            load_ring(&dir, Algorithm::EdDSA, T0 - 1),
            Err(KeySetError::NoSigningKey(_))
        ));
        // A manifest pointing outside the directory is refused before any file is read.
        let manifest = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace(&first.kid, "../../etc/passwd")).unwrap();
        let err = load_ring(&dir, Algorithm::EdDSA, T0).unwrap_err();
        assert!(err.to_string().contains("not a key id"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
