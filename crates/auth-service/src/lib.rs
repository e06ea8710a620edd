//! auth-service: registers users, checks passwords, issues access tokens and rotating
//! refresh tokens. The only component that touches credentials and session state.
//!
//! # Layout
//! - [`config`]: [`Settings`] (`AUTH__*`) and their checks.
//! - [`startup`]: [`Application`]: the state built once, bound, served.
//! - [`state`]: [`state::AppState`], the parts every request shares (private fields).
//! - [`routes`]: the HTTP surface (`/auth/*`, `/oauth/*`, `/.well-known/*`, health).
//! - [`oauth`]: OAuth 2.0 clients, their authentication and scopes, RFC 6749 errors.
//! - [`sessions`]: login, refresh, logout — the token lifecycle over the store; every
//!   logout, session end, version bump and deletion also revokes the access tokens it
//!   concerns (the store records the entry; see `service_kit::revocation`).
//! - [`introspection`]: RFC 7662 answers for gateways and other languages.
//! - [`refresh`]: refresh-token format, hashing, successor derivation.
//! - [`password`]: username/password rules, argon2id on a bounded pool.
//! - [`store`]: [`store::AuthStore`], Redis and in-memory implementations.
//! - [`browser`]: cookie transport of the refresh token and its CSRF checks.
//! - [`error`]: [`error::ApiError`], the JSON error of every handler, and [`StartupError`].
//! - [`purge`]: deleting a deleted account's tasks, durably, with retries.
//! - [`keys`]: the signing keys: the ring from settings, the rotating key set on disk,
//!   its reloading in running instances.
//! - [`admin`]: the admin role: `users grant-admin` / `revoke-admin`, `AUTH__ADMINS`.
//! - [`audit`]: the audit trail: security events as JSON lines on the `audit` target.
//! - [`cli`]: the command line: serve, `healthcheck`, `users`, `clients`, `keys`.

pub mod admin;
pub mod audit;
pub mod browser;
pub mod cli;
pub mod config;
pub mod error;
pub mod introspection;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod password;
pub mod purge;
pub mod refresh;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod store;

pub use config::Settings;
pub use error::StartupError;
pub use startup::Application;
