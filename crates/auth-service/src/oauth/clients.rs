//! The client registry: public and confidential clients, their authentication, the
//! scopes a grant may carry, and new client secrets.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use super::OAuthError;
use crate::config::ClientSettings;

/// Longest client id accepted (configured or presented).
const MAX_CLIENT_ID_LEN: usize = 64;
/// Random bytes in a generated client secret.
const SECRET_BYTES: usize = 32;

/// A client that has proven who it is (or, for a public client, said so).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    Public(String),
    Confidential { id: String, scopes: Vec<String> },
}

impl Client {
    pub fn id(&self) -> &str {
        match self {
            Client::Public(id) | Client::Confidential { id, .. } => id,
        }
    }
}

/// What the request offered to authenticate the client. `Debug` shows ids, never secrets.
#[derive(Default)]
pub struct Presented<'a> {
    /// `Authorization: Basic` credentials, already decoded.
    pub basic: Option<(String, String)>,
    pub body_id: Option<&'a str>,
    pub body_secret: Option<&'a str>,
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("basic_id", &self.basic.as_ref().map(|(id, _)| id))
            .field("body_id", &self.body_id)
            .field("body_secret", &self.body_secret.map(|_| "<redacted>"))
            .finish()
    }
}

/// The configured clients, checked once at start-up.
#[derive(Debug)]
pub struct Clients {
    public: HashSet<String>,
    confidential: Vec<(ClientSettings, [u8; 32])>,
}

impl Clients {
    /// Validates the configuration: ids well-formed and unique across both kinds, hashes
    /// 32 bytes, scopes well-formed.
    /// Empty entries in `public` are ignored (an empty `AUTH__OAUTH__PUBLIC_CLIENTS`
    /// means none).
    pub fn new(public: &[String], confidential: &[ClientSettings]) -> Result<Clients, String> {
        let public: Vec<&String> = public.iter().filter(|id| !id.is_empty()).collect();
        let mut seen = HashSet::new();
        for id in public
            .iter()
            .copied()
            .chain(confidential.iter().map(|c| &c.id))
        {
            if !valid_client_id(id) {
                return Err(format!(
                    "OAuth client id {id:?} must be 1 to {MAX_CLIENT_ID_LEN} characters of [A-Za-z0-9._-]"
                ));
            }
            if !seen.insert(id.as_str()) {
                return Err(format!("OAuth client id {id:?} is configured twice"));
            }
        }
        let confidential = confidential
            .iter()
            .map(|client| {
                let hash = B64
                    .decode(&client.secret_sha256)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        format!(
                            "OAuth client {:?}: secret_sha256 is not a base64url SHA-256 \
                             (make one with `auth-service clients new`)",
                            client.id
                        )
                    })?;
                if let Some(bad) = client.scopes.iter().find(|scope| !valid_scope_token(scope)) {
                    return Err(format!(
                        "OAuth client {:?}: invalid scope {bad:?}",
                        client.id
                    ));
                }
                Ok((client.clone(), hash))
            })
            .collect::<Result<_, String>>()?;
        Ok(Clients {
            public: public.into_iter().cloned().collect(),
            confidential,
        })
    }

    /// Every scope some client may be granted (for the metadata document).
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .confidential
            .iter()
            .flat_map(|(client, _)| client.scopes.iter().cloned())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Authenticates the client of a request: exactly one method (RFC 6749 §2.3), a
    /// confidential client's secret checked, a public client named by `client_id` alone.
    pub fn authenticate(&self, presented: &Presented<'_>) -> Result<Client, OAuthError> {
        let (id, secret) = match (&presented.basic, presented.body_secret) {
            (Some(_), Some(_)) => return Err(OAuthError::invalid_request(
                "use one client authentication method, not HTTP Basic and client_secret together",
            )),
            (Some((id, secret)), None) => {
                if presented.body_id.is_some_and(|body_id| body_id != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the HTTP Basic client",
                    ));
                }
                (id.as_str(), Some(secret.as_str()))
            }
            (None, secret) => match presented.body_id {
                Some(id) => (id, secret),
                None => {
                    return Err(OAuthError::invalid_client(
                        "client authentication is required",
                    ))
                }
            },
        };
        let Some(secret) = secret else {
            return if self.public.contains(id) {
                Ok(Client::Public(id.to_owned()))
            } else {
                Err(OAuthError::invalid_client(
                    "unknown client, or a secret is required",
                ))
            };
        };
        let offered = digest(&SHA256, secret.as_bytes());
        let matched = self
            .confidential
            .iter()
            .find(|(client, hash)| client.id == id && same_digest(offered.as_ref(), hash));
        match matched {
            Some((client, _)) => Ok(Client::Confidential {
                id: client.id.clone(),
                scopes: client.scopes.clone(),
            }),
            None => Err(OAuthError::invalid_client("client authentication failed")),
        }
    }
}

/// Constant-time equality of two digests.
fn same_digest(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn valid_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The scopes to grant a confidential client: what it asked for (space-separated), which
/// must all be allowed, or everything it is allowed when it asked for nothing.
pub fn grant_scopes(requested: Option<&str>, allowed: &[String]) -> Result<String, OAuthError> {
    let requested: Vec<&str> = requested
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if requested.is_empty() {
        return Ok(allowed.join(" "));
    }
    if let Some(bad) = requested
        .iter()
        .find(|scope| !allowed.iter().any(|a| a == *scope))
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope {bad:?} is not available to this client"),
        ));
    }
    let mut granted: Vec<&str> = Vec::with_capacity(requested.len());
    for scope in requested {
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted.join(" "))
}

/// A new client secret and the hash to configure for it.
pub fn new_secret() -> Result<(String, String), ring::error::Unspecified> {
    let mut bytes = [0u8; SECRET_BYTES];
    SystemRandom::new().fill(&mut bytes)?;
    let secret = B64.encode(bytes);
    let hash = B64.encode(digest(&SHA256, secret.as_bytes()));
    Ok((secret, hash))
}
