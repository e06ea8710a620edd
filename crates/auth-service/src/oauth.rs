//! OAuth 2.0 clients (RFC 6749 §2): who may ask `/oauth/token` for what, client
//! authentication, scopes, and the RFC 6749 §5.2 error shape of the OAuth endpoints.
//!
//! Two kinds of client:
//! - **public** first-party clients (`tessera-cli`, `tessera-web` by default) identify
//!   themselves with `client_id` alone and may use the `password` and `refresh_token`
//!   grants (RFC 6749 §2.1: they cannot keep a secret, so none is asked for);
//! - **confidential** clients (services) are configured with an id, the SHA-256 of a
//!   generated secret and the scopes they may be granted; they authenticate with HTTP
//!   Basic or `client_secret_post` and use the `client_credentials` grant.
//!
//! Secrets are 256-bit random values made by `auth-service clients new`, so a fast hash
//! is enough (nothing to brute-force) and only the hash is ever configured.

use std::collections::HashSet;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use thiserror::Error;

use crate::error::ApiError;

/// Longest client id accepted (configured or presented).
const MAX_CLIENT_ID_LEN: usize = 64;
/// Random bytes in a generated client secret.
const SECRET_BYTES: usize = 32;

pub use crate::config::ClientSettings;

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

/// An OAuth endpoint's error (RFC 6749 §5.2, RFC 7009 §2.2.1):
/// `{"error": "<code>", "error_description": "<text>"}`.
#[derive(Debug, Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Answer `WWW-Authenticate: Basic` (RFC 6749 §5.2, `invalid_client`).
    challenge: bool,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            challenge: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_client`, with the Basic challenge RFC 6749 §5.2 asks for.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError {
            challenge: true,
            ..OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub fn code(&self) -> &'static str {
        self.error
    }
}

impl From<ApiError> for OAuthError {
    /// The OAuth reading of the service's own errors: what a grant can fail with.
    fn from(err: ApiError) -> Self {
        let description = err.to_string();
        match err {
            ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::RefreshTokenReused
            | ApiError::SessionExpired => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
            }
            ApiError::Validation(_) => OAuthError::invalid_request(description),
            ApiError::RateLimited { retry_after } => OAuthError {
                retry_after: Some(retry_after.max(1)),
                ..OAuthError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", description)
            },
            ApiError::Busy | ApiError::StoreUnavailable(_) => {
                if let ApiError::StoreUnavailable(cause) = &err {
                    tracing::warn!(error = %service_kit::http::error_chain(cause), "store unavailable");
                }
                OAuthError {
                    retry_after: Some(1),
                    ..OAuthError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        description,
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "OAuth request failed");
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.challenge {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="tessera", charset="UTF-8""#),
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.json(ErrorBody {
            error: self.error,
            error_description: &self.description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> (Clients, String) {
        let (secret, hash) = new_secret().unwrap();
        let clients = Clients::new(
            &["tessera-cli".to_owned()],
            &[ClientSettings {
                id: "billing".into(),
                secret_sha256: hash,
                scopes: vec!["tasks:read".into(), "tasks:purge".into()],
            }],
        )
        .unwrap();
        (clients, secret)
    }

    #[test]
    fn public_clients_need_only_their_id_and_confidential_ones_their_secret() {
        let (clients, secret) = clients();
        let public = Presented {
            body_id: Some("tessera-cli"),
            ..Presented::default()
        };
        assert_eq!(
            clients.authenticate(&public).unwrap(),
            Client::Public("tessera-cli".into())
        );

        let basic = Presented {
            basic: Some(("billing".into(), secret.clone())),
            ..Presented::default()
        };
        assert_eq!(clients.authenticate(&basic).unwrap().id(), "billing");
        let post = Presented {
            body_id: Some("billing"),
            body_secret: Some(&secret),
            ..Presented::default()
        };
        assert_eq!(clients.authenticate(&post).unwrap().id(), "billing");

        for (presented, code) in [
            (
                Presented {
                    body_id: Some("billing"),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (
                Presented {
                    body_id: Some("nobody"),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (Presented::default(), "invalid_client"),
            (
                Presented {
                    basic: Some(("billing".into(), "wrong".into())),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (
                Presented {
                    body_id: Some("tessera-cli"),
                    body_secret: Some(&secret),
                    ..Presented::default()
                },
                "invalid_client",
            ),
            (
                Presented {
                    basic: Some(("billing".into(), secret.clone())),
                    body_secret: Some(&secret),
                    ..Presented::default()
                },
                "invalid_request",
            ),
            (
                Presented {
                    basic: Some(("billing".into(), secret.clone())),
                    body_id: Some("tessera-cli"),
                    ..Presented::default()
                },
                "invalid_request",
            ),
        ] {
            assert_eq!(
                clients.authenticate(&presented).unwrap_err().code(),
                code,
                "{presented:?}"
            );
        }
    }

    #[test]
    fn scopes_are_granted_only_from_the_allowed_set() {
        let allowed = ["tasks:read".to_owned(), "tasks:purge".to_owned()];
        assert_eq!(
            grant_scopes(None, &allowed).unwrap(),
            "tasks:read tasks:purge"
        );
        assert_eq!(
            grant_scopes(Some(""), &allowed).unwrap(),
            "tasks:read tasks:purge"
        );
        assert_eq!(
            grant_scopes(Some("tasks:purge"), &allowed).unwrap(),
            "tasks:purge"
        );
        assert_eq!(
            grant_scopes(Some("tasks:purge tasks:read tasks:purge"), &allowed).unwrap(),
            "tasks:purge tasks:read",
            "each scope once"
        );
        assert_eq!(
            grant_scopes(Some("tasks:admin"), &allowed)
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
    }

    #[test]
    fn bad_configuration_is_refused_with_the_reason() {
        let client = |id: &str, hash: &str, scope: &str| ClientSettings {
            id: id.into(),
            secret_sha256: hash.into(),
            scopes: vec![scope.into()],
        };
        let (_, hash) = new_secret().unwrap();
        let cases = [
            (
                vec!["tessera-cli".to_owned()],
                vec![client("tessera-cli", &hash, "a")],
                "twice",
            ),
            (vec![], vec![client("has space", &hash, "a")], "must be"),
            (
                vec![],
                vec![client("svc", "not-a-hash", "a")],
                "secret_sha256",
            ),
            (
                vec![],
                vec![client("svc", &hash, "bad\"scope")],
                "invalid scope",
            ),
        ];
        for (public, confidential, expected) in cases {
            let err = Clients::new(&public, &confidential).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
