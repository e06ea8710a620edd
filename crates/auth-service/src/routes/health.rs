//! `GET /readyz` (`/healthz` is service-kit's), and the public keys at `GET /.well-known/jwks.json`.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};
use service_kit::health::Ready;
use service_kit::openapi::ERROR;
use service_kit::revocation::report;

use crate::error::ApiError;
use crate::state::AppState;

/// Ready: the store answers and the revocation view is current.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "ready", body = Ready),
        (status = 503, description = "`store_unavailable` or `revocation_stale`", body = ref(ERROR)),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.ready().await?;
    let revocation = state.revoked().map(|view| report(view, state.now()));
    Ok(HttpResponse::Ok().json(Ready::new(revocation)))
}

/// `GET /.well-known/jwks.json`'s body (RFC 7517).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the body is auth-core's key set
pub struct JwkSet {
    /// Public keys (`kty` `OKP` for EdDSA, `EC` for ES256), each with `kid`, `alg` and
    /// `use: sig`.
    keys: Vec<serde_json::Value>,
}

/// The public verification keys (next, active and retired); an empty set while signing
/// with an HS256 secret. Cacheable for `AUTH__JWT__JWKS_MAX_AGE_SECS`, which key rotations
/// wait out (plus the reload interval) before a new key signs.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    responses((status = 200, description = "the key set", body = JwkSet, headers(
        ("Cache-Control" = String, description = "`public, max-age=<AUTH__JWT__JWKS_MAX_AGE_SECS>`"),
    )))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let max_age = state.settings().jwt.jwks_max_age_secs;
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, format!("public, max-age={max_age}")))
        .json(state.jwks())
}
