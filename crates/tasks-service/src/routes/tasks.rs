//! `/tasks` and `/tasks/{id}`: the caller's own tasks, and nobody else's.

use actix_web::{web, HttpResponse};
use auth_core::actix::Authenticated;

use crate::error::ApiError;
use crate::store::TaskStore;
use crate::task::{is_task_id, now_rfc3339, valid_title, ListQuery, NewTask, Task, TaskPatch};

pub async fn list(
    user: Authenticated,
    query: web::Query<ListQuery>,
    store: web::Data<dyn TaskStore>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.into_inner().validated()?;
    let page = store.list(user.require_user()?, &filter).await?;
    Ok(HttpResponse::Ok().json(page))
}

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
