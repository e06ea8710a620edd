//! Minting access tokens. [`Issuer`] is the one place the claims of a token are decided
//! (`iss`, `aud`, lifetime, `sid`, role, version, scope); it signs with the key of a
//! [`SharedKeys`] ring that signs at `iat` — the same ring the service's [`Verifier`]
//! reads, so a reloaded key set changes both at once.
//!
//! A token is `base64url(header) . base64url(claims) . base64url(sig)` with the header
//! `{"alg", "typ": "at+jwt", "kid"}` of the signing key.
//!
//! [`Verifier`]: crate::Verifier

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use base64::Engine as _;

use crate::{Claims, ClaimsBuilder, Clock, KeyRing, Role, SignError, B64};

/// The `sid` of service tokens, which belong to no session (the claim is required).
pub const SERVICE_SESSION: &str = "client_credentials";

/// A key ring that can be replaced while requests run (a reloaded key set, a fetched
/// JWKS); every holder of a clone sees the replacement. Each use reads one ring whole.
#[derive(Clone)]
pub struct SharedKeys(Arc<ArcSwap<KeyRing>>);

impl SharedKeys {
    pub fn new(ring: KeyRing) -> SharedKeys {
        SharedKeys(Arc::new(ArcSwap::from_pointee(ring)))
    }

    /// The ring now.
    pub fn load(&self) -> Guard<Arc<KeyRing>> {
        self.0.load()
    }

    /// Replaces the ring for every holder; uses under way finish with the old one.
    pub fn replace(&self, ring: KeyRing) {
        self.0.store(Arc::new(ring));
    }
}

impl std::fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedKeys").field(&self.load()).finish()
    }
}

/// Issues the access tokens of one service (the auth-service).
pub struct Issuer {
    keys: SharedKeys,
    issuer: String,
    audience: String,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Tokens `iss: issuer`, `aud: audience`, valid for `ttl` from the clock's now.
    pub fn new(
        keys: SharedKeys,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Issuer {
        Issuer {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl,
            clock,
        }
    }

    /// How long the tokens it issues are valid (the `expires_in` of a token response).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// An end user's token in session `session_id`, with the role and token version the
    /// store granted.
    pub fn user_token(
        &self,
        user_id: &str,
        session_id: &str,
        role: Role,
        ver: u64,
    ) -> Result<String, SignError> {
        let claims = ClaimsBuilder::user(&self.issuer, &self.audience, user_id, session_id)
            .role(role)
            .version(ver);
        self.issue(claims)
    }

    /// A service's token (`sub: svc:<client_id>`, no session) carrying `scope`.
    pub fn service_token(&self, client_id: &str, scope: &str) -> Result<String, SignError> {
        let claims =
            ClaimsBuilder::service(&self.issuer, &self.audience, client_id, SERVICE_SESSION)
                .scope(scope);
        self.issue(claims)
    }

    fn issue(&self, claims: ClaimsBuilder) -> Result<String, SignError> {
        let claims = claims.lifetime(self.ttl).build(self.clock.now())?;
        self.keys.load().sign(&claims)
    }
}

impl KeyRing {
    /// Signs `claims` with the key that signs at their `iat` and returns the compact JWS.
    /// Services issue through [`Issuer`]; tests sign claims of their own making with this.
    pub fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let key = self
            .signing_key_at(claims.iat)
            .ok_or(SignError::NoSigningKey)?;
        let payload = serde_json::to_vec(claims).map_err(|_| SignError::Json)?;
        let mut token =
            String::with_capacity(key.encoded_header().len() + payload.len() * 4 / 3 + 100);
        token.push_str(key.encoded_header());
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        B64.encode_string(signature, &mut token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Key, ManualClock, Validation, Verifier};

    const SECRET: &[u8] = b"issuer-tests-secret-0123456789abcdef";

    fn parts() -> (SharedKeys, ManualClock, Issuer) {
        let keys = SharedKeys::new(KeyRing::new(Key::hs256("a", SECRET).unwrap()).unwrap());
        let clock = ManualClock::starting_now();
        let issuer = Issuer::new(
            keys.clone(),
            "tessera",
            "tasks",
            Duration::from_secs(600),
            Arc::new(clock.clone()),
        );
        (keys, clock, issuer)
    }

    #[test]
    fn user_and_service_tokens_carry_what_the_issuer_decides() {
        let (keys, clock, issuer) = parts();
        let verifier = Verifier::from_shared(
            keys,
            Validation::new("tessera", "tasks"),
            Arc::new(clock.clone()),
        )
        .unwrap();
        let user = verifier
            .verify(&issuer.user_token("u1", "s1", Role::Admin, 4).unwrap())
            .unwrap();
        assert_eq!(
            (user.sub.as_str(), user.sid.as_str(), user.role),
            ("u1", "s1", Role::Admin)
        );
        assert_eq!((user.ver, user.exp - user.iat), (4, 600));
        let service = verifier
            .verify(&issuer.service_token("billing", "reports:read").unwrap())
            .unwrap();
        assert_eq!(service.sub, "svc:billing");
        assert_eq!(service.sid, SERVICE_SESSION);
        assert_eq!(service.role, Role::Service);
        assert_eq!(service.scope.as_deref(), Some("reports:read"));
    }

    #[test]
    fn a_replaced_ring_signs_from_then_on() {
        let (keys, _, issuer) = parts();
        keys.replace(KeyRing::new(Key::hs256("b", SECRET).unwrap()).unwrap());
        let token = issuer.user_token("u1", "s1", Role::User, 0).unwrap();
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
        assert_eq!(header["kid"], "b");
    }
}
