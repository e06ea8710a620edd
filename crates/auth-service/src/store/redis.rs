//! The Redis store. Every key of one user shares the hash tag `{u:<user id>}`, so each
//! script below touches one Cluster slot:
//! - `<prefix>{u:<id>}:user`: HASH id, username, password_hash, role, ver, created_at
//!   (user data: no TTL);
//! - `<prefix>{u:<id>}:session:<sid>`: HASH cur, prev (secret hashes), gen, ver,
//!   created_at, last_used_at, rotated_at, abs_exp, ua, ip — TTL = remaining life;
//! - `<prefix>{u:<id>}:sessions`: ZSET sid → absolute expiry, TTL = the latest expiry;
//! - `<prefix>{n:<lower-cased name>}:user_id`: STRING, the username index (`SET NX`);
//! - `<prefix>{rl:<key>}:<window>`: rate-limit counters, TTL = the window;
//! - `<prefix>{purge}:pending`: ZSET user id → next attempt, and `<prefix>{purge}:attempts`:
//!   HASH user id → attempts — deleted accounts whose tasks are still to be purged;
//! - `<prefix>{rev}:log`: ZSET revocation entry (JSON) → its `until`, trimmed on every
//!   write, and the channel `<prefix>{rev}:feed` each entry is published on (see
//!   `service_kit::revocation`, which follows both).
//!
//! `{purge}` and `{rev}` are one slot each on a cluster, by design: one queue and one log
//! every instance reads whole. Their write rates are those of account deletions and of
//! revocations (logouts, password changes, reuse), orders of magnitude below refreshes,
//! and each entry is small and trimmed once it no longer matters; the refresh path never
//! touches them.
//!
//! Scripts are loaded once and run by SHA (`EVALSHA`, reloaded after a Redis restart).
//! Times are passed in from the service's clock; TTLs only collect garbage, the scripts'
//! own comparisons decide expiry.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use auth_core::{Revocation, RevocationView, Revoked, Role};
use redis::Script;
use service_kit::redis::{Connection, RedisConn};

use super::lua::{
    CLAIM_PURGES, CREATE_SESSION, DELETE_USER, END_ALL, END_SESSION, ENTRIES, FREE_NAME, HIT,
    LOGOUT, RECORD, ROTATE, SET_PASSWORD, SET_ROLE,
};
use super::{
    window, AuthStore, Backoff, Grant, Hits, NewSession, PendingPurge, Revoking, RotateRequest,
    Rotation, SessionInfo, StoreError, User,
};
use crate::refresh::SessionId;

/// Users, sessions and counters in Redis.
#[derive(Debug)]
pub struct RedisStore {
    redis: RedisConn,
    prefix: String,
    /// The revocation log and channel.
    log: String,
    channel: String,
    create_session: Script,
    rotate: Script,
    end_session: Script,
    logout: Script,
    end_all: Script,
    set_password: Script,
    set_role: Script,
    hit: Script,
    delete_user: Script,
    free_name: Script,
    claim_purges: Script,
    record: Script,
    /// This instance's view (see [`AuthStore::apply_own_revocations`]).
    own_view: OnceLock<Arc<RevocationView>>,
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::unavailable(err)
}

fn bad_reply(what: &'static str) -> StoreError {
    StoreError::Unavailable(what.into())
}

fn number(text: Option<&String>) -> Result<u64, StoreError> {
    text.and_then(|t| t.parse().ok())
        .ok_or_else(|| bad_reply("malformed number in a Redis reply"))
}

impl RedisStore {
    /// A store over `redis`, every key under `prefix`.
    pub fn new(redis: RedisConn, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let revoking = |script: &str| Script::new(&format!("{ENTRIES}{script}"));
        RedisStore {
            redis,
            log: service_kit::revocation::log_key(&prefix),
            channel: service_kit::revocation::channel(&prefix),
            prefix,
            create_session: Script::new(CREATE_SESSION),
            rotate: revoking(ROTATE),
            end_session: revoking(END_SESSION),
            logout: revoking(LOGOUT),
            end_all: revoking(END_ALL),
            set_password: revoking(SET_PASSWORD),
            set_role: revoking(SET_ROLE),
            hit: Script::new(HIT),
            delete_user: revoking(DELETE_USER),
            free_name: Script::new(FREE_NAME),
            claim_purges: Script::new(CLAIM_PURGES),
            record: Script::new(RECORD),
            own_view: OnceLock::new(),
        }
    }

