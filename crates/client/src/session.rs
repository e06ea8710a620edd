//! [`Session`]: one user's access/refresh token pair and the requests made with it.
//!
//! Refresh happens in two ways. *Proactively*: a request that finds the access token within
//! its refresh margin of expiry refreshes first. *Reactively*: a request answered 401
//! `invalid_token` refreshes and is sent once more. Either way at most one refresh runs at a
//! time (the token state sits behind one async mutex held across the refresh call), and a
//! request that waited for it reuses its result instead of refreshing again: twenty
//! concurrent requests with an expired token make exactly one refresh call, never a burst
//! that the auth-service would take for token reuse.
//!
//! A session is either a user's (password login, then refresh-token rotation) or a
//! service's ([`SessionBuilder::client_credentials`]: RFC 6749 §4.4, a new access token from
//! `/oauth/token` with the client's own credentials whenever the current one is due). Both
//! share the request path above.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use auth_core::{Clock, SystemClock};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::Mutex;

use crate::error::ClientError;
use crate::store::{MemoryStore, TokenStore};
use crate::tokens::TokenResponse;
pub use crate::tokens::{Tokens, REFRESH_MARGIN_SECS};

/// How a session obtains new tokens.
enum Grant {
    /// A user: password login, then refresh-token rotation at `/auth/refresh`.
    User,
    /// A service client (RFC 6749 §4.4) at `/oauth/token`, authenticated with HTTP Basic.
    ClientCredentials {
        client_id: String,
        secret: SecretString,
        scope: Option<String>,
    },
}

/// The token state. `generation` changes whenever the tokens do, so a request that got a
/// 401 can tell whether someone else already refreshed since it read its token.
#[derive(Debug)]
struct State {
    tokens: Option<Tokens>,
    generation: u64,
}

/// One user's session with a Tessera deployment. Cheap to share behind an `Arc`; all
/// methods take `&self`.
pub struct Session {
    http: Client,
    auth_url: String,
    grant: Grant,
    clock: Arc<dyn Clock>,
    store: Arc<dyn TokenStore>,
    state: Mutex<State>,
    refreshes: AtomicU64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("auth_url", &self.auth_url)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Session`]; see [`Session::builder`].
pub struct SessionBuilder {
    auth_url: String,
    grant: Grant,
    http: Option<Client>,
    ca_cert: Option<PathBuf>,
    clock: Option<Arc<dyn Clock>>,
    store: Option<Arc<dyn TokenStore>>,
}

impl fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("auth_url", &self.auth_url)
            .finish_non_exhaustive()
    }
}

impl SessionBuilder {
    /// The HTTP client to use (default: [`http_client`]).
    pub fn http_client(mut self, http: Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Also trust the CA certificates in this PEM file (a deployment with its own CA,
    /// e.g. `keys/tls/ca.pem` from `make keys`). Ignored when [`Self::http_client`] gives
    /// the client.
    pub fn ca_cert(mut self, file: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(file.into());
        self
    }

    /// The clock that decides when to refresh (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where tokens persist (default: memory only).
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Makes this a service session: tokens come from `/oauth/token` with the
    /// `client_credentials` grant, this client id and secret (HTTP Basic, form-encoded as
    /// RFC 6749 §2.3.1 asks) and, if given, this space-separated `scope`. No login needed.
    pub fn client_credentials(
        mut self,
        client_id: &str,
        secret: SecretString,
        scope: Option<&str>,
    ) -> Self {
        self.grant = Grant::ClientCredentials {
            client_id: client_id.to_owned(),
            secret,
            scope: scope.map(str::to_owned),
        };
        self
    }

    /// The session, resumed from the store's tokens if it holds some.
    pub fn build(self) -> Result<Session, ClientError> {
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn TokenStore>);
        let tokens = store.load()?;
        let http = match self.http {
            Some(http) => http,
            None => http_client_trusting(self.ca_cert.as_deref())?,
        };
        Ok(Session {
            http,
            auth_url: self.auth_url,
            grant: self.grant,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            store,
            state: Mutex::new(State {
                tokens,
                generation: 0,
            }),
            refreshes: AtomicU64::new(0),
        })
    }
}

use crate::wire::{empty_body, error_from, json_body, send};
pub use crate::wire::{http_client, http_client_trusting, REQUEST_TIMEOUT};

impl Session {
    /// A session with the auth-service at `auth_url` (e.g. `https://auth.example.com`).
    pub fn builder(auth_url: &str) -> SessionBuilder {
        SessionBuilder {
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            grant: Grant::User,
            http: None,
            ca_cert: None,
            clock: None,
            store: None,
        }
    }

    /// The auth-service URL (no trailing slash).
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// The HTTP client, for unauthenticated calls.
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// The current tokens, if logged in.
    pub async fn tokens(&self) -> Option<Tokens> {
        self.state.lock().await.tokens.clone()
    }

    /// How many refresh calls this session has made (for tests and diagnostics).
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Logs in with a username and password; the tokens are saved to the store.
    pub async fn login(&self, username: &str, password: &str) -> Result<(), ClientError> {
        let url = format!("{}/auth/login", self.auth_url);
        let body = json!({ "username": username, "password": password });
        let response = send(self.http.post(&url).json(&body)).await?;
        let issued: TokenResponse = json_body(response, StatusCode::OK).await?;
        let tokens =
            issued.into_user_tokens(self.clock.now(), &self.auth_url, Some(username.to_owned()))?;
        let mut state = self.state.lock().await;
        self.store.save(&tokens)?;
        state.tokens = Some(tokens);
        state.generation += 1;
        Ok(())
    }

