//! A deleted account's data in other services — today its tasks — purged durably.
//!
//! `DELETE /auth/account` records the purge in the store *before* deleting the user, then
//! tries it at once: `DELETE {tasks}/internal/users/{id}/tasks` with the auth-service's own
//! service token (`sub: svc:auth-service`, scope `tasks:purge` — the token the
//! client-credentials grant would give it, minted directly since this service is the
//! issuer), a few quick retries, each tasks-service instance in turn. If none answers, the
//! record stays: every instance polls the store every `AUTH__PURGE__POLL_SECS`, claims due
//! purges (the claim pushes the next attempt out by an exponential backoff, so instances do
//! not collide and a crashed claimer's purge comes round again) and retries until one
//! succeeds. Purging is idempotent, so a repeat is harmless. A record whose user still
//! exists (the deletion itself failed) is left alone rather than purged.

use std::sync::Arc;
use std::time::Duration;

use auth_core::SCOPE_TASKS_PURGE;
use reqwest::StatusCode;
use tracing::Instrument;

use crate::state::AppState;
use crate::store::{Backoff, StoreError};

/// The client id the auth-service's own service tokens carry.
pub const CLIENT_ID: &str = "auth-service";
/// Quick retries inside the account-deletion request, and the pause before each.
const INLINE_RETRIES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(300)];
/// The most an account deletion waits for its purge (a hanging tasks-service must not
/// hold the request); a purge cut short stays recorded and is repeated (idempotent).
const INLINE_BUDGET: Duration = Duration::from_secs(3);
/// Purges claimed per poll.
const BATCH: usize = 16;

/// Tries the purge of `user_id` now (with quick retries, within [`INLINE_BUDGET`]). If it
/// does not finish, it stays recorded for the poller.
pub async fn purge_now(state: &AppState, user_id: &str) {
    let _ = tokio::time::timeout(INLINE_BUDGET, try_now(state, user_id)).await;
}

async fn try_now(state: &AppState, user_id: &str) {
    let mut pauses = INLINE_RETRIES.iter();
    while !attempt(state, user_id).await {
        match pauses.next() {
            Some(pause) => tokio::time::sleep(*pause).await,
            None => return,
        }
    }
    forget(state, user_id).await;
}

/// One round of the poller: every due purge, tried once; then `tessera_purge_pending` is
/// set to the purges left. Returns how many finished.
pub async fn run_due(state: &AppState) -> Result<usize, StoreError> {
    let done = try_due(state).await?;
    let pending = state.store().pending_purges().await?;
    let pending = i64::try_from(pending).unwrap_or(i64::MAX);
    state.counters().purge_pending.set(pending);
    Ok(done)
}

async fn try_due(state: &AppState) -> Result<usize, StoreError> {
    let settings = &state.settings().purge;
    if settings.tasks_urls.is_empty() {
        return Ok(0); // nowhere to purge yet: keep the records as they are
    }
    let backoff = Backoff {
        base_secs: settings.backoff_secs,
        max_secs: settings.max_backoff_secs,
    };
    let claimed = state
        .store()
        .claim_purges(state.now(), backoff, BATCH)
        .await?;
    let mut done = 0;
    for purge in claimed {
        if attempt(state, &purge.user_id).await && forget(state, &purge.user_id).await {
            done += 1;
        } else {
            tracing::warn!(
                event = "purge_retry",
                user_id = %purge.user_id,
                attempts = purge.attempts,
                retry_in_secs = backoff.after(purge.attempts),
                "account purge not done yet; will retry"
            );
        }
    }
    Ok(done)
}

/// Polls for due purges every `AUTH__PURGE__POLL_SECS`, for as long as the process runs.
pub fn spawn_poller(state: Arc<AppState>) {
    let every = Duration::from_secs(state.settings().purge.poll_secs);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = run_due(&state).await {
                tracing::debug!(error = %err, "purge poll skipped: store unavailable");
            }
        }
    });
}

/// One attempt at every configured tasks-service instance in turn; `true` when one
/// answered 204.
async fn attempt(state: &AppState, user_id: &str) -> bool {
    match state.store().user_by_id(user_id).await {
        Ok(None) => {}
        Ok(Some(_)) => return false, // not deleted (yet): never purge a live account
        Err(_) => return false,
    }
    let token = match state.service_token(CLIENT_ID, SCOPE_TASKS_PURGE) {
        Ok((token, _)) => token,
        Err(err) => {
            tracing::error!(error = %err, "cannot mint the purge token");
            return false;
        }
    };
    for base in &state.settings().purge.tasks_urls {
        let url = format!(
            "{}/internal/users/{user_id}/tasks",
            base.trim_end_matches('/')
        );
        let span = tracing::info_span!("purge_call", otel.kind = "client", tasks = %base);
        let mut request = state.outbound().delete(&url).bearer_auth(&token);
        for (name, value) in service_kit::traces::outgoing(&span) {
            request = request.header(name, value);
        }
        match request.send().instrument(span).await {
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                tracing::info!(event = "account_purged", user_id = %user_id, "the account's tasks are deleted");
                return true;
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), tasks = %base, "tasks-service refused the purge");
            }
            Err(err) => {
                tracing::warn!(error = %err, tasks = %base, "tasks-service unreachable for the purge");
            }
        }
    }
    false
}

async fn forget(state: &AppState, user_id: &str) -> bool {
    match state.store().purge_done(user_id).await {
        Ok(()) => true,
        Err(err) => {
            // Purged but still recorded: the poller repeats it (idempotent) and forgets it.
            tracing::warn!(error = %err, "purge done but not yet forgotten");
            false
        }
    }
}
