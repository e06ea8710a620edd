//! `GET /me`: the verified caller. Touches no store and no network, so its cost is the
//! token verification itself (the path the benchmarks measure).

use actix_web::HttpResponse;
use auth_core::actix::Authenticated;
use auth_core::Role;
use serde::Serialize;

#[derive(Serialize)]
struct Me<'a> {
    sub: &'a str,
    role: Role,
    sid: &'a str,
    scope: Option<&'a str>,
    exp: u64,
}

pub async fn me(user: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        sub: &user.sub,
        role: user.role,
        sid: &user.sid,
        scope: user.scope.as_deref(),
        exp: user.exp,
    })
}
