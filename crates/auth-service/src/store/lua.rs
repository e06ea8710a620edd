//! The Redis store's Lua scripts: every multi-key step is one script, so it is atomic, and
//! every key a script touches is passed in `KEYS` and shares the user's hash tag (or the
//! `{purge}` tag), so the same scripts run on Redis Cluster. Layout and key names:
//! [`super::redis`].
//!
//! A script that revokes access tokens also appends the entry to the revocation log (a
//! sorted set scored by the entry's `until`, trimmed of expired entries on every write) and
//! publishes it, in the same atomic step as the state change: no revocation exists in the
//! store without its entry. Those scripts start with [`REVOKE`]. The log has its own hash
//! tag (`{rev}`): on standalone Redis (today's deployments) that is one script; on Redis
//! Cluster the log's slot differs from the user's, and these scripts will have to append to
//! the log in a second step (noted for the Cluster work).

/// Prepended to every script that revokes. `revoke(log, channel, entry, now, until)`
/// records and publishes one entry (JSON); `session(sid, until)` and `versions(sub, below,
/// until)` are the JSON of "that session's tokens" and "the user's tokens below version
/// `below`" (the shapes of `auth_core::Revocation`).
pub(super) const REVOKE: &str = r"
local function revoke(log, channel, entry, now, until_)
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now)
  redis.call('ZADD', log, until_, entry)
  redis.call('PUBLISH', channel, entry)
end
local function session(sid, until_)
  return cjson.encode({kind = 'session', sid = sid, ['until'] = tonumber(until_)})
end
local function versions(sub, below, until_)
  return cjson.encode({kind = 'versions', sub = sub, below = below, ['until'] = tonumber(until_)})
end
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

/// KEYS: session, user, index, log. ARGV: presented hash, successor hash, now, grace
/// secs, idle secs, sid, channel, revocation until. The whole
/// refresh decision, atomically (see `Rotation`); reuse revokes the session.
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
  revoke(KEYS[4], ARGV[7], session(ARGV[6], ARGV[8]), ARGV[3], ARGV[8])
  return {'reused'}
end
return {'mismatch', s[3], s[1]}
";

/// KEYS: session, index, log. ARGV: sid, channel, now, until. Returns the number of
/// sessions deleted (and revoked).
pub(super) const END_SESSION: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n > 0 then revoke(KEYS[3], ARGV[2], session(ARGV[1], ARGV[4]), ARGV[3], ARGV[4]) end
return n
";

/// KEYS: session, index, log. ARGV: secret hash, sid, channel, now, until. Deletes (and
/// revokes) the session if the secret is its current or just-spent one.
pub(super) const LOGOUT: &str = r"
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev')
if s[1] and (s[1] == ARGV[1] or (s[2] ~= '' and s[2] == ARGV[1])) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  revoke(KEYS[3], ARGV[3], session(ARGV[2], ARGV[5]), ARGV[4], ARGV[5])
  return 1
end
return 0
";

/// KEYS: user, index, log, sessions…. ARGV: channel, user id, now, until. Bumps the token
/// version (revoking the tokens below the new one) and deletes every session.
pub(super) const END_ALL: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
  revoke(KEYS[3], ARGV[1], versions(ARGV[2], ver, ARGV[4]), ARGV[3], ARGV[4])
end
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[2])
return 1
";

/// KEYS: user, index, log, sessions…. ARGV: checked version, channel, the user's
/// revocation entry (every version), now, until. The account and everything of its slot
/// (revoking every token of the user), unless the version moved on (0). A user already
/// gone is 1: nothing to do.
pub(super) const DELETE_USER: &str = r"
local ver = redis.call('HGET', KEYS[1], 'ver')
if ver and ver ~= ARGV[1] then return 0 end
if ver then revoke(KEYS[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
";

/// KEYS: log. ARGV: channel, entry, now, until. One access token (RFC 7009).
pub(super) const REVOKE_TOKEN: &str = r"
revoke(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
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

/// KEYS: user, index, kept session, log, other sessions…. ARGV: hash, checked version,
/// channel, user id, now, until, other sids…. Revokes the user's tokens below the new
/// version. Nothing happens (0) if the user is gone or its version moved on.
pub(super) const SET_PASSWORD: &str = r"
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
revoke(KEYS[4], ARGV[3], versions(ARGV[4], ver, ARGV[6]), ARGV[5], ARGV[6])
for i = 5, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[2], ARGV[i + 2])
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'ver', tostring(ver)) end
return 1
";

/// KEYS: user, log. ARGV: role, bump ('1' or '0'), channel, user id, now, until. A bump
/// revokes the user's tokens below the new version.
pub(super) const SET_ROLE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'role', ARGV[1])
if ARGV[2] == '1' then
  local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
  revoke(KEYS[2], ARGV[3], versions(ARGV[4], ver, ARGV[6]), ARGV[5], ARGV[6])
end
return 1
";

/// KEYS: counter. ARGV: ttl. Returns the count after this hit.
pub(super) const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";
