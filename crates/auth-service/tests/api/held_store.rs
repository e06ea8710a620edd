//! `HeldStore`: the app's real store, with one chosen write held until the test releases
//! it — how the race tests stop a request between its password check and its write.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use auth_core::{RevocationView, Role};
use auth_service::refresh::SessionId;
use auth_service::store::{
    AuthStore, Backoff, Grant, Hits, NewSession, PendingPurge, Revoking, RotateRequest, Rotation,
    SessionInfo, StoreError, User,
};
use tokio::sync::Notify;

/// A store write that can be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    CreateSession,
    SetPassword,
    DeleteUser,
}

/// The test's side: arm a write, wait until a request reaches it, release it.
#[derive(Debug, Default)]
pub struct Hold {
    armed: Mutex<Option<Write>>,
    arrived: Notify,
    released: Notify,
}

impl Hold {
    /// The next `write` waits at the store's door until [`Hold::release`].
    pub fn arm(&self, write: Write) {
        *self.armed.lock().unwrap() = Some(write);
    }

    /// Returns once a request is waiting at the armed write.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    pub fn release(&self) {
        self.released.notify_one();
    }

    async fn pass(&self, write: Write) {
        let held = {
            let mut armed = self.armed.lock().unwrap();
            armed.take_if(|armed| *armed == write).is_some()
        };
        if held {
            self.arrived.notify_one();
            self.released.notified().await;
        }
    }
}

/// Delegates every operation to `inner`, holding the armed write first.
pub struct HeldStore {
    pub inner: Arc<dyn AuthStore>,
    pub hold: Arc<Hold>,
}

#[async_trait]
impl AuthStore for HeldStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.inner.create_user(user).await
    }
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_name(username).await
    }
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_id(id).await
    }
    async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        bump: bool,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        self.inner.set_role(user_id, role, bump, at).await
    }
    async fn set_password(
        &self,
        checked: &User,
        hash: &str,
        keep: &SessionId,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        self.hold.pass(Write::SetPassword).await;
        self.inner.set_password(checked, hash, keep, at).await
    }
    async fn end_all_sessions(&self, user_id: &str, at: Revoking) -> Result<(), StoreError> {
        self.inner.end_all_sessions(user_id, at).await
    }
    async fn create_session(&self, session: &NewSession) -> Result<Option<Grant>, StoreError> {
        self.hold.pass(Write::CreateSession).await;
        self.inner.create_session(session).await
    }
    async fn rotate(&self, request: &RotateRequest<'_>) -> Result<Rotation, StoreError> {
        self.inner.rotate(request).await
    }
    async fn end_session(&self, sid: &SessionId, at: Revoking) -> Result<bool, StoreError> {
        self.inner.end_session(sid, at).await
    }
    async fn logout(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        at: Revoking,
    ) -> Result<bool, StoreError> {
        self.inner.logout(sid, secret_hash, at).await
    }
    async fn revoke_token(&self, jti: &str, at: Revoking) -> Result<(), StoreError> {
        self.inner.revoke_token(jti, at).await
    }
    fn in_process_view(&self) -> Option<Arc<RevocationView>> {
        self.inner.in_process_view()
    }
    async fn live_until(
        &self,
        sid: &SessionId,
        secret_hash: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.inner
            .live_until(sid, secret_hash, now, idle_secs)
            .await
    }
    async fn sessions(
        &self,
        user_id: &str,
        now: u64,
        idle_secs: u64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.inner.sessions(user_id, now, idle_secs).await
    }
    async fn delete_user(&self, checked: &User, at: Revoking) -> Result<bool, StoreError> {
        self.hold.pass(Write::DeleteUser).await;
        self.inner.delete_user(checked, at).await
    }
    async fn enqueue_purge(&self, user_id: &str, now: u64) -> Result<(), StoreError> {
        self.inner.enqueue_purge(user_id, now).await
    }
    async fn claim_purges(
        &self,
        now: u64,
        backoff: Backoff,
        limit: usize,
    ) -> Result<Vec<PendingPurge>, StoreError> {
        self.inner.claim_purges(now, backoff, limit).await
    }
    async fn purge_done(&self, user_id: &str) -> Result<(), StoreError> {
        self.inner.purge_done(user_id).await
    }
    async fn pending_purges(&self) -> Result<usize, StoreError> {
        self.inner.pending_purges().await
    }
    async fn hit(&self, key: &str, window_secs: u64, now: u64) -> Result<Hits, StoreError> {
        self.inner.hit(key, window_secs, now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