    async fn con(&self) -> Result<Connection, StoreError> {
        self.redis.connection().await.map_err(unavailable)
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}{{u:{user_id}}}:user", self.prefix)
    }

    fn index_key(&self, user_id: &str) -> String {
        format!("{}{{u:{user_id}}}:sessions", self.prefix)
    }

    fn session_key(&self, user_id: &str, sid: &str) -> String {
        format!("{}{{u:{user_id}}}:session:{sid}", self.prefix)
    }

    fn sid_key(&self, sid: &SessionId) -> String {
        self.session_key(&sid.user().to_string(), sid.as_str())
    }

    fn purge_keys(&self) -> (String, String) {
        (
            format!("{}{{purge}}:pending", self.prefix),
            format!("{}{{purge}}:attempts", self.prefix),
        )
    }

    fn name_key(&self, username: &str) -> String {
        format!(
            "{}{{n:{}}}:user_id",
            self.prefix,
            username.to_ascii_lowercase()
        )
    }

    /// The second step of a revocation (see [`super::lua`]): appends `entry` to the log and
    /// publishes it.
    async fn record(
        &self,
        con: &mut Connection,
        at: Revoking,
        entry: &str,
    ) -> Result<(), StoreError> {
        self.record
            .key(&self.log)
            .arg(&self.channel)
            .arg(entry)
            .arg(at.now)
            .arg(at.until)
            .invoke_async::<i64>(con)
            .await
            .map_err(unavailable)?;
        if let Some(view) = self.own_view.get() {
            if let Ok(revocation) = serde_json::from_str::<Revocation>(entry) {
                view.apply(&revocation);
            }
        }
        Ok(())
    }

    /// Records `entry` if the user's script returned one; whether it did.
    async fn record_any(
        &self,
        con: &mut Connection,
        at: Revoking,
        entry: Option<String>,
    ) -> Result<bool, StoreError> {
        match entry {
            Some(entry) => self.record(con, at, &entry).await.map(|()| true),
            None => Ok(false),
        }
    }

    async fn session_ids(
        &self,
        con: &mut Connection,
        user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        redis::cmd("ZRANGE")
            .arg(self.index_key(user_id))
            .arg(0)
            .arg(-1)
            .query_async(con)
            .await
            .map_err(unavailable)
    }
}

/// The JSON of a revocation entry, as the feed reads it.
fn entry_json(at: Revoking, revoked: Revoked) -> Result<String, StoreError> {
    serde_json::to_string(&at.entry(revoked)).map_err(StoreError::unavailable)
}

fn user_from(fields: HashMap<String, String>) -> Result<Option<User>, StoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let text = |name: &str| {
        fields
            .get(name)
            .cloned()
            .ok_or_else(|| bad_reply("user record lacks a field"))
    };
    Ok(Some(User {
        id: text("id")?,
        username: text("username")?,
        password_hash: text("password_hash")?,
        role: role(fields.get("role"))?,
        ver: number(fields.get("ver"))?,
        created_at: number(fields.get("created_at"))?,
    }))
}

fn role(text: Option<&String>) -> Result<Role, StoreError> {
    text.and_then(|text| Role::parse(text))
        .ok_or_else(|| bad_reply("no known role"))
}

fn grant_from(reply: &[String]) -> Result<Grant, StoreError> {
    Ok(Grant {
        role: role(reply.first())?,
        ver: number(reply.get(1))?,
        refresh_expires_in: number(reply.get(2))?,
    })
}

