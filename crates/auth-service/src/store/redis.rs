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
//!   HASH user id → attempts — deleted accounts whose tasks are still to be purged.
//!
//! Scripts are loaded once and run by SHA (`EVALSHA`, reloaded after a Redis restart).
//! Times are passed in from the service's clock; TTLs only collect garbage, the scripts'
//! own comparisons decide expiry.

use std::collections::HashMap;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;
use service_kit::redis::RedisConn;

use super::{
    window, AuthStore, Backoff, Grant, Hits, NewSession, PendingPurge, RotateRequest, Rotation,
    SessionInfo, StoreError, User,
};
use crate::refresh::SessionId;

/// KEYS: user, session, index. ARGV: sid, secret hash, now, absolute expiry, idle secs,
/// user agent, ip, checked version. Returns {role, ver, ttl}, or nil if the user is gone
/// or its version is no longer the one the password check saw.
const CREATE_SESSION: &str = r"
local u = redis.call('HMGET', KEYS[1], 'role', 'ver')
if not u[1] or u[2] ~= ARGV[8] then return false end
local now = tonumber(ARGV[3])
local abs = tonumber(ARGV[4])
local ttl = math.min(abs, now + tonumber(ARGV[5])) - now
redis.call('HSET', KEYS[2], 'cur', ARGV[2], 'prev', '', 'gen', '0', 'ver', u[2],
  'created_at', ARGV[3], 'last_used_at', ARGV[3], 'rotated_at', '0', 'abs_exp', ARGV[4],
  'ua', ARGV[6], 'ip', ARGV[7])
redis.call('EXPIRE', KEYS[2], math.max(1, ttl))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('EXPIRE', KEYS[3], math.max(1, tonumber(last[2]) - now))
return {u[1], u[2], tostring(ttl)}
";

/// KEYS: session, user, index. ARGV: presented hash, successor hash, now, grace secs,
/// idle secs, sid. The whole refresh decision, atomically (see `Rotation`).
const ROTATE: &str = r"
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'gen', 'ver', 'last_used_at', 'rotated_at', 'abs_exp')
if not s[1] then return {'unknown'} end
local function kill()
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[6])
end
local u = redis.call('HMGET', KEYS[2], 'role', 'ver')
if not u[1] or u[2] ~= s[4] then kill() return {'revoked'} end
local now = tonumber(ARGV[3])
local idle = tonumber(ARGV[5])
local abs = tonumber(s[7])
local last_used = tonumber(s[5])
if now >= abs or now >= last_used + idle then kill() return {'expired'} end
if ARGV[1] == s[1] then
  local ttl = math.min(abs, now + idle) - now
  redis.call('HSET', KEYS[1], 'prev', s[1], 'cur', ARGV[2], 'gen', tostring(tonumber(s[3]) + 1),
    'last_used_at', ARGV[3], 'rotated_at', ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.max(1, ttl))
  return {'rotated', u[1], u[2], tostring(ttl)}
end
if s[2] ~= '' and ARGV[1] == s[2] then
  local grace = tonumber(ARGV[4])
  if grace > 0 and now - tonumber(s[6]) <= grace and ARGV[2] == s[1] then
    return {'grace', u[1], u[2], tostring(math.min(abs, last_used + idle) - now)}
  end
  kill()
  return {'reused'}
end
return {'mismatch', s[3], s[1]}
";

/// KEYS: session, index. ARGV: sid. Returns the number of sessions deleted.
const END_SESSION: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
";

/// KEYS: session, index. ARGV: secret hash, sid. Deletes the session if the secret is its
/// current or just-spent one.
const LOGOUT: &str = r"
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev')
if s[1] and (s[1] == ARGV[1] or (s[2] ~= '' and s[2] == ARGV[1])) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
";

/// KEYS: user, index, sessions…. Bumps the token version and deletes every session.
const END_ALL: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'ver', 1) end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[2])
return 1
";

/// KEYS: user, index, sessions…. ARGV: checked version. The account and everything of
/// its slot, unless the version moved on (0). A user already gone is 1: nothing to do.
const DELETE_USER: &str = r"
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver and ver ~= ARGV[1] then return 0 end
for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
";

