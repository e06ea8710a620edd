//! tasks-service over real HTTP on loopback, with the in-memory store and with a private
//! redis-server. Tokens are minted here with auth-core; no auth-service is involved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod auth;
mod bad_input;
mod cors;
mod helpers;
mod internal;
mod isolation;
mod metrics;
mod redis_auth;
mod redis_outage;
mod slow_clients;
mod store;
mod tasks;
