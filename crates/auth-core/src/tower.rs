//! tower integration (feature `tower`): [`RequireAuthLayer`] puts Bearer authentication in
//! front of any `tower::Service` over `http` requests — an axum `Router`, a tonic or hyper
//! service. A request whose token verifies reaches the inner service with its
//! [`Authenticated`] caller in the request extensions; any other is answered here, with the
//! same status, `WWW-Authenticate` challenge and JSON body as the actix extractor (the rules
//! are [`crate::bearer`]'s).
//!
//! ```ignore
//! let auth = BearerAuth::new(verifier).with_key_source(jwks);
//! let app = Router::new().route("/hello", get(hello)).layer(auth.require());
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::bearer::{authenticate, bearer_token, verify_with_new_keys, wants_new_keys};
pub use crate::bearer::{AuthError, Authenticated};
use crate::{KeySource, Verifier};

/// What authenticates a request: the [`Verifier`] and, for a resource server that fetches
/// keys, the [`KeySource`] asked once when a token names an unknown `kid`. Cheap to clone.
#[derive(Clone)]
pub struct BearerAuth {
    verifier: Arc<Verifier>,
    keys: Option<Arc<dyn KeySource>>,
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("verifier", &self.verifier)
            .field("key_source", &self.keys.is_some())
            .finish()
    }
}

impl BearerAuth {
    /// Authentication with `verifier` alone.
    pub fn new(verifier: Arc<Verifier>) -> BearerAuth {
        BearerAuth {
            verifier,
            keys: None,
        }
    }

    /// Also ask `keys` (once per request) when a token names a `kid` the ring lacks.
    #[must_use]
    pub fn with_key_source(mut self, keys: Arc<dyn KeySource>) -> BearerAuth {
        self.keys = Some(keys);
        self
    }

    /// A layer refusing every request without a valid token.
    pub fn require(&self) -> RequireAuthLayer {
        RequireAuthLayer { auth: self.clone() }
    }

    /// The caller of a request with these headers. Ready at once unless the token names an
    /// unknown `kid` and a key source is asked first.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, AuthError> {
        match self.first_attempt(headers) {
            Attempt::Done(result) => result,
            Attempt::NewKeys(token) => self.with_new_keys(token).await,
        }
    }

    fn first_attempt(&self, headers: &HeaderMap) -> Attempt {
        let token = match bearer_token(authorization(headers)) {
            Ok(token) => token,
            Err(err) => return Attempt::Done(Err(err)),
        };
        let result = authenticate(&self.verifier, token);
        if wants_new_keys(&result) && self.keys.is_some() {
            return Attempt::NewKeys(token.to_owned());
        }
        Attempt::Done(result)
    }

    async fn with_new_keys(&self, token: String) -> Result<Authenticated, AuthError> {
        match &self.keys {
            Some(keys) => verify_with_new_keys(&**keys, &self.verifier, &token).await,
            None => authenticate(&self.verifier, &token),
        }
    }
}

enum Attempt {
    Done(Result<Authenticated, AuthError>),
    /// An unknown `kid` and a key source to ask: the token, to verify again after.
    NewKeys(String),
}

/// Every `Authorization` value of `headers`, as bytes.
pub(crate) fn authorization(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(http::header::AUTHORIZATION)
        .into_iter()
        .map(HeaderValue::as_bytes)
}

/// The response for a refused request: status, `WWW-Authenticate`, `Retry-After`, and the
/// JSON error body.
pub fn error_response<B: From<String>>(err: &AuthError) -> Response<B> {
    let body = serde_json::to_string(&err.body()).unwrap_or_default();
    let mut response = Response::new(B::from(body));
    *response.status_mut() =
        StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(challenge) = err.challenge().and_then(|c| HeaderValue::try_from(c).ok()) {
        headers.insert(WWW_AUTHENTICATE, challenge);
    }
    if let Some(seconds) = err.retry_after() {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    }
    response
}

/// Wraps a service in [`RequireAuth`]. Made by [`BearerAuth::require`].
#[derive(Clone, Debug)]
pub struct RequireAuthLayer {
    auth: BearerAuth,
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> RequireAuth<S> {
        RequireAuth {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// A service that lets through only requests whose token verifies, with the caller as an
/// [`Authenticated`] request extension.
#[derive(Clone, Debug)]
pub struct RequireAuth<S> {
    inner: S,
    auth: BearerAuth,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.auth.first_attempt(request.headers()) {
            Attempt::Done(Ok(caller)) => {
                request.extensions_mut().insert(caller);
                ResponseFuture::Inner {
                    future: self.inner.call(request),
                }
            }
            Attempt::Done(Err(err)) => ResponseFuture::Refused {
                response: Some(error_response(&err)),
            },
            Attempt::NewKeys(token) => {
                // The inner service was made ready for this call: take that one, leave a
                // clone (tower's documented pattern for calling it from a later future).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let auth = self.auth.clone();
                ResponseFuture::NewKeys {
                    future: Box::pin(async move {
                        match auth.with_new_keys(token).await {
                            Ok(caller) => {
                                request.extensions_mut().insert(caller);
                                inner.call(request).await
                            }
                            Err(err) => Ok(error_response(&err)),
                        }
                    }),
                }
            }
        }
    }
}

/// A boxed future answering a request that waited for new keys.
type Boxed<ResBody, E> = Pin<Box<dyn Future<Output = Result<Response<ResBody>, E>> + Send>>;

pin_project! {
    /// [`RequireAuth`]'s future: the inner service's, a refusal ready at once, or (after
    /// an unknown `kid`) one that asks the key source first.
    #[project = Projected]
    pub enum ResponseFuture<F, ResBody, E> {
        /// Verified: the inner service answers.
        Inner { #[pin] future: F },
        /// Refused: the error response, taken on the first poll.
        Refused { response: Option<Response<ResBody>> },
        /// Waiting for the key source, then as above.
        NewKeys { future: Boxed<ResBody, E> },
    }
}

impl<F, ResBody, E> fmt::Debug for ResponseFuture<F, ResBody, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self {
            ResponseFuture::Inner { .. } => "inner",
            ResponseFuture::Refused { .. } => "refused",
            ResponseFuture::NewKeys { .. } => "fetching keys",
        };
        f.debug_tuple("ResponseFuture").field(&step).finish()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F, ResBody, E>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Inner { future } => future.poll(cx),
            // Polled again after completion: a caller bug, answered fail-closed.
            Projected::Refused { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| error_response(&AuthError::NotConfigured)))),
            Projected::NewKeys { future } => future.as_mut().poll(cx),
        }
    }
}
