//! Users, sessions (refresh-token families) and rate-limit counters behind [`AuthStore`]:
//! Redis (shared by every instance) or in memory (the embedded default, one instance only).
//! Both pass the same behavioural test suite; every multi-key step is atomic in both.

mod lua;
mod measured;
mod memory;
mod redis;

pub use self::measured::Measured;
pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{Revocation, RevocationView, Revoked, Role};
use service_kit::redis::RedisSetupError;
use thiserror::Error;

use crate::config::{Settings, ENV_PREFIX};
use crate::refresh::SessionId;

/// The configured store: Redis if the settings name one (`AUTH__REDIS__URL`, a cluster or
/// Sentinels), else in memory (and says
/// loudly that this is for one instance only).
pub fn configured(settings: &Settings) -> Result<Arc<dyn AuthStore>, RedisSetupError> {
    let prefix = &settings.redis.key_prefix;
    service_kit::redis::store_or_memory(
        &settings.redis,
        ENV_PREFIX,
        "store",
        |redis| Arc::new(RedisStore::new(redis, prefix)) as Arc<dyn AuthStore>,
        || Arc::new(MemoryStore::new()),
    )
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Registration lost: the name (case-insensitively) is taken.
    #[error("username taken")]
    UsernameTaken,
    /// The backing store could not be reached or answered wrongly.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Unavailable(Box::new(err))
    }
}

/// How long the revocation a write makes matters: until `until` (the longest life of an
/// access token issued before `now`, plus the leeway); `now` lets the store drop entries
/// that stopped mattering. Every write that revokes access tokens records one entry (Redis:
/// in a second step right after the change, see `store::lua`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revoking {
    pub now: u64,
    pub until: u64,
}

impl Revoking {
    /// A revocation made at `now` under `settings`: it matters for the access-token
    /// lifetime plus the verification leeway.
    pub fn at(settings: &Settings, now: u64) -> Revoking {
        Revoking {
            now,
            until: now
                .saturating_add(settings.access_ttl_secs)
                .saturating_add(settings.jwt.leeway_secs),
        }
    }

    pub fn entry(&self, revoked: Revoked) -> Revocation {
        Revocation {
            revoked,
            until: self.until,
        }
    }
}

/// A user record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// UUID (v4), the `sub` of the user's tokens.
    pub id: String,
    /// As registered (display case).
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    /// Token version: sessions issued under an older one cannot refresh. Every password
    /// change bumps it too, so it also stamps the credential: a write that follows a
    /// password check is made conditional on the version the check saw.
    pub ver: u64,
    pub created_at: u64,
}

/// A session to create at login.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub sid: SessionId,
    pub secret_hash: String,
    pub now: u64,
    /// Absolute end of the family: `now + absolute lifetime`.
    pub absolute_expiry: u64,
    pub idle_secs: u64,
    pub user_agent: String,
    pub ip: String,
    /// The token version of the user record whose password was checked: the session is
    /// created only if the user's version is still this one, so a login racing a password
    /// change or logout-all cannot outlive it.
    pub ver: u64,
}

/// What a session grants at creation or rotation: the user's role and token version *now*
/// (so role changes apply at the next refresh), and the refresh token's remaining life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub ver: u64,
    pub refresh_expires_in: u64,
}

/// One refresh attempt.
#[derive(Clone, Debug)]
pub struct RotateRequest<'a> {
    pub sid: &'a SessionId,
    pub presented_hash: &'a str,
    /// Hash of the successor derived from the presented token.
    pub successor_hash: &'a str,
    pub now: u64,
    pub grace_secs: u64,
    pub idle_secs: u64,
    /// Until when the session's revocation matters, should reuse be detected.
    pub revoke_until: u64,
}

/// The outcome of a refresh attempt, decided atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The current token: the family moved on to the successor.
    Rotated(Grant),
    /// The just-spent token within the grace window: the successor is already current.
    Grace(Grant),
    /// No such session (never existed, logged out, revoked, expired and collected).
    Unknown,
    /// Past its idle or absolute lifetime: now deleted.
    Expired,
    /// Issued under an older token version (logout-all, password change, role removal):
    /// now deleted.
    Revoked,
    /// The just-spent token after the grace window: the family is now deleted.
    Reused,
    /// Neither the current nor the just-spent secret. The caller decides whether it is an
    /// older token of this family (reuse) or a guess (nothing happens).
    Mismatch {
        generation: u64,
        current_hash: String,
    },
}

/// A session as listed to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: u64,
    pub last_used_at: u64,
    pub user_agent: String,
    pub ip: String,
}

/// A fixed-window counter after one more hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hits {
    pub count: u64,
    /// Seconds until the window resets.
    pub resets_in: u64,
}

/// A deleted account whose data in other services is still to be purged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPurge {
    pub user_id: String,
    /// Attempts so far, this claim included.
    pub attempts: u32,
}

/// When a claimed purge may be tried again: `base_secs · 2^(attempts − 1)`, at most
/// `max_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base_secs: u64,
    pub max_secs: u64,
}

