//! The Redis store. Per owner, two keys sharing one hash tag (so every script touches one
//! Cluster slot):
//! - `<prefix>{u:<owner>}:tasks`: HASH task id → task JSON;
//! - `<prefix>{u:<owner>}:tasks:order`: ZSET of task ids, all score 0, in lexical order
//!   (UUIDv7 ids sort by creation time).
//!
//! Creation (with the per-user limit), patching and deletion are Lua scripts, so two
//! instances can never interleave inside one of them. Tasks are user data and carry no TTL;
//! the per-user limit bounds them.

use async_trait::async_trait;
use redis::{RedisError, Script};
use service_kit::redis::RedisConn;

use super::{StoreError, TaskStore, MAX_TASKS_PER_USER};
use crate::task::{ListFilter, Page, Task, TaskPatch};

/// KEYS: order, tasks. ARGV: id, json, limit. Returns 1, or 0 at the limit.
const CREATE: &str = r"
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
";

/// KEYS: tasks. ARGV: id, title ('' = keep), done ('' keep, '1', '0'), updated_at.
/// Returns the new JSON, or false if there is no such task.
const UPDATE: &str = r"
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local task = cjson.decode(raw)
if ARGV[2] ~= '' then task.title = ARGV[2] end
if ARGV[3] ~= '' then task.done = (ARGV[3] == '1') end
task.updated_at = ARGV[4]
raw = cjson.encode(task)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return raw
";

/// KEYS: order, tasks. ARGV: id. Returns the number removed.
const DELETE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
";

/// KEYS: order, tasks. ARGV: upper bound ('+' or '(' .. cursor id), how many, done
/// filter ('', '1', '0'). Returns up to that many task JSONs, newest first.
const LIST: &str = r"
local want = tonumber(ARGV[2])
local max = ARGV[1]
local out = {}
while #out < want do
  local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], max, '-', 'LIMIT', 0, 100)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local raw = redis.call('HGET', KEYS[2], id)
    if raw and (ARGV[3] == '' or cjson.decode(raw).done == (ARGV[3] == '1')) then
      out[#out + 1] = raw
      if #out >= want then break end
    end
  end
  max = '(' .. ids[#ids]
end
return out
";

/// Tasks in Redis; scripts are loaded once and run by SHA.
#[derive(Debug)]
pub struct RedisTaskStore {
    redis: RedisConn,
    prefix: String,
    create: Script,
    update: Script,
    delete: Script,
    list: Script,
}

impl RedisTaskStore {
    /// A store over `redis`, every key under `prefix`.
    pub fn new(redis: RedisConn, prefix: impl Into<String>) -> Self {
        RedisTaskStore {
            redis,
            prefix: prefix.into(),
            create: Script::new(CREATE),
            update: Script::new(UPDATE),
            delete: Script::new(DELETE),
            list: Script::new(LIST),
        }
    }

    fn tasks_key(&self, owner: &str) -> String {
        format!("{}{{u:{owner}}}:tasks", self.prefix)
    }

    fn order_key(&self, owner: &str) -> String {
        format!("{}{{u:{owner}}}:tasks:order", self.prefix)
    }
}

fn unavailable(err: RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

/// A `done` filter or patch as the scripts take it: '' (any / keep), '1' or '0'.
fn done_arg(done: Option<bool>) -> &'static str {
    match done {
        None => "",
        Some(true) => "1",
        Some(false) => "0",
    }
}

fn parse(raw: &str) -> Result<Task, StoreError> {
    serde_json::from_str(raw).map_err(|err| StoreError::Unavailable(Box::new(err)))
}

#[async_trait]
impl TaskStore for RedisTaskStore {
    async fn list(&self, owner: &str, filter: &ListFilter) -> Result<Page, StoreError> {
        let mut con = self.redis.connection().await.map_err(unavailable)?;
        let upper = match &filter.after {
            Some(after) => format!("({after}"),
            None => "+".to_owned(),
        };
        let raws: Vec<String> = self
            .list
            .key(self.order_key(owner))
            .key(self.tasks_key(owner))
            .arg(upper)
            .arg(filter.limit + 1)
            .arg(done_arg(filter.done))
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        let tasks = raws
            .iter()
            .map(|raw| parse(raw))
            .collect::<Result<_, _>>()?;
        Ok(Page::from_overfetch(tasks, filter.limit))
    }

    async fn create(&self, owner: &str, task: &Task) -> Result<(), StoreError> {
        let mut con = self.redis.connection().await.map_err(unavailable)?;
        let json =
            serde_json::to_string(task).map_err(|err| StoreError::Unavailable(Box::new(err)))?;
        let created: i64 = self
            .create
            .key(self.order_key(owner))
            .key(self.tasks_key(owner))
            .arg(&task.id)
            .arg(json)
            .arg(MAX_TASKS_PER_USER)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        match created {
            1 => Ok(()),
            _ => Err(StoreError::TaskLimit),
        }
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Task>, StoreError> {
        let mut con = self.redis.connection().await.map_err(unavailable)?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(self.tasks_key(owner))
            .arg(id)
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        raw.as_deref().map(parse).transpose()
    }

    async fn update(
        &self,
        owner: &str,
        id: &str,
        patch: &TaskPatch,
        now: &str,
    ) -> Result<Option<Task>, StoreError> {
        let mut con = self.redis.connection().await.map_err(unavailable)?;
        let raw: Option<String> = self
            .update
            .key(self.tasks_key(owner))
            .arg(id)
            .arg(patch.title.as_deref().unwrap_or(""))
            .arg(done_arg(patch.done))
            .arg(now)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        raw.as_deref().map(parse).transpose()
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let mut con = self.redis.connection().await.map_err(unavailable)?;
        let removed: i64 = self
            .delete
            .key(self.order_key(owner))
            .key(self.tasks_key(owner))
            .arg(id)
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn purge(&self, owner: &str) -> Result<usize, StoreError> {
        let mut con = self.redis.connection().await.map_err(unavailable)?;
        // Both keys share the owner's hash tag: one atomic step, Cluster-safe.
        let (count, _): (usize, usize) = redis::pipe()
            .atomic()
            .hlen(self.tasks_key(owner))
            .del(&[self.tasks_key(owner), self.order_key(owner)])
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.ping().await.map_err(unavailable)
    }
}
