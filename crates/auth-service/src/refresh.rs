//! Refresh tokens: opaque `<session id>.<secret>`, both halves unpadded base64url.
//!
//! - The session id is the user id (16 bytes) followed by 16 random bytes, so it locates
//!   the session record *and* its owner's hash tag in one step.
//! - The store keeps only SHA-256 of the secret.
//! - A successor secret is `HMAC-SHA256(refresh key, session id ‖ secret)`: every refresh
//!   that presents the same token derives the *same* successor, which is how concurrent
//!   refreshes inside the grace window all receive one consistent token without the store
//!   ever holding a usable secret. Without the server's key the chain cannot be followed.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use uuid::Uuid;

/// Bytes of secret in a refresh token (256 bits).
pub const SECRET_LEN: usize = 32;
/// Longest refresh token accepted before any parsing.
const MAX_TOKEN_LEN: usize = 128;
/// Upper bound on the hashes computed to recognise an old, spent token of a family. Each
/// step costs ~0.3 µs; a family refreshed every 10 minutes for 30 days has ~4,300 steps.
pub const MAX_CHAIN_WALK: u64 = 10_000;

/// A session (refresh-token family) id.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId {
    text: String,
    user: Uuid,
}

/// The system's random generator failed (ring reports no more than that).
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct NoRandomness;

impl SessionId {
    /// A fresh session id for `user`.
    pub fn new(user: Uuid) -> Result<SessionId, NoRandomness> {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(user.as_bytes());
        SystemRandom::new()
            .fill(&mut bytes[16..])
            .map_err(|_| NoRandomness)?;
        Ok(SessionId {
            text: B64.encode(bytes),
            user,
        })
    }

    /// Parses a session id; `None` for anything this service did not issue.
    pub fn parse(text: &str) -> Option<SessionId> {
        let mut bytes = [0u8; 33];
        let len = B64.decode_slice(text, &mut bytes).ok()?;
        if len != 32 {
            return None;
        }
        let user = Uuid::from_slice(&bytes[..16]).ok()?;
        Some(SessionId {
            text: text.to_owned(),
            user,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The user the session belongs to.
    pub fn user(&self) -> Uuid {
        self.user
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A refresh token. Its `Debug` hides the secret; there is no `Display`, so it cannot be
/// formatted into a log line by accident.
#[derive(Clone)]
pub struct RefreshToken {
    sid: SessionId,
    secret: [u8; SECRET_LEN],
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshToken({}.<redacted>)", self.sid)
    }
}

impl RefreshToken {
    /// Parses `<session id>.<secret>`; `None` for anything malformed.
    pub fn parse(text: &str) -> Option<RefreshToken> {
        if text.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (sid, secret) = text.split_once('.')?;
        let sid = SessionId::parse(sid)?;
        let mut buf = [0u8; SECRET_LEN + 1];
        let len = B64.decode_slice(secret, &mut buf).ok()?;
        if len != SECRET_LEN {
            return None;
        }
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(&buf[..SECRET_LEN]);
        Some(RefreshToken { sid, secret })
    }

    /// The token text, for the response body or cookie only.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.sid, B64.encode(self.secret))
    }

    pub fn session(&self) -> &SessionId {
        &self.sid
    }

    /// What the store keeps: base64url(SHA-256(secret)).
    pub fn secret_hash(&self) -> String {
        B64.encode(digest::digest(&digest::SHA256, &self.secret))
    }
}

/// The server-side key that derives successor secrets. Shared by every instance.
pub struct RefreshKeys {
    key: hmac::Key,
}

impl fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshKeys(<redacted>)")
    }
}

impl RefreshKeys {
    /// Derives the successor key from the service secret, domain-separated from its use as
    /// the HS256 signing key.
    pub fn derive(service_secret: &[u8]) -> RefreshKeys {
        let root = hmac::Key::new(hmac::HMAC_SHA256, service_secret);
        let derived = hmac::sign(&root, b"tessera refresh-token successor key v1");
        RefreshKeys {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// A first token for a new session: a random secret.
    pub fn fresh(&self, sid: SessionId) -> Result<RefreshToken, NoRandomness> {
        let mut secret = [0u8; SECRET_LEN];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| NoRandomness)?;
        Ok(RefreshToken { sid, secret })
    }

    /// The token that replaces `token` when it is spent.
    pub fn successor(&self, token: &RefreshToken) -> RefreshToken {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(token.sid.as_str().as_bytes());
        context.update(&token.secret);
        let tag = context.sign();
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(&tag.as_ref()[..SECRET_LEN]);
        RefreshToken {
            sid: token.sid.clone(),
            secret,
        }
    }

    /// Whether `presented` is an earlier token of the family whose current secret hashes to
    /// `current_hash` after at most `generations` rotations: a genuine spent token, not a
    /// guess. Only genuine reuse may revoke a family; a forged secret must not.
    pub fn is_ancestor(
        &self,
        presented: &RefreshToken,
        current_hash: &str,
        generations: u64,
    ) -> bool {
        let mut token = presented.clone();
        for _ in 0..generations.min(MAX_CHAIN_WALK) {
            token = self.successor(&token);
            if token.secret_hash() == current_hash {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> RefreshKeys {
        RefreshKeys::derive(b"refresh-tests-secret-0123456789abcdef")
    }

    #[test]
    fn tokens_round_trip_and_locate_their_user() {
        let user = Uuid::new_v4();
        let token = keys().fresh(SessionId::new(user).unwrap()).unwrap();
        let text = token.expose();
        let parsed = RefreshToken::parse(&text).unwrap();
        assert_eq!(parsed.session().user(), user);
        assert_eq!(parsed.secret_hash(), token.secret_hash());
        assert!(!format!("{parsed:?}").contains(text.split('.').nth(1).unwrap()));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = keys()
            .fresh(SessionId::new(Uuid::new_v4()).unwrap())
            .unwrap()
            .expose();
        let (sid, secret) = good.split_once('.').unwrap();
        for bad in [
            String::new(),
            sid.to_owned(),
            format!("{sid}."),
            format!(".{secret}"),
            format!("{sid}.{secret}.x"),
            format!("{sid}.{}", &secret[1..]),
            format!("{}.{secret}", &sid[2..]),
            format!("{sid}={secret}"),
            "a".repeat(1000),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn successors_are_deterministic_and_keyed() {
        let token = keys()
            .fresh(SessionId::new(Uuid::new_v4()).unwrap())
            .unwrap();
        let next = keys().successor(&token);
        assert_eq!(next.expose(), keys().successor(&token).expose());
        assert_ne!(next.secret_hash(), token.secret_hash());
        assert_eq!(next.session(), token.session());
        let other = RefreshKeys::derive(b"another-refresh-secret-0123456789abc");
        assert_ne!(other.successor(&token).secret_hash(), next.secret_hash());
    }

    #[test]
    fn only_genuine_ancestors_are_recognised() {
        let keys = keys();
        let first = keys.fresh(SessionId::new(Uuid::new_v4()).unwrap()).unwrap();
        let mut current = first.clone();
        for _ in 0..5 {
            current = keys.successor(&current);
        }
        assert!(keys.is_ancestor(&first, &current.secret_hash(), 5));
        assert!(
            !keys.is_ancestor(&first, &current.secret_hash(), 4),
            "bounded by generations"
        );
        let forged = keys.fresh(first.session().clone()).unwrap();
        assert!(!keys.is_ancestor(&forged, &current.secret_hash(), 5));
    }
}
