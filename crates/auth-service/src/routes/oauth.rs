//! The OAuth 2.0 surface: `POST /oauth/token` (RFC 6749: `password`, `refresh_token`,
//! `client_credentials`), `POST /oauth/revoke` (RFC 7009), `POST /oauth/introspect`
//! (RFC 7662) and `GET /.well-known/oauth-authorization-server` (RFC 8414). Form-encoded in, RFC 6749
//! JSON out; errors are RFC 6749 §5.2 bodies (see [`crate::oauth`]).

use std::collections::HashMap;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Serialize;

use auth_core::Subject;

use super::tokens::token_reply;
use crate::audit::{Audit, AuditEvent};
use crate::introspection::Hint;
use crate::oauth::wire::{parse_basic, parse_form};
use crate::oauth::{grant_scopes, Client, OAuthError, Presented};
use crate::openapi::OAUTH_ERROR;
use crate::refresh::RefreshToken;
use crate::sessions::{ClientInfo, TokenResponse};
use crate::state::AppState;

/// Largest form body accepted.
const FORM_LIMIT: usize = 16 * 1024;

/// The client-credentials grant's answer: no refresh token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceToken {
    access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    token_type: &'static str,
    expires_in: u64,
    /// The granted scopes, space-separated.
    scope: String,
}

/// What the token endpoint grants: a user's tokens (`password`, `refresh_token`) or a
/// service's (`client_credentials`).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documentation only
pub enum Granted {
    User(TokenResponse),
    Service(ServiceToken),
}

/// `POST /oauth/token`'s form, one shape per grant (documentation: the form is parsed by
/// `oauth::wire`).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TokenForm {
    Password(PasswordGrant),
    Refresh(RefreshGrant),
    ClientCredentials(ClientCredentialsGrant),
}

/// A first-party public client logs a user in.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PasswordGrant {
    #[schema(pattern = "^password$")]
    grant_type: String,
    username: String,
    #[schema(format = Password)]
    password: String,
    /// A public client (`tessera-cli`, `tessera-web` by default).
    client_id: String,
}

/// A first-party public client rotates a refresh token.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RefreshGrant {
    #[schema(pattern = "^refresh_token$")]
    grant_type: String,
    refresh_token: String,
    client_id: String,
}

/// A confidential client (HTTP Basic, or `client_id` + `client_secret` here) gets a
/// service token.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ClientCredentialsGrant {
    #[schema(pattern = "^client_credentials$")]
    grant_type: String,
    /// Space-separated; omitted: every scope the client may have.
    scope: Option<String>,
    client_id: Option<String>,
    #[schema(format = Password)]
    client_secret: Option<String>,
}

/// `POST /oauth/revoke`'s and `POST /oauth/introspect`'s form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenQuery {
    token: String,
    #[schema(pattern = "^(access_token|refresh_token)$")]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    #[schema(format = Password)]
    client_secret: Option<String>,
}

/// RFC 7662 introspection answer (documentation: built by `AppState::introspect`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Introspection {
    /// `false` for anything expired, revoked, malformed, unknown or not ours — and then
    /// nothing else is said.
    active: bool,
    /// `Bearer` or `refresh_token`.
    token_type: Option<String>,
    sub: Option<String>,
    exp: Option<u64>,
    iat: Option<u64>,
    nbf: Option<u64>,
    iss: Option<String>,
    aud: Option<String>,
    jti: Option<String>,
    sid: Option<String>,
    role: Option<String>,
    username: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
}

/// Get tokens: the password, refresh-token and client-credentials grants.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "oauth_token",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "granted", body = Granted, headers(
            ("Cache-Control" = String, description = "`no-store`"),
        )),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `invalid_scope`, `unauthorized_client`, `unsupported_grant_type`", body = ref(OAUTH_ERROR)),
        (status = 401, description = "`invalid_client`", body = ref(OAUTH_ERROR), headers(
            ("WWW-Authenticate" = String, description = "`Basic realm=…`"),
        )),
        (status = 429, description = "`rate_limited`", body = ref(OAUTH_ERROR)),
    )
)]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = form(&req, payload).await?;
    let client = authenticate(&req, &params, &state)?;
    let param = |name: &str| params.get(name).map(String::as_str);
    let required = |name: &'static str| {
        param(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    };
    match required("grant_type")? {
        "password" => {
            public_only(&client, "password")?;
            if param("scope").is_some() {
                return Err(scope_not_available());
            }
            let username = required("username")?;
            let password = SecretString::from(required("password")?);
            let info = ClientInfo::of(&req, state.settings().trust_forwarded_for);
            let response = state.login(username, password, &info).await?;
            Ok(token_reply(&state, response, false))
        }
        "refresh_token" => {
            public_only(&client, "refresh_token")?;
            if param("scope").is_some() {
                return Err(scope_not_available());
            }
            let response = state.refresh(required("refresh_token")?).await?;
            Ok(token_reply(&state, response, false))
        }
        "client_credentials" => {
            let Client::Confidential { id, scopes } = &client else {
                return Err(OAuthError::unauthorized_client(
                    "client_credentials needs a confidential client (one with a secret)",
                ));
            };
            let scope = grant_scopes(param("scope"), scopes)?;
            let (access_token, expires_in) = state.service_token(id, &scope)?;
            state.audit(
                Audit::new(AuditEvent::ClientTokenIssued)
                    .detail("client_id", id.as_str())
                    .detail("scope", scope.as_str()),
            );
            Ok(no_store().json(ServiceToken {
                access_token,
                token_type: "Bearer",
                expires_in,
                scope,
            }))
        }
        _ => Err(OAuthError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password, refresh_token or client_credentials",
        )),
    }
}

