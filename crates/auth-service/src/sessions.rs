//! The token lifecycle over the store: registration, login, refresh with rotation and
//! reuse detection, logout, logout everywhere, password change. HTTP shapes live in
//! `routes`; every decision lives here or in the store's atomic steps.
//!
//! What a refresh returns (the README repeats this): presenting the *current* refresh
//! token rotates the family and returns a new access token and the successor refresh
//! token. Presenting the *just-spent* token within the grace window returns a new access
//! token and that same successor again, so parallel tabs and retries converge on one
//! chain. Presenting a spent token after the grace window, or any older spent token,
//! revokes the whole family: thief and victim both log in again.

use std::net::IpAddr;

use actix_web::http::header::{USER_AGENT, X_FORWARDED_FOR};
use actix_web::HttpRequest;
use auth_core::{Claims, Role};
use secrecy::SecretString;
use serde::Serialize;
use service_kit::http::Caller;
use uuid::Uuid;

use crate::audit::{Audit, AuditEvent};
use crate::error::ApiError;
use crate::metrics::{Issued, Limit, Refresh, Revocation};
use crate::password::{validate_password, validate_username};
use crate::refresh::{RefreshToken, SessionId};
use crate::state::AppState;
use crate::store::{Grant, NewSession, Revoking, RotateRequest, Rotation, SessionInfo, User};

/// Longest user agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 256;

/// The token response of login and refresh (RFC 6749 §5.1 names plus `session_id`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// A JWT for the resource servers' `Authorization: Bearer`.
    pub access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// `<session id>.<secret>`, spent by its first use. Absent in browser mode, where the
    /// token travels only in the `tessera_refresh` cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub refresh_token: Option<String>,
    /// Seconds until the session ends (idle or absolute lifetime, whichever is first).
    pub refresh_expires_in: u64,
    pub session_id: String,
}

/// Who is logging in, as seen from the request.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// The client of `req` (see [`ClientInfo::of_caller`]).
    pub fn of(req: &HttpRequest, trust_forwarded_for: bool) -> ClientInfo {
        let header = |name| req.headers().get(name).cloned();
        let caller = Caller {
            request_id: None,
            peer: req.peer_addr(),
            user_agent: header(USER_AGENT),
            forwarded_for: header(X_FORWARDED_FOR),
        };
        ClientInfo::of_caller(&caller, trust_forwarded_for)
    }

    /// The client `caller` describes. With `trust_forwarded_for`, the IP is the last
    /// `X-Forwarded-For` entry — the one our own proxy appended — so a client cannot choose
    /// its IP by sending the header itself.
    pub fn of_caller(caller: &Caller, trust_forwarded_for: bool) -> ClientInfo {
        let forwarded = trust_forwarded_for
            .then(|| caller.forwarded_for.as_ref()?.to_str().ok())
            .flatten()
            .and_then(|list| list.rsplit(',').next())
            .map(str::trim)
            .filter(|ip| ip.parse::<IpAddr>().is_ok());
        let ip = match forwarded {
            Some(ip) => ip.to_owned(),
            None => caller
                .peer
                .map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string()),
        };
        let user_agent = caller
            .user_agent
            .as_ref()
            .map(|ua| String::from_utf8_lossy(ua.as_bytes()).into_owned())
            .unwrap_or_default();
        ClientInfo::new(ip, &user_agent)
    }

    pub fn new(ip: String, user_agent: &str) -> ClientInfo {
        ClientInfo {
            ip,
            user_agent: user_agent.chars().take(MAX_USER_AGENT_CHARS).collect(),
        }
    }
}

