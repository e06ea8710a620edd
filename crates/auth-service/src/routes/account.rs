//! `POST /auth/register`, `POST /auth/password` and `DELETE /auth/account`.

use actix_web::{web, HttpRequest, HttpResponse};
use auth_core::actix::Authenticated;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{client_info, Credentials};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize)]
struct Registered<'a> {
    user_id: &'a str,
    username: &'a str,
}

pub async fn register(
    req: HttpRequest,
    body: web::Json<Credentials>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.settings().trust_forwarded_for);
    let Credentials { username, password } = body.into_inner();
    let user = state.register(&username, password, &client).await?;
    Ok(HttpResponse::Created().json(Registered {
        user_id: &user.id,
        username: &user.username,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: SecretString,
    new_password: SecretString,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletion {
    password: SecretString,
}

/// `DELETE /auth/account`: 204 once the account is gone; its tasks are purged before the
/// answer when the tasks-service answers, and in the background otherwise.
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
