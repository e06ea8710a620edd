//! The embedded store: users, sessions and counters in this process's memory, gone at
//! restart. For `make run` and single-instance trials only (the service says so loudly).
//! One mutex makes every operation atomic, mirroring the Redis scripts step for step;
//! revocations go straight into this process's view, under the same lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use auth_core::{RevocationView, Revoked, Role};

use super::{
    window, AuthStore, Backoff, Grant, Hits, NewSession, PendingPurge, Revoking, RotateRequest,
    Rotation, SessionInfo, StoreError, User,
};
use crate::refresh::SessionId;

/// Every this many session creations, expired sessions and stale counters are swept.
const SWEEP_EVERY: u64 = 256;

#[derive(Debug, Default)]
struct State {
    users: HashMap<String, User>,
    /// Lower-cased username → user id.
    names: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    /// Counter key → (window length, window index, count).
    hits: HashMap<String, (u64, u64, u64)>,
    /// User id → (next attempt, attempts so far).
    purges: HashMap<String, (u64, u32)>,
    created: u64,
}

#[derive(Clone, Debug)]
struct Session {
    user_id: String,
    current: String,
    previous: String,
    generation: u64,
    ver: u64,
    created_at: u64,
    last_used_at: u64,
    rotated_at: u64,
    absolute_expiry: u64,
    idle_secs: u64,
    user_agent: String,
    ip: String,
}

impl Session {
    fn is_live(&self, now: u64) -> bool {
        now < self.absolute_expiry && now < self.last_used_at.saturating_add(self.idle_secs)
    }

    fn remaining(&self, now: u64, idle_secs: u64) -> u64 {
        self.absolute_expiry
            .min(self.last_used_at.saturating_add(idle_secs))
            .saturating_sub(now)
    }
}

/// Users, sessions and counters in memory.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    revoked: Arc<RevocationView>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            state: Mutex::default(),
            revoked: Arc::new(RevocationView::in_process()),
        }
    }

    /// Records a revocation; callers hold the state lock, so it lands with its cause.
    fn revoke(&self, at: Revoking, revoked: Revoked) {
        self.revoked.sweep(at.now);
        self.revoked.apply(&at.entry(revoked));
    }

    /// Every mutation completes under the lock before it is released, so a poisoned lock
    /// still guards consistent data.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn end_sessions_of(&mut self, user_id: &str, keep: Option<&str>) {
        self.sessions
            .retain(|sid, session| session.user_id != user_id || Some(sid.as_str()) == keep);
    }

    fn sweep(&mut self, now: u64) {
        self.sessions.retain(|_, session| session.is_live(now));
        self.hits
            .retain(|_, (window_secs, index, _)| *index == now / *window_secs);
    }
}

