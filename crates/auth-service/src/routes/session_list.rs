//! `GET /auth/sessions` and `DELETE /auth/sessions/{id}`: the caller's own sessions.

use std::time::{Duration, SystemTime};

use actix_web::{web, HttpResponse};
use auth_core::actix::Authenticated;
use serde::Serialize;

use crate::error::ApiError;
use crate::refresh::SessionId;
use crate::sessions::AppState;

#[derive(Serialize)]
struct Listed {
    id: String,
    created_at: String,
    last_used_at: String,
    user_agent: String,
    ip: String,
    current: bool,
}

#[derive(Serialize)]
struct Sessions {
    sessions: Vec<Listed>,
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .to_string()
}

pub async fn list(
    user: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let current = state.current_user(user.claims()).await?;
    let now = state.clock.now();
    let sessions = state
        .store
        .sessions(&current.id, now, state.settings.refresh.idle_secs)
        .await?
        .into_iter()
        .map(|s| Listed {
            current: s.id == user.sid,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            id: s.id,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Sessions { sessions }))
}

/// Ends one of the caller's sessions; another user's session id is the same 404 as an
/// unknown one.
pub async fn revoke(
    user: Authenticated,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let current = state.current_user(user.claims()).await?;
    let sid = SessionId::parse(&id)
        .filter(|sid| sid.user().to_string() == current.id)
        .ok_or(ApiError::NotFound)?;
    if state.store.end_session(&sid).await? {
        tracing::info!(event = "session_revoked", user_id = %current.id, session_id = %sid, "session ended by its owner");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}
