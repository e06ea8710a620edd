//! Passwords and usernames: the validation rules (here) and argon2id hashing on a bounded
//! pool of dedicated threads ([`pool`]).

mod pool;

use secrecy::{ExposeSecret, SecretString};

pub use self::pool::{PasswordError, Passwords};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
