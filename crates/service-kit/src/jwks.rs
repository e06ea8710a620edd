//! A resource server's keys from the auth-service's JWKS (`…__JWT__JWKS_URL`): auth-core's
//! fetcher ([`auth_core::jwks`]), configured from the service's [`JwtSettings`], sending
//! each fetch's trace context when traces are on.

use std::sync::Arc;

pub use auth_core::jwks::{JwksError, RemoteKeys};
use auth_core::{Clock, Verifier};

use crate::settings::JwtSettings;

/// The fetcher for `jwt.jwks_url`, filling `verifier`; `None` without a URL.
pub fn remote_keys(
    jwt: &JwtSettings,
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
) -> Result<Option<RemoteKeys>, JwksError> {
    let Some(url) = &jwt.jwks_url else {
        return Ok(None);
    };
    let keys = RemoteKeys::new(url, jwt.algorithm.algorithm(), verifier, clock)?
        .refresh_secs(jwt.jwks_refresh_secs)
        .min_interval_secs(jwt.jwks_min_interval_secs)
        .with_request_headers(|| {
            crate::traces::outgoing(&tracing::Span::current())
                .into_iter()
                .collect()
        });
    Ok(Some(keys))
}
