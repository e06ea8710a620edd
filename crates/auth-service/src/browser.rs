//! Browser mode: the refresh token travels only in an `HttpOnly; Secure; SameSite=Strict`
//! cookie scoped to `/auth`, never in a body a script can read. A client opts in with the
//! request header `X-Tessera-Client: browser`. Requests authenticated by the cookie must
//! also carry that header (a custom header cannot be sent cross-site without a CORS
//! preflight, which this service never grants) and an `Origin` on the allow-list.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

/// Header by which a browser client asks for cookie transport (and proves same-origin).
pub const CLIENT_HEADER: &str = "x-tessera-client";
/// Its one value.
pub const BROWSER: &str = "browser";
/// The refresh-token cookie.
pub const COOKIE_NAME: &str = "tessera_refresh";
/// The cookie's path: only the auth endpoints ever receive it.
pub const COOKIE_PATH: &str = "/auth";

/// Whether the client asked for browser mode.
pub fn is_browser(req: &HttpRequest) -> bool {
    req.headers()
        .get(CLIENT_HEADER)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(BROWSER.as_bytes()))
}

/// The refresh-token cookie; `secure: false` only in dev mode (plain-HTTP localhost).
pub fn cookie(token: String, max_age_secs: u64, secure: bool) -> Cookie<'static> {
    let max_age = i64::try_from(max_age_secs).unwrap_or(i64::MAX);
    Cookie::build(COOKIE_NAME, token)
        .path(COOKIE_PATH)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

/// A cookie that deletes the refresh-token cookie.
pub fn removal(secure: bool) -> Cookie<'static> {
    let mut cookie = cookie(String::new(), 0, secure);
    cookie.make_removal();
    cookie
}

/// Where the refresh token of a refresh or logout request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Body,
    Cookie,
}

/// The refresh token of a request: from the JSON body if present, else from the cookie
/// after the CSRF checks. `None` when the request carries neither.
pub fn refresh_token(
    req: &HttpRequest,
    body_token: Option<String>,
    allowed_origins: &[String],
) -> Result<Option<(String, Transport)>, ApiError> {
    if let Some(token) = body_token {
        return Ok(Some((token, Transport::Body)));
    }
    let Some(cookie) = req.cookie(COOKIE_NAME) else {
        return Ok(None);
    };
    if !is_browser(req) {
        return Err(ApiError::Csrf(
            "cookie-authenticated requests need X-Tessera-Client: browser",
        ));
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .ok_or(ApiError::Csrf(
            "cookie-authenticated requests need an Origin header",
        ))?;
    if !allowed_origins.iter().any(|allowed| allowed == origin) {
        return Err(ApiError::Csrf("this Origin may not use the refresh cookie"));
    }
    Ok(Some((cookie.value().to_owned(), Transport::Cookie)))
}
