//! actix-web integration (feature `actix`): the [`Authenticated`] extractor that handlers
//! take to get a verified caller, role and scope requirements, and RFC 6750 responses
//! (401/403 with `WWW-Authenticate`) carrying Tessera's JSON error body.
//!
//! The [`Verifier`] must be registered as `web::Data<Verifier>`; a resource server that
//! fetches keys also registers its [`KeySource`] as `web::Data<dyn KeySource>`, and a token
//! naming an unknown `kid` then waits for one look at the source before it is refused.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::{Claims, ErrorBody, KeySource, Role, Verifier, VerifyError};

/// The `realm` of every Bearer challenge.
pub const REALM: &str = "tessera";

/// A caller whose access token verified. Taking it as a handler parameter is how a route
/// requires authentication; an invalid token is a 401, never an anonymous caller.
#[derive(Clone, Debug)]
pub struct Authenticated(Claims);

impl Authenticated {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }

    /// The verified claims, owned.
    pub fn into_claims(self) -> Claims {
        self.0
    }

    /// `Ok` when the caller has `role`; otherwise a 403 `insufficient_scope`.
    pub fn require_role(&self, role: Role) -> Result<(), AuthError> {
        if self.0.has_role(role) {
            Ok(())
        } else {
            Err(AuthError::MissingRole(role))
        }
    }

    /// The end user's id; a service (client-credentials) token is a 403
    /// `insufficient_scope` — for routes that act on a user's own data.
    pub fn require_user(&self) -> Result<&str, AuthError> {
        self.0.user_id().ok_or(AuthError::NotAUser)
    }

    /// `Ok` when the token grants `scope`; otherwise a 403 `insufficient_scope`.
    pub fn require_scope(&self, scope: &'static str) -> Result<(), AuthError> {
        if self.0.has_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }
}

impl Deref for Authenticated {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = AuthFuture;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> AuthFuture {
        let result = authenticate(req);
        if result.as_ref().err() != Some(&AuthError::InvalidToken(VerifyError::UnknownKid)) {
            return AuthFuture(Step::Done(Some(result)));
        }
        let (Some(source), Some(verifier), Ok(token)) = (
            req.app_data::<web::Data<dyn KeySource>>().cloned(),
            req.app_data::<web::Data<Verifier>>().cloned(),
            bearer_token(req).map(str::to_owned),
        ) else {
            return AuthFuture(Step::Done(Some(result)));
        };
        AuthFuture(Step::Refetching(Box::pin(async move {
            if !source.unknown_kid().await {
                return Err(AuthError::InvalidToken(VerifyError::UnknownKid));
            }
            verifier
                .verify(&token)
                .map(Authenticated)
                .map_err(AuthError::InvalidToken)
        })))
    }
}

/// The extractor's future: ready at once, unless the token named an unknown `kid` and a
/// [`KeySource`] is asked first.
pub struct AuthFuture(Step);

enum Step {
    Done(Option<Result<Authenticated, AuthError>>),
    Refetching(Pin<Box<dyn Future<Output = Result<Authenticated, AuthError>>>>),
}

impl fmt::Debug for AuthFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.0 {
            Step::Done(_) => "done",
            Step::Refetching(_) => "refetching keys",
        };
        f.debug_tuple("AuthFuture").field(&step).finish()
    }
}

impl Future for AuthFuture {
    type Output = Result<Authenticated, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            // Polled again after completion: a caller bug, answered fail-closed.
            Step::Done(result) => {
                Poll::Ready(result.take().unwrap_or(Err(AuthError::NotConfigured)))
            }
            Step::Refetching(future) => future.as_mut().poll(cx),
        }
    }
}

fn authenticate(req: &HttpRequest) -> Result<Authenticated, AuthError> {
    let verifier = req
        .app_data::<web::Data<Verifier>>()
        .ok_or(AuthError::NotConfigured)?;
    let token = bearer_token(req)?;
    verifier
        .verify(token)
        .map(Authenticated)
        .map_err(AuthError::InvalidToken)
}

