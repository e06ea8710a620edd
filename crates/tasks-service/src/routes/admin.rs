//! `GET /admin/tasks?user=<id>`: any user's tasks, for callers with the `admin` role.
//! `user` is required: listing every user's tasks at once has no bound worth offering.

use actix_web::{web, HttpResponse};
use auth_core::actix::Authenticated;
use auth_core::Role;
use serde::Deserialize;

use service_kit::openapi::ERROR;

use crate::error::ApiError;
use crate::store::TaskStore;
use crate::task::{ListQuery, Page};

/// `user` plus the list parameters. Spelled out rather than `#[serde(flatten)]`, which
/// makes query strings lose their types.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminQuery {
    /// The user id whose tasks to list.
    #[param(required = true, min_length = 1)]
    user: Option<String>,
    /// Only done (`true`) or open (`false`) tasks.
    done: Option<bool>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

/// Any user's tasks: role `admin` only.
#[utoipa::path(
    get,
    path = "/admin/tasks",
    operation_id = "admin_list_tasks",
    tag = "admin",
    params(AdminQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one page of the user's tasks", body = Page),
        (status = 403, description = "`insufficient_scope`: the token lacks the `admin` role", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn list(
    caller: Authenticated,
    query: web::Query<AdminQuery>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let AdminQuery {
        user,
        done,
        limit,
        cursor,
    } = query.into_inner();
    let user = user
        .filter(|user| !user.is_empty())
        .ok_or_else(|| ApiError::validation("`user` is required"))?;
    let filter = ListQuery {
        done,
        limit,
        cursor,
    }
    .validated()?;
    let page = store.list(&user, &filter).await?;
    Ok(HttpResponse::Ok().json(page))
}
