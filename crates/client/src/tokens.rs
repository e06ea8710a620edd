//! [`Tokens`]: a session's token pair, what it belongs to and when to refresh it, and how a
//! token response becomes one. Persisted by [`crate::store`], used by [`crate::Session`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ClientError;

/// Refresh this long before the access token expires (or a quarter of its lifetime, if
/// that is shorter), so a request never leaves with a token about to die in flight.
pub const REFRESH_MARGIN_SECS: u64 = 30;

/// A logged-in token pair and what it belongs to. `Debug` never shows the tokens.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    /// Empty for client-credentials tokens, which are renewed with the client's credentials.
    pub refresh_token: String,
    /// When the access token expires (Unix seconds, by this client's clock).
    pub expires_at: u64,
    /// When to refresh it proactively (Unix seconds).
    pub refresh_at: u64,
    pub session_id: String,
    /// The auth-service that issued them (no trailing slash).
    pub auth_url: String,
    /// The name used at login, for display.
    #[serde(default)]
    pub username: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .field("session_id", &self.session_id)
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A token response: the auth-service's (JSON mode: the refresh token is in the body) or
/// an OAuth2 token endpoint's (RFC 6749 §5.1: no refresh token for client credentials).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
    #[serde(default)]
    session_id: String,
}

impl TokenResponse {
    pub(crate) fn into_tokens(self, now: u64, auth_url: &str, username: Option<String>) -> Tokens {
        let margin = REFRESH_MARGIN_SECS.min(self.expires_in / 4);
        Tokens {
            access_token: self.access_token,
            refresh_token: self.refresh_token.unwrap_or_default(),
            expires_at: now + self.expires_in,
            refresh_at: now + self.expires_in - margin,
            session_id: self.session_id,
            auth_url: auth_url.to_owned(),
            username,
        }
    }

    /// Tokens of a user session, which must come with a refresh token.
    pub(crate) fn into_user_tokens(
        self,
        now: u64,
        auth_url: &str,
        username: Option<String>,
    ) -> Result<Tokens, ClientError> {
        if self.refresh_token.is_none() {
            return Err(ClientError::Protocol {
                url: auth_url.to_owned(),
                detail: "the token response has no refresh_token".to_owned(),
            });
        }
        Ok(self.into_tokens(now, auth_url, username))
    }
}
