//! actix-web integration (feature `actix`): the [`Authenticated`] extractor that handlers
//! take to get a verified caller, role and scope requirements, and RFC 6750 responses
//! (401/403 with `WWW-Authenticate`) carrying Tessera's JSON error body. The rules
//! themselves live in [`crate::bearer`]; this module reads actix requests and writes
//! actix responses.
//!
//! The [`Verifier`] must be registered as `web::Data<Verifier>`; a resource server that
//! fetches keys also registers its [`KeySource`] as `web::Data<dyn KeySource>`, and a token
//! naming an unknown `kid` then waits for one look at the source before it is refused.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::bearer::{authenticate, verify_with_new_keys, wants_new_keys};
pub use crate::bearer::{AuthError, Authenticated, REALM};
use crate::{ErrorBody, KeySource, Verifier};

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = AuthFuture;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> AuthFuture {
        let result = authenticate_request(req);
        if !wants_new_keys(&result) {
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
            verify_with_new_keys(&**source, &verifier, &token).await
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

fn authenticate_request(req: &HttpRequest) -> Result<Authenticated, AuthError> {
    let verifier = req
        .app_data::<web::Data<Verifier>>()
        .ok_or(AuthError::NotConfigured)?;
    authenticate(verifier, bearer_token(req)?)
}

/// The token of the request's one `Authorization: Bearer <token>` header
/// ([`crate::bearer::bearer_token`]).
pub fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    crate::bearer::bearer_token(
        req.headers()
            .get_all(header::AUTHORIZATION)
            .map(|value| value.as_bytes()),
    )
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.json(self.body())
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
    use crate::bearer::test_support::{token, token_of_key, verifier, Swapper, NOW};
    use crate::{ManualClock, Role};

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

    /// An unknown `kid` waits for one look at the key source, then verifies with what it
    /// brought; a source with nothing new leaves the 401.
    #[actix_web::test]
    async fn an_unknown_kid_asks_the_key_source_once() {
        let clock = ManualClock::new(NOW);
        let verifier = Arc::new(verifier(&clock));
        let (newer, t) = token_of_key("k2", b"adapter-tests-newer-secret-0123456789ab");
        let source = Arc::new(Swapper::new(verifier.clone(), newer));
        let app = init_service(
            App::new()
                .app_data(web::Data::from(verifier))
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
        assert_eq!(source.asked(), 1);

        let (_, stranger) = token_of_key("k3", b"adapter-tests-stranger-secret-0123456789");
        let resp = call_service(&app, call(&stranger)).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let body: Value = read_body_json(resp).await;
        assert_eq!(body["message"], "token key id is unknown");
        assert_eq!(source.asked(), 2, "asked once more");

        // Other failures never reach the source.
        let resp = call_service(&app, call("not.a.token")).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(source.asked(), 2);
    }
}
