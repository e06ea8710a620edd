//! `DELETE /internal/users/{id}/tasks`: every task of a deleted account, for the
//! auth-service. Only a service token with the `tasks:purge` scope may call it (a user's
//! token is a 403 whatever it carries); the front door never routes `/internal/`.

use actix_web::{web, HttpResponse};
use auth_core::actix::{AuthError, Authenticated};
use auth_core::{Subject, SCOPE_TASKS_PURGE};

use service_kit::openapi::ERROR;

use crate::error::ApiError;
use crate::store::TaskStore;

/// Delete every task of a deleted account (idempotent): a service token with the
/// `tasks:purge` scope only. The front door does not route it.
#[utoipa::path(
    delete,
    path = "/internal/users/{id}/tasks",
    operation_id = "purge_user_tasks",
    tag = "internal",
    params(("id" = String, Path, description = "the deleted user's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the user's tasks are gone"),
        (status = 403, description = "`insufficient_scope`: not a service token with `tasks:purge`", body = ref(ERROR)),
        (status = 404, description = "`not_found`: not a user id", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
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