/// KEYS: username index. ARGV: user id. Frees the name only if it still names this user.
const FREE_NAME: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: pending, attempts. ARGV: now, limit, backoff base, backoff max. Claims due
/// purges: each one's attempts go up and its next attempt moves out by the backoff.
const CLAIM_PURGES: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  local attempts = redis.call('HINCRBY', KEYS[2], id, 1)
  local wait = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (attempts - 1))
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + math.floor(wait), id)
  table.insert(out, id)
  table.insert(out, tostring(attempts))
end
return out
";

/// KEYS: user, index, kept session, other sessions…. ARGV: hash, checked version, other
/// sids…. Nothing happens (0) if the user is gone or its version moved on.
const SET_PASSWORD: &str = r"
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
for i = 4, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[2], ARGV[i - 1])
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'ver', tostring(ver)) end
return 1
";

/// KEYS: user. ARGV: role, bump ('1' or '0').
const SET_ROLE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'role', ARGV[1])
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'ver', 1) end
return 1
";

/// KEYS: counter. ARGV: ttl. Returns the count after this hit.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Users, sessions and counters in Redis.
#[derive(Debug)]
pub struct RedisStore {
    redis: RedisConn,
    prefix: String,
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
        RedisStore {
            redis,
            prefix: prefix.into(),
            create_session: Script::new(CREATE_SESSION),
            rotate: Script::new(ROTATE),
            end_session: Script::new(END_SESSION),
            logout: Script::new(LOGOUT),
            end_all: Script::new(END_ALL),
            set_password: Script::new(SET_PASSWORD),
            set_role: Script::new(SET_ROLE),
            hit: Script::new(HIT),
            delete_user: Script::new(DELETE_USER),
            free_name: Script::new(FREE_NAME),
            claim_purges: Script::new(CLAIM_PURGES),
        }
    }

    async fn con(&self) -> Result<ConnectionManager, StoreError> {
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

    async fn session_ids(
        &self,
        con: &mut ConnectionManager,
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
        role: text("role")?,
        ver: number(fields.get("ver"))?,
        created_at: number(fields.get("created_at"))?,
    }))
}

fn grant_from(reply: &[String]) -> Result<Grant, StoreError> {
    Ok(Grant {
        role: reply
            .first()
            .cloned()
            .ok_or_else(|| bad_reply("grant lacks a role"))?,
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
        role: &str,
        bump_version: bool,
    ) -> Result<bool, StoreError> {
        let mut con = self.con().await?;
        let done: i64 = self
            .set_role
            .key(self.user_key(user_id))
            .arg(role)
            .arg(if bump_version { "1" } else { "0" })
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn set_password(
        &self,
        checked: &User,
        hash: &str,
        keep: &SessionId,
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
            .arg(checked.ver);
        for sid in &others {
            invocation.key(self.session_key(user_id, sid)).arg(sid);
        }
        let done: i64 = invocation
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn end_all_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        let sids = self.session_ids(&mut con, user_id).await?;
        let mut invocation = self.end_all.prepare_invoke();
        invocation
            .key(self.user_key(user_id))
            .key(self.index_key(user_id));
        for sid in &sids {
            invocation.key(self.session_key(user_id, sid));
        }
        invocation
            .invoke_async::<i64>(&mut con)
            .await
            .map_err(unavailable)?;
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
            "reused" => Rotation::Reused,
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

    async fn end_session(&self, sid: &SessionId) -> Result<bool, StoreError> {
        let mut con = self.con().await?;
        let deleted: i64 = self
            .end_session
            .key(self.sid_key(sid))
            .key(self.index_key(&sid.user().to_string()))
            .arg(sid.as_str())
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(deleted > 0)
    }

    async fn logout(&self, sid: &SessionId, secret_hash: &str) -> Result<(), StoreError> {
        let mut con = self.con().await?;
        self.logout
            .key(self.sid_key(sid))
            .key(self.index_key(&sid.user().to_string()))
            .arg(secret_hash)
            .arg(sid.as_str())
            .invoke_async::<i64>(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(())
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

    async fn delete_user(&self, checked: &User) -> Result<bool, StoreError> {
        let user = checked;
        let mut con = self.con().await?;
        let sids = self.session_ids(&mut con, &user.id).await?;
        // The account and its sessions first, in one step: a session created meanwhile
        // finds no user and refuses to refresh. Then the name, in its own slot.
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
}
