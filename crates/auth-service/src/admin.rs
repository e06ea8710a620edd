//! `auth-service users grant-admin NAME` / `revoke-admin NAME`: operator commands that work
//! against the configured store. Revoking also bumps the user's token version, so every
//! existing session must log in again; a grant takes effect at the next refresh.

use auth_core::{ROLE_ADMIN, ROLE_USER};
use thiserror::Error;

use crate::config::Settings;
use crate::startup::{store, StartupError};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("these commands change a shared store: set AUTH__REDIS__URL (the in-memory store lives inside a running service)")]
    NoSharedStore,
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// Grants (`true`) or revokes (`false`) the admin role; returns a line for the operator.
pub async fn set_admin(
    settings: &Settings,
    username: &str,
    grant: bool,
) -> Result<String, AdminError> {
    if settings.redis.url.is_none() {
        return Err(AdminError::NoSharedStore);
    }
    let store = store(settings)?;
    let user = store
        .user_by_name(username)
        .await?
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
    let (role, bump) = if grant {
        (ROLE_ADMIN, false)
    } else {
        (ROLE_USER, true)
    };
    store.set_role(&user.id, role, bump).await?;
    Ok(if grant {
        format!(
            "{} is now an admin (effective at their next refresh)",
            user.username
        )
    } else {
        format!(
            "{} is no longer an admin; their sessions must log in again",
            user.username
        )
    })
}