#[async_trait]
impl AuthStore for MemoryStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut state = self.state();
        let name = user.username.to_ascii_lowercase();
        if state.names.contains_key(&name) {
            return Err(StoreError::UsernameTaken);
        }
        state.names.insert(name, user.id.clone());
        state.users.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let state = self.state();
        let id = state.names.get(&username.to_ascii_lowercase());
        Ok(id.and_then(|id| state.users.get(id)).cloned())
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.state().users.get(id).cloned())
    }

    async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        bump_version: bool,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(user) = state.users.get_mut(user_id) else {
            return Ok(false);
        };
        user.role = role;
        if bump_version {
            user.ver += 1;
            let below = user.ver;
            self.revoke(at, versions(user_id, below));
        }
        Ok(true)
    }

    async fn set_password(
        &self,
        checked: &User,
        hash: &str,
        keep: &SessionId,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        let user_id = checked.id.as_str();
        let mut state = self.state();
        let Some(user) = state.users.get_mut(user_id) else {
            return Ok(false);
        };
        if user.ver != checked.ver {
            return Ok(false);
        }
        hash.clone_into(&mut user.password_hash);
        user.ver += 1;
        let ver = user.ver;
        self.revoke(at, versions(user_id, ver));
        state.end_sessions_of(user_id, Some(keep.as_str()));
        if let Some(session) = state.sessions.get_mut(keep.as_str()) {
            session.ver = ver;
        }
        Ok(true)
    }

    async fn end_all_sessions(&self, user_id: &str, at: Revoking) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(user) = state.users.get_mut(user_id) {
            user.ver += 1;
            let below = user.ver;
            self.revoke(at, versions(user_id, below));
        }
        state.end_sessions_of(user_id, None);
        Ok(())
    }

    async fn create_session(&self, new: &NewSession) -> Result<Option<Grant>, StoreError> {
        let mut state = self.state();
        state.created += 1;
        if state.created % SWEEP_EVERY == 0 {
            state.sweep(new.now);
        }
        let user_id = new.sid.user().to_string();
        let Some(user) = state.users.get(&user_id) else {
            return Ok(None);
        };
        if user.ver != new.ver {
            return Ok(None);
        }
        let grant = Grant {
            role: user.role,
            ver: user.ver,
            refresh_expires_in: 0,
        };
        let session = Session {
            user_id,
            current: new.secret_hash.clone(),
            previous: String::new(),
            generation: 0,
            ver: user.ver,
            created_at: new.now,
            last_used_at: new.now,
            rotated_at: 0,
            absolute_expiry: new.absolute_expiry,
            idle_secs: new.idle_secs,
            user_agent: new.user_agent.clone(),
            ip: new.ip.clone(),
        };
        let refresh_expires_in = session.remaining(new.now, new.idle_secs);
        state.sessions.insert(new.sid.as_str().to_owned(), session);
        Ok(Some(Grant {
            refresh_expires_in,
            ..grant
        }))
    }

    async fn rotate(&self, request: &RotateRequest<'_>) -> Result<Rotation, StoreError> {
        let mut state = self.state();
        let sid = request.sid.as_str();
        let Some(session) = state.sessions.get(sid).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let now = request.now;
        let user = state.users.get(&session.user_id).cloned();
        let Some(user) = user.filter(|user| user.ver == session.ver) else {
            state.sessions.remove(sid);
            return Ok(Rotation::Revoked);
        };
        if now >= session.absolute_expiry
            || now >= session.last_used_at.saturating_add(request.idle_secs)
        {
            state.sessions.remove(sid);
            return Ok(Rotation::Expired);
        }
        if request.presented_hash == session.current {
            let Some(live) = state.sessions.get_mut(sid) else {
                return Ok(Rotation::Unknown);
            };
            live.previous = std::mem::replace(&mut live.current, request.successor_hash.to_owned());
            live.generation += 1;
            live.last_used_at = now;
            live.rotated_at = now;
            let refresh_expires_in = live.remaining(now, request.idle_secs);
            return Ok(Rotation::Rotated(Grant {
                role: user.role,
                ver: user.ver,
                refresh_expires_in,
            }));
        }
        if !session.previous.is_empty() && request.presented_hash == session.previous {
            let in_grace = request.grace_secs > 0
                && now.saturating_sub(session.rotated_at) <= request.grace_secs
                && request.successor_hash == session.current;
            if in_grace {
                return Ok(Rotation::Grace(Grant {
                    role: user.role,
                    ver: user.ver,
                    refresh_expires_in: session.remaining(now, request.idle_secs),
                }));
            }
            state.sessions.remove(sid);
            let at = Revoking {
                now,
                until: request.revoke_until,
            };
            self.revoke(at, session_of(sid));
            return Ok(Rotation::Reused);
        }
        Ok(Rotation::Mismatch {
            generation: session.generation,
            current_hash: session.current,
        })
    }

    async fn end_session(&self, sid: &SessionId, at: Revoking) -> Result<bool, StoreError> {
        let mut state = self.state();
        let ended = state.sessions.remove(sid.as_str()).is_some();
        if ended {
            self.revoke(at, session_of(sid.as_str()));
        }
        Ok(ended)
    }

    async fn logout(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let matches = state.sessions.get(sid.as_str()).is_some_and(|session| {
            session.current == secret_hash
                || (!session.previous.is_empty() && session.previous == secret_hash)
        });
        if matches {
            state.sessions.remove(sid.as_str());
            self.revoke(at, session_of(sid.as_str()));
        }
        Ok(matches)
    }

    async fn revoke_token(&self, jti: &str, at: Revoking) -> Result<(), StoreError> {
        let _state = self.state();
        self.revoke(
            at,
            Revoked::Token {
                jti: jti.to_owned(),
            },
        );
        Ok(())
    }

    fn in_process_view(&self) -> Option<Arc<RevocationView>> {
        Some(self.revoked.clone())
    }

    async fn live_until(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<u64>, StoreError> {
        let state = self.state();
        let Some(session) = state.sessions.get(sid.as_str()) else {
            return Ok(None);
        };
        let current_version = state
            .users
            .get(&session.user_id)
            .is_some_and(|user| user.ver == session.ver);
        let remaining = session.remaining(now, idle_secs);
        Ok(
            (current_version && session.current == secret_hash && remaining > 0)
                .then_some(now + remaining),
        )
    }

    async fn sessions(
        &self,
        user_id: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let state = self.state();
        let mut sessions: Vec<SessionInfo> = state
            .sessions
            .iter()
            .filter(|(_, s)| s.user_id == user_id && s.remaining(now, idle_secs) > 0)
            .map(|(sid, s)| SessionInfo {
                id: sid.clone(),
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                user_agent: s.user_agent.clone(),
                ip: s.ip.clone(),
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(sessions)
    }

    async fn delete_user(&self, checked: &User, at: Revoking) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state
            .users
            .get(&checked.id)
            .is_some_and(|user| user.ver != checked.ver)
        {
            return Ok(false);
        }
        if state.users.remove(&checked.id).is_some() {
            self.revoke(at, versions(&checked.id, u64::MAX));
        }
        state.end_sessions_of(&checked.id, None);
        let name = checked.username.to_ascii_lowercase();
        if state.names.get(&name) == Some(&checked.id) {
            state.names.remove(&name);
        }
        Ok(true)
    }

    async fn enqueue_purge(&self, user_id: &str, now: u64) -> Result<(), StoreError> {
        self.state()
            .purges
            .entry(user_id.to_owned())
            .or_insert((now, 0));
        Ok(())
    }

    async fn claim_purges(
        &self,
        now: u64,
        backoff: Backoff,
        limit: usize,
    ) -> Result<Vec<PendingPurge>, StoreError> {
        let mut state = self.state();
        let mut due: Vec<(u64, String)> = state
            .purges
            .iter()
            .filter(|(_, (next, _))| *next <= now)
            .map(|(id, (next, _))| (*next, id.clone()))
            .collect();
        due.sort();
        due.truncate(limit);
        Ok(due
            .into_iter()
            .map(|(_, user_id)| {
                let entry = state.purges.entry(user_id.clone()).or_insert((now, 0));
                entry.1 += 1;
                entry.0 = now.saturating_add(backoff.after(entry.1));
                PendingPurge {
                    user_id,
                    attempts: entry.1,
                }
            })
            .collect())
    }

    async fn purge_done(&self, user_id: &str) -> Result<(), StoreError> {
        self.state().purges.remove(user_id);
        Ok(())
    }

    async fn pending_purges(&self) -> Result<usize, StoreError> {
        Ok(self.state().purges.len())
    }

    async fn hit(&self, key: &str, window_secs: u64, now: u64) -> Result<Hits, StoreError> {
        let (index, resets_in) = window(now, window_secs);
        let mut state = self.state();
        let entry = state
            .hits
            .entry(key.to_owned())
            .or_insert((window_secs, index, 0));
        if (entry.0, entry.1) != (window_secs, index) {
            *entry = (window_secs, index, 0);
        }
        entry.2 += 1;
        Ok(Hits {
            count: entry.2,
            resets_in,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn session_of(sid: &str) -> Revoked {
    Revoked::Session {
        sid: sid.to_owned(),
    }
}

/// The user's tokens below version `below` (`u64::MAX`: all of them).
fn versions(user_id: &str, below: u64) -> Revoked {
    Revoked::Versions {
        sub: user_id.to_owned(),
        below,
    }
}