    /// Ends this session at the auth-service and forgets the tokens. They are forgotten
    /// first, so even when the service cannot be told (the error is then why) this client
    /// holds no credential any more.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let mut state = self.state.lock().await;
        let Some(tokens) = state.tokens.take() else {
            return Ok(());
        };
        state.generation += 1;
        self.store.clear()?;
        drop(state);
        let url = format!("{}/auth/logout", self.auth_url);
        let body = json!({ "refresh_token": tokens.refresh_token });
        let response = send(self.http.post(&url).json(&body)).await?;
        empty_body(response).await
    }

    /// Forgets the tokens locally without telling the service (after `logout-all`, or a
    /// server-side revocation the caller already knows of).
    pub async fn forget(&self) -> Result<(), ClientError> {
        let mut state = self.state.lock().await;
        state.tokens = None;
        state.generation += 1;
        self.store.clear()?;
        Ok(())
    }

    /// Sends an authenticated request. `make` builds it (it may be called twice: once more
    /// after a reactive refresh); the session adds the bearer token. A 401 `invalid_token`
    /// answer triggers one refresh and one retry; the retry's answer is returned whatever
    /// it is. [`ClientError::LoginRequired`] means the session is over.
    pub async fn request(
        &self,
        make: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, ClientError> {
        let (token, generation) = self.access_token().await?;
        let response = send(make(&self.http).bearer_auth(&token)).await?;
        if !is_invalid_token(&response) {
            return Ok(response);
        }
        let token = self.refresh_after(generation).await?;
        send(make(&self.http).bearer_auth(&token)).await
    }

    /// A current access token, refreshing first if it is within its margin of expiry.
    async fn access_token(&self) -> Result<(String, u64), ClientError> {
        let mut state = self.state.lock().await;
        match &state.tokens {
            Some(tokens) if self.clock.now() < tokens.refresh_at => {
                return Ok((tokens.access_token.clone(), state.generation));
            }
            None if matches!(self.grant, Grant::User) => return Err(not_logged_in()),
            _ => {}
        }
        let token = self.refresh_locked(&mut state).await?;
        Ok((token, state.generation))
    }

    /// A token newer than the one of `generation`: someone else's fresh one if they
    /// refreshed meanwhile, else our own refresh.
    async fn refresh_after(&self, generation: u64) -> Result<String, ClientError> {
        let mut state = self.state.lock().await;
        if state.generation != generation {
            let tokens = state.tokens.as_ref().ok_or_else(not_logged_in)?;
            return Ok(tokens.access_token.clone());
        }
        self.refresh_locked(&mut state).await
    }

    /// New tokens (the caller holds the state lock: single flight).
    async fn refresh_locked(&self, state: &mut State) -> Result<String, ClientError> {
        if let Grant::ClientCredentials {
            client_id,
            secret,
            scope,
        } = &self.grant
        {
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            let tokens = self
                .client_credentials_token(client_id, secret, scope.as_deref())
                .await?;
            let token = tokens.access_token.clone();
            state.tokens = Some(tokens);
            state.generation += 1;
            return Ok(token);
        }
        let Some(mut current) = state.tokens.clone() else {
            return Err(not_logged_in());
        };
        // Another process sharing the store (a second CLI invocation) may have rotated
        // the family already; presenting our spent token would then look like reuse. Its
        // tokens are the newest: use them, and refresh with them if they are due too.
        if let Some(stored) = self.store.load()? {
            if stored.session_id == current.session_id
                && stored.refresh_token != current.refresh_token
            {
                state.tokens = Some(stored.clone());
                state.generation += 1;
                if self.clock.now() < stored.refresh_at {
                    return Ok(stored.access_token);
                }
                current = stored;
            }
        }

        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/auth/refresh", self.auth_url);
        let body = json!({ "refresh_token": current.refresh_token });
        let response = send(self.http.post(&url).json(&body)).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // Expired, revoked or reused: this refresh token will never work again.
            let reason = match error_from(response).await {
                ClientError::Api { message, .. } => message,
                other => other.to_string(),
            };
            state.tokens = None;
            state.generation += 1;
            self.store.clear()?;
            return Err(ClientError::LoginRequired { reason });
        }
        let issued: TokenResponse = json_body(response, StatusCode::OK).await?;
        let tokens = issued.into_user_tokens(self.clock.now(), &self.auth_url, current.username)?;
        self.store.save(&tokens)?;
        let token = tokens.access_token.clone();
        state.tokens = Some(tokens);
        state.generation += 1;
        Ok(token)
    }
}

impl Session {
    /// One `client_credentials` grant at `/oauth/token`.
    async fn client_credentials_token(
        &self,
        client_id: &str,
        secret: &SecretString,
        scope: Option<&str>,
    ) -> Result<Tokens, ClientError> {
        let url = format!("{}/oauth/token", self.auth_url);
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let request = self
            .http
            .post(&url)
            .basic_auth(
                form_encode(client_id),
                Some(form_encode(secret.expose_secret())),
            )
            .form(&form);
        let issued: TokenResponse = json_body(send(request).await?, StatusCode::OK).await?;
        Ok(issued.into_tokens(self.clock.now(), &self.auth_url, None))
    }
}

/// `application/x-www-form-urlencoded` encoding, which RFC 6749 §2.3.1 applies to the client
/// id and secret before they go into the Basic credentials.
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn not_logged_in() -> ClientError {
    ClientError::LoginRequired {
        reason: "no session; log in first".to_owned(),
    }
}

/// A 401 whose challenge says the access token was refused (RFC 6750 §3.1), as opposed to,
/// say, wrong credentials.
fn is_invalid_token(response: &Response) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
        && response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value.starts_with("Bearer") && value.contains("error=\"invalid_token\"")
            })
}
