//! [`Measured`]: any [`AuthStore`] with each operation timed
//! (`tessera_store_operation_seconds{op}`) and its failures counted
//! (`tessera_store_errors_total{op}`, only `Unavailable`: a taken name is an answer).

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{RevocationView, Role};
use service_kit::metrics::{Metrics, StoreOp};

use super::{
    AuthStore, Backoff, Grant, Hits, NewSession, PendingPurge, Revoking, RotateRequest, Rotation,
    SessionInfo, StoreError, User,
};
use crate::refresh::SessionId;

/// The operations, in [`OPS`] order.
#[derive(Clone, Copy, Debug)]
enum Op {
    CreateUser,
    UserByName,
    UserById,
    SetRole,
    SetPassword,
    EndAllSessions,
    CreateSession,
    Rotate,
    EndSession,
    Logout,
    RevokeToken,
    LiveUntil,
    Sessions,
    DeleteUser,
    EnqueuePurge,
    ClaimPurges,
    PurgeDone,
    PendingPurges,
    Hit,
    Ping,
}

/// The `op` label of each [`Op`].
const OPS: [&str; 20] = [
    "create_user",
    "user_by_name",
    "user_by_id",
    "set_role",
    "set_password",
    "end_all_sessions",
    "create_session",
    "rotate",
    "end_session",
    "logout",
    "revoke_token",
    "live_until",
    "sessions",
    "delete_user",
    "enqueue_purge",
    "claim_purges",
    "purge_done",
    "pending_purges",
    "hit",
    "ping",
];

/// A store whose operations are measured.
pub struct Measured {
    inner: Arc<dyn AuthStore>,
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
        inner: Arc<dyn AuthStore>,
        metrics: &Metrics,
    ) -> Result<Arc<dyn AuthStore>, prometheus::Error> {
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
impl AuthStore for Measured {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.time(Op::CreateUser, self.inner.create_user(user))
            .await
    }
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.time(Op::UserByName, self.inner.user_by_name(username))
            .await
    }
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.time(Op::UserById, self.inner.user_by_id(id)).await
    }
    async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        bump: bool,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        self.time(Op::SetRole, self.inner.set_role(user_id, role, bump, at))
            .await
    }
    async fn set_password(
        &self,
        checked: &User,
        hash: &str,
        keep: &SessionId,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        self.time(
            Op::SetPassword,
            self.inner.set_password(checked, hash, keep, at),
        )
        .await
    }
    async fn end_all_sessions(&self, user_id: &str, at: Revoking) -> Result<(), StoreError> {
        self.time(Op::EndAllSessions, self.inner.end_all_sessions(user_id, at))
            .await
    }
    async fn create_session(&self, session: &NewSession) -> Result<Option<Grant>, StoreError> {
        self.time(Op::CreateSession, self.inner.create_session(session))
            .await
    }
    async fn rotate(&self, request: &RotateRequest<'_>) -> Result<Rotation, StoreError> {
        self.time(Op::Rotate, self.inner.rotate(request)).await
    }
    async fn end_session(&self, sid: &SessionId, at: Revoking) -> Result<bool, StoreError> {
        self.time(Op::EndSession, self.inner.end_session(sid, at))
            .await
    }
    async fn logout(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        self.time(Op::Logout, self.inner.logout(sid, secret_hash, at))
            .await
    }
    async fn revoke_token(&self, jti: &str, at: Revoking) -> Result<(), StoreError> {
        self.time(Op::RevokeToken, self.inner.revoke_token(jti, at))
            .await
    }
    fn in_process_view(&self) -> Option<Arc<RevocationView>> {
        self.inner.in_process_view()
    }
    fn apply_own_revocations(&self, view: Arc<RevocationView>) {
        self.inner.apply_own_revocations(view);
    }
    async fn live_until(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.time(
            Op::LiveUntil,
            self.inner.live_until(sid, secret_hash, now, idle_secs),
        )
        .await
    }
    async fn sessions(
        &self,
        user_id: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.time(Op::Sessions, self.inner.sessions(user_id, now, idle_secs))
            .await
    }
    async fn delete_user(&self, checked: &User, at: Revoking) -> Result<bool, StoreError> {
        self.time(Op::DeleteUser, self.inner.delete_user(checked, at))
            .await
    }
    async fn enqueue_purge(&self, user_id: &str, now: u64) -> Result<(), StoreError> {
        self.time(Op::EnqueuePurge, self.inner.enqueue_purge(user_id, now))
            .await
    }
    async fn claim_purges(
        &self,
        now: u64,
        backoff: Backoff,
        limit: usize,
    ) -> Result<Vec<PendingPurge>, StoreError> {
        self.time(
            Op::ClaimPurges,
            self.inner.claim_purges(now, backoff, limit),
        )
        .await
    }
    async fn purge_done(&self, user_id: &str) -> Result<(), StoreError> {
        self.time(Op::PurgeDone, self.inner.purge_done(user_id))
            .await
    }
    async fn pending_purges(&self) -> Result<usize, StoreError> {
        self.time(Op::PendingPurges, self.inner.pending_purges())
            .await
    }
    async fn hit(&self, key: &str, window_secs: u64, now: u64) -> Result<Hits, StoreError> {
        self.time(Op::Hit, self.inner.hit(key, window_secs, now))
            .await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.time(Op::Ping, self.inner.ping()).await
    }
}
