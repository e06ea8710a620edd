//! `auth-service`: serve (the default), run an operator command against the store, or
//! probe a running instance (`healthcheck`). See [`auth_service::cli`].

use std::process::ExitCode;

use auth_service::cli::{self, Cli};
use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
