//! `GET /me`: the verified caller. Touches no store and no network, so its cost is the
//! token verification itself (the path the benchmarks measure).

use actix_web::HttpResponse;
use auth_core::actix::Authenticated;
use auth_core::Role;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me<'a> {
    /// The user id, or `svc:<client>` for a service.
    sub: &'a str,
    #[schema(value_type = String, pattern = "^(user|admin|service)$")]
    role: Role,
    sid: &'a str,
    /// Service tokens: the granted scopes, space-separated; `null` for users.
    scope: Option<&'a str>,
    /// Expiry, seconds since the Unix epoch.
    exp: u64,
}

/// The verified caller, from the token alone.
#[utoipa::path(
    get,
    path = "/me",
    operation_id = "me",
    tag = "me",
    security(("bearer" = [])),
    responses((status = 200, description = "the token's claims", body = Me))
)]
pub async fn me(user: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        sub: &user.sub,
        role: user.role,
        sid: &user.sid,
        scope: user.scope.as_deref(),
        exp: user.exp,
    })
}
