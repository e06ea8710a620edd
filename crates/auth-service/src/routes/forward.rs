//! `GET /auth/verify`: forward authentication for gateways (nginx `auth_request`, Traefik
//! `forwardAuth`, Envoy `ext_authz` over HTTP) in front of services with no auth code of
//! their own. The same verification as every resource server — signature, lifetime,
//! audience, and the revocation view — and nothing from the store, so it costs what a
//! resource server's check costs plus the gateway's round trip.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::HttpResponse;
use auth_core::actix::Authenticated;

/// The verified caller as headers for the gateway to pass upstream: `X-Auth-Subject`
/// (user id, or `svc:<client>`), `X-Auth-Role`, `X-Auth-Session`, and `X-Auth-Scope` when
/// the token has one. A refused token is the extractor's 401 with its RFC 6750 challenge.
#[utoipa::path(
    get,
    path = "/auth/verify",
    tag = "forward auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the token is valid; the caller is in the headers", headers(
            ("X-Auth-Subject" = String, description = "the user id, or `svc:<client>`"),
            ("X-Auth-Role" = String, description = "`user`, `admin` or `service`"),
            ("X-Auth-Session" = String, description = "the session id"),
            ("X-Auth-Scope" = String, description = "service tokens: the granted scopes"),
        )),
    )
)]
pub async fn verify(caller: Authenticated) -> HttpResponse {
    let claims = caller.claims();
    let mut reply = HttpResponse::Ok();
    reply
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("X-Auth-Subject", claims.sub.as_str()))
        .insert_header(("X-Auth-Role", claims.role.as_str()))
        .insert_header(("X-Auth-Session", claims.sid.as_str()));
    if let Some(scope) = &claims.scope {
        reply.insert_header(("X-Auth-Scope", scope.as_str()));
    }
    reply.finish()
}
