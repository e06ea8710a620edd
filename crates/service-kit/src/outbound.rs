//! HTTP clients for the calls a service makes itself (the auth-service's account purge at
//! the tasks-service, for one).

/// A reqwest client with a per-request timeout and no redirects (the same builder the
/// JWKS fetcher uses, with rustls's provider installed first).
pub use auth_core::jwks::http_client as client;