impl Backoff {
    pub fn after(&self, attempts: u32) -> u64 {
        let factor = 1u64
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(u64::MAX);
        self.base_secs.saturating_mul(factor).min(self.max_secs)
    }
}

#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Stores a new user unless the name is taken (case-insensitively).
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// Looks a user up by name, case-insensitively.
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Sets the role; with `bump_version`, every existing session must log in again and
    /// the user's older access tokens are revoked. `false` if there is no such user.
    async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        bump_version: bool,
        at: Revoking,
    ) -> Result<bool, StoreError>;
    /// Replaces the password hash, bumps the token version and ends every session but
    /// `keep` (which moves to the new version) — only if the user's version is still
    /// `checked.ver` (the record the current password was checked against). `false`, and
    /// nothing changed, if the user is gone or its version moved on. Revokes the user's
    /// access tokens below the new version.
    async fn set_password(
        &self,
        checked: &User,
        hash: &str,
        keep: &SessionId,
        at: Revoking,
    ) -> Result<bool, StoreError>;
    /// Bumps the token version, ends every session of the user and revokes its access
    /// tokens below the new version.
    async fn end_all_sessions(&self, user_id: &str, at: Revoking) -> Result<(), StoreError>;

    /// Starts a family; `None`, and nothing created, if the user no longer exists or its
    /// token version is no longer `session.ver`.
    async fn create_session(&self, session: &NewSession) -> Result<Option<Grant>, StoreError>;
    /// One atomic refresh decision (see [`Rotation`]); `Reused` revokes the session's
    /// access tokens.
    async fn rotate(&self, request: &RotateRequest<'_>) -> Result<Rotation, StoreError>;
    /// Ends a session whatever its state and revokes its access tokens; `false` (nothing
    /// revoked) if it did not exist.
    async fn end_session(&self, sid: &SessionId, at: Revoking) -> Result<bool, StoreError>;
    /// Ends a session, and revokes its access tokens, if `secret_hash` is its current or
    /// just-spent secret (logout); `false` if it did not (nothing changed).
    async fn logout(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        at: Revoking,
    ) -> Result<bool, StoreError>;
    /// Revokes one access token by its `jti` (RFC 7009), until `at.until`.
    async fn revoke_token(&self, jti: &str, at: Revoking) -> Result<(), StoreError>;
    /// The view this store itself writes revocations into, if it lives in this process
    /// (the in-memory store); `None` for a shared store, whose revocations reach every
    /// instance's view through the feed.
    fn in_process_view(&self) -> Option<Arc<RevocationView>> {
        None
    }
    /// Gives a shared store this instance's feed-fed view, so the revocations it records
    /// also apply there at once (the instance that revoked refuses the tokens before its
    /// answer, without waiting for its own feed); other instances learn through the feed.
    fn apply_own_revocations(&self, _view: Arc<RevocationView>) {}
    /// When the session ends (the earlier of its absolute end and `idle_secs` after its
    /// last use) if it is live at `now`, `secret_hash` is its current secret and it was
    /// issued under the user's current token version; else `None` (introspection).
    async fn live_until(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<u64>, StoreError>;
    /// The user's live sessions, oldest first.
    async fn sessions(
        &self,
        user_id: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Vec<SessionInfo>, StoreError>;

    /// Deletes the user, every session and the username (which becomes free again) — only
    /// if the user's token version is still `checked.ver`. `true` when the account is gone
    /// (deleted now, or already), `false`, and nothing changed, if its version moved on.
    /// A name left behind by an earlier deletion is freed again (if still this user's).
    /// Deleting revokes every access token of the user.
    async fn delete_user(&self, checked: &User, at: Revoking) -> Result<bool, StoreError>;
    /// Records that `user_id`'s data elsewhere must be purged, due at `now`. Idempotent.
    async fn enqueue_purge(&self, user_id: &str, now: u64) -> Result<(), StoreError>;
    /// Claims up to `limit` purges due at `now`, oldest first: each one's next attempt moves
    /// `backoff.after(attempts)` ahead, so a purge that fails (or whose claimer dies) comes
    /// round again later, and another instance leaves it alone meanwhile.
    async fn claim_purges(
        &self,
        now: u64,
        backoff: Backoff,
        limit: usize,
    ) -> Result<Vec<PendingPurge>, StoreError>;
    /// Forgets a purge that succeeded.
    async fn purge_done(&self, user_id: &str) -> Result<(), StoreError>;
    /// How many purges are not done yet.
    async fn pending_purges(&self) -> Result<usize, StoreError>;

    /// Counts one hit of `key` in the fixed window of `window_secs` containing `now`.
    async fn hit(&self, key: &str, window_secs: u64, now: u64) -> Result<Hits, StoreError>;
    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The window index and the seconds left in it.
pub(crate) fn window(now: u64, window_secs: u64) -> (u64, u64) {
    let index = now / window_secs;
    (index, (index + 1) * window_secs - now)
}
