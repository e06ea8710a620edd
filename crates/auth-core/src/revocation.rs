//! The revocation view: which sessions (`sid`), which token versions of a user (`sub` below
//! `ver`) and which single tokens (`jti`) have been revoked. Pure data, no I/O: a feed
//! elsewhere fills it; verification asks it after the signature with three hash lookups
//! that take no lock (papaya's maps: readers never block, nor wait for the writer).
//!
//! Every entry carries `until`, the time after which no token it could affect is still
//! valid (the longest access-token lifetime plus the leeway after the revocation), so the
//! view holds nothing for longer than it matters: [`RevocationView::sweep`] drops expired
//! entries, and an expired entry is ignored even before the sweep.
//!
//! Keys are 64-bit SipHash digests of the claim values (tagged by kind) under a per-view
//! random key, not the strings: a million entries fit in tens of MiB, and a check is three
//! probes of one table under one guard. A digest collision could only make a valid token
//! look revoked (never the reverse): at a million entries, about one false refusal in 10¹³
//! checks.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::Claims;

/// What one revocation stops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revoked {
    /// Every token of this session (logout, session revoked, refresh-token reuse).
    Session { sid: String },
    /// Every token of this user whose `ver` is below `below` (logout everywhere, password
    /// change, role loss); `u64::MAX` for every token of the user (account deleted).
    Versions { sub: String, below: u64 },
    /// This one token (RFC 7009 revocation of an access token).
    Token { jti: String },
}

/// A revocation and how long it matters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    #[serde(flatten)]
    pub revoked: Revoked,
    /// Seconds since the epoch after which no token it affects is valid any more.
    pub until: u64,
}

/// The table: digest of (kind, value) → what it revokes until when.
type Table = papaya::HashMap<u64, Entry, Prehashed>;

/// One revoked key: versions below `below` (for a session or a token: all), until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    below: u64,
    until: u64,
}

/// Which claim a key digests, so equal strings in different claims never meet.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Session = 1,
    Versions = 2,
    Token = 3,
}

/// How old the view may grow (since the feed last heard from its source) before it is
/// stale, and what verification does then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staleness {
    pub max_secs: u64,
    /// Refuse every token while stale (rather than risk accepting a revoked one).
    pub reject: bool,
}

impl Default for Staleness {
    /// 30 s, then keep serving.
    fn default() -> Self {
        Staleness {
            max_secs: 30,
            reject: false,
        }
    }
}

/// The view's answer for one verified token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Revoked,
    /// The view is stale and the policy is to reject.
    Stale,
}

/// The revoked sessions, versions and tokens, as of the last thing the feed heard.
pub struct RevocationView {
    /// The digest key, random per view.
    key: RandomState,
    entries: Table,
    /// When the feed last heard from its source (seconds since the epoch; 0: never).
    heard_at: AtomicU64,
    staleness: Staleness,
}

impl std::fmt::Debug for RevocationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationView")
            .field("entries", &self.len())
            .field("heard_at", &self.heard_at())
            .finish_non_exhaustive()
    }
}

impl Default for RevocationView {
    fn default() -> Self {
        RevocationView::new()
    }
}

impl RevocationView {
    /// An empty view under the default [`Staleness`].
    pub fn new() -> RevocationView {
        RevocationView::with_staleness(Staleness::default())
    }

    /// A view written in the process that revokes (the auth-service on its in-memory
    /// store): there is no feed to fall behind, so it is never stale.
    pub fn in_process() -> RevocationView {
        let view = RevocationView::new();
        view.heard(u64::MAX);
        view
    }

    pub fn with_staleness(staleness: Staleness) -> RevocationView {
        RevocationView {
            key: RandomState::new(),
            entries: papaya::HashMap::with_hasher(Prehashed),
            heard_at: AtomicU64::new(0),
            staleness,
        }
    }

    /// What verification makes of verified `claims` at `now`: revoked, or (policy
    /// `reject`) refused because the view is stale, or valid.
    pub fn verdict(&self, claims: &Claims, now: u64) -> Verdict {
        if self.staleness.reject && self.is_stale(now) {
            Verdict::Stale
        } else if self.is_revoked(claims, now) {
            Verdict::Revoked
        } else {
            Verdict::Valid
        }
    }

