//! [`ApiError`]: every way an auth-service request can fail, as the one JSON error shape
//! with a stable code. Internal causes are logged whole; clients get a plain message.
//! [`StartupError`]: every way the service can refuse to start, naming the setting.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use auth_core::actix::{error_response, AuthError};
use auth_core::SetupError;
use service_kit::http::error_chain;
use service_kit::redis::RedisSetupError;
use service_kit::secret::SecretError;
use service_kit::server::ServeError;
use thiserror::Error;

use crate::keys::SigningKeyError;
use crate::password::PasswordError;
use crate::store::StoreError;

/// A failed request.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("too many attempts; retry in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error("the refresh token is invalid or its session has ended")]
    InvalidRefreshToken,
    #[error("this refresh token was already used; the session has been revoked, log in again")]
    RefreshTokenReused,
    #[error("the session has expired; log in again")]
    SessionExpired,
    #[error("no such session")]
    NotFound,
    #[error("cross-site request refused: {0}")]
    Csrf(&'static str),
    #[error("the server is busy; retry shortly")]
    Busy,
    #[error("the credential store is unavailable; retry shortly")]
    StoreUnavailable(#[source] StoreError),
    /// 503 `revocation_stale` (readiness only): the revocation view has not heard from
    /// Redis within `AUTH__REVOCATION__MAX_STALENESS_SECS`.
    #[error("the revocation view is stale: no word from Redis within the limit")]
    RevocationStale,
    /// A fault of ours; the cause is logged whole, the client sees a plain message.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::Validation(message.into())
    }

    /// An internal error keeping `cause` (and its chain) for the log.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Box::new(cause))
    }

    /// The stable machine code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::UsernameTaken => "username_taken",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::InvalidRefreshToken => "invalid_refresh_token",
            ApiError::RefreshTokenReused => "refresh_token_reused",
            ApiError::SessionExpired => "session_expired",
            ApiError::NotFound => "not_found",
            ApiError::Csrf(_) => "csrf_rejected",
            ApiError::Busy => "server_busy",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::RevocationStale => "revocation_stale",
            ApiError::Internal(_) => "internal_error",
            ApiError::Auth(err) => err.code(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UsernameTaken => ApiError::UsernameTaken,
            unavailable @ StoreError::Unavailable(_) => ApiError::StoreUnavailable(unavailable),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy => ApiError::Busy,
            internal @ PasswordError::Internal { .. } => ApiError::internal(internal),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::UsernameTaken => StatusCode::CONFLICT,
            ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::RefreshTokenReused
            | ApiError::SessionExpired => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Csrf(_) => StatusCode::FORBIDDEN,
            ApiError::Busy | ApiError::StoreUnavailable(_) | ApiError::RevocationStale => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Auth(err) => err.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let retry_after = match self {
            ApiError::Auth(err) => return err.error_response(),
            ApiError::Internal(cause) => {
                tracing::error!(error = %error_chain(cause.as_ref()), "internal error");
                None
            }
            ApiError::StoreUnavailable(cause) => {
                // The breaker warned once when it opened; what it refuses meanwhile is routine.
                if !service_kit::redis::failed_fast(cause) {
                    tracing::warn!(error = %error_chain(cause), "store unavailable");
                }
                Some(1)
            }
            ApiError::RateLimited { retry_after } => Some((*retry_after).max(1)),
            ApiError::Busy | ApiError::RevocationStale => Some(1),
            _ => None,
        };
        let mut response = error_response(self.status_code(), self.code(), &self.to_string());
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Why the service did not start. Each message names the setting to fix.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Keys(#[from] SigningKeyError),
    #[error("invalid JWT settings (AUTH__JWT__*): {0}")]
    Jwt(#[from] SetupError),
    #[error("invalid AUTH__PASSWORD__* settings: {0}")]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Redis(#[from] RedisSetupError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
