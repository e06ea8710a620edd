//! The JWS algorithms Tessera signs and verifies with. Anything else — `none` in any
//! spelling, RS256, HS512 — is not representable, so it can never be selected.

use std::fmt;

/// A JWS `alg` value (RFC 7518 §3.1, RFC 8037 §3.1) that Tessera supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC-SHA256 with a shared secret: every verifier can also sign.
    HS256,
    /// Ed25519 signatures: verifiers hold public keys only.
    EdDSA,
    /// ECDSA P-256 with SHA-256, signatures in the fixed-size `r || s` JWS form.
    ES256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 3] = [Algorithm::HS256, Algorithm::EdDSA, Algorithm::ES256];

    /// The exact, case-sensitive JWS name (RFC 7515 §4.1.1: `alg` is case-sensitive).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
        }
    }

    /// Parses a JWS `alg` header value; unknown names, including `none`, give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for name in [
            "none", "None", "NONE", "hs256", "eddsa", "RS256", "HS512", "",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }
}
