//! What every Tessera HTTP service shares, so auth-service and tasks-service behave alike
//! at their edges: start-up configuration, logs, error bodies for bad input, Redis.
//!
//! # Layout
//! - [`settings`]: defaults → optional file → environment, with one loader.
//! - [`keys`]: a resource server's verification keys from the `jwt` settings (HS256
//!   secret, public key files), and the pieces the issuer's signing keys share.
//! - [`jwks`]: a resource server's keys fetched from the auth-service's JWKS.
//! - [`secret`]: the HS256 secret rules (file or value, dev fallback, refusals).
//! - [`telemetry`]: tracing subscriber set-up (pretty or JSON), audit lines.
//! - [`traces`]: OpenTelemetry spans over OTLP when `…__OTEL__ENDPOINT` is set.
//! - [`http`]: JSON error bodies for malformed input, 404/405, the request edge middleware
//!   (upgrade refusal, body deadline, request ids), the root span.
//! - [`server`]: the `…__HTTP__*` settings: head/body timeouts, connections per worker,
//!   the raised open-file limit.
//! - [`redis`]: one lazily connected, self-healing Redis connection.
//! - [`revocation`]: the feed that keeps a resource server's revocation view current
//!   (subscribe, load, follow, reconnect), and its `…__REVOCATION__*` settings.
//! - [`outbound`]: the HTTP client for calls to other services.
//! - [`health`]: the `healthcheck` subcommand's probe of the service's own `/readyz`.

pub mod health;
pub mod http;
pub mod jwks;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod redis;
pub mod revocation;
pub mod secret;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod traces;
