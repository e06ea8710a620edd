//! Tessera's client: a [`Session`] that holds an access/refresh token pair and performs
//! authenticated requests, refreshing transparently; typed calls for the auth-service and
//! tasks-service APIs; and (as the `tessera` binary) the CLI built on them.
//!
//! # Layout
//! - [`session`]: [`Session`]: login, proactive and reactive refresh (single flight),
//!   logout; every authenticated request goes through [`Session::request`].
//! - [`tokens`]: [`Tokens`], the token pair and when to refresh it; token responses.
//! - [`store`]: [`TokenStore`], where a session's tokens persist: in memory or a 0600 file.
//! - [`api`]: typed calls: the account endpoints on [`Session`], and [`TasksClient`].
//! - [`wire`]: the HTTP client, sending, and reading answers and error bodies.
//! - [`error`]: [`ClientError`]; [`ClientError::LoginRequired`] means "log in again".
//!
//! HTTPS uses rustls with ring and the platform's trust store; the process-wide rustls
//! provider is installed on first use (see [`session::http_client`]).

pub mod api;
pub mod error;
pub mod session;
pub mod store;
pub mod tokens;
pub mod wire;

pub use api::{Me, RegisteredUser, SessionInfo, Task, TaskPage, TaskPatch, TasksClient};
pub use error::ClientError;
pub use session::{Session, SessionBuilder};
pub use store::{FileStore, MemoryStore, StorageError, TokenStore};
pub use tokens::Tokens;
