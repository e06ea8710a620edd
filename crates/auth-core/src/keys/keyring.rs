//! [`KeyRing`]: the keys a service signs and verifies with, each on its schedule.

use super::{Jwks, Key};
use crate::SetupError;

/// The keys a service signs and verifies with, `kid`s unique. Each key may carry a
/// schedule, which is how keys rotate without logging anyone out:
///
/// - it **signs** from `signs_from` on, until a key with a later `signs_from` takes over
///   (before its time a key is *next*: published and accepted, not yet signing; after it
///   is superseded, *retired*: published and accepted, no longer signing);
/// - at `until` it is **dropped**: neither published nor accepted.
///
/// Keys without `signs_from` only verify (a resource server's public keys, an earlier
/// key kept for its tokens' lifetime).
#[derive(Debug)]
pub struct KeyRing {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    key: Key,
    signs_from: Option<u64>,
    until: Option<u64>,
}

impl Entry {
    fn live_at(&self, now: u64) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

impl KeyRing {
    /// A ring whose signing key is `signing`, from the epoch on.
    pub fn new(signing: Key) -> Result<KeyRing, SetupError> {
        KeyRing::empty().with_scheduled_key(signing, 0, None)
    }

    /// A ring that can only verify (a resource server holding public keys).
    pub fn verify_only(keys: impl IntoIterator<Item = Key>) -> Result<KeyRing, SetupError> {
        let mut ring = KeyRing::empty();
        for key in keys {
            ring = ring.with_verify_key(key)?;
        }
        if ring.entries.is_empty() {
            return Err(SetupError::EmptyKeyRing);
        }
        Ok(ring)
    }

    /// A ring with no keys: verifies nothing until a [`crate::Verifier`] is given another
    /// (a resource server whose key source has not answered yet).
    pub fn empty() -> KeyRing {
        KeyRing {
            entries: Vec::new(),
        }
    }

    /// Adds a key that verifies but never signs.
    pub fn with_verify_key(self, key: Key) -> Result<KeyRing, SetupError> {
        self.with_entry(Entry {
            key,
            signs_from: None,
            until: None,
        })
    }

    /// Adds a key that signs from `signs_from` (Unix seconds) until a later key takes
    /// over, and is dropped at `until`.
    pub fn with_scheduled_key(
        self,
        key: Key,
        signs_from: u64,
        until: Option<u64>,
    ) -> Result<KeyRing, SetupError> {
        if !key.can_sign() {
            return Err(SetupError::NotSigningKey(key.kid));
        }
        self.with_entry(Entry {
            key,
            signs_from: Some(signs_from),
            until,
        })
    }

    fn with_entry(mut self, entry: Entry) -> Result<KeyRing, SetupError> {
        if self.get(entry.key.kid()).is_some() {
            return Err(SetupError::DuplicateKid(entry.key.kid));
        }
        self.entries.push(entry);
        Ok(self)
    }

    /// The key for a `kid`, whatever its schedule. A short linear scan: rings hold a
    /// handful of keys.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.entries
            .iter()
            .find(|entry| entry.key.kid == kid)
            .map(|entry| &entry.key)
    }

    /// The first key matching `predicate` that is not dropped at `now`.
    pub(crate) fn find_live(&self, now: u64, predicate: impl Fn(&Key) -> bool) -> Option<&Key> {
        self.entries
            .iter()
            .find(|entry| entry.live_at(now) && predicate(&entry.key))
            .map(|entry| &entry.key)
    }

    /// The key that signs at `now`: of the live keys whose `signs_from` has come, the one
    /// that came last.
    pub fn signing_key_at(&self, now: u64) -> Option<&Key> {
        self.entries
            .iter()
            .filter(|entry| entry.live_at(now))
            .filter_map(|entry| Some((entry.signs_from.filter(|from| *from <= now)?, entry)))
            .max_by_key(|(from, _)| *from)
            .map(|(_, entry)| &entry.key)
    }

    /// Every key, dropped or not, in the order added.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|entry| &entry.key)
    }

    /// Whether no key at all is in the ring.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The public keys not dropped at `now` as a JWK Set (empty when every key is HS256).
    pub fn jwks_at(&self, now: u64) -> Jwks {
        Jwks {
            keys: self
                .entries
                .iter()
                .filter(|entry| entry.live_at(now))
                .filter_map(|entry| entry.key.to_jwk())
                .collect(),
        }
    }
}
