//! `GET /healthz` (the process answers) and `GET /readyz` (its store answers too, its
//! keys are there when they come from a JWKS, and its revocation view is current).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use auth_core::{Clock, RevocationView};
use service_kit::health::Ready;
use service_kit::jwks::RemoteKeys;
use service_kit::openapi::ERROR;
use service_kit::revocation::report;

use crate::error::ApiError;
use crate::store::TaskStore;

/// What `/readyz` checks besides the store: the keys, when they are fetched, and the
/// revocation view, when there is a feed.
pub struct Readiness {
    pub keys: Option<Arc<RemoteKeys>>,
    pub revoked: Option<Arc<RevocationView>>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("keys", &self.keys)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// Ready: the store answers, the keys are there when they come from a JWKS, and the
/// revocation view is current.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "ready", body = Ready),
        (status = 503, description = "`store_unavailable`, `keys_unavailable` (no key was ever fetched from the JWKS) or `revocation_stale`", body = ref(ERROR)),
    )
)]
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
    let now = readiness.clock.now();
    let Some(view) = &readiness.revoked else {
        return Ok(HttpResponse::Ok().json(Ready::new(None)));
    };
    if view.is_stale(now) {
        return Err(ApiError::RevocationStale);
    }
    Ok(HttpResponse::Ok().json(Ready::new(Some(report(view, now)))))
}
