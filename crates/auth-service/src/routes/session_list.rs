//! `GET /auth/me`, `GET /auth/sessions` and `DELETE /auth/sessions/{id}`: the caller's own
//! account and sessions.

use std::time::{Duration, SystemTime};

use actix_web::{web, HttpResponse};
use auth_core::actix::Authenticated;
use auth_core::Role;
use serde::Serialize;

use service_kit::openapi::ERROR;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Listed {
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: String,
    user_agent: String,
    ip: String,
    current: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Sessions {
    sessions: Vec<Listed>,
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .to_string()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me<'a> {
    user_id: &'a str,
    username: &'a str,
    #[schema(value_type = String, pattern = "^(user|admin)$")]
    role: Role,
}

/// Who the caller is, by the store (so a revoked token is refused here too): what a page
/// shows after a reload, when all it has is a fresh access token.
#[utoipa::path(
    get,
    path = "/auth/me",
    operation_id = "auth_me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's account", body = Me),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn me(user: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let current = state.current_user(user.claims()).await?;
    Ok(HttpResponse::Ok().json(Me {
        user_id: &current.id,
        username: &current.username,
        role: current.role,
    }))
}

/// The caller's live sessions, `current` marking the one this token belongs to.
#[utoipa::path(
    get,
    path = "/auth/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the sessions", body = Sessions),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn list(
    user: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sessions = state
        .sessions_of(user.claims())
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

/// Ends one of the caller's sessions (404 for another user's, as for an unknown one).
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    operation_id = "end_session",
    tag = "sessions",
    params(("id" = String, Path, description = "a session id from `GET /auth/sessions`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the session ended; its access tokens are revoked"),
        (status = 404, description = "`not_found`: no such session of the caller", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn revoke(
    user: Authenticated,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.end_session_of(user.claims(), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