    /// Whether the feed has not heard from its source for longer than the limit at `now`
    /// (or never has).
    pub fn is_stale(&self, now: u64) -> bool {
        self.staleness_at(now)
            .is_none_or(|age| age > self.staleness.max_secs)
    }

    /// Seconds since the feed last heard from its source; `None` if never.
    pub fn staleness_at(&self, now: u64) -> Option<u64> {
        self.heard_at().map(|at| now.saturating_sub(at))
    }

    /// Whether verified `claims` are revoked at `now`.
    pub fn is_revoked(&self, claims: &Claims, now: u64) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let entries = self.entries.pin();
        let live = |entry: &Entry| entry.until > now;
        entries
            .get(&self.digest(Kind::Session, &claims.sid))
            .is_some_and(live)
            || entries
                .get(&self.digest(Kind::Versions, &claims.sub))
                .is_some_and(|entry| claims.ver < entry.below && live(entry))
            || entries
                .get(&self.digest(Kind::Token, &claims.jti))
                .is_some_and(live)
    }

    /// Records a revocation. Applying the same one twice, or an older one after a newer,
    /// changes nothing: each key keeps the widest revocation and the latest `until`. Meant
    /// for one writer (the feed); readers may run alongside.
    pub fn apply(&self, revocation: &Revocation) {
        let (key, below) = match &revocation.revoked {
            Revoked::Session { sid } => (self.digest(Kind::Session, sid), u64::MAX),
            Revoked::Versions { sub, below } => (self.digest(Kind::Versions, sub), *below),
            Revoked::Token { jti } => (self.digest(Kind::Token, jti), u64::MAX),
        };
        let entry = Entry {
            below,
            until: revocation.until,
        };
        let entries = self.entries.pin();
        // `get` then `insert` rather than papaya's `update_or_insert`: measured here, a
        // table filled through the latter made every later miss ~20× slower.
        let widest = match entries.get(&key) {
            Some(old) => Entry {
                below: old.below.max(entry.below),
                until: old.until.max(entry.until),
            },
            None => entry,
        };
        entries.insert(key, widest);
    }

    /// Drops every entry whose `until` has passed at `now`; returns how many are left.
    pub fn sweep(&self, now: u64) -> usize {
        self.entries.pin().retain(|_, entry| entry.until > now);
        self.len()
    }

    /// Entries held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The feed heard from its source at `now` (an entry, a full load, or a liveness ping).
    pub fn heard(&self, now: u64) {
        self.heard_at.fetch_max(now, Ordering::Relaxed);
    }

    /// When the feed last heard from its source; `None` if never (not loaded yet).
    pub fn heard_at(&self) -> Option<u64> {
        match self.heard_at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }

    fn digest(&self, kind: Kind, value: &str) -> u64 {
        let mut hasher = self.key.build_hasher();
        hasher.write_u8(kind as u8);
        hasher.write(value.as_bytes());
        hasher.finish()
    }
}

/// The table's hasher: its keys are already keyed SipHash digests, so hashing them again
/// would only cost time.
#[derive(Clone, Copy, Debug, Default)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

