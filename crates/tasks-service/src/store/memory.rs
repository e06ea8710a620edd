//! The embedded store: everything in one process's memory, gone at restart. For `make run`
//! and single-instance trials; several instances would each see their own tasks.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{StoreError, TaskStore, MAX_TASKS_PER_USER};
use crate::task::{ListFilter, Page, Task, TaskPatch};

/// Tasks by owner, then by id (ids sort by creation time).
#[derive(Debug, Default)]
pub struct MemoryTaskStore {
    owners: Mutex<HashMap<String, BTreeMap<String, Task>>>,
}

impl MemoryTaskStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTaskStore::default()
    }

    /// The map; a panic elsewhere while holding the lock cannot leave a task half-written
    /// (every mutation is one map operation), so a poisoned lock is still consistent.
    fn owners(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<String, Task>>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    async fn list(&self, owner: &str, filter: &ListFilter) -> Result<Page, StoreError> {
        let owners = self.owners();
        let Some(tasks) = owners.get(owner) else {
            return Ok(Page::from_overfetch(Vec::new(), filter.limit));
        };
        let upper = match &filter.after {
            Some(after) => Bound::Excluded(after.clone()),
            None => Bound::Unbounded,
        };
        let matching = tasks
            .range((Bound::Unbounded, upper))
            .rev()
            .map(|(_, task)| task)
            .filter(|task| filter.done.is_none_or(|done| task.done == done))
            .take(filter.limit + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(matching, filter.limit))
    }

    async fn create(&self, owner: &str, task: &Task) -> Result<(), StoreError> {
        let mut owners = self.owners();
        let tasks = owners.entry(owner.to_owned()).or_default();
        if tasks.len() >= MAX_TASKS_PER_USER {
            return Err(StoreError::TaskLimit);
        }
        tasks.insert(task.id.clone(), task.clone());
        Ok(())
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Task>, StoreError> {
        Ok(self
            .owners()
            .get(owner)
            .and_then(|tasks| tasks.get(id))
            .cloned())
    }

    async fn update(
        &self,
        owner: &str,
        id: &str,
        patch: &TaskPatch,
        now: &str,
    ) -> Result<Option<Task>, StoreError> {
        let mut owners = self.owners();
        let Some(task) = owners.get_mut(owner).and_then(|tasks| tasks.get_mut(id)) else {
            return Ok(None);
        };
        if let Some(title) = &patch.title {
            task.title.clone_from(title);
        }
        if let Some(done) = patch.done {
            task.done = done;
        }
        task.updated_at = now.to_owned();
        Ok(Some(task.clone()))
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let mut owners = self.owners();
        let Some(tasks) = owners.get_mut(owner) else {
            return Ok(false);
        };
        let removed = tasks.remove(id).is_some();
        if tasks.is_empty() {
            owners.remove(owner);
        }
        Ok(removed)
    }

    async fn purge(&self, owner: &str) -> Result<usize, StoreError> {
        Ok(self.owners().remove(owner).map_or(0, |tasks| tasks.len()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
