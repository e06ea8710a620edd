//! `tessera`: the command-line client. Each run loads the profile's tokens, makes its
//! calls through a [`Session`] (which refreshes and saves rotated tokens), prints a result
//! and exits with a code scripts can rely on (see [`exit`]).

mod exit;
mod profile;
mod run;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Tessera's command-line client: log in, manage tasks and sessions.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    /// The auth-service (or the front door in front of it).
    #[arg(
        long,
        global = true,
        env = "TESSERA_AUTH_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub auth_url: String,
    /// The tasks-service (or the front door in front of it).
    #[arg(
        long,
        global = true,
        env = "TESSERA_TASKS_URL",
        default_value = "http://127.0.0.1:8082"
    )]
    pub tasks_url: String,
    /// Which saved login to use; several accounts can be logged in at once.
    #[arg(
        long,
        global = true,
        env = "TESSERA_PROFILE",
        default_value = "default"
    )]
    pub profile: String,
    /// Also trust the CA certificates in this PEM file (a deployment with its own CA:
    /// `keys/tls/ca.pem` from `make keys`).
    #[arg(long, global = true, env = "TESSERA_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account (then `tessera login`).
    Register(Credentials),
    /// Log in and save the session to the profile.
    Login(Credentials),
    /// Show who the tasks-service says you are.
    Whoami,
    /// Your tasks.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Your sessions (devices and browsers logged in).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// End this session (with --all: every session of the account).
    Logout {
        #[arg(long)]
        all: bool,
    },
    /// Account password.
    #[command(subcommand)]
    Password(PasswordCommand),
}

#[derive(Debug, Args)]
pub struct Credentials {
    pub username: String,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List tasks, newest first.
    List {
        /// Only finished tasks.
        #[arg(long, conflicts_with = "open")]
        done: bool,
        /// Only unfinished tasks.
        #[arg(long)]
        open: bool,
    },
    /// Add a task.
    Add {
        #[arg(required = true, num_args = 1..)]
        title: Vec<String>,
    },
    /// Mark a task done.
    Done { id: String },
    /// Mark a task not done.
    Undo { id: String },
    /// Delete a task.
    Rm { id: String },
    /// Change a task's title.
    Edit {
        id: String,
        #[arg(required = true, num_args = 1..)]
        title: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List your sessions; `*` marks this one.
    List,
    /// End one session by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum PasswordCommand {
    /// Change your password; every other session ends.
    Change {
        /// Read the current and the new password from the first two lines of standard
        /// input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            exit::report(&err, json);
            err.exit_code()
        }
    }
}
