//! The Redis store's Lua scripts: every multi-key step is one script, so it is atomic, and
//! every key a script touches is passed in `KEYS` and shares one hash tag — the user's
//! (`{u:<id>}`), the `{purge}` queue's or the revocation log's (`{rev}`) — so each script
//! touches one Redis Cluster slot and the same scripts run on standalone Redis, Sentinel
//! and Cluster. Layout and key names: [`super::redis`].
//!
//! A revocation changes a user's keys and appends an entry to the revocation log, which
//! lives in a slot of its own: two scripts, since no script may span two slots on a
//! cluster. The user's script ([`ROTATE`], [`END_SESSION`], …) makes the change and returns
//! the entry; [`RECORD`] then appends it to the log (a sorted set scored by the entry's
//! `until`, trimmed of expired entries on every write) and publishes it, in one step, so a
//! feed that subscribes and then loads the log misses nothing. A crash (or a failover)
//! between the two steps leaves the change made without its entry: the tokens it revoked
//! stay valid at resource servers until they expire (the access-token lifetime), as before
//! revocation was pushed. [`ENTRIES`] is prepended to the user scripts that revoke.

/// Prepended to every user script that revokes: `session(sid, until)` and `versions(sub,
/// below, until)` are the JSON of "that session's tokens" and "the user's tokens below
/// version `below`" (the shapes of `auth_core::Revocation`).
pub(super) const ENTRIES: &str = r"
local function session(sid, until_)
  return cjson.encode({kind = 'session', sid = sid, ['until'] = tonumber(until_)})
end
local function versions(sub, below, until_)
  return cjson.encode({kind = 'versions', sub = sub, below = below, ['until'] = tonumber(until_)})
end
";

/// KEYS: log. ARGV: channel, entry, now, until. Records one revocation entry and publishes
/// it (the second step of every revocation; alone for an access token, RFC 7009).
pub(super) const RECORD: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
";

/// KEYS: user, session, index. ARGV: sid, secret hash, now, absolute expiry, idle secs,
/// user agent, ip, checked version. Returns {role, ver, ttl}, or nil if the user is gone
/// or its version is no longer the one the password check saw.
pub(super) const CREATE_SESSION: &str = r"
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

/// KEYS: session, user, index. ARGV: presented hash, successor hash, now, grace secs, idle
/// secs, sid, revocation until. The whole refresh decision, atomically (see `Rotation`);
/// reuse ends the session and returns its revocation entry after `reused`.
pub(super) const ROTATE: &str = r"
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
  return {'reused', session(ARGV[6], ARGV[7])}
end
return {'mismatch', s[3], s[1]}
";

/// KEYS: session, index. ARGV: sid, until. Deletes the session; its revocation entry, or
/// nil if there was none.
pub(super) const END_SESSION: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n > 0 then return session(ARGV[1], ARGV[2]) end
return false
";

/// KEYS: session, index. ARGV: secret hash, sid, until. Deletes the session if the secret
/// is its current or just-spent one; its revocation entry, or nil.
pub(super) const LOGOUT: &str = r"
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev')
if s[1] and (s[1] == ARGV[1] or (s[2] ~= '' and s[2] == ARGV[1])) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return session(ARGV[2], ARGV[3])
end
return false
";

/// KEYS: user, index, sessions…. ARGV: user id, until. Bumps the token version and deletes
/// every session; the entry revoking the tokens below the new version, or nil if the user
/// is gone.
pub(super) const END_ALL: &str = r"
local entry = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
  entry = versions(ARGV[1], ver, ARGV[2])
end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[2])
return entry
";

/// KEYS: user, index, sessions…. ARGV: checked version. Deletes the account and
/// everything of its slot, unless the version moved on: 0; 1 if the user was already gone
/// (nothing to revoke); 2 if it was deleted now (every token of the user to revoke).
pub(super) const DELETE_USER: &str = r"
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver and ver ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
if ver then return 2 end
return 1
";

/// KEYS: username index. ARGV: user id. Frees the name only if it still names this user.
pub(super) const FREE_NAME: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: pending, attempts. ARGV: now, limit, backoff base, backoff max. Claims due
/// purges: each one's attempts go up and its next attempt moves out by the backoff.
pub(super) const CLAIM_PURGES: &str = r"
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

/// KEYS: user, index, kept session, other sessions…. ARGV: hash, checked version, user id,
/// until, other sids…. Returns the entry revoking the user's tokens below the new version;
/// nothing happens (nil) if the user is gone or its version moved on.
pub(super) const SET_PASSWORD: &str = r"
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
for i = 4, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[2], ARGV[i + 1])
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'ver', tostring(ver)) end
return versions(ARGV[3], ver, ARGV[4])
";

/// KEYS: user. ARGV: role, bump ('1' or '0'), user id, until. nil if the user is gone;
/// else the entry revoking the user's tokens below the new version after a bump, or ''.
pub(super) const SET_ROLE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'role', ARGV[1])
if ARGV[2] == '1' then
  local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
  return versions(ARGV[3], ver, ARGV[4])
end
return ''
";

/// KEYS: counter. ARGV: ttl. Returns the count after this hit.
pub(super) const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";
