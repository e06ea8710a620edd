//! HTTP clients for the calls a service makes itself (the auth-service's account purge at
//! the tasks-service, for one).

use std::sync::Once;
use std::time::Duration;

/// A reqwest client with `timeout` per request and no redirects, with ring installed first
/// as rustls's process-wide provider: when the whole workspace builds together, reqwest
/// carries the client crate's `rustls-no-provider` feature and panics on building a client
/// while no provider is installed.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Fails only when a provider is installed already, which then serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
