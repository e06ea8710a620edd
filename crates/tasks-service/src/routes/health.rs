//! `GET /healthz` (the process answers) and `GET /readyz` (its store answers too, and its
//! keys are there when they come from a JWKS).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde_json::json;
use service_kit::jwks::RemoteKeys;

use crate::error::ApiError;
use crate::store::TaskStore;

/// What `/readyz` checks besides the store: the keys, when they are fetched.
#[derive(Debug)]
pub struct Readiness {
    pub keys: Option<Arc<RemoteKeys>>,
}

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
