//! auth-service over real HTTP on loopback, on the in-memory store and on private
//! redis-servers. Time moves only through each app's `ManualClock`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account_deletion;
mod admin;
mod bad_input;
mod browser;
mod cluster;
mod concurrency;
mod credential_races;
mod forward_auth;
mod held_store;
mod helpers;
mod key_rotation;
mod lifecycle;
mod metrics;
mod oauth;
mod oauth2_client;
mod outage;
mod purge_queue;
mod rate_limit;
mod revocation;
mod sessions;
mod signing_modes;
mod slow_clients;