#[derive(Debug)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for the u64 keys; fold anything else in all the same.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClaimsBuilder, Role};

    const NOW: u64 = 1_800_000_000;

    fn claims(sub: &str, sid: &str, ver: u64) -> Claims {
        ClaimsBuilder::user("tessera", "tasks", sub, sid)
            .role(Role::User)
            .version(ver)
            .build(NOW)
            .unwrap()
    }

    fn revocation(revoked: Revoked) -> Revocation {
        Revocation {
            revoked,
            until: NOW + 630,
        }
    }

    #[test]
    fn a_revoked_session_stops_its_tokens_and_no_others() {
        let view = RevocationView::new();
        let mine = claims("u1", "s1", 0);
        let other_session = claims("u1", "s2", 0);
        assert!(!view.is_revoked(&mine, NOW));
        view.apply(&revocation(Revoked::Session { sid: "s1".into() }));
        assert!(view.is_revoked(&mine, NOW));
        assert!(!view.is_revoked(&other_session, NOW));
        assert!(!view.is_revoked(&claims("u2", "s3", 0), NOW));
    }

    #[test]
    fn a_version_bump_stops_older_tokens_of_that_user_only() {
        let view = RevocationView::new();
        view.apply(&revocation(Revoked::Versions {
            sub: "u1".into(),
            below: 3,
        }));
        assert!(view.is_revoked(&claims("u1", "s1", 2), NOW));
        assert!(
            !view.is_revoked(&claims("u1", "s1", 3), NOW),
            "issued after the bump"
        );
        assert!(!view.is_revoked(&claims("u2", "s2", 0), NOW));
        // An older bump arriving late does not narrow it.
        view.apply(&revocation(Revoked::Versions {
            sub: "u1".into(),
            below: 1,
        }));
        assert!(view.is_revoked(&claims("u1", "s1", 2), NOW));
        // Account deleted: every token of the user.
        view.apply(&revocation(Revoked::Versions {
            sub: "u1".into(),
            below: u64::MAX,
        }));
        assert!(view.is_revoked(&claims("u1", "s9", 1_000), NOW));
    }

    #[test]
    fn a_revoked_token_stops_only_itself() {
        let view = RevocationView::new();
        let one = claims("u1", "s1", 0);
        let sibling = claims("u1", "s1", 0);
        view.apply(&revocation(Revoked::Token {
            jti: one.jti.clone(),
        }));
        assert!(view.is_revoked(&one, NOW));
        assert!(
            !view.is_revoked(&sibling, NOW),
            "another jti of the same session"
        );
    }

    #[test]
    fn entries_stop_mattering_at_until_and_are_swept() {
        let view = RevocationView::new();
        let mine = claims("u1", "s1", 0);
        for revoked in [
            Revoked::Session { sid: "s1".into() },
            Revoked::Versions {
                sub: "u1".into(),
                below: 5,
            },
            Revoked::Token {
                jti: mine.jti.clone(),
            },
        ] {
            view.apply(&revocation(revoked));
        }
        assert_eq!(view.len(), 3);
        assert!(view.is_revoked(&mine, NOW + 629));
        assert!(!view.is_revoked(&mine, NOW + 630), "ignored once expired");
        assert_eq!(view.sweep(NOW + 629), 3);
        assert_eq!(view.sweep(NOW + 630), 0);
        assert!(view.is_empty());
    }

    #[test]
    fn a_later_until_extends_an_entry() {
        let view = RevocationView::new();
        let mine = claims("u1", "s1", 0);
        view.apply(&revocation(Revoked::Session { sid: "s1".into() }));
        view.apply(&Revocation {
            revoked: Revoked::Session { sid: "s1".into() },
            until: NOW + 10,
        });
        assert!(
            view.is_revoked(&mine, NOW + 600),
            "the earlier until does not shorten it"
        );
    }

    #[test]
    fn heard_at_only_moves_forward() {
        let view = RevocationView::new();
        assert_eq!(view.heard_at(), None);
        view.heard(NOW);
        view.heard(NOW - 5);
        assert_eq!(view.heard_at(), Some(NOW));
    }

    #[test]
    fn a_stale_view_refuses_only_under_the_reject_policy() {
        let mine = claims("u1", "s1", 0);
        let serve = RevocationView::with_staleness(Staleness {
            max_secs: 30,
            reject: false,
        });
        let reject = RevocationView::with_staleness(Staleness {
            max_secs: 30,
            reject: true,
        });
        for view in [&serve, &reject] {
            assert!(view.is_stale(NOW), "never heard: stale");
            view.heard(NOW);
            assert!(!view.is_stale(NOW + 30));
            assert!(view.is_stale(NOW + 31));
        }
        assert_eq!(serve.verdict(&mine, NOW + 31), Verdict::Valid);
        assert_eq!(reject.verdict(&mine, NOW + 30), Verdict::Valid);
        assert_eq!(reject.verdict(&mine, NOW + 31), Verdict::Stale);
        serve.apply(&revocation(Revoked::Session { sid: "s1".into() }));
        assert_eq!(serve.verdict(&mine, NOW + 31), Verdict::Revoked);
    }

    #[test]
    fn an_in_process_view_is_never_stale() {
        let view = RevocationView::in_process();
        assert!(!view.is_stale(NOW));
        assert!(!view.is_stale(u64::MAX));
    }

    #[test]
    fn revocations_travel_as_tagged_json() {
        let entry = revocation(Revoked::Versions {
            sub: "u1".into(),
            below: 4,
        });
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "versions", "sub": "u1", "below": 4, "until": NOW + 630})
        );
        assert_eq!(serde_json::from_value::<Revocation>(json).unwrap(), entry);
    }
}
