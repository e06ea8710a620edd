//! `GET /healthz` (the process answers) and `GET /readyz` (its store answers too).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::store::TaskStore;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(store: web::Data<dyn TaskStore>) -> Result<HttpResponse, ApiError> {
    store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
