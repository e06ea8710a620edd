//! `auth-service users grant-admin NAME` / `revoke-admin NAME`: operator commands that work
//! against the configured store. Revoking also bumps the user's token version, so every
//! existing session must log in again; a grant takes effect at the next refresh.

use auth_core::Role;
use service_kit::redis::{RedisConn, RedisSetupError};
use thiserror::Error;

use crate::audit::{Audit, AuditEvent};
use crate::config::{Settings, ENV_PREFIX};
use crate::state::AppState;
use crate::store::{Revoking, StoreError};

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("these commands change a shared store: set AUTH__REDIS__URL, AUTH__REDIS__CLUSTER_NODES or AUTH__REDIS__SENTINELS (the in-memory store lives inside a running service)")]
    NoSharedStore,
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error(transparent)]
    Redis(#[from] RedisSetupError),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// Grants (`true`) or revokes (`false`) the admin role; returns a line for the operator.
pub async fn set_admin(
    settings: &Settings,
    username: &str,
    grant: bool,
) -> Result<String, AdminError> {
    if RedisConn::from_settings(&settings.redis, ENV_PREFIX)?.is_none() {
        return Err(AdminError::NoSharedStore);
    }
    let store = crate::store::configured(settings)?;
    let user = store
        .user_by_name(username)
        .await?
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
    let (role, bump) = if grant {
        (Role::Admin, false)
    } else {
        (Role::User, true)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    store
        .set_role(&user.id, role, bump, Revoking::at(settings, now))
        .await?;
    let event = if grant {
        AuditEvent::RoleGranted
    } else {
        AuditEvent::RoleRevoked
    };
    Audit::new(event)
        .user(&user.id)
        .detail("role", Role::Admin.as_str())
        .detail("by", "operator")
        .emit(settings.trust_forwarded_for);
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

/// Grants `admin` to the existing users named in `AUTH__ADMINS`. A store that is down at
/// start-up only delays this (registration applies the list too).
pub async fn bootstrap(state: &AppState) {
    for name in &state.settings().admins {
        let store = state.store();
        let result = match store.user_by_name(name).await {
            Ok(Some(user)) if user.role != Role::Admin => store
                .set_role(&user.id, Role::Admin, false, state.revoking())
                .await
                .map(|granted| {
                    if granted {
                        state.audit(
                            Audit::new(AuditEvent::RoleGranted)
                                .user(&user.id)
                                .detail("role", Role::Admin.as_str())
                                .detail("by", "bootstrap"),
                        );
                    }
                }),
            Ok(_) => Ok(()),
            Err(err) => Err(err),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not apply AUTH__ADMINS at start-up");
        }
    }
}
