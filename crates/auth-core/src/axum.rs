//! axum integration (feature `axum`): [`Authenticated`] as an extractor and [`AuthError`]
//! as a response, with the rules of [`crate::bearer`].
//!
//! The extractor takes the caller [`RequireAuthLayer`](crate::tower::RequireAuthLayer) left
//! in the request extensions; on routes without that layer it verifies the token itself
//! with the [`BearerAuth`] found in the extensions (`.layer(Extension(auth))`), so one app
//! can mix public and protected routes:
//!
//! ```ignore
//! async fn hello(caller: Authenticated) -> Result<Json<Value>, AuthError> {
//!     caller.require_scope("greetings:read")?;
//!     Ok(Json(json!({ "sub": caller.sub })))
//! }
//! let app = Router::new()
//!     .route("/public", get(public))
//!     .route("/hello", get(hello))
//!     .layer(Extension(BearerAuth::new(verifier)));
//! ```
//!
//! Neither there: a 500 `internal_error` (fail closed), as in the actix extractor.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

pub use crate::bearer::{AuthError, Authenticated};
pub use crate::tower::{BearerAuth, RequireAuthLayer};

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthError> {
        if let Some(caller) = parts.extensions.get::<Authenticated>() {
            return Ok(caller.clone());
        }
        let auth = parts
            .extensions
            .get::<BearerAuth>()
            .cloned()
            .ok_or(AuthError::NotConfigured)?;
        auth.authenticate(&parts.headers).await
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        crate::tower::error_response(&self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::{to_bytes, Body};
    use axum::routing::get;
    use axum::{Extension, Router};
    use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
    use http::{Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::*;
    use crate::bearer::test_support::{token, token_of_key, verifier, Swapper, NOW};
    use crate::{KeySource, ManualClock, Revocation, RevocationView, Revoked, Role, Staleness};

    async fn me(caller: Authenticated) -> String {
        caller.sub.clone()
    }

    async fn admin(caller: Authenticated) -> Result<&'static str, AuthError> {
        caller.require_role(Role::Admin)?;
        Ok("admin")
    }

    async fn write(caller: Authenticated) -> Result<&'static str, AuthError> {
        caller.require_scope("tasks:write")?;
        Ok("written")
    }

    async fn public() -> &'static str {
        "public"
    }

    fn routes() -> Router {
        Router::new()
            .route("/me", get(me))
            .route("/admin", get(admin))
            .route("/write", get(write))
    }

    /// The two ways an axum app is wired: the extractor verifying with the `BearerAuth`
    /// extension (beside a public route), and the layer in front of every route.
    fn apps(auth: &BearerAuth) -> [(&'static str, Router); 2] {
        [
            (
                "extractor",
                routes()
                    .route("/public", get(public))
                    .layer(Extension(auth.clone())),
            ),
            ("layer", routes().layer(auth.require())),
        ]
    }

    struct Answer {
        status: StatusCode,
        challenge: Option<String>,
        retry_after: Option<String>,
        body: Value,
    }

    async fn send(app: &Router, path: &str, authorization: &[&str]) -> Answer {
        let mut request = Request::get(path);
        for value in authorization {
            request = request.header(AUTHORIZATION, *value);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (challenge, retry_after) = (header(WWW_AUTHENTICATE), header(RETRY_AFTER));
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            challenge,
            retry_after,
            body,
        }
    }

    /// Status, error code, and a part of the challenge.
    type Expected = (u16, &'static str, &'static str);

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[tokio::test]
    async fn both_wirings_answer_exactly_like_the_actix_extractor() {
        let clock = ManualClock::new(NOW);
        let verifier = Arc::new(verifier(&clock));
        let user = token(&verifier, Role::User);
        let admin_token = token(&verifier, Role::Admin);
        let expired = {
            let early = ManualClock::new(NOW - 3_600);
            let v = crate::bearer::test_support::verifier(&early);
            let claims = crate::ClaimsBuilder::user("tessera", "tasks", "user-1", "sid-1")
                .build(NOW - 3_600)
                .unwrap();
            v.keys().sign(&claims).unwrap()
        };
        let auth = BearerAuth::new(verifier);
        let invalid = |description: &'static str| (401, "invalid_token", description);
        let cases: Vec<(&str, Vec<String>, Expected)> = vec![
            ("/me", vec![], invalid("missing bearer token")),
            (
                "/me",
                vec![format!("Basic {user}")],
                invalid("is not `Bearer <token>`"),
            ),
            (
                "/me",
                vec![format!("Bearer  {user}")],
                invalid("is not `Bearer <token>`"),
            ),
            (
                "/me",
                vec![bearer(&user), bearer(&user)],
                invalid("more than one authorization header"),
            ),
            ("/me", vec![bearer(&expired)], invalid("token has expired")),
            (
                "/me",
                vec![bearer("a.b.c")],
                invalid("token is not valid base64url"),
            ),
            (
                "/me",
                vec![bearer(&format!("{user}x"))],
                invalid("token signature is invalid"),
            ),
            (
                "/admin",
                vec![bearer(&user)],
                (403, "insufficient_scope", "lacks the required role"),
            ),
            (
                "/write",
                vec![bearer(&user)],
                (403, "insufficient_scope", r#"scope="tasks:write""#),
            ),
        ];
        for (name, app) in apps(&auth) {
            for (path, headers, (status, code, in_challenge)) in &cases {
                let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
                let answer = send(&app, path, &headers).await;
                let context = format!("{name} {path} {headers:?}");
                assert_eq!(answer.status.as_u16(), *status, "{context}");
                assert_eq!(answer.body["error"], *code, "{context}");
                let challenge = answer.challenge.expect(&context);
                assert!(
                    challenge.starts_with(&format!(r#"Bearer realm="tessera", error="{code}""#)),
                    "{context}: {challenge}"
                );
                assert!(challenge.contains(in_challenge), "{context}: {challenge}");
                assert!(!answer.body["message"]
                    .as_str()
                    .unwrap()
                    .contains(&user[..20]));
            }
            let ok = send(&app, "/me", &[&bearer(&user)]).await;
            assert_eq!(
                (ok.status, ok.body),
                (StatusCode::OK, "user-1".into()),
                "{name}"
            );
            let ok = send(&app, "/admin", &[&bearer(&admin_token)]).await;
            assert_eq!(ok.status, StatusCode::OK, "{name}");
        }
        let [(_, mixed), _] = apps(&auth);
        let open = send(&mixed, "/public", &[]).await;
        assert_eq!(
            open.status,
            StatusCode::OK,
            "a public route beside protected ones"
        );
    }

    #[tokio::test]
    async fn revoked_is_401_and_a_stale_view_under_reject_is_503_with_retry_after() {
        for wiring in 0..2 {
            let clock = ManualClock::new(NOW);
            let view = Arc::new(RevocationView::with_staleness(Staleness {
                max_secs: 30,
                reject: true,
            }));
            let verifier = Arc::new(verifier(&clock).with_revocation(view.clone()));
            let user = token(&verifier, Role::User);
            let app = apps(&BearerAuth::new(verifier))[wiring].1.clone();

            let stale = send(&app, "/me", &[&bearer(&user)]).await;
            assert_eq!(
                stale.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{wiring}: never loaded"
            );
            assert_eq!(stale.body["error"], "revocation_stale");
            assert_eq!(stale.challenge, None);
            assert_eq!(stale.retry_after.as_deref(), Some("1"));

            view.heard(NOW);
            assert_eq!(
                send(&app, "/me", &[&bearer(&user)]).await.status,
                StatusCode::OK
            );

            view.apply(&Revocation {
                revoked: Revoked::Session {
                    sid: "sid-1".into(),
                },
                until: NOW + 60,
            });
            let revoked = send(&app, "/me", &[&bearer(&user)]).await;
            assert_eq!(revoked.status, StatusCode::UNAUTHORIZED, "{wiring}");
            assert!(revoked
                .challenge
                .unwrap()
                .contains("token has been revoked"));
        }
    }

    #[tokio::test]
    async fn an_unknown_kid_asks_the_key_source_once_on_both_paths() {
        for wiring in 0..2 {
            let clock = ManualClock::new(NOW);
            let verifier = Arc::new(verifier(&clock));
            let (newer, fresh) = token_of_key("k2", b"adapter-tests-newer-secret-0123456789ab");
            let source = Arc::new(Swapper::new(verifier.clone(), newer));
            let auth =
                BearerAuth::new(verifier).with_key_source(source.clone() as Arc<dyn KeySource>);
            let app = apps(&auth)[wiring].1.clone();

            let ok = send(&app, "/me", &[&bearer(&fresh)]).await;
            assert_eq!(
                (ok.status, ok.body),
                (StatusCode::OK, "user-2".into()),
                "{wiring}"
            );
            assert_eq!(source.asked(), 1);

            let (_, stranger) = token_of_key("k3", b"adapter-tests-stranger-secret-0123456789");
            let refused = send(&app, "/me", &[&bearer(&stranger)]).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
            assert_eq!(refused.body["message"], "token key id is unknown");
            assert_eq!(source.asked(), 2, "asked once more");

            let malformed = send(&app, "/me", &[&bearer("not.a.token")]).await;
            assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
            assert_eq!(source.asked(), 2, "other failures never reach the source");
        }
    }

    #[tokio::test]
    async fn an_app_without_bearer_auth_fails_closed() {
        let user = token(&verifier(&ManualClock::new(NOW)), Role::User);
        let answer = send(&routes(), "/me", &[&bearer(&user)]).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.body["error"], "internal_error");
        assert_eq!(answer.challenge, None);
    }
}
