//! Task storage behind [`TaskStore`]: Redis (shared by every instance) or in memory (the
//! embedded default, single instance only). Both pass the same behavioural test suite.

mod measured;
mod memory;
mod redis;

pub use self::measured::Measured;
pub use self::memory::MemoryTaskStore;
pub use self::redis::RedisTaskStore;

use async_trait::async_trait;
use thiserror::Error;

use crate::task::{ListFilter, Page, Task, TaskPatch};

/// Most tasks one user may hold.
pub const MAX_TASKS_PER_USER: usize = 1000;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The owner already has [`MAX_TASKS_PER_USER`] tasks.
    #[error("task limit reached")]
    TaskLimit,
    /// The backing store could not be reached or answered wrongly.
    #[error("task store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Per-owner task storage. `owner` is the verified `sub` of the caller; an id that belongs
/// to another owner behaves exactly like an id that does not exist.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Tasks of `owner`, newest first, filtered and paged.
    async fn list(&self, owner: &str, filter: &ListFilter) -> Result<Page, StoreError>;
    /// Stores a new task unless the owner is at the limit.
    async fn create(&self, owner: &str, task: &Task) -> Result<(), StoreError>;
    /// One task, if it exists and is the owner's.
    async fn get(&self, owner: &str, id: &str) -> Result<Option<Task>, StoreError>;
    /// Applies a validated patch atomically; `None` if no such task.
    async fn update(
        &self,
        owner: &str,
        id: &str,
        patch: &TaskPatch,
        now: &str,
    ) -> Result<Option<Task>, StoreError>;
    /// Deletes a task; `false` if no such task.
    async fn delete(&self, owner: &str, id: &str) -> Result<bool, StoreError>;
    /// Deletes every task of `owner` (their account is gone); how many there were.
    /// Idempotent.
    async fn purge(&self, owner: &str) -> Result<usize, StoreError>;
    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
