//! `GET /healthz` (the process answers) and `GET /readyz` (its store answers too, and its
//! keys are there when they come from a JWKS).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::startup::Readiness;
use crate::store::TaskStore;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(
    store: web::Data<dyn TaskStore>,
    readiness: web::Data<Readiness>,
) -> Result<HttpResponse, ApiError> {
    if readiness
        .keys
        .as_ref()
        .is_some_and(|keys| !keys.is_loaded())
    {
        return Err(ApiError::KeysUnavailable);
    }
    store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