/// The token of the request's one `Authorization: Bearer <token>` header (RFC 6750 §2.1;
/// the scheme is case-insensitive). Tokens in the query string or body are never read, and
/// two `Authorization` headers are refused rather than resolved by picking one.
pub fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next().ok_or(AuthError::MissingToken)?;
    if values.next().is_some() {
        return Err(AuthError::MultipleHeaders);
    }
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// Why a request was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    MissingToken,
    /// `Authorization` is not a single `Bearer <token>`.
    MalformedHeader,
    /// More than one `Authorization` header.
    MultipleHeaders,
    /// The token did not verify.
    InvalidToken(VerifyError),
    /// The token verified but was revoked since (a service that checks revocation, such
    /// as the auth-service after logout-all, says so).
    Revoked,
    /// Valid token, but not this role.
    MissingRole(Role),
    /// Valid token, but not this scope.
    MissingScope(&'static str),
    /// A service's token on a route for end users.
    NotAUser,
    /// The app registered no `web::Data<Verifier>`: a server bug, not the caller's fault.
    NotConfigured,
}

impl AuthError {
    /// Stable machine code: `invalid_token`, `insufficient_scope`, `revocation_stale` or
    /// `internal_error`.
    pub fn code(&self) -> &'static str {
        if self.is_stale() {
            return "revocation_stale";
        }
        match self.status_code() {
            StatusCode::UNAUTHORIZED => "invalid_token",
            StatusCode::FORBIDDEN => "insufficient_scope",
            _ => "internal_error",
        }
    }

    fn description(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing bearer token",
            AuthError::MalformedHeader => "authorization header is not `Bearer <token>`",
            AuthError::MultipleHeaders => "more than one authorization header",
            AuthError::InvalidToken(err) => err.description(),
            AuthError::Revoked => "token has been revoked",
            AuthError::MissingRole(_) => "the token lacks the required role",
            AuthError::MissingScope(_) => "the token lacks the required scope",
            AuthError::NotAUser => "this route is for end users, not services",
            AuthError::NotConfigured => "authentication is not configured",
        }
    }

    /// The revocation view is stale and refuses every token: the server's state.
    fn is_stale(&self) -> bool {
        *self == AuthError::InvalidToken(VerifyError::RevocationStale)
    }

    /// The RFC 6750 §3 challenge. Every value in it is fixed text from this crate.
    fn challenge(&self) -> Option<String> {
        if self.is_stale() {
            return None;
        }
        let base = format!(
            r#"Bearer realm="{REALM}", error="{}", error_description="{}""#,
            self.code(),
            self.description()
        );
        match self {
            AuthError::NotConfigured => None,
            AuthError::MissingScope(scope) => Some(format!(r#"{base}, scope="{scope}""#)),
            _ => Some(base),
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingRole(role) => write!(f, "this requires the `{role}` role"),
            AuthError::MissingScope(scope) => write!(f, "this requires the `{scope}` scope"),
            _ => f.write_str(self.description()),
        }
    }
}

impl std::error::Error for AuthError {}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::MissingRole(_) | AuthError::MissingScope(_) | AuthError::NotAUser => {
                StatusCode::FORBIDDEN
            }
            AuthError::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
            _ if self.is_stale() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.is_stale() {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}

/// A response with Tessera's JSON error body, for services' own error types.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody::new(code, message))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::http::header::HeaderValue;
    use actix_web::test::{call_service, init_service, read_body_json, TestRequest};
    use actix_web::{get, App, HttpResponse};
    use serde_json::Value;

    use super::*;
    use crate::{ClaimsBuilder, Key, KeyRing, ManualClock, Validation};

    const NOW: u64 = 1_700_000_000;

    #[get("/me")]
    async fn me(user: Authenticated) -> HttpResponse {
        HttpResponse::Ok().body(user.sub.clone())
    }

    #[get("/admin")]
    async fn admin(user: Authenticated) -> Result<HttpResponse, AuthError> {
        user.require_role(Role::Admin)?;
        Ok(HttpResponse::Ok().finish())
    }

    #[get("/write")]
    async fn write(user: Authenticated) -> Result<HttpResponse, AuthError> {
        user.require_scope("tasks:write")?;
        Ok(HttpResponse::Ok().finish())
    }

    fn verifier(clock: &ManualClock) -> Verifier {
        let key = Key::hs256("k1", b"actix-tests-secret-0123456789abcdef").unwrap();
        let ring = KeyRing::new(key).unwrap();
        Verifier::new(
            ring,
            Validation::new("tessera", "tasks"),
            Arc::new(clock.clone()),
        )
        .unwrap()
    }

    fn token(verifier: &Verifier, role: Role) -> String {
        let claims = ClaimsBuilder::user("tessera", "tasks", "user-1", "sid-1")
            .role(role)
            .build(NOW)
            .unwrap();
        verifier.keys().sign(&claims).unwrap()
    }

    /// Sends `req` to an app with the three routes and returns (status, challenge, body).
    async fn send(
        verifier: Option<Verifier>,
        req: TestRequest,
    ) -> (StatusCode, Option<String>, Value) {
        let mut app = App::new().service(me).service(admin).service(write);
        if let Some(verifier) = verifier {
            app = app.app_data(web::Data::new(verifier));
        }
        let app = init_service(app).await;
        let resp = call_service(&app, req.to_request()).await;
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = if status.is_success() {
            Value::Null
        } else {
            read_body_json(resp).await
        };
        (status, challenge, body)
    }

    fn bearer(token: &str) -> (header::HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {token}"))
    }

    async fn assert_invalid_token(req: TestRequest, description: &str) {
        let clock = ManualClock::new(NOW);
        let (status, challenge, body) = send(Some(verifier(&clock)), req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = challenge.expect("WWW-Authenticate");
        assert!(
            challenge.starts_with(r#"Bearer realm="tessera", error="invalid_token""#),
            "{challenge}"
        );
        assert!(challenge.contains(description), "{challenge}");
        assert_eq!(body["error"], "invalid_token");
    }

    #[actix_web::test]
    async fn valid_bearer_token_reaches_the_handler() {
        let clock = ManualClock::new(NOW);
        let v = verifier(&clock);
        let t = token(&v, Role::User);
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let req = TestRequest::get()
                .uri("/me")
                .insert_header((header::AUTHORIZATION, format!("{scheme} {t}")));
            let (status, _, _) = send(Some(verifier(&clock)), req).await;
            assert_eq!(status, StatusCode::OK, "{scheme}");
        }
    }

    #[actix_web::test]
    async fn missing_token_is_401_invalid_token() {
        assert_invalid_token(TestRequest::get().uri("/me"), "missing bearer token").await;
    }

    #[actix_web::test]
    async fn token_in_the_query_string_is_not_read() {
        let t = token(&verifier(&ManualClock::new(NOW)), Role::User);
        let req = TestRequest::get().uri(&format!("/me?access_token={t}"));
        assert_invalid_token(req, "missing bearer token").await;
    }

    #[actix_web::test]
    async fn other_schemes_and_malformed_headers_are_401() {
        let t = token(&verifier(&ManualClock::new(NOW)), Role::User);
        for value in [
            format!("Basic {t}"),
            format!("Bearer  {t}"),
            format!("Bearer {t} "),
            format!("Bearer{t}"),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
        ] {
            let req = TestRequest::get()
                .uri("/me")
                .insert_header((header::AUTHORIZATION, value));
            assert_invalid_token(req, "is not `Bearer <token>`").await;
        }
        let non_ascii = HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
        let req = TestRequest::get()
            .uri("/me")
            .insert_header((header::AUTHORIZATION, non_ascii));
        assert_invalid_token(req, "is not `Bearer <token>`").await;
    }

    #[actix_web::test]
    async fn two_authorization_headers_are_rejected_even_if_both_are_valid() {
        let t = token(&verifier(&ManualClock::new(NOW)), Role::User);
        let req = TestRequest::get()
            .uri("/me")
            .append_header(bearer(&t))
            .append_header(bearer(&t));
        assert_invalid_token(req, "more than one authorization header").await;
    }

    #[actix_web::test]
    async fn expired_token_is_401_with_the_reason() {
        let clock = ManualClock::new(NOW);
        let v = verifier(&clock);
        let t = token(&v, Role::User);
        clock.set(NOW + 3_600);
        let (status, challenge, body) = send(
            Some(v),
            TestRequest::get().uri("/me").insert_header(bearer(&t)),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge
            .unwrap()
            .contains(r#"error_description="token has expired""#));
        assert_eq!(body["error"], "invalid_token");
        assert!(!body["message"].as_str().unwrap().contains(&t[..20]));
    }

    #[actix_web::test]
    async fn revoked_is_401_and_a_stale_view_under_reject_is_503_without_a_challenge() {
        let clock = ManualClock::new(NOW);
        let t = token(&verifier(&clock), Role::User);
        let view = Arc::new(crate::RevocationView::with_staleness(crate::Staleness {
            max_secs: 30,
            reject: true,
        }));
        let with_view = || verifier(&clock).with_revocation(view.clone());
        let get_me = || TestRequest::get().uri("/me").insert_header(bearer(&t));

        let (status, challenge, body) = send(Some(with_view()), get_me()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "never loaded");
        assert_eq!(challenge, None);
        assert_eq!(body["error"], "revocation_stale");

        view.heard(NOW);
        assert_eq!(send(Some(with_view()), get_me()).await.0, StatusCode::OK);

        view.apply(&crate::Revocation {
            revoked: crate::Revoked::Session {
                sid: "sid-1".into(),
            },
            until: NOW + 60,
        });
        let (status, challenge, body) = send(Some(with_view()), get_me()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge
            .unwrap()
            .contains(r#"error_description="token has been revoked""#));
        assert_eq!(body["error"], "invalid_token");
    }

    #[actix_web::test]
    async fn missing_role_is_403_insufficient_scope() {
        let clock = ManualClock::new(NOW);
        let user = token(&verifier(&clock), Role::User);
        let req = TestRequest::get()
            .uri("/admin")
            .insert_header(bearer(&user));
        let (status, challenge, body) = send(Some(verifier(&clock)), req).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(challenge.unwrap().contains(r#"error="insufficient_scope""#));
        assert_eq!(body["error"], "insufficient_scope");

        let admin_token = token(&verifier(&clock), Role::Admin);
        let req = TestRequest::get()
            .uri("/admin")
            .insert_header(bearer(&admin_token));
        assert_eq!(send(Some(verifier(&clock)), req).await.0, StatusCode::OK);
    }

    #[actix_web::test]
    async fn missing_scope_is_403_naming_the_scope() {
        let clock = ManualClock::new(NOW);
        let t = token(&verifier(&clock), Role::User);
        let req = TestRequest::get().uri("/write").insert_header(bearer(&t));
        let (status, challenge, body) = send(Some(verifier(&clock)), req).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(challenge.unwrap().ends_with(r#"scope="tasks:write""#));
        assert_eq!(body["error"], "insufficient_scope");
    }

    #[actix_web::test]
    async fn an_app_without_a_verifier_fails_closed() {
        let t = token(&verifier(&ManualClock::new(NOW)), Role::User);
        let req = TestRequest::get().uri("/me").insert_header(bearer(&t));
        let (status, challenge, body) = send(None, req).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(challenge, None);
        assert_eq!(body["error"], "internal_error");
    }

    /// A key source that, when asked, swaps `next` into the verifier (if it has one left).
    struct Swapper {
        verifier: web::Data<Verifier>,
        next: std::sync::Mutex<Option<KeyRing>>,
        asked: std::sync::atomic::AtomicUsize,
    }

    impl KeySource for Swapper {
        fn unknown_kid(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = self.next.lock().unwrap().take();
            let swapped = next.map(|ring| self.verifier.replace_keys(ring)).is_some();
            Box::pin(std::future::ready(swapped))
        }
    }

    /// An unknown `kid` waits for one look at the key source, then verifies with what it
    /// brought; a source with nothing new leaves the 401.
    #[actix_web::test]
    async fn an_unknown_kid_asks_the_key_source_once() {
        let clock = ManualClock::new(NOW);
        let verifier = web::Data::new(verifier(&clock));
        let newer =
            KeyRing::new(Key::hs256("k2", b"actix-tests-newer-secret-0123456789ab").unwrap())
                .unwrap();
        let t = newer
            .sign(
                &ClaimsBuilder::user("tessera", "tasks", "user-2", "sid-2")
                    .build(NOW)
                    .unwrap(),
            )
            .unwrap();
        let source = Arc::new(Swapper {
            verifier: verifier.clone(),
            next: std::sync::Mutex::new(Some(newer)),
            asked: std::sync::atomic::AtomicUsize::new(0),
        });
        let app = init_service(
            App::new()
                .app_data(verifier)
                .app_data(web::Data::from(source.clone() as Arc<dyn KeySource>))
                .service(me),
        )
        .await;
        let call = |token: &str| {
            TestRequest::get()
                .uri("/me")
                .insert_header(bearer(token))
                .to_request()
        };
        let resp = call_service(&app, call(&t)).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "verified with the fetched key"
        );
        assert_eq!(source.asked.load(std::sync::atomic::Ordering::SeqCst), 1);

        let stranger =
            KeyRing::new(Key::hs256("k3", b"actix-tests-stranger-secret-0123456789").unwrap())
                .unwrap()
                .sign(
                    &ClaimsBuilder::user("tessera", "tasks", "user-3", "sid-3")
                        .build(NOW)
                        .unwrap(),
                )
                .unwrap();
        let resp = call_service(&app, call(&stranger)).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let body: Value = read_body_json(resp).await;
        assert_eq!(body["message"], "token key id is unknown");
        assert_eq!(
            source.asked.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "asked once more"
        );

        // Other failures never reach the source.
        let resp = call_service(&app, call("not.a.token")).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(source.asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
