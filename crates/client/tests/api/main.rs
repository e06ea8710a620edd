//! The client against real services: an auth-service and a tasks-service started
//! in-process on loopback, sharing one clock the tests move.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod cli;
mod helpers;
mod https;
mod service;
mod session;
