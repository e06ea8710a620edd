//! The HTTP surface. Handlers translate HTTP (bodies, cookies, headers) into calls on
//! [`crate::sessions::AppState`] and back; they decide nothing themselves.

pub(crate) mod account;
pub(crate) mod forward;
pub(crate) mod health;
pub(crate) mod oauth;
pub(crate) mod session_list;
pub(crate) mod tokens;

/// The JSON request bodies (besides [`Credentials`]), for what parses them outside a
/// request (the fuzz targets).
pub use self::account::{AccountDeletion, PasswordChange};
pub use self::tokens::RefreshBody;

use actix_web::web;
use secrecy::SecretString;
use serde::Deserialize;
use service_kit::http::method_not_allowed;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Named after its pattern: the metrics' `route` label.
    let route = |path: &str, route| {
        web::resource(path)
            .name(path)
            .default_service(web::to(method_not_allowed))
            .route(route)
    };
    cfg.service(route("/auth/register", web::post().to(account::register)))
        .service(route("/auth/login", web::post().to(tokens::login)))
        .service(route("/auth/refresh", web::post().to(tokens::refresh)))
        .service(route("/auth/logout", web::post().to(tokens::logout)))
        .service(route(
            "/auth/logout-all",
            web::post().to(tokens::logout_all),
        ))
        .service(route(
            "/auth/password",
            web::post().to(account::change_password),
        ))
        .service(route(
            "/auth/account",
            web::delete().to(account::delete_account),
        ))
        .service(route("/auth/me", web::get().to(session_list::me)))
        .service(route("/auth/verify", web::get().to(forward::verify)))
        .service(route("/auth/sessions", web::get().to(session_list::list)))
        .service(route(
            "/auth/sessions/{id}",
            web::delete().to(session_list::revoke),
        ))
        .service(route("/oauth/token", web::post().to(oauth::token)))
        .service(route("/oauth/revoke", web::post().to(oauth::revoke)))
        .service(route(
            "/oauth/introspect",
            web::post().to(oauth::introspect),
        ))
        .service(route(
            "/.well-known/oauth-authorization-server",
            web::get().to(oauth::metadata),
        ))
        .service(route("/.well-known/jwks.json", web::get().to(health::jwks)))
        .service(route(
            "/healthz",
            web::get().to(service_kit::health::healthz),
        ))
        .service(route("/readyz", web::get().to(health::readyz)));
}

/// Registration and login body. `SecretString` keeps the password out of `Debug`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Unique case-insensitively.
    #[schema(pattern = "^[A-Za-z0-9._-]{3,64}$")]
    pub username: String,
    /// 8–1024 bytes.
    #[schema(value_type = String, min_length = 8, max_length = 1024, format = Password)]
    pub password: SecretString,
}

/// The header that asks for browser mode on the token endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct BrowserMode {
    /// `browser`: the refresh token travels only in the `tessera_refresh` cookie, and
    /// refresh and logout through the cookie also need an allowed `Origin`.
    #[serde(rename = "X-Tessera-Client")]
    #[param(pattern = "^browser$")]
    pub client: Option<String>,
}
