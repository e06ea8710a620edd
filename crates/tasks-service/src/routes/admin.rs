//! `GET /admin/tasks?user=<id>`: any user's tasks, for callers with the `admin` role.
//! `user` is required: listing every user's tasks at once has no bound worth offering.

use actix_web::{web, HttpResponse};
use auth_core::actix::Authenticated;
use auth_core::Role;
use serde::Deserialize;

use crate::error::ApiError;
use crate::store::TaskStore;
use crate::task::ListQuery;

/// `user` plus the list parameters. Spelled out rather than `#[serde(flatten)]`, which
/// makes query strings lose their types.
#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    user: Option<String>,
    done: Option<bool>,
    limit: Option<usize>,
    cursor: Option<String>,
}

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
