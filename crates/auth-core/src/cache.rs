//! The verified-token cache: tokens that passed full verification, keyed by their exact
//! bytes, so a token presented again skips the signature check — what makes public-key
//! verification (tens of µs) cost about what a hash lookup costs. Envoy's `jwt_authn` has
//! such a cache; unlike it, a hit here is never a way around anything that changed since:
//! [`crate::Verifier`] rechecks every hit against the key ring (a dropped key's tokens fall
//! out), the time claims (an expired token falls out) and the revocation view.
//!
//! Only the verifier inserts, and only tokens it verified: a forged or altered token is a
//! different key and never a hit. Bounded by memory (each entry weighs its token and claims
//! bytes plus a fixed overhead; S3-FIFO eviction from `quick_cache`), and swept of expired
//! entries every [`SWEEP_EVERY`] insertions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::Claims;

/// Insertions between two sweeps of expired entries.
pub const SWEEP_EVERY: u64 = 4096;
/// What an entry costs beyond its strings: the table slot, the two `Arc`s, the claims struct,
/// allocator rounding (with it, the weight tracks resident memory within a few per cent:
/// `cargo run --release -p auth-core --example cache_memory`).
const ENTRY_OVERHEAD: u64 = 470;
/// A typical entry (a ~420 B EdDSA token, its claims' strings, the overhead), to size the
/// table for the memory budget.
const TYPICAL_ENTRY: u64 = 1040;

/// A token that verified, and the key that verified it.
#[derive(Debug)]
pub(crate) struct Verified {
    /// Shared with every caller the entry answers: a hit allocates nothing.
    pub(crate) claims: Arc<Claims>,
    pub(crate) kid: Box<str>,
}

impl Verified {
    fn heap_bytes(&self) -> u64 {
        let c = &self.claims;
        let strings = [&c.iss, &c.sub, &c.jti, &c.sid]
            .iter()
            .map(|s| s.len())
            .sum::<usize>()
            + c.scope.as_ref().map_or(0, String::len)
            + self.kid.len();
        strings as u64
    }
}

#[derive(Clone, Copy, Debug)]
struct Bytes;

impl Weighter<Box<str>, Arc<Verified>> for Bytes {
    fn weight(&self, token: &Box<str>, verified: &Arc<Verified>) -> u64 {
        token.len() as u64 + verified.heap_bytes() + ENTRY_OVERHEAD
    }
}

/// Verified tokens, at most `max_bytes` of them (approximately).
pub struct VerifiedCache {
    entries: Cache<Box<str>, Arc<Verified>, Bytes>,
    inserted: AtomicU64,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("entries", &self.len())
            .field("bytes", &self.entries.weight())
            .finish()
    }
}

