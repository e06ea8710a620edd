//! Tessera's shared token core: the access-token claims, the key ring, issuing, and the
//! one verification routine every service uses. No I/O (no Redis; an HTTP client only
//! with the `jwks` feature).
//!
//! # Layout
//! - [`alg`]: the supported JWS algorithms (`none` is not representable).
//! - [`claims`]: [`Claims`], the [`ClaimsBuilder`] the issuer uses, typed accessors.
//! - [`clock`]: [`Clock`], the real one and a [`ManualClock`] for tests.
//! - [`keys`]: [`Key`], [`KeyRing`], PEM and JWKS import/export, key generation.
//! - [`issue`]: [`Issuer`], the one place tokens are minted, and [`SharedKeys`], the
//!   swappable ring it shares with the [`Verifier`].
//! - [`verify`]: [`Verifier`], the one verification routine, and [`VerifyError`].
//! - [`revocation`]: [`RevocationView`], what has been revoked (sessions, token versions,
//!   single tokens), checked after the signature without I/O.
//! - [`cache`]: [`VerifiedCache`], tokens that verified, by their bytes, so a token seen
//!   again skips the signature (every hit rechecked against keys, time and revocation).
//! - [`error`]: start-up and signing errors, and the JSON error body every service sends.
//! - [`bearer`]: the rules of a Bearer-protected request, shared by the adapters below:
//!   [`bearer::Authenticated`], [`bearer::AuthError`] (status, challenge, JSON body).
//! - `actix` (feature `actix`): the `Authenticated` extractor and 401/403 rendering.
//! - `tower` (feature `tower`): `BearerAuth` and its `RequireAuthLayer` for any tower
//!   service over `http` requests.
//! - `axum` (feature `axum`, implies `tower`): `Authenticated` as an axum extractor and
//!   `AuthError` as a response.
//! - `jwks` (feature `jwks`): `RemoteKeys`, a resource server's keys fetched from the
//!   auth-service's JWKS and kept fresh — the one piece of I/O here.
//!
//! Without these features auth-core pulls in no HTTP stack and does no I/O.

pub mod alg;
pub mod bearer;
pub mod cache;
pub mod claims;
pub mod clock;
pub mod error;
pub mod issue;
pub mod keys;
pub mod revocation;
pub mod verify;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "jwks")]
pub mod jwks;
#[cfg(feature = "tower")]
pub mod tower;

pub use alg::Algorithm;
pub use cache::VerifiedCache;
pub use claims::{Audience, Claims, ClaimsBuilder, Role, Subject, SCOPE_TASKS_PURGE};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ErrorBody, SetupError, SignError};
pub use issue::{Issuer, SharedKeys, SERVICE_SESSION};
pub use keys::{generate_hmac_secret, GeneratedKey, Jwk, Jwks, Key, KeyRing};
pub use revocation::{Revocation, RevocationView, Revoked, Staleness, Verdict};
pub use verify::{KeySource, Validation, Verifier, VerifyError};

/// The JWS `typ` of Tessera access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The one base64 flavour of JWS (RFC 7515 §2): URL-safe, no padding. Decoding is strict:
/// padding and non-zero trailing bits are rejected, so each token has one encoding.
pub(crate) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;