impl AppState {
    /// Creates a user. Names on `AUTH__ADMINS` start as admins.
    pub async fn register(
        &self,
        username: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<User, ApiError> {
        let result = self.create_user(username, password, client).await;
        self.counters().registration_result(&result);
        result
    }

    async fn create_user(
        &self,
        username: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<User, ApiError> {
        validate_username(username).map_err(ApiError::Validation)?;
        validate_password(&password).map_err(ApiError::Validation)?;
        self.throttle_ip(client).await?;
        if self.store().user_by_name(username).await?.is_some() {
            return Err(ApiError::UsernameTaken);
        }
        let role = if self.settings().is_bootstrap_admin(username) {
            Role::Admin
        } else {
            Role::User
        };
        let user = User {
            id: Uuid::new_v4().to_string(),
            username: username.to_owned(),
            password_hash: self.passwords().hash(password).await?,
            role,
            ver: 0,
            created_at: self.now(),
        };
        self.store().create_user(&user).await?;
        self.audit(Audit::new(AuditEvent::UserRegistered).user(&user.id));
        if role == Role::Admin {
            self.audit(
                Audit::new(AuditEvent::RoleGranted)
                    .user(&user.id)
                    .detail("role", role.as_str())
                    .detail("by", "bootstrap"),
            );
        }
        Ok(user)
    }

    /// Checks credentials (rate-limited; an unknown name costs what a wrong password
    /// costs) and starts a session.
    pub async fn login(
        &self,
        username: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<TokenResponse, ApiError> {
        let result = self.start_session(username, password, client).await;
        self.counters().login_result(&result);
        result
    }

    async fn start_session(
        &self,
        username: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<TokenResponse, ApiError> {
        self.throttle_ip(client).await?;
        // A name that breaks the rules cannot exist: no counter for it (it could be 16 KiB
        // of anything), but the same dummy verification below.
        let user = match validate_username(username) {
            Ok(()) => {
                self.throttle_name(username).await?;
                self.store().user_by_name(username).await?
            }
            Err(_) => None,
        };
        let hash = user.as_ref().map(|user| user.password_hash.clone());
        if !self.passwords().verify(password, hash).await? {
            let failed = Audit::new(AuditEvent::LoginFailed);
            self.audit(match &user {
                Some(user) => failed.user(&user.id),
                None => failed,
            });
            return Err(ApiError::InvalidCredentials);
        }
        let user = user.ok_or(ApiError::InvalidCredentials)?;
        let user_id = Uuid::parse_str(&user.id).map_err(ApiError::internal)?;
        let sid = SessionId::new(user_id).map_err(ApiError::internal)?;
        let token = self
            .refresh_keys()
            .fresh(sid.clone())
            .map_err(ApiError::internal)?;
        let now = self.now();
        let refresh = &self.settings().refresh;
        let session = NewSession {
            sid,
            secret_hash: token.secret_hash(),
            now,
            absolute_expiry: now.saturating_add(refresh.absolute_secs),
            idle_secs: refresh.idle_secs,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            ver: user.ver,
        };
        // `None`: the user was deleted, or changed the password or logged out everywhere
        // while this password was being checked — the check no longer holds.
        let grant = self
            .store()
            .create_session(&session)
            .await?
            .ok_or(ApiError::InvalidCredentials)?;
        self.audit(
            Audit::new(AuditEvent::LoginSucceeded)
                .user(&user.id)
                .session(&session.sid),
        );
        self.respond(&user.id, &token, &grant)
    }

    /// Rotates a refresh token (see the module docs for exactly what is returned).
    pub async fn refresh(&self, presented: &str) -> Result<TokenResponse, ApiError> {
        let result = self.rotate(presented).await;
        if let Err(ApiError::StoreUnavailable(_) | ApiError::Internal(_)) = &result {
            self.counters().refresh(Refresh::Error);
        }
        result
    }

    /// [`Self::refresh`]; counts every outcome but a failure of the store.
    async fn rotate(&self, presented: &str) -> Result<TokenResponse, ApiError> {
        let Some(presented) = RefreshToken::parse(presented) else {
            self.counters().refresh(Refresh::Invalid);
            return Err(ApiError::InvalidRefreshToken);
        };
        let successor = self.refresh_keys().successor(&presented);
        let (presented_hash, successor_hash) = (presented.secret_hash(), successor.secret_hash());
        let refresh = &self.settings().refresh;
        let sid = presented.session();
        let at = self.revoking();
        let outcome = self
            .store()
            .rotate(&RotateRequest {
                sid,
                presented_hash: &presented_hash,
                successor_hash: &successor_hash,
                now: at.now,
                grace_secs: refresh.grace_secs,
                idle_secs: refresh.idle_secs,
                revoke_until: at.until,
            })
            .await?;
        let user_id = sid.user().to_string();
        let counted = |outcome| self.counters().refresh(outcome);
        match outcome {
            Rotation::Rotated(grant) => {
                counted(Refresh::Rotated);
                self.respond(&user_id, &successor, &grant)
            }
            Rotation::Grace(grant) => {
                counted(Refresh::Grace);
                self.respond(&user_id, &successor, &grant)
            }
            Rotation::Unknown => {
                counted(Refresh::Invalid);
                Err(ApiError::InvalidRefreshToken)
            }
            Rotation::Revoked => {
                counted(Refresh::Revoked);
                Err(ApiError::InvalidRefreshToken)
            }
            Rotation::Expired => {
                counted(Refresh::Expired);
                Err(ApiError::SessionExpired)
            }
            Rotation::Reused => Err(self.reuse_detected(sid)),
            Rotation::Mismatch {
                generation,
                current_hash,
            } => {
                if self
                    .refresh_keys()
                    .is_ancestor(&presented, &current_hash, generation)
                {
                    self.store().end_session(sid, at).await?;
                    Err(self.reuse_detected(sid))
                } else {
                    counted(Refresh::Invalid);
                    Err(ApiError::InvalidRefreshToken)
                }
            }
        }
    }

    /// Ends the session of `presented` if it is its current or just-spent token. Always
    /// succeeds for a malformed or unknown token: logout is idempotent.
    pub async fn logout(&self, presented: &str) -> Result<(), ApiError> {
        if let Some(token) = RefreshToken::parse(presented) {
            let sid = token.session();
            if self
                .store()
                .logout(sid, &token.secret_hash(), self.revoking())
                .await?
            {
                self.counters().revoked(Revocation::Logout);
                self.audit(Audit::new(AuditEvent::Logout).user(sid.user()).session(sid));
            }
        }
        Ok(())
    }

    /// The caller's user record. Whether the token is still current (not revoked by a
    /// logout, a password change, a deleted session…) the verifier's revocation view has
    /// already decided, as at every resource server; a user gone meanwhile is revoked too.
    pub async fn current_user(&self, claims: &Claims) -> Result<User, ApiError> {
        self.store()
            .user_by_id(&claims.sub)
            .await?
            .ok_or_else(revoked_token)
    }

    /// Ends every session of the caller, bumps the token version and revokes the access
    /// tokens below it (logout everywhere).
    pub async fn logout_all(&self, claims: &Claims) -> Result<(), ApiError> {
        self.store()
            .end_all_sessions(&claims.sub, self.revoking())
            .await?;
        self.audit(
            Audit::new(AuditEvent::LogoutAll)
                .user(&claims.sub)
                .session(&claims.sid),
        );
        self.counters().revoked(Revocation::LogoutAll);
        Ok(())
    }

    /// The caller's live sessions, oldest first.
    pub async fn sessions_of(&self, claims: &Claims) -> Result<Vec<SessionInfo>, ApiError> {
        let idle_secs = self.settings().refresh.idle_secs;
        Ok(self
            .store()
            .sessions(&claims.sub, self.now(), idle_secs)
            .await?)
    }

    /// Ends one of the caller's sessions and revokes its access tokens. Another user's
    /// session id is the same `NotFound` as an unknown one: ids of other users' sessions
    /// are not confirmed.
    pub async fn end_session_of(&self, claims: &Claims, id: &str) -> Result<(), ApiError> {
        let sid = SessionId::parse(id)
            .filter(|sid| sid.user().to_string() == claims.sub)
            .ok_or(ApiError::NotFound)?;
        if !self.store().end_session(&sid, self.revoking()).await? {
            return Err(ApiError::NotFound);
        }
        self.audit(
            Audit::new(AuditEvent::SessionRevoked)
                .user(&claims.sub)
                .session(&sid)
                .detail("by_session", claims.sid.as_str()),
        );
        self.counters().revoked(Revocation::Ended);
        Ok(())
    }

    /// Revokes one access token (RFC 7009 with an access token): until it expires, plus
    /// the leeway.
    pub async fn revoke_access_token(&self, claims: &Claims) -> Result<(), ApiError> {
        let at = Revoking {
            now: self.now(),
            until: claims.exp.saturating_add(self.settings().jwt.leeway_secs),
        };
        self.store().revoke_token(&claims.jti, at).await?;
        self.audit(
            Audit::new(AuditEvent::TokenRevoked)
                .user(&claims.sub)
                .session(&claims.sid)
                .detail("jti", claims.jti.as_str()),
        );
        Ok(())
    }

    /// A revocation made now: it matters for the access-token lifetime plus the leeway.
    pub(crate) fn revoking(&self) -> Revoking {
        Revoking::at(self.settings(), self.now())
    }

    /// Changes the password: the current one must be right; every other session ends.
    pub async fn change_password(
        &self,
        claims: &Claims,
        current: SecretString,
        new: SecretString,
    ) -> Result<(), ApiError> {
        let user = self.current_user(claims).await?;
        self.throttle_name(&user.username).await?;
        validate_password(&new).map_err(ApiError::Validation)?;
        self.check_password(&user, current).await?;
        let hash = self.passwords().hash(new).await?;
        let keep = SessionId::parse(&claims.sid).ok_or_else(revoked_token)?;
        // Refused if the version moved on during the check (another password change or a
        // logout-all): the caller's own token was revoked meanwhile.
        if !self
            .store()
            .set_password(&user, &hash, &keep, self.revoking())
            .await?
        {
            return Err(revoked_token());
        }
        self.audit(
            Audit::new(AuditEvent::PasswordChanged)
                .user(&user.id)
                .session(&claims.sid),
        );
        self.counters().revoked(Revocation::PasswordChanged);
        Ok(())
    }

    /// Deletes the caller's account: the password must be right. The purge of the
    /// account's tasks is recorded first (so it cannot be lost), then the user, every
    /// session and the username go — unless the password changed or every session was
    /// ended while the password was being checked — then the purge is tried at once (see
    /// [`crate::purge`]).
    pub async fn delete_account(
        &self,
        claims: &Claims,
        password: SecretString,
    ) -> Result<(), ApiError> {
        let user = self.current_user(claims).await?;
        self.throttle_name(&user.username).await?;
        self.check_password(&user, password).await?;
        self.store().enqueue_purge(&user.id, self.now()).await?;
        if !self.store().delete_user(&user, self.revoking()).await? {
            // The account stays; so must its tasks. The poller never purges a live
            // account, so a withdrawal that fails here is harmless.
            self.store().purge_done(&user.id).await?;
            return Err(revoked_token());
        }
        self.audit(
            Audit::new(AuditEvent::AccountDeleted)
                .user(&user.id)
                .session(&claims.sid),
        );
        self.counters().revoked(Revocation::AccountDeleted);
        crate::purge::purge_now(self, &user.id).await;
        Ok(())
    }

    /// `Ok` if `password` is `user`'s, else `InvalidCredentials`.
    async fn check_password(&self, user: &User, password: SecretString) -> Result<(), ApiError> {
        let hash = Some(user.password_hash.clone());
        match self.passwords().verify(password, hash).await? {
            true => Ok(()),
            false => Err(ApiError::InvalidCredentials),
        }
    }

    fn respond(
        &self,
        user_id: &str,
        refresh_token: &RefreshToken,
        grant: &Grant,
    ) -> Result<TokenResponse, ApiError> {
        let sid = refresh_token.session().as_str();
        let access_token = self
            .issuer()
            .user_token(user_id, sid, grant.role, grant.ver)
            .map_err(ApiError::internal)?;
        self.counters().issued(Issued::User);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.issuer().ttl().as_secs(),
            refresh_token: Some(refresh_token.expose()),
            refresh_expires_in: grant.refresh_expires_in,
            session_id: sid.to_owned(),
        })
    }

    /// An access token for confidential client `client_id` with `scope` (the
    /// `client_credentials` grant, and the auth-service's own purge calls): subject
    /// `svc:<client_id>`, no session behind it. Returns the token and its lifetime.
    pub fn service_token(&self, client_id: &str, scope: &str) -> Result<(String, u64), ApiError> {
        let token = self
            .issuer()
            .service_token(client_id, scope)
            .map_err(ApiError::internal)?;
        self.counters().issued(Issued::Service);
        Ok((token, self.issuer().ttl().as_secs()))
    }

    fn reuse_detected(&self, sid: &SessionId) -> ApiError {
        self.counters().refresh(Refresh::Reused);
        self.counters().revoked(Revocation::Reuse);
        self.audit(
            Audit::new(AuditEvent::RefreshReuseDetected)
                .user(sid.user())
                .session(sid),
        );
        ApiError::RefreshTokenReused
    }

    async fn throttle_ip(&self, client: &ClientInfo) -> Result<(), ApiError> {
        let limits = &self.settings().rate_limit;
        self.throttle(
            &format!("ip:{}", client.ip),
            limits.ip_attempts,
            limits.ip_window_secs,
            Limit::Ip,
        )
        .await
    }

    /// Counts one password attempt against `username` (case-insensitively).
    async fn throttle_name(&self, username: &str) -> Result<(), ApiError> {
        let limits = &self.settings().rate_limit;
        self.throttle(
            &format!("user:{}", username.to_ascii_lowercase()),
            limits.username_attempts,
            limits.username_window_secs,
            Limit::Username,
        )
        .await
    }

    async fn throttle(
        &self,
        key: &str,
        limit: u64,
        window_secs: u64,
        scope: Limit,
    ) -> Result<(), ApiError> {
        let hits = self.store().hit(key, window_secs, self.now()).await?;
        if hits.count > limit {
            self.counters().limited(scope);
            self.audit(Audit::new(AuditEvent::RateLimited).detail("scope", scope.as_str()));
            return Err(ApiError::RateLimited {
                retry_after: hits.resets_in,
            });
        }
        Ok(())
    }
}

fn revoked_token() -> ApiError {
    ApiError::Auth(auth_core::actix::AuthError::Revoked)
}
