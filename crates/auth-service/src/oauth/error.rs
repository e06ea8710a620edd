//! [`OAuthError`]: the RFC 6749 §5.2 error body of the OAuth endpoints, and the OAuth
//! reading of the service's own errors.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use thiserror::Error;

use crate::error::ApiError;

/// An OAuth endpoint's error (RFC 6749 §5.2, RFC 7009 §2.2.1):
/// `{"error": "<code>", "error_description": "<text>"}`.
#[derive(Debug, Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Answer `WWW-Authenticate: Basic` (RFC 6749 §5.2, `invalid_client`).
    challenge: bool,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            challenge: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_client`, with the Basic challenge RFC 6749 §5.2 asks for.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError {
            challenge: true,
            ..OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub fn code(&self) -> &'static str {
        self.error
    }
}

impl From<ApiError> for OAuthError {
    /// The OAuth reading of the service's own errors: what a grant can fail with.
    fn from(err: ApiError) -> Self {
        let description = err.to_string();
        match err {
            ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::RefreshTokenReused
            | ApiError::SessionExpired => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
            }
            ApiError::Validation(_) => OAuthError::invalid_request(description),
            ApiError::RateLimited { retry_after } => OAuthError {
                retry_after: Some(retry_after.max(1)),
                ..OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", description)
            },
            ApiError::Busy | ApiError::StoreUnavailable(_) => {
                if let ApiError::StoreUnavailable(cause) = &err {
                    // The breaker warned once when it opened; what it refuses meanwhile is routine.
                    if !service_kit::redis::failed_fast(cause) {
                        tracing::warn!(error = %service_kit::http::error_chain(cause), "store unavailable");
                    }
                }
                OAuthError {
                    retry_after: Some(1),
                    ..OAuthError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        description,
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "OAuth request failed");
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.challenge {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="tessera", charset="UTF-8""#),
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.json(ErrorBody {
            error: self.error,
            error_description: &self.description,
        })
    }
}
