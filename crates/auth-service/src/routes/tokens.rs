//! `POST /auth/login`, `/auth/refresh`, `/auth/logout`, `/auth/logout-all`: the token
//! endpoints, in JSON-body mode or browser (cookie) mode.

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use auth_core::actix::Authenticated;
use serde::Deserialize;

use super::{client_info, Credentials};
use crate::browser::{self, Transport};
use crate::error::ApiError;
use crate::sessions::TokenResponse;
use crate::state::AppState;

/// Refresh and logout body: `{"refresh_token": "..."}`, or `{}` in browser mode.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

pub async fn login(
    req: HttpRequest,
    body: web::Json<Credentials>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.settings().trust_forwarded_for);
    let Credentials { username, password } = body.into_inner();
    let response = state.login(&username, password, &client).await?;
    Ok(token_reply(&state, response, browser::is_browser(&req)))
}

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
