//! `POST /auth/login`, `/auth/refresh`, `/auth/logout`, `/auth/logout-all`: the token
//! endpoints, in JSON-body mode or browser (cookie) mode.

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use auth_core::actix::Authenticated;
use serde::Deserialize;

use service_kit::openapi::ERROR;

use super::{BrowserMode, Credentials};
use crate::browser::{self, Transport};
use crate::error::ApiError;
use crate::sessions::{ClientInfo, TokenResponse};
use crate::state::AppState;

/// Refresh and logout body: `{"refresh_token": "..."}`, or `{}` in browser mode.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// Required unless the `tessera_refresh` cookie carries it (browser mode).
    #[serde(default)]
    #[schema(required = false)]
    refresh_token: Option<String>,
}

/// Log in: a new session and its first tokens.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "tokens",
    params(BrowserMode),
    request_body = Credentials,
    responses(
        (status = 200, description = "signed in; in browser mode the refresh token is only in the cookie", body = TokenResponse, headers(
            ("Set-Cookie" = String, description = "browser mode: `tessera_refresh=…; HttpOnly; Secure; SameSite=Strict; Path=/auth`"),
            ("Cache-Control" = String, description = "`no-store`"),
        ), links(
            ("refresh" = (operation_id = "refresh", request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            ("logout" = (operation_id = "logout", request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
        )),
        (status = 401, description = "`invalid_credentials`: unknown user or wrong password (indistinguishable)", body = ref(ERROR)),
        (status = 429, description = "`rate_limited`: too many attempts for this username or from this address", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`, or `server_busy` (the hashing queue is full)", body = ref(ERROR)),
    )
)]
pub async fn login(
    req: HttpRequest,
    body: web::Json<Credentials>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = ClientInfo::of(&req, state.settings().trust_forwarded_for);
    let Credentials { username, password } = body.into_inner();
    let response = state.login(&username, password, &client).await?;
    Ok(token_reply(&state, response, browser::is_browser(&req)))
}

/// Rotate a refresh token: new access token, successor refresh token.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "tokens",
    params(BrowserMode),
    request_body = RefreshBody,
    security((), ("refresh_cookie" = [])),
    responses(
        (status = 200, description = "rotated; within the grace window, the successor the first refresh returned", body = TokenResponse, links(
            ("refresh" = (operation_id = "refresh", request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            ("logout" = (operation_id = "logout", request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
        )),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` (the family is revoked) or `session_expired`", body = ref(ERROR)),
        (status = 403, description = "`csrf_rejected`: the cookie without `X-Tessera-Client: browser` and an allowed `Origin`", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn refresh(
    req: HttpRequest,
    body: web::Json<RefreshBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let allowed = &state.settings().browser.allowed_origins;
    let (token, transport) =
        browser::refresh_token(&req, body.into_inner().refresh_token, allowed)?
            .ok_or(ApiError::InvalidRefreshToken)?;
    let cookie_mode = transport == Transport::Cookie || browser::is_browser(&req);
    match state.refresh(&token).await {
        Ok(response) => Ok(token_reply(&state, response, cookie_mode)),
        Err(err)
            if transport == Transport::Cookie && !matches!(err, ApiError::StoreUnavailable(_)) =>
        {
            // A dead cookie is useless to the browser: drop it with the error.
            let mut response = actix_web::ResponseError::error_response(&err);
            let _ = response.add_cookie(&browser::removal(state.cookie_secure()));
            Ok(response)
        }
        Err(err) => Err(err),
    }
}

/// End the session a refresh token belongs to (idempotent).
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "tokens",
    params(BrowserMode),
    request_body = RefreshBody,
    security((), ("refresh_cookie" = [])),
    responses(
        (status = 204, description = "the session is over (or never existed); the cookie is cleared"),
        (status = 403, description = "`csrf_rejected`", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn logout(
    req: HttpRequest,
    body: web::Json<RefreshBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let allowed = &state.settings().browser.allowed_origins;
    if let Some((token, _)) =
        browser::refresh_token(&req, body.into_inner().refresh_token, allowed)?
    {
        state.logout(&token).await?;
    }
    Ok(no_content_clearing_cookie(&req, &state))
}

/// End every session of the caller and revoke their access tokens.
#[utoipa::path(
    post,
    path = "/auth/logout-all",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "every session ended, token version bumped"),
        (status = 503, description = "`store_unavailable`", body = ref(ERROR)),
    )
)]
pub async fn logout_all(
    req: HttpRequest,
    user: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.logout_all(user.claims()).await?;
    Ok(no_content_clearing_cookie(&req, &state))
}

/// 200 with the token response; in cookie mode the refresh token moves to the cookie.
pub(super) fn token_reply(
    state: &AppState,
    mut response: TokenResponse,
    cookie_mode: bool,
) -> HttpResponse {
    let mut reply = HttpResponse::Ok();
    no_store(&mut reply);
    if cookie_mode {
        if let Some(token) = response.refresh_token.take() {
            reply.cookie(browser::cookie(
                token,
                response.refresh_expires_in,
                state.cookie_secure(),
            ));
        }
    }
    reply.json(response)
}

pub(super) fn no_content_clearing_cookie(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let mut reply = HttpResponse::NoContent();
    no_store(&mut reply);
    if browser::is_browser(req) || req.cookie(browser::COOKIE_NAME).is_some() {
        reply.cookie(browser::removal(state.cookie_secure()));
    }
    reply.finish()
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store(reply: &mut HttpResponseBuilder) {
    reply
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"));
}
