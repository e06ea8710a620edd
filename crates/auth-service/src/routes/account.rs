//! `POST /auth/register`, `POST /auth/password` and `DELETE /auth/account`.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_core::actix::Authenticated;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use service_kit::openapi::ERROR;

use super::Credentials;
use crate::error::ApiError;
use crate::sessions::ClientInfo;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Registered<'a> {
    user_id: &'a str,
    username: &'a str,
}

/// Create an account (role `user`, or `admin` for the names in `AUTH__ADMINS`).
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "account",
    request_body = Credentials,
    responses(
        (status = 201, description = "registered", body = Registered, links(
            ("login" = (operation_id = "login", request_body = json!({
                "username": "$request.body#/username",
                "password": "$request.body#/password",
            }))),
        )),
        (status = 409, description = "`username_taken` (case-insensitively)", body = ref(ERROR)),
        (status = 429, description = "`rate_limited`: too many registrations from this address", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable`, or `server_busy` (the hashing queue is full)", body = ref(ERROR)),
    )
)]
pub async fn register(
    req: HttpRequest,
    body: web::Json<Credentials>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = ClientInfo::of(&req, state.settings().trust_forwarded_for);
    let Credentials { username, password } = body.into_inner();
    let user = state.register(&username, password, &client).await?;
    Ok(HttpResponse::Created().json(Registered {
        user_id: &user.id,
        username: &user.username,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    new_password: SecretString,
}

/// Change the caller's password: every other session ends, the token version moves.
#[utoipa::path(
    post,
    path = "/auth/password",
    tag = "account",
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "changed"),
        (status = 401, description = "`invalid_credentials` (the current password is wrong), or `invalid_token` (also when the password changed or every session ended meanwhile)", body = ref(ERROR)),
        (status = 429, description = "`rate_limited`", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable` or `server_busy`", body = ref(ERROR)),
    )
)]
pub async fn change_password(
    user: Authenticated,
    body: web::Json<PasswordChange>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.into_inner();
    state
        .change_password(user.claims(), current_password, new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletion {
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// `DELETE /auth/account`: 204 once the account is gone; its tasks are purged before the
/// answer when the tasks-service answers, and in the background otherwise.
#[utoipa::path(
    delete,
    path = "/auth/account",
    tag = "account",
    request_body = AccountDeletion,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the user, every session and the username are gone"),
        (status = 401, description = "`invalid_credentials`, or `invalid_token` (nothing deleted)", body = ref(ERROR)),
        (status = 403, description = "`insufficient_scope`: a service token has no account", body = ref(ERROR)),
        (status = 429, description = "`rate_limited`", body = ref(ERROR)),
        (status = 503, description = "`store_unavailable` or `server_busy`", body = ref(ERROR)),
    )
)]
pub async fn delete_account(
    req: HttpRequest,
    user: Authenticated,
    body: web::Json<AccountDeletion>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    user.require_user()?;
    state
        .delete_account(user.claims(), body.into_inner().password)
        .await?;
    Ok(super::tokens::no_content_clearing_cookie(&req, &state))
}