#[async_trait]
impl AuthStore for RedisStore {
    /// The user record first (its key is new and unique), then the name with `SET NX`; if
    /// the name is taken the record is deleted again. A crash between the two leaves an
    /// unreachable record, never a name that points nowhere.
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        let user_key = self.user_key(&user.id);
        redis::cmd("HSET")
            .arg(&user_key)
            .arg(&[
                ("id", user.id.as_str()),
                ("username", user.username.as_str()),
                ("password_hash", user.password_hash.as_str()),
                ("role", user.role.as_str()),
            ])
            .arg(&[("ver", user.ver), ("created_at", user.created_at)])
            .query_async::<()>(&mut con)
            .await
            .map_err(unavailable)?;
        let claimed: Option<String> = redis::cmd("SET")
            .arg(self.name_key(&user.username))
            .arg(&user.id)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        if claimed.is_none() {
            redis::cmd("DEL")
                .arg(&user_key)
                .query_async::<()>(&mut con)
                .await
                .map_err(unavailable)?;
            return Err(StoreError::UsernameTaken);
        }
        Ok(())
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let mut con = self.con().await?;
        let id: Option<String> = redis::cmd("GET")
            .arg(self.name_key(username))
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        match id {
            Some(id) => self.user_by_id(&id).await,
            None => Ok(None),
        }
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let mut con = self.con().await?;
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.user_key(id))
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        user_from(fields)
    }

    async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        bump_version: bool,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        let mut con = self.con().await?;
        let done: Option<String> = self
            .set_role
            .key(self.user_key(user_id))
            .arg(role.as_str())
            .arg(if bump_version { "1" } else { "0" })
            .arg(user_id)
            .arg(at.until)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        let found = done.is_some();
        let revoked = done.filter(|entry| !entry.is_empty());
        self.record_any(&mut con, at, revoked).await?;
        Ok(found)
    }

    async fn set_password(
        &self,
        checked: &User,
        hash: &str,
        keep: &SessionId,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        let user_id = checked.id.as_str();
        let mut con = self.con().await?;
        let others: Vec<String> = self
            .session_ids(&mut con, user_id)
            .await?
            .into_iter()
            .filter(|sid| sid != keep.as_str())
            .collect();
        let mut invocation = self.set_password.prepare_invoke();
        invocation
            .key(self.user_key(user_id))
            .key(self.index_key(user_id))
            .key(self.session_key(user_id, keep.as_str()))
            .arg(hash)
            .arg(checked.ver)
            .arg(user_id)
            .arg(at.until);
        for sid in &others {
            invocation.key(self.session_key(user_id, sid)).arg(sid);
        }
        let entry: Option<String> = invocation
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        self.record_any(&mut con, at, entry).await
    }

    async fn end_all_sessions(&self, user_id: &str, at: Revoking) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        let sids = self.session_ids(&mut con, user_id).await?;
        let mut invocation = self.end_all.prepare_invoke();
        invocation
            .key(self.user_key(user_id))
            .key(self.index_key(user_id))
            .arg(user_id)
            .arg(at.until);
        for sid in &sids {
            invocation.key(self.session_key(user_id, sid));
        }
        let entry: Option<String> = invocation
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        self.record_any(&mut con, at, entry).await?;
        Ok(())
    }

    async fn create_session(&self, new: &NewSession) -> Result<Option<Grant>, StoreError> {
        let mut con = self.con().await?;
        let user_id = new.sid.user().to_string();
        let reply: Option<Vec<String>> = self
            .create_session
            .key(self.user_key(&user_id))
            .key(self.sid_key(&new.sid))
            .key(self.index_key(&user_id))
            .arg(new.sid.as_str())
            .arg(&new.secret_hash)
            .arg(new.now)
            .arg(new.absolute_expiry)
            .arg(new.idle_secs)
            .arg(&new.user_agent)
            .arg(&new.ip)
            .arg(new.ver)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        reply.as_deref().map(grant_from).transpose()
    }

    async fn rotate(&self, request: &RotateRequest<'_>) -> Result<Rotation, StoreError> {
        let mut con = self.con().await?;
        let user_id = request.sid.user().to_string();
        let reply: Vec<String> = self
            .rotate
            .key(self.sid_key(request.sid))
            .key(self.user_key(&user_id))
            .key(self.index_key(&user_id))
            .arg(request.presented_hash)
            .arg(request.successor_hash)
            .arg(request.now)
            .arg(request.grace_secs)
            .arg(request.idle_secs)
            .arg(request.sid.as_str())
            .arg(request.revoke_until)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        let (outcome, rest) = reply
            .split_first()
            .ok_or_else(|| bad_reply("empty rotation reply"))?;
        Ok(match outcome.as_str() {
            "rotated" => Rotation::Rotated(grant_from(rest)?),
            "grace" => Rotation::Grace(grant_from(rest)?),
            "unknown" => Rotation::Unknown,
            "expired" => Rotation::Expired,
            "revoked" => Rotation::Revoked,
            "reused" => {
                let entry = rest
                    .first()
                    .ok_or_else(|| bad_reply("reuse lacks its entry"))?;
                let at = Revoking {
                    now: request.now,
                    until: request.revoke_until,
                };
                self.record(&mut con, at, entry).await?;
                Rotation::Reused
            }
            "mismatch" => Rotation::Mismatch {
                generation: number(rest.first())?,
                current_hash: rest
                    .get(1)
                    .cloned()
                    .ok_or_else(|| bad_reply("mismatch lacks a hash"))?,
            },
            _ => return Err(bad_reply("unknown rotation outcome")),
        })
    }

    async fn end_session(&self, sid: &SessionId, at: Revoking) -> Result<bool, StoreError> {
        let mut con = self.con().await?;
        let entry: Option<String> = self
            .end_session
            .key(self.sid_key(sid))
            .key(self.index_key(&sid.user().to_string()))
            .arg(sid.as_str())
            .arg(at.until)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        self.record_any(&mut con, at, entry).await
    }

    async fn logout(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        let mut con = self.con().await?;
        let entry: Option<String> = self
            .logout
            .key(self.sid_key(sid))
            .key(self.index_key(&sid.user().to_string()))
            .arg(secret_hash)
            .arg(sid.as_str())
            .arg(at.until)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        self.record_any(&mut con, at, entry).await
    }

    async fn revoke_token(&self, jti: &str, at: Revoking) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        let entry = entry_json(
            at,
            Revoked::Token {
                jti: jti.to_owned(),
            },
        )?;
        self.record(&mut con, at, &entry).await
    }

    async fn live_until(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut con = self.con().await?;
        let ((cur, ver, last_used, abs), (user_ver,)): (
            (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            ),
            (Option<String>,),
        ) = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(self.sid_key(sid))
            .arg(&["cur", "ver", "last_used_at", "abs_exp"])
            .cmd("HMGET")
            .arg(self.user_key(&sid.user().to_string()))
            .arg("ver")
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        let (Some(cur), Some(ver), Some(last_used), Some(abs)) = (cur, ver, last_used, abs) else {
            return Ok(None);
        };
        if cur != secret_hash || user_ver.as_ref() != Some(&ver) {
            return Ok(None);
        }
        let ends = number(Some(&abs))?.min(number(Some(&last_used))?.saturating_add(idle_secs));
        Ok((now < ends).then_some(ends))
    }

    async fn sessions(
        &self,
        user_id: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let mut con = self.con().await?;
        let sids = self.session_ids(&mut con, user_id).await?;
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for sid in &sids {
            pipe.cmd("HMGET").arg(self.session_key(user_id, sid)).arg(&[
                "created_at",
                "last_used_at",
                "ua",
                "ip",
                "abs_exp",
            ]);
        }
        let rows: Vec<Vec<Option<String>>> =
            pipe.query_async(&mut con).await.map_err(unavailable)?;
        let mut live = Vec::with_capacity(sids.len());
        for (sid, row) in sids.into_iter().zip(rows) {
            let [Some(created), Some(last_used), Some(ua), Some(ip), Some(abs)] =
                <[Option<String>; 5]>::try_from(row).map_err(|_| bad_reply("short session row"))?
            else {
                continue; // collected by its TTL; its index entry goes at a login after its absolute expiry
            };
            let (created_at, last_used_at, absolute_expiry) = (
                number(Some(&created))?,
                number(Some(&last_used))?,
                number(Some(&abs))?,
            );
            if now < absolute_expiry && now < last_used_at.saturating_add(idle_secs) {
                live.push(SessionInfo {
                    id: sid,
                    created_at,
                    last_used_at,
                    user_agent: ua,
                    ip,
                });
            }
        }
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live)
    }

    async fn delete_user(&self, checked: &User, at: Revoking) -> Result<bool, StoreError> {
        let user = checked;
        let mut con = self.con().await?;
        let sids = self.session_ids(&mut con, &user.id).await?;
        // The account and its sessions first, in one step: a session created meanwhile
        // finds no user and refuses to refresh. Then its revocation and the name, each in
        // its own slot.
        let mut invocation = self.delete_user.prepare_invoke();
        invocation
            .key(self.user_key(&user.id))
            .key(self.index_key(&user.id))
            .arg(user.ver);
        for sid in &sids {
            invocation.key(self.session_key(&user.id, sid));
        }
        let gone: i64 = invocation
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        if gone == 0 {
            return Ok(false);
        }
        if gone == 2 {
            let every_version = Revoked::Versions {
                sub: user.id.clone(),
                below: u64::MAX,
            };
            self.record(&mut con, at, &entry_json(at, every_version)?)
                .await?;
        }
        self.free_name
            .key(self.name_key(&user.username))
            .arg(&user.id)
            .invoke_async::<i64>(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(true)
    }

    async fn enqueue_purge(&self, user_id: &str, now: u64) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        let (pending, _) = self.purge_keys();
        redis::cmd("ZADD")
            .arg(pending)
            .arg("NX")
            .arg(now)
            .arg(user_id)
            .query_async::<i64>(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn claim_purges(
        &self,
        now: u64,
        backoff: Backoff,
        limit: usize,
    ) -> Result<Vec<PendingPurge>, StoreError> {
        let mut con = self.con().await?;
        let (pending, attempts) = self.purge_keys();
        let reply: Vec<String> = self
            .claim_purges
            .key(pending)
            .key(attempts)
            .arg(now)
            .arg(limit)
            .arg(backoff.base_secs)
            .arg(backoff.max_secs)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        reply
            .chunks(2)
            .map(|pair| match pair {
                [user_id, attempts] => Ok(PendingPurge {
                    user_id: user_id.clone(),
                    attempts: attempts.parse().map_err(|_| bad_reply("purge attempts"))?,
                }),
                _ => Err(bad_reply("purge claim")),
            })
            .collect()
    }

    async fn purge_done(&self, user_id: &str) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        let (pending, attempts) = self.purge_keys();
        redis::pipe()
            .atomic()
            .zrem(pending, user_id)
            .hdel(attempts, user_id)
            .query_async::<()>(&mut con)
            .await
            .map_err(unavailable)
    }

    async fn pending_purges(&self) -> Result<usize, StoreError> {
        let mut con = self.con().await?;
        let (pending, _) = self.purge_keys();
        redis::cmd("ZCARD")
            .arg(pending)
            .query_async(&mut con)
            .await
            .map_err(unavailable)
    }

    async fn hit(&self, key: &str, window_secs: u64, now: u64) -> Result<Hits, StoreError> {
        let (index, resets_in) = window(now, window_secs);
        let mut con = self.con().await?;
        let count: u64 = self
            .hit
            .key(format!("{}{{rl:{key}}}:{index}", self.prefix))
            .arg(window_secs + 1)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(Hits { count, resets_in })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.ping().await.map_err(unavailable)
    }

    fn apply_own_revocations(&self, view: Arc<RevocationView>) {
        let _ = self.own_view.set(view);
    }
}
