//! The auth-service's own series, on the service's registry ([`service_kit::metrics`]):
//! what an operator watches — logins and their failures, registrations, refreshes by
//! outcome (a `reused` is a theft signal), revocations, throttling, tokens issued, and the
//! password hashing the pool does. Every counter is resolved once, here; recording is an
//! atomic add.

use prometheus::{Histogram, IntCounter, IntGauge};
use service_kit::metrics::Metrics;

use crate::error::ApiError;

/// How a login ended (`tessera_logins_total{outcome}`).
#[derive(Clone, Copy, Debug)]
pub enum Login {
    Success,
    InvalidCredentials,
    RateLimited,
    /// The hashing queue was full (503 `server_busy`).
    Busy,
    /// The store failed (503 `store_unavailable`) or anything else went wrong.
    Error,
}

/// How a registration ended (`tessera_registrations_total{outcome}`).
#[derive(Clone, Copy, Debug)]
pub enum Registration {
    Success,
    Invalid,
    UsernameTaken,
    RateLimited,
    Busy,
    Error,
}

/// How a refresh ended (`tessera_refresh_total{outcome}`).
#[derive(Clone, Copy, Debug)]
pub enum Refresh {
    /// A new successor.
    Rotated,
    /// The just-spent token within the grace window: the same successor again.
    Grace,
    /// A spent token of the family after the window: the family is revoked.
    Reused,
    /// The session's idle or absolute lifetime is over.
    Expired,
    /// Malformed, unknown, or a made-up secret for a real session.
    Invalid,
    /// The session was ended (logout, logout-all, password change, deletion).
    Revoked,
    /// The store failed.
    Error,
}

/// Why sessions were revoked (`tessera_sessions_revoked_total{reason}`): one count per
/// revoking event (a logout-all ends every session of the user at once).
#[derive(Clone, Copy, Debug)]
pub enum Revocation {
    Logout,
    LogoutAll,
    /// The owner ended one session (`DELETE /auth/sessions/{id}`).
    Ended,
    Reuse,
    PasswordChanged,
    AccountDeleted,
}

/// Which limit refused (`tessera_rate_limited_total{scope}`).
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Ip,
    Username,
}

impl Limit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Limit::Ip => "ip",
            Limit::Username => "username",
        }
    }
}

/// Whose access token was issued (`tessera_token_issued_total{kind}`).
#[derive(Clone, Copy, Debug)]
pub enum Issued {
    User,
    Service,
}

/// The counters, histograms and gauges above, resolved.
#[derive(Debug)]
pub struct AuthMetrics {
    logins: [IntCounter; 5],
    registrations: [IntCounter; 6],
    refreshes: [IntCounter; 7],
    revocations: [IntCounter; 6],
    limits: [IntCounter; 2],
    issued: [IntCounter; 2],
    /// Seconds one argon2id hash or verification took on the pool.
    pub hash_seconds: Histogram,
    /// Jobs waiting for or running on the hashing pool.
    pub hash_queue: IntGauge,
    /// Deleted accounts whose data elsewhere is not purged yet, as of the last poll.
    pub purge_pending: IntGauge,
}

impl AuthMetrics {
    pub fn register(metrics: &Metrics) -> Result<AuthMetrics, prometheus::Error> {
        Ok(AuthMetrics {
            logins: metrics.counters(
                "logins_total",
                "Login attempts (JSON and OAuth password grant), by outcome",
                "outcome",
                [
                    "success",
                    "invalid_credentials",
                    "rate_limited",
                    "busy",
                    "error",
                ],
            )?,
            registrations: metrics.counters(
                "registrations_total",
                "Registration attempts, by outcome",
                "outcome",
                [
                    "success",
                    "invalid",
                    "username_taken",
                    "rate_limited",
                    "busy",
                    "error",
                ],
            )?,
            refreshes: metrics.counters(
                "refresh_total",
                "Refresh-token presentations, by outcome (reused: a theft signal)",
                "outcome",
                [
                    "rotated", "grace", "reused", "expired", "invalid", "revoked", "error",
                ],
            )?,
            revocations: metrics.counters(
                "sessions_revoked_total",
                "Revoking events (a logout-all ends every session of the user), by reason",
                "reason",
                [
                    "logout",
                    "logout_all",
                    "ended",
                    "reuse",
                    "password_changed",
                    "account_deleted",
                ],
            )?,
            limits: metrics.counters(
                "rate_limited_total",
                "Requests refused by a login/registration limit, by scope",
                "scope",
                [Limit::Ip.as_str(), Limit::Username.as_str()],
            )?,
            issued: metrics.counters(
                "token_issued_total",
                "Access tokens issued, by kind",
                "kind",
                ["user", "service"],
            )?,
            hash_seconds: metrics.histogram(
                "password_hash_seconds",
                "Time one argon2id hash or verification took on the pool",
                &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            )?,
            hash_queue: metrics.gauge(
                "password_hash_queue_depth",
                "Password jobs queued or running on the hashing pool",
            )?,
            purge_pending: metrics.gauge(
                "purge_pending",
                "Deleted accounts whose tasks are not purged yet (as of the last purge poll)",
            )?,
        })
    }

    pub fn login(&self, outcome: Login) {
        self.logins[outcome as usize].inc();
    }

    /// A login's outcome from its result.
    pub fn login_result<T>(&self, result: &Result<T, ApiError>) {
        self.login(match result {
            Ok(_) => Login::Success,
            Err(ApiError::InvalidCredentials) => Login::InvalidCredentials,
            Err(ApiError::RateLimited { .. }) => Login::RateLimited,
            Err(ApiError::Busy) => Login::Busy,
            Err(_) => Login::Error,
        });
    }

    /// A registration's outcome from its result.
    pub fn registration_result<T>(&self, result: &Result<T, ApiError>) {
        let outcome = match result {
            Ok(_) => Registration::Success,
            Err(ApiError::Validation(_)) => Registration::Invalid,
            Err(ApiError::UsernameTaken) => Registration::UsernameTaken,
            Err(ApiError::RateLimited { .. }) => Registration::RateLimited,
            Err(ApiError::Busy) => Registration::Busy,
            Err(_) => Registration::Error,
        };
        self.registrations[outcome as usize].inc();
    }

    pub fn refresh(&self, outcome: Refresh) {
        self.refreshes[outcome as usize].inc();
    }

    pub fn revoked(&self, reason: Revocation) {
        self.revocations[reason as usize].inc();
    }

    pub fn limited(&self, scope: Limit) {
        self.limits[scope as usize].inc();
    }

    pub fn issued(&self, kind: Issued) {
        self.issued[kind as usize].inc();
    }
}
