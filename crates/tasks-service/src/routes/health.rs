//! `GET /healthz` (the process answers) and `GET /readyz` (its store answers too, its
//! keys are there when they come from a JWKS, and its revocation view is current).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use auth_core::{Clock, RevocationView};
use serde_json::json;
use service_kit::jwks::RemoteKeys;

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
    let now = readiness.clock.now();
    let Some(view) = &readiness.revoked else {
        return Ok(HttpResponse::Ok().json(json!({ "status": "ready" })));
    };
    if view.is_stale(now) {
        return Err(ApiError::RevocationStale);
    }
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "revocation": service_kit::revocation::report(view, now),
    })))
}
