//! [`Measured`]: any [`TaskStore`] with each operation timed
//! (`tessera_store_operation_seconds{op}`) and its failures counted
//! (`tessera_store_errors_total{op}`, only `Unavailable`: a full list is an answer).

use std::sync::Arc;

use async_trait::async_trait;
use service_kit::metrics::{Metrics, StoreOp};

use super::{StoreError, TaskStore};
use crate::task::{ListFilter, Page, Task, TaskPatch};

/// The operations, in [`OPS`] order.
#[derive(Clone, Copy, Debug)]
enum Op {
    List,
    Create,
    Get,
    Update,
    Delete,
    Purge,
    Ping,
}

/// The `op` label of each [`Op`].
const OPS: [&str; 7] = ["list", "create", "get", "update", "delete", "purge", "ping"];

/// A store whose operations are measured.
pub struct Measured {
    inner: Arc<dyn TaskStore>,
    ops: [StoreOp; OPS.len()],
}

impl std::fmt::Debug for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Measured").finish_non_exhaustive()
    }
}

impl Measured {
    /// `inner`, measured on `metrics`.
    pub fn wrap(
        inner: Arc<dyn TaskStore>,
        metrics: &Metrics,
    ) -> Result<Arc<dyn TaskStore>, prometheus::Error> {
        let ops = metrics.store_ops(OPS)?;
        Ok(Arc::new(Measured { inner, ops }))
    }

    async fn time<T>(
        &self,
        op: Op,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.ops[op as usize]
            .time(call, |err| matches!(err, StoreError::Unavailable(_)))
            .await
    }
}

#[async_trait]
impl TaskStore for Measured {
    async fn list(&self, owner: &str, filter: &ListFilter) -> Result<Page, StoreError> {
        self.time(Op::List, self.inner.list(owner, filter)).await
    }
    async fn create(&self, owner: &str, task: &Task) -> Result<(), StoreError> {
        self.time(Op::Create, self.inner.create(owner, task)).await
    }
    async fn get(&self, owner: &str, id: &str) -> Result<Option<Task>, StoreError> {
        self.time(Op::Get, self.inner.get(owner, id)).await
    }
    async fn update(
        &self,
        owner: &str,
        id: &str,
        patch: &TaskPatch,
        now: &str,
    ) -> Result<Option<Task>, StoreError> {
        self.time(Op::Update, self.inner.update(owner, id, patch, now))
            .await
    }
    async fn delete(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        self.time(Op::Delete, self.inner.delete(owner, id)).await
    }
    async fn purge(&self, owner: &str) -> Result<usize, StoreError> {
        self.time(Op::Purge, self.inner.purge(owner)).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.time(Op::Ping, self.inner.ping()).await
    }
}
