//! The audit trail: security-relevant events as one JSON object per line, on the tracing
//! target `audit` (written whatever the log level; `AUTH__LOG__AUDIT=false` silences it).
//! The schema is stable — fields are added, never renamed or removed — and the README
//! ("Operations") documents it:
//!
//! ```json
//! {"time":"2026-12-01T10:00:00.123Z","target":"audit","event":"login_failed",
//!  "outcome":"failure","user_id":"…","session_id":null,"client_ip":"203.0.113.7",
//!  "user_agent":"…","request_id":"…","details":{}}
//! ```
//!
//! Every key is always there (`null` when it does not apply). `client_ip` is the address
//! the service sees (the last `X-Forwarded-For` entry with `AUTH__TRUST_FORWARDED_FOR`),
//! `user_agent` is cut to 256 characters, and the three request fields are `null` outside
//! a request (the command line, background tasks). Never a password, a token, a hash or a
//! username as typed (a failed login may have a password in the name field): users appear
//! by id only.

use serde::Serialize;
use serde_json::{Map, Value};
use service_kit::http::Caller;
use service_kit::telemetry::AUDIT_TARGET;

use crate::sessions::ClientInfo;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    UserRegistered,
    LoginSucceeded,
    /// Wrong password or unknown name; `user_id` when the name exists.
    LoginFailed,
    /// A spent refresh token came back: the family is revoked (a theft signal).
    RefreshReuseDetected,
    /// The owner ended one session (`DELETE /auth/sessions/{id}`).
    SessionRevoked,
    Logout,
    LogoutAll,
    PasswordChanged,
    AccountDeleted,
    /// One access token revoked by its holder (RFC 7009): `details.jti`.
    TokenRevoked,
    /// `details.role`, `details.by` (`operator` for the command line, `bootstrap` for
    /// `AUTH__ADMINS`).
    RoleGranted,
    RoleRevoked,
    /// This instance started signing with `details.kid` (a key-set reload).
    SigningKeyRotated,
    /// The client-credentials grant: `details.client_id`, `details.scope`.
    ClientTokenIssued,
    /// A login/registration limit refused: `details.scope` (`ip` or `username`).
    RateLimited,
}

impl AuditEvent {
    /// Whether the event records something refused.
    fn outcome(self) -> &'static str {
        match self {
            AuditEvent::LoginFailed
            | AuditEvent::RefreshReuseDetected
            | AuditEvent::RateLimited => "failure",
            _ => "success",
        }
    }
}

/// One event, built up, then [`Audit::emit`]ted.
#[derive(Debug)]
#[must_use = "an audit event is recorded only by `emit`"]
pub struct Audit {
    event: AuditEvent,
    user_id: Option<String>,
    session_id: Option<String>,
    details: Map<String, Value>,
}

/// The line as written.
#[derive(Serialize)]
struct Record<'a> {
    time: String,
    target: &'static str,
    event: AuditEvent,
    outcome: &'static str,
    user_id: Option<&'a str>,
    session_id: Option<&'a str>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: &'a Map<String, Value>,
}

impl Audit {
    pub fn new(event: AuditEvent) -> Audit {
        Audit {
            event,
            user_id: None,
            session_id: None,
            details: Map::new(),
        }
    }

    pub fn user(mut self, id: impl ToString) -> Audit {
        self.user_id = Some(id.to_string());
        self
    }

    pub fn session(mut self, id: impl ToString) -> Audit {
        self.session_id = Some(id.to_string());
        self
    }

    /// An event-specific fact (never a secret).
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Audit {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Writes the event, with the request the current task answers (if any): its client
    /// address (trusting `X-Forwarded-For` as told), user agent and request id.
    pub fn emit(self, trust_forwarded_for: bool) {
        let caller = Caller::current();
        let client = caller
            .as_ref()
            .map(|caller| ClientInfo::of_caller(caller, trust_forwarded_for));
        let record = Record {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            target: AUDIT_TARGET,
            event: self.event,
            outcome: self.event.outcome(),
            user_id: self.user_id.as_deref(),
            session_id: self.session_id.as_deref(),
            request_id: caller
                .and_then(|caller| caller.request_id)
                .map(|id| id.to_string()),
            client_ip: client.as_ref().map(|client| client.ip.clone()),
            user_agent: client.map(|client| client.user_agent),
            details: &self.details,
        };
        match serde_json::to_string(&record) {
            // The field's name is `AUDIT_FIELD`'s.
            Ok(line) => tracing::info!(target: AUDIT_TARGET, record = line.as_str()),
            Err(err) => tracing::error!(error = %err, "an audit event did not serialize"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_in_snake_case_and_refusals_are_failures() {
        let name = serde_json::to_value(AuditEvent::RefreshReuseDetected).unwrap();
        assert_eq!(name, "refresh_reuse_detected");
        assert_eq!(AuditEvent::RateLimited.outcome(), "failure");
        assert_eq!(AuditEvent::LogoutAll.outcome(), "success");
    }
}
