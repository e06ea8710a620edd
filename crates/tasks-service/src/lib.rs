//! tasks-service: Tessera's example resource server. A per-user task list whose callers are
//! identified only by verifying their access token with auth-core; it never calls the
//! auth-service or consults a session store to decide who the caller is.
//!
//! # Layout
//! - [`config`]: [`Settings`] (`TASKS__*`), the start-up refusal rules.
//! - [`startup`]: [`Application`]: builds shared state once, binds, serves.
//! - [`routes`]: handlers for `/tasks`, `/me`, `/admin/tasks`, `/healthz`, `/readyz`.
//! - [`task`]: the task model and input validation.
//! - [`store`]: the [`store::TaskStore`] trait, Redis and in-memory implementations.
//! - [`error`]: [`error::ApiError`], the JSON error of every handler.

pub mod config;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod store;
pub mod task;

pub use config::Settings;
pub use startup::{Application, StartupError};
