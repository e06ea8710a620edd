//! `GET /healthz`, `GET /readyz`, and the public keys at `GET /.well-known/jwks.json`.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::sessions::AppState;

/// How long resource servers may cache the JWKS.
const JWKS_MAX_AGE_SECS: u32 = 300;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

/// The public verification keys; an empty set while signing with an HS256 secret.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        ))
        .json(state.verifier.keys().jwks())
}
