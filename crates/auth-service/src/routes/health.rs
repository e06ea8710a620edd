//! `GET /healthz`, `GET /readyz`, and the public keys at `GET /.well-known/jwks.json`.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.ready().await?;
    Ok(HttpResponse::Ok().json(match state.revoked() {
        Some(view) => json!({
            "status": "ready",
            "revocation": service_kit::revocation::report(view, state.now()),
        }),
        None => json!({ "status": "ready" }),
    }))
}

/// The public verification keys (next, active and retired); an empty set while signing
/// with an HS256 secret. Cacheable for `AUTH__JWT__JWKS_MAX_AGE_SECS`, which key rotations
/// wait out (plus the reload interval) before a new key signs.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let max_age = state.settings().jwt.jwks_max_age_secs;
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, format!("public, max-age={max_age}")))
        .json(state.jwks())
}
