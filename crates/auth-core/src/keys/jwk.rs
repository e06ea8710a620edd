//! [`Jwk`] and [`Jwks`]: public keys as RFC 7517 JSON, with RFC 7638 thumbprints.

use base64::Engine as _;
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::B64;

/// A JSON Web Key (RFC 7517) holding a public key. Private members are not modelled,
/// so a private key can never be serialized into a JWKS by accident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP` (Ed25519) or `EC` (P-256).
    pub kty: String,
    /// `Ed25519` or `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public key (OKP) or x coordinate (EC), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// y coordinate (EC), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Key id tokens refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm the key is used with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    pub(super) fn okp(x: String) -> Jwk {
        Jwk::bare("OKP", "Ed25519", x, None)
    }

    pub(super) fn ec(x: String, y: String) -> Jwk {
        Jwk::bare("EC", "P-256", x, Some(y))
    }

    fn bare(kty: &str, crv: &str, x: String, y: Option<String>) -> Jwk {
        Jwk {
            kty: kty.to_owned(),
            crv: Some(crv.to_owned()),
            x: Some(x),
            y,
            kid: None,
            alg: None,
            use_: None,
        }
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order
    /// with no whitespace, base64url. For OKP the members are `crv`, `kty`, `x` (RFC 8037
    /// §2); for EC `crv`, `kty`, `x`, `y`.
    pub fn thumbprint(&self) -> String {
        let member =
            |name: &str, value: &str| format!(r#""{name}":{}"#, serde_json::Value::from(value));
        let mut members = vec![
            member("crv", self.crv.as_deref().unwrap_or_default()),
            member("kty", &self.kty),
            member("x", self.x.as_deref().unwrap_or_default()),
        ];
        if let Some(y) = &self.y {
            members.push(member("y", y));
        }
        let canonical = format!("{{{}}}", members.join(","));
        B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }
}

/// A JWK Set, the body of `/.well-known/jwks.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The published keys.
    pub keys: Vec<Jwk>,
}
