//! How the CLI fails: one readable line on stderr (the service's message and code) and an
//! exit code scripts can branch on.

use std::process::ExitCode;

use tessera_client::{ClientError, StorageError};

/// Exit codes (the README lists them). 2 is clap's usage error.
pub const REFUSED: u8 = 1;
pub const LOGIN_REQUIRED: u8 = 3;
pub const NOT_FOUND: u8 = 4;
pub const UNAVAILABLE: u8 = 5;
pub const LOCAL: u8 = 6;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    Client(ClientError),
    /// Something on this machine: unreadable input, a bad profile name.
    Local(String),
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        CliError::Client(err)
    }
}

impl From<StorageError> for CliError {
    fn from(err: StorageError) -> Self {
        CliError::Client(ClientError::Storage(err))
    }
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Local(_)
            | CliError::Client(ClientError::Storage(_) | ClientError::Setup(_)) => LOCAL,
            CliError::Client(ClientError::LoginRequired { .. }) => LOGIN_REQUIRED,
            CliError::Client(ClientError::Api { status: 401, .. }) => LOGIN_REQUIRED,
            CliError::Client(ClientError::Api { status: 404, .. }) => NOT_FOUND,
            CliError::Client(ClientError::Api { status, .. })
                if *status == 429 || *status >= 500 =>
            {
                UNAVAILABLE
            }
            CliError::Client(ClientError::Api { .. }) => REFUSED,
            CliError::Client(ClientError::Transport { .. } | ClientError::Protocol { .. }) => {
                UNAVAILABLE
            }
        })
    }

    /// The one line shown to the user.
    pub fn message(&self) -> String {
        match self {
            CliError::Local(message) => message.clone(),
            CliError::Client(ClientError::LoginRequired { reason }) => {
                format!("not logged in ({reason}); run `tessera login USERNAME`")
            }
            CliError::Client(ClientError::Api {
                code,
                message,
                retry_after,
                ..
            }) => match retry_after {
                Some(secs) => format!("{message} ({code}; retry in {secs} s)"),
                None => format!("{message} ({code})"),
            },
            CliError::Client(other) => other.to_string(),
        }
    }

    fn code(&self) -> &str {
        match self {
            CliError::Client(ClientError::Api { code, .. }) => code,
            CliError::Client(ClientError::LoginRequired { .. }) => "login_required",
            CliError::Client(ClientError::Transport { .. } | ClientError::Protocol { .. }) => {
                "unavailable"
            }
            CliError::Client(ClientError::Storage(_) | ClientError::Setup(_))
            | CliError::Local(_) => "local_error",
        }
    }
}

/// Prints the error: `tessera: <message>`, or with `--json` the JSON error shape.
pub fn report(err: &CliError, json: bool) {
    if json {
        let body = serde_json::json!({ "error": err.code(), "message": err.message() });
        eprintln!("{body}");
    } else {
        eprintln!("tessera: {}", err.message());
    }
}
