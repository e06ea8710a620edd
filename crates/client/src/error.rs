//! [`ClientError`]: how a call can fail, from the caller's point of view: log in again, the
//! service said no (with its stable code), the service could not be reached, or local
//! token storage failed.

use thiserror::Error;

/// A failed client call.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No usable session: never logged in, logged out, or the refresh token was refused
    /// (expired, revoked, reused). The only remedy is to log in again.
    #[error("not logged in: {reason}")]
    LoginRequired { reason: String },
    /// The service answered with its JSON error. Branch on `code`, never on `message`.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// Seconds from `Retry-After`, when the service sent one (429, 503).
        retry_after: Option<u64>,
    },
    /// The request did not complete: connection refused, timeout, TLS failure.
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The service answered something that is not Tessera's API (wrong URL, a proxy page).
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
    /// Reading or writing the persisted tokens failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The client could not be set up (e.g. an unreadable CA certificate file).
    #[error("{0}")]
    Setup(String),
}

impl ClientError {
    /// The service's error code, for [`ClientError::Api`].
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn transport(err: &reqwest::Error) -> ClientError {
        let url = err
            .url()
            .map_or_else(|| "the service".to_owned(), |url| origin(url.as_str()));
        // reqwest's own Display repeats the URL; the innermost cause says what happened.
        let mut reason = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        ClientError::Transport { url, reason }
    }
}

/// `scheme://host:port` of a URL: error messages name the service, not the path.
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(end) => url[..after_scheme + end].to_owned(),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origin_drops_the_path() {
        assert_eq!(
            origin("http://127.0.0.1:8081/auth/login"),
            "http://127.0.0.1:8081"
        );
        assert_eq!(origin("https://auth.example"), "https://auth.example");
    }
}

/// Reading or writing persisted tokens failed.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Tessera token file ({reason}); delete it and log in again")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
}