/// `POST /oauth/revoke`: a refresh token ends its session (and the session's access
/// tokens); an access token that verifies is revoked itself, everywhere the revocation
/// feed reaches — a user's by a first-party (public) client, a service's only by its own
/// client. Always 200 for a token that is unknown, spent, expired or not ours (RFC 7009
/// §2.2); `token_type_hint` is not needed (the two kinds look different).
/// Revoke a refresh token (its session ends) or an access token (RFC 7009).
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "oauth_revoke",
    tag = "oauth",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "revoked — or unknown, spent or expired, which is also 200 (RFC 7009 §2.2)"),
        (status = 400, description = "`invalid_request`, `unauthorized_client` (another kind of client's token)", body = ref(OAUTH_ERROR)),
        (status = 401, description = "`invalid_client`", body = ref(OAUTH_ERROR)),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = form(&req, payload).await?;
    let client = authenticate(&req, &params, &state)?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if RefreshToken::parse(token).is_some() {
        state.logout(token).await?;
    } else if let Ok(claims) = state.verifier().verify(token) {
        let own = match (claims.subject(), &client) {
            (Subject::User(_), Client::Public(_)) => true,
            (Subject::Service(owner), Client::Confidential { id, .. }) => owner == id,
            _ => false,
        };
        if !own {
            return Err(OAuthError::unauthorized_client(
                "this client may not revoke that token",
            ));
        }
        state.revoke_access_token(&claims).await?;
    }
    Ok(no_store().finish())
}

/// `POST /oauth/introspect` (RFC 7662), for confidential clients only: whether `token`
/// is active now, and its claims (see [`crate::introspection`]).
/// Is this token active, and whose is it (RFC 7662)? Confidential clients only.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "oauth_introspect",
    tag = "oauth",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "the answer", body = Introspection),
        (status = 400, description = "`invalid_request`", body = ref(OAUTH_ERROR)),
        (status = 401, description = "`invalid_client`: no client, or a public one", body = ref(OAUTH_ERROR)),
    )
)]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = form(&req, payload).await?;
    let client = authenticate(&req, &params, &state)?;
    if !matches!(client, Client::Confidential { .. }) {
        return Err(OAuthError::invalid_client(
            "introspection needs a confidential client (one with a secret)",
        ));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = Hint::parse(params.get("token_type_hint").map(String::as_str));
    Ok(no_store().json(state.introspect(token, hint).await?))
}

/// RFC 8414 authorization server metadata.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Metadata {
    issuer: String,
    token_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    jwks_uri: String,
    grant_types_supported: [&'static str; 3],
    /// Empty: there is no authorization endpoint.
    response_types_supported: [&'static str; 0],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    scopes_supported: Vec<String>,
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 0],
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414): built from configuration
/// alone (`AUTH__PUBLIC_URL`), never from the request, since it is cached publicly.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "oauth_metadata",
    tag = "oauth",
    responses((status = 200, description = "the metadata", body = Metadata, headers(
        ("Cache-Control" = String, description = "`public, max-age=3600`"),
    )))
)]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let base = state.settings().public_base();
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(Metadata {
            issuer: state.settings().jwt.issuer.clone(),
            token_endpoint: format!("{base}/oauth/token"),
            revocation_endpoint: format!("{base}/oauth/revoke"),
            introspection_endpoint: format!("{base}/oauth/introspect"),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            grant_types_supported: ["password", "refresh_token", "client_credentials"],
            response_types_supported: [],
            token_endpoint_auth_methods_supported: auth_methods,
            revocation_endpoint_auth_methods_supported: auth_methods,
            introspection_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
            ],
            scopes_supported: state.clients().scopes(),
            token_endpoint_auth_signing_alg_values_supported: [],
        })
}

/// The form parameters: `application/x-www-form-urlencoded`, at most [`FORM_LIMIT`]
/// bytes, each parameter at most once (RFC 6749 §3.2), empty values as if omitted.
async fn form(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HashMap<String, String>, OAuthError> {
    if req.content_type() != ContentType::form_url_encoded().essence_str() {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = match payload.to_bytes_limited(FORM_LIMIT).await {
        Ok(Ok(body)) => body,
        Ok(Err(err))
            if err
                .as_error::<actix_web::error::PayloadError>()
                .is_some_and(service_kit::http::body_timed_out) =>
        {
            return Err(OAuthError::new(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "the body did not arrive in time",
            ))
        }
        Ok(Err(_)) => return Err(OAuthError::invalid_request("the body could not be read")),
        Err(_) => {
            return Err(OAuthError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the body is larger than {FORM_LIMIT} bytes"),
            ))
        }
    };
    parse_form(&body)
}

/// Authenticates the client from `Authorization: Basic` or the body.
fn authenticate(
    req: &HttpRequest,
    params: &HashMap<String, String>,
    state: &AppState,
) -> Result<Client, OAuthError> {
    let presented = Presented {
        basic: basic_credentials(req)?,
        body_id: params.get("client_id").map(String::as_str),
        body_secret: params.get("client_secret").map(String::as_str),
    };
    state.clients().authenticate(&presented)
}

/// The `Authorization` header's Basic credentials, if it carries any.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    let value = req.headers().get(header::AUTHORIZATION);
    parse_basic(value.map(|value| value.as_bytes()))
}

fn public_only(client: &Client, grant: &str) -> Result<(), OAuthError> {
    match client {
        Client::Public(_) => Ok(()),
        Client::Confidential { .. } => Err(OAuthError::unauthorized_client(format!(
            "the {grant} grant is for the first-party public clients"
        ))),
    }
}

fn scope_not_available() -> OAuthError {
    OAuthError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "invalid_scope",
        "user tokens carry no scopes; omit scope",
    )
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut reply = HttpResponse::Ok();
    reply
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    reply
}
