//! RFC 7662 token introspection, for gateways and services that cannot hold a revocation
//! view of their own: is this token active *now*, and what does it say? An access token
//! is active if it verifies here — signature, lifetime, audience and the revocation view,
//! exactly as at a resource server; a refresh token if its session is live and it is the
//! session's current token. Anything else is `{"active": false}`, with no reason given
//! (§2.2: the answer must not help probing).

use auth_core::Subject;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::refresh::RefreshToken;
use crate::state::AppState;

/// `token_type_hint` (§2.1): which kind to try first. Both are always tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    AccessToken,
    RefreshToken,
}

impl Hint {
    /// An unknown hint is ignored (RFC 7009 §2.1, which RFC 7662 follows).
    pub fn parse(hint: Option<&str>) -> Option<Hint> {
        match hint? {
            "access_token" => Some(Hint::AccessToken),
            "refresh_token" => Some(Hint::RefreshToken),
            _ => None,
        }
    }
}

fn inactive() -> Value {
    json!({ "active": false })
}

impl AppState {
    /// The RFC 7662 answer for `token`.
    pub async fn introspect(&self, token: &str, hint: Option<Hint>) -> Result<Value, ApiError> {
        let answer = if hint == Some(Hint::RefreshToken) {
            match self.introspect_refresh(token).await? {
                Some(answer) => Some(answer),
                None => self.introspect_access(token).await?,
            }
        } else {
            match self.introspect_access(token).await? {
                Some(answer) => Some(answer),
                None => self.introspect_refresh(token).await?,
            }
        };
        Ok(answer.unwrap_or_else(inactive))
    }

    async fn introspect_access(&self, token: &str) -> Result<Option<Value>, ApiError> {
        let Ok(claims) = self.verifier().verify(token) else {
            return Ok(None);
        };
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "sub": claims.sub,
            "exp": claims.exp,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "iss": claims.iss,
            "aud": claims.aud,
            "jti": claims.jti,
            "sid": claims.sid,
            "role": claims.role,
        });
        if let Some(scope) = &claims.scope {
            answer["scope"] = json!(scope);
        }
        match claims.subject() {
            Subject::Service(client_id) => answer["client_id"] = json!(client_id),
            Subject::User(user_id) => match self.store().user_by_id(user_id).await? {
                Some(user) => answer["username"] = json!(user.username),
                // Deleted: its tokens are revoked, but the view may not have heard yet.
                None => return Ok(None),
            },
        }
        Ok(Some(answer))
    }

    async fn introspect_refresh(&self, token: &str) -> Result<Option<Value>, ApiError> {
        let Some(token) = RefreshToken::parse(token) else {
            return Ok(None);
        };
        let sid = token.session();
        let idle_secs = self.settings().refresh.idle_secs;
        let live_until = self
            .store()
            .live_until(sid, &token.secret_hash(), self.now(), idle_secs)
            .await?;
        Ok(live_until.map(|exp| {
            json!({
                "active": true,
                "token_type": "refresh_token",
                "sub": sid.user().to_string(),
                "sid": sid.as_str(),
                "exp": exp,
                "iss": self.settings().jwt.issuer,
            })
        }))
    }
}
