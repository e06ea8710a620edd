//! `DELETE /internal/users/{id}/tasks`: every task of a deleted account, for the
//! auth-service. Only a service token with the `tasks:purge` scope may call it (a user's
//! token is a 403 whatever it carries); the front door never routes `/internal/`.

use actix_web::{web, HttpResponse};
use auth_core::actix::{AuthError, Authenticated};
use auth_core::{Subject, SCOPE_TASKS_PURGE};

use crate::error::ApiError;
use crate::store::TaskStore;

pub async fn purge_user(
    caller: Authenticated,
    user_id: web::Path<String>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let Subject::Service(client) = caller.subject() else {
        return Err(AuthError::MissingScope(SCOPE_TASKS_PURGE).into());
    };
    caller.require_scope(SCOPE_TASKS_PURGE)?;
    // User ids are UUIDs; anything else cannot own tasks (and never reaches a key).
    let user_id = uuid::Uuid::parse_str(&user_id)
        .map_err(|_| ApiError::NotFound)?
        .to_string();
    let purged = store.purge(&user_id).await?;
    tracing::info!(event = "tasks_purged", user_id = %user_id, count = purged, client = %client, "account's tasks deleted");
    Ok(HttpResponse::NoContent().finish())
}