impl VerifiedCache {
    /// A cache holding at most about `max_bytes` of entries (96 MiB holds ~100,000 typical
    /// EdDSA tokens).
    pub fn new(max_bytes: u64) -> VerifiedCache {
        let estimated = usize::try_from(max_bytes / TYPICAL_ENTRY).unwrap_or(usize::MAX);
        VerifiedCache {
            entries: Cache::with_weighter(estimated.max(1), max_bytes.max(1), Bytes),
            inserted: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Verified>> {
        self.entries.get(token)
    }

    pub(crate) fn remove(&self, token: &str) {
        self.entries.remove(token);
    }

    /// Adds a token that just verified; every [`SWEEP_EVERY`] insertions, drops the
    /// entries `live` no longer accepts (expired ones).
    pub(crate) fn insert(&self, token: &str, verified: Verified, live: impl Fn(&Verified) -> bool) {
        self.entries.insert(token.into(), Arc::new(verified));
        if self.inserted.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.entries.retain(|_, verified| live(verified));
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// The bytes the entries weigh (tokens, claims' strings, overhead).
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        Algorithm, ClaimsBuilder, Key, KeyRing, ManualClock, Revocation, RevocationView, Revoked,
        Role, Validation, Verifier, VerifyError,
    };

    const NOW: u64 = 1_800_000_000;

    fn ed25519() -> Key {
        let pem = Key::generate(Algorithm::EdDSA).unwrap().private_pem;
        Key::from_private_pem(Algorithm::EdDSA, &pem).unwrap()
    }

    /// A verifier on `ring` with a cache of `bytes` (and the cache), clock at `NOW`.
    fn cached(ring: KeyRing, bytes: u64) -> (Verifier, Arc<VerifiedCache>, ManualClock) {
        let clock = ManualClock::new(NOW);
        let cache = Arc::new(VerifiedCache::new(bytes));
        let verifier = Verifier::new(
            ring,
            Validation::new("tessera", "tasks"),
            Arc::new(clock.clone()),
        )
        .unwrap()
        .with_cache(cache.clone());
        (verifier, cache, clock)
    }

    fn token(verifier: &Verifier, sid: &str) -> String {
        let claims = ClaimsBuilder::user("tessera", "tasks", "user-1", sid)
            .role(Role::User)
            .build(NOW)
            .unwrap();
        verifier.keys().sign(&claims).unwrap()
    }

    #[test]
    fn a_verified_token_is_a_hit_and_an_altered_one_never_is() {
        let (verifier, cache, _) = cached(KeyRing::new(ed25519()).unwrap(), 1 << 20);
        let good = token(&verifier, "s1");
        let first = verifier.verify(&good).unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(
            verifier.verify(&good).unwrap(),
            first,
            "the hit gives the same claims"
        );
        assert_eq!(cache.len(), 1);

        // One signature character changed: different bytes, full path, refused, not cached.
        let mut altered = good.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(verifier.verify(&altered), Err(VerifyError::BadSignature));
        assert_eq!(verifier.verify(&altered), Err(VerifyError::BadSignature));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_hit_is_still_checked_against_revocation() {
        let (verifier, _, _) = cached(KeyRing::new(ed25519()).unwrap(), 1 << 20);
        let view = Arc::new(RevocationView::in_process());
        let verifier = verifier.with_revocation(view.clone());
        let good = token(&verifier, "s1");
        verifier.verify(&good).unwrap();
        view.apply(&Revocation {
            revoked: Revoked::Session { sid: "s1".into() },
            until: NOW + 630,
        });
        assert_eq!(verifier.verify(&good), Err(VerifyError::Revoked));
    }

    #[test]
    fn a_hit_whose_key_was_dropped_is_refused_as_the_full_path_would() {
        let old = ed25519();
        let (verifier, cache, _) = cached(KeyRing::new(old).unwrap(), 1 << 20);
        let good = token(&verifier, "s1");
        verifier.verify(&good).unwrap();
        verifier.replace_keys(KeyRing::new(ed25519()).unwrap());
        assert_eq!(verifier.verify(&good), Err(VerifyError::UnknownKid));
        assert!(cache.is_empty(), "the entry went with its key");
    }

    #[test]
    fn a_hit_expires_with_its_token() {
        let (verifier, cache, clock) = cached(KeyRing::new(ed25519()).unwrap(), 1 << 20);
        let good = token(&verifier, "s1");
        verifier.verify(&good).unwrap();
        clock.advance(Duration::from_secs(600 + 29));
        verifier.verify(&good).unwrap();
        clock.advance(Duration::from_secs(1));
        assert_eq!(verifier.verify(&good), Err(VerifyError::Expired));
        assert!(cache.is_empty());
    }

    fn hs256_verifier(budget: u64) -> (Verifier, Arc<VerifiedCache>, ManualClock) {
        let key = Key::hs256("k1", b"cache-tests-secret-0123456789abcdef").unwrap();
        cached(KeyRing::new(key).unwrap(), budget)
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let budget = 64 * 1024;
        let (verifier, cache, _) = hs256_verifier(budget);
        for i in 0..1000 {
            verifier
                .verify(&token(&verifier, &format!("s-{i}")))
                .unwrap();
            assert!(cache.bytes() <= budget, "{} bytes", cache.bytes());
        }
        assert!(
            cache.len() < 1000,
            "{} entries: some were evicted",
            cache.len()
        );
    }

    #[test]
    fn expired_entries_are_swept() {
        // Room for everything: only the sweep can remove the expired entries.
        let (verifier, cache, clock) = hs256_verifier(64 << 20);
        let early: Vec<String> = (0..50)
            .map(|i| token(&verifier, &format!("early-{i}")))
            .collect();
        for token in &early {
            verifier.verify(token).unwrap();
        }
        clock.advance(Duration::from_secs(700));
        for i in 0..SWEEP_EVERY - 50 {
            let claims = ClaimsBuilder::user("tessera", "tasks", "user-1", format!("late-{i}"))
                .role(Role::User)
                .build(NOW + 700)
                .unwrap();
            verifier
                .verify(&verifier.keys().sign(&claims).unwrap())
                .unwrap();
        }
        assert!(early.iter().all(|token| cache.get(token).is_none()));
        assert_eq!(cache.len() as u64, SWEEP_EVERY - 50);
    }
}
