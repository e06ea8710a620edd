//! `/tasks` and `/tasks/{id}`: the caller's own tasks, and nobody else's.

use actix_web::{web, HttpResponse};
use auth_core::actix::Authenticated;

use service_kit::openapi::ERROR;

use crate::error::ApiError;
use crate::store::TaskStore;
use crate::task::{
    is_task_id, now_rfc3339, valid_title, ListQuery, NewTask, Page, Task, TaskPatch,
};

/// The caller's tasks, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/tasks",
    operation_id = "list_tasks",
    tag = "tasks",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one page", body = Page),
        (status = 403, description = "`insufficient_scope`: a service token has no tasks", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn list(
    user: Authenticated,
    query: web::Query<ListQuery>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.into_inner().validated()?;
    let page = store.list(user.require_user()?, &filter).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Add a task.
#[utoipa::path(
    post,
    path = "/tasks",
    operation_id = "create_task",
    tag = "tasks",
    request_body = NewTask,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "created", body = Task, headers(("Location" = String, description = "`/tasks/{id}`")),
            links(
                ("get" = (operation_id = "get_task", parameters(("id" = "$response.body#/id")))),
                ("update" = (operation_id = "update_task", parameters(("id" = "$response.body#/id")))),
                ("delete" = (operation_id = "delete_task", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 403, description = "`insufficient_scope`: a service token has no tasks", body = ref(ERROR)),
        (status = 409, description = "`task_limit`: the caller has 1000 tasks", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn create(
    user: Authenticated,
    body: web::Json<NewTask>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let task = Task::new(valid_title(&body.title)?);
    store.create(user.require_user()?, &task).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/tasks/{}", task.id)))
        .json(task))
}

/// One of the caller's tasks.
#[utoipa::path(
    get,
    path = "/tasks/{id}",
    operation_id = "get_task",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the task", body = Task),
        (status = 403, description = "`insufficient_scope`: a service token has no tasks", body = ref(ERROR)),
        (status = 404, description = "`not_found`: no such task of the caller (another user's included)", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn get(
    user: Authenticated,
    id: web::Path<String>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let id = task_id(id)?;
    let task = store
        .get(user.require_user()?, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(task))
}

/// Change a task's title and/or done flag.
#[utoipa::path(
    patch,
    path = "/tasks/{id}",
    operation_id = "update_task",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    request_body = TaskPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the changed task", body = Task),
        (status = 403, description = "`insufficient_scope`: a service token has no tasks", body = ref(ERROR)),
        (status = 404, description = "`not_found`", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn update(
    user: Authenticated,
    id: web::Path<String>,
    body: web::Json<TaskPatch>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let id = task_id(id)?;
    let patch = body.into_inner().validated()?;
    let task = store
        .update(user.require_user()?, &id, &patch, &now_rfc3339())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(task))
}

/// Delete a task.
#[utoipa::path(
    delete,
    path = "/tasks/{id}",
    operation_id = "delete_task",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "`insufficient_scope`: a service token has no tasks", body = ref(ERROR)),
        (status = 404, description = "`not_found`", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn delete(
    user: Authenticated,
    id: web::Path<String>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let id = task_id(id)?;
    match store.delete(user.require_user()?, &id).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(ApiError::NotFound),
    }
}

/// A malformed id cannot name a task: 404, as for any unknown id.
fn task_id(id: web::Path<String>) -> Result<String, ApiError> {
    let id = id.into_inner();
    if is_task_id(&id) {
        Ok(id)
    } else {
        Err(ApiError::NotFound)
    }
}
