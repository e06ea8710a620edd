//! Errors of setting up keys and verifiers (start-up time) and of signing, plus the JSON
//! error body that every Tessera service answers with.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::keys::{MIN_HMAC_SECRET_LEN, SECRET_REMEDY};
use crate::Algorithm;

/// A key, key ring or verifier could not be built. Raised at start-up, never per request;
/// each message says what to fix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error("the HMAC secret is {len} bytes; at least {MIN_HMAC_SECRET_LEN} are required: {SECRET_REMEDY}")]
    SecretTooShort { len: usize },
    #[error("the key file is not PEM")]
    NotPem,
    #[error("expected a PEM `{expected}`, found `{found}`")]
    WrongPemLabel {
        expected: &'static str,
        found: String,
    },
    #[error("invalid {alg} key: {reason}")]
    InvalidKey {
        alg: Algorithm,
        reason: &'static str,
    },
    #[error("invalid JWK: {0}")]
    InvalidJwk(&'static str),
    #[error("HS256 keys are secrets, not key pairs: build them with Key::hs256")]
    NotAsymmetric,
    #[error("two keys share the kid `{0}`")]
    DuplicateKid(String),
    #[error("key `{0}` has no private half and cannot be the signing key")]
    NotSigningKey(String),
    #[error("the key ring is empty")]
    EmptyKeyRing,
    #[error("the system random number generator failed")]
    Random,
    #[error("invalid validation settings: {0}")]
    Validation(&'static str),
}

/// Signing an access token failed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    #[error("the key ring has no signing key")]
    NoSigningKey,
    #[error("the system random number generator failed")]
    Random,
    #[error("the signature could not be computed")]
    Crypto,
    #[error("the claims could not be serialized")]
    Json,
}

/// The JSON body of every error Tessera's services return (docs/ARCHITECTURE.md "Errors"):
/// `{"error": "<stable machine code>", "message": "<human text>"}`. Clients branch on
/// `error`; `message` may change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, machine-readable code such as `invalid_token`.
    pub error: String,
    /// Text for humans.
    pub message: String,
}

impl ErrorBody {
    /// A body from a code and a message.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            message: message.into(),
        }
    }
}
