//! [`ApiError`]: every way a tasks-service request can fail, rendered as the one JSON error
//! shape. Internal causes are logged whole; clients get a stable code and a plain message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use auth_core::actix::{error_response, AuthError};
use service_kit::http::error_chain;
use thiserror::Error;

use crate::store::StoreError;
use crate::task::Invalid;

/// A failed request.
#[derive(Debug, Error)]
pub enum ApiError {
    /// 400 `validation_failed`.
    #[error("{0}")]
    Validation(String),
    /// 404 `not_found` — also for another user's task, so ids cannot be probed.
    #[error("no such task")]
    NotFound,
    /// 409 `task_limit`.
    #[error("a user may have at most {} tasks", crate::store::MAX_TASKS_PER_USER)]
    TaskLimit,
    /// 503 `store_unavailable`.
    #[error("the task store is unavailable, try again shortly")]
    StoreUnavailable(#[source] StoreError),
    /// 503 `keys_unavailable` (readiness only): no keys fetched from the JWKS yet.
    #[error("no verification keys fetched from TASKS__JWT__JWKS_URL yet")]
    KeysUnavailable,
    /// 503 `revocation_stale` (readiness only): the revocation view has not heard from
    /// Redis within `TASKS__REVOCATION__MAX_STALENESS_SECS`.
    #[error("the revocation view is stale: no word from Redis within the limit")]
    RevocationStale,
    /// 401 / 403 from authentication.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl ApiError {
    /// A 400 with this message.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::Validation(message.into())
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::NotFound => "not_found",
            ApiError::TaskLimit => "task_limit",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::KeysUnavailable => "keys_unavailable",
            ApiError::RevocationStale => "revocation_stale",
            ApiError::Auth(err) => err.code(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::TaskLimit => ApiError::TaskLimit,
            unavailable @ StoreError::Unavailable(_) => ApiError::StoreUnavailable(unavailable),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(err: Invalid) -> Self {
        ApiError::Validation(err.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::TaskLimit => StatusCode::CONFLICT,
            ApiError::StoreUnavailable(_)
            | ApiError::KeysUnavailable
            | ApiError::RevocationStale => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Auth(err) => err.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Auth(err) => err.error_response(),
            ApiError::StoreUnavailable(cause) => {
                // The breaker warned once when it opened; what it refuses meanwhile is routine.
                if !service_kit::redis::failed_fast(cause) {
                    tracing::warn!(error = %error_chain(cause), "task store unavailable");
                }
                let mut response =
                    error_response(self.status_code(), self.code(), &self.to_string());
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("1"),
                );
                response
            }
            _ => error_response(self.status_code(), self.code(), &self.to_string()),
        }
    }
}
