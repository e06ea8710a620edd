//! Passwords and usernames: validation rules, and argon2id hashing on a bounded pool of
//! blocking threads, so a login storm can neither exhaust memory (each hash takes
//! `memory_kib`) nor occupy the async workers that serve refresh and verification.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;

/// Shortest and longest password, in bytes.
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=1024;
/// Shortest and longest username, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=64;

/// A username is 3–64 characters of `[A-Za-z0-9._-]`; uniqueness ignores case.
pub fn validate_username(username: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if USERNAME_CHARS.contains(&username.len()) && username.chars().all(allowed) {
        Ok(())
    } else {
        Err("username must be 3 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'".to_owned())
    }
}

/// A password is 8–1024 bytes.
pub fn validate_password(password: &SecretString) -> Result<(), String> {
    if PASSWORD_BYTES.contains(&password.expose_secret().len()) {
        Ok(())
    } else {
        Err("password must be 8 to 1024 bytes".to_owned())
    }
}

/// Why hashing did not happen.
#[derive(Debug, Error)]
pub enum PasswordError {
    /// The pool and its queue are full: shed load rather than queue without bound.
    #[error("too many password operations in progress")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The argon2id hasher and its pool.
pub struct Passwords {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    /// Verified against when the username is unknown, so that costs what a wrong
    /// password costs.
    dummy_hash: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Builds the hasher; computes one hash (the dummy) to fail fast on bad parameters.
    pub fn new(settings: &PasswordSettings) -> Result<Passwords, PasswordError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|err| PasswordError::Internal(err.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let max_concurrent = match settings.max_concurrent {
            0 => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            n => n,
        };
        let mut random = [0u8; 32];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| PasswordError::Internal("no randomness".to_owned()))?;
        let dummy_hash = hash_with(&argon, &random)?;
        Ok(Passwords {
            argon,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            waiting: AtomicUsize::new(0),
            max_queue: settings.max_queue,
            dummy_hash,
        })
    }

    /// A PHC-format argon2id hash of `password` with a fresh salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        self.run(move |argon| hash_with(argon, password.expose_secret().as_bytes()))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it checks against
    /// the dummy and returns `false`, at the same cost.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .run(move |argon| {
                argon
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }

    /// Runs `job` on a blocking thread once a pool permit is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(PasswordError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.map_err(|err| PasswordError::Internal(err.to_string()))?;
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job(&argon)
        })
        .await
        .map_err(|err| PasswordError::Internal(err.to_string()))
    }
}

fn hash_with(argon: &Argon2<'_>, password: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Internal("no randomness".to_owned()))?;
    argon
        .hash_password_with_salt(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Internal(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters: these tests check behaviour, not cost.
    fn passwords(max_concurrent: usize, max_queue: usize) -> Passwords {
        Passwords::new(&PasswordSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent,
            max_queue,
        })
        .unwrap()
    }

    #[test]
    fn usernames_follow_the_rules() {
        for ok in ["bob", "Alice.Smith", "a_b-c", &"x".repeat(64)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "has space", "émile", "a/b", &"x".repeat(65), ""] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_8_to_1024_bytes() {
        assert!(validate_password(&SecretString::from("1234567")).is_err());
        assert!(validate_password(&SecretString::from("12345678")).is_ok());
        assert!(validate_password(&SecretString::from("x".repeat(1025))).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_salt() {
        let pw = passwords(1, 8);
        let hash = pw.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_ne!(
            hash,
            pw.hash(SecretString::from("correct horse")).await.unwrap()
        );
        assert!(pw
            .verify(SecretString::from("correct horse"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!pw
            .verify(SecretString::from("wrong horse"), Some(hash))
            .await
            .unwrap());
        assert!(!pw
            .verify(SecretString::from("correct horse"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_sheds_load() {
        let pw = Arc::new(passwords(1, 0));
        let err = pw.hash(SecretString::from("whatever1")).await.unwrap_err();
        assert!(matches!(err, PasswordError::Busy));
    }
}
