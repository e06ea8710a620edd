//! The rules of a Bearer-protected request (RFC 6750), in one place for every framework:
//! which header carries the token, what the caller gets once it verified
//! ([`Authenticated`]), and what a refusal answers ([`AuthError`]: status, challenge, JSON
//! body). The framework modules (`actix`, `tower`, `axum`) only read requests and write
//! responses with these; none of them decides anything.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::{Claims, ErrorBody, KeySource, Role, Verifier, VerifyError};

/// The `realm` of every Bearer challenge.
pub const REALM: &str = "tessera";

/// A caller whose access token verified. Taking it as a handler parameter is how a route
/// requires authentication; an invalid token is a 401, never an anonymous caller.
#[derive(Clone, Debug)]
pub struct Authenticated(Arc<Claims>);

impl Authenticated {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.0
    }

    /// The verified claims, owned (a copy when the verified-token cache shares them).
    pub fn into_claims(self) -> Claims {
        Arc::unwrap_or_clone(self.0)
    }

    /// `Ok` when the caller has `role`; otherwise a 403 `insufficient_scope`.
    pub fn require_role(&self, role: Role) -> Result<(), AuthError> {
        if self.0.has_role(role) {
            Ok(())
        } else {
            Err(AuthError::MissingRole(role))
        }
    }

    /// The end user's id; a service (client-credentials) token is a 403
    /// `insufficient_scope` — for routes that act on a user's own data.
    pub fn require_user(&self) -> Result<&str, AuthError> {
        self.0.user_id().ok_or(AuthError::NotAUser)
    }

    /// `Ok` when the token grants `scope`; otherwise a 403 `insufficient_scope`.
    pub fn require_scope(&self, scope: &'static str) -> Result<(), AuthError> {
        if self.0.has_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }
}

impl Deref for Authenticated {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// The token of the request's one `Authorization: Bearer <token>` header (RFC 6750 §2.1;
/// the scheme is case-insensitive), given every `Authorization` value the request carries.
/// Tokens in the query string or body are never read, and two `Authorization` headers are
/// refused rather than resolved by picking one.
pub fn bearer_token<'a>(
    authorization: impl IntoIterator<Item = &'a [u8]>,
) -> Result<&'a str, AuthError> {
    let mut values = authorization.into_iter();
    let value = values.next().ok_or(AuthError::MissingToken)?;
    if values.next().is_some() {
        return Err(AuthError::MultipleHeaders);
    }
    let value = std::str::from_utf8(value).map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    // A fold, not `all`: without the early exit the check vectorises (~10 ns, not ~180).
    let visible = token.bytes().fold(true, |ok, b| ok & b.is_ascii_graphic());
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || !visible {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// The synchronous part of authenticating: verify `token` as the verifier stands. With
/// [`bearer_token`], [`wants_new_keys`] and [`verify_with_new_keys`], what an adapter for
/// another framework needs.
pub fn authenticate(verifier: &Verifier, token: &str) -> Result<Authenticated, AuthError> {
    verifier
        .verify_shared(token)
        .map(Authenticated)
        .map_err(AuthError::InvalidToken)
}

/// Whether `result` is the one refusal a key source may turn around: a `kid` the ring
/// does not hold (yet).
pub fn wants_new_keys(result: &Result<Authenticated, AuthError>) -> bool {
    matches!(
        result,
        Err(AuthError::InvalidToken(VerifyError::UnknownKid))
    )
}

/// After an unknown `kid`: one look at `source`, then one more verification with whatever
/// ring the verifier holds by then.
pub async fn verify_with_new_keys(
    source: &dyn KeySource,
    verifier: &Verifier,
    token: &str,
) -> Result<Authenticated, AuthError> {
    if !source.unknown_kid().await {
        return Err(AuthError::InvalidToken(VerifyError::UnknownKid));
    }
    authenticate(verifier, token)
}

/// Why a request was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    MissingToken,
    /// `Authorization` is not a single `Bearer <token>`.
    MalformedHeader,
    /// More than one `Authorization` header.
    MultipleHeaders,
    /// The token did not verify.
    InvalidToken(VerifyError),
    /// The token verified but was revoked since (a service that checks revocation, such
    /// as the auth-service after logout-all, says so).
    Revoked,
    /// Valid token, but not this role.
    MissingRole(Role),
    /// Valid token, but not this scope.
    MissingScope(&'static str),
    /// A service's token on a route for end users.
    NotAUser,
    /// The app was given no verifier: a server bug, not the caller's fault.
    NotConfigured,
}

impl AuthError {
    /// The HTTP status: 401 for the token, 403 for what it grants, 503 while the
    /// revocation view is stale under `reject`, 500 for a server without a verifier.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingRole(_) | AuthError::MissingScope(_) | AuthError::NotAUser => 403,
            AuthError::NotConfigured => 500,
            _ if self.is_stale() => 503,
            _ => 401,
        }
    }

    /// Stable machine code: `invalid_token`, `insufficient_scope`, `revocation_stale` or
    /// `internal_error`.
    pub fn code(&self) -> &'static str {
        match self.status() {
            401 => "invalid_token",
            403 => "insufficient_scope",
            503 => "revocation_stale",
            _ => "internal_error",
        }
    }

    fn description(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing bearer token",
            AuthError::MalformedHeader => "authorization header is not `Bearer <token>`",
            AuthError::MultipleHeaders => "more than one authorization header",
            AuthError::InvalidToken(err) => err.description(),
            AuthError::Revoked => "token has been revoked",
            AuthError::MissingRole(_) => "the token lacks the required role",
            AuthError::MissingScope(_) => "the token lacks the required scope",
            AuthError::NotAUser => "this route is for end users, not services",
            AuthError::NotConfigured => "authentication is not configured",
        }
    }

    /// A short, stable reason for metrics (`tessera_token_rejected_total{reason}`): a
    /// handful of values, never anything from the request.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing",
            AuthError::MalformedHeader | AuthError::MultipleHeaders => "bad_header",
            AuthError::Revoked => "revoked",
            AuthError::MissingRole(_) | AuthError::MissingScope(_) | AuthError::NotAUser => {
                "insufficient_scope"
            }
            AuthError::NotConfigured => "not_configured",
            AuthError::InvalidToken(err) => match err {
                VerifyError::Expired => "expired",
                VerifyError::NotYetValid | VerifyError::IssuedInFuture => "not_yet_valid",
                VerifyError::BadSignature => "bad_signature",
                VerifyError::UnknownKid | VerifyError::MissingKid => "unknown_kid",
                VerifyError::WrongAudience => "wrong_audience",
                VerifyError::WrongIssuer => "wrong_issuer",
                VerifyError::Revoked => "revoked",
                VerifyError::RevocationStale => "revocation_stale",
                VerifyError::UnsupportedAlg
                | VerifyError::AlgNotAllowed
                | VerifyError::AlgMismatch
                | VerifyError::MissingAlg => "bad_algorithm",
                _ => "malformed",
            },
        }
    }

    /// The revocation view is stale and refuses every token: the server's state.
    fn is_stale(&self) -> bool {
        *self == AuthError::InvalidToken(VerifyError::RevocationStale)
    }

    /// The RFC 6750 §3 `WWW-Authenticate` value, for 401 and 403. Every value in it is
    /// fixed text from this crate.
    pub fn challenge(&self) -> Option<String> {
        if !matches!(self.status(), 401 | 403) {
            return None;
        }
        let base = format!(
            r#"Bearer realm="{REALM}", error="{}", error_description="{}""#,
            self.code(),
            self.description()
        );
        match self {
            AuthError::MissingScope(scope) => Some(format!(r#"{base}, scope="{scope}""#)),
            _ => Some(base),
        }
    }

    /// `Retry-After` seconds: a stale revocation view is a moment's server state, so the
    /// client should retry rather than log in again.
    pub fn retry_after(&self) -> Option<&'static str> {
        self.is_stale().then_some("1")
    }

    /// The JSON error body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string())
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingRole(role) => write!(f, "this requires the `{role}` role"),
            AuthError::MissingScope(scope) => write!(f, "this requires the `{scope}` scope"),
            _ => f.write_str(self.description()),
        }
    }
}

impl std::error::Error for AuthError {}

/// What the framework adapters' tests share: a verifier, tokens, a key source.
#[cfg(test)]
pub(crate) mod test_support {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use crate::{ClaimsBuilder, Key, KeyRing, KeySource, ManualClock, Role, Validation, Verifier};

    pub const NOW: u64 = 1_700_000_000;

    pub fn verifier(clock: &ManualClock) -> Verifier {
        let key = Key::hs256("k1", b"adapter-tests-secret-0123456789abcdef").unwrap();
        Verifier::new(
            KeyRing::new(key).unwrap(),
            Validation::new("tessera", "tasks"),
            Arc::new(clock.clone()),
        )
        .unwrap()
    }

    pub fn token(verifier: &Verifier, role: Role) -> String {
        let claims = ClaimsBuilder::user("tessera", "tasks", "user-1", "sid-1")
            .role(role)
            .build(NOW)
            .unwrap();
        verifier.keys().sign(&claims).unwrap()
    }

    /// A token signed by a key of its own (`kid`), which no verifier holds at first.
    pub fn token_of_key(kid: &str, secret: &[u8]) -> (KeyRing, String) {
        let ring = KeyRing::new(Key::hs256(kid, secret).unwrap()).unwrap();
        let claims = ClaimsBuilder::user("tessera", "tasks", "user-2", "sid-2")
            .build(NOW)
            .unwrap();
        let token = ring.sign(&claims).unwrap();
        (ring, token)
    }

    /// A key source that, when asked, swaps `next` into the verifier (if it has one left).
    pub struct Swapper {
        pub verifier: Arc<Verifier>,
        pub next: Mutex<Option<KeyRing>>,
        pub asked: AtomicUsize,
    }

    impl Swapper {
        pub fn new(verifier: Arc<Verifier>, next: KeyRing) -> Swapper {
            Swapper {
                verifier,
                next: Mutex::new(Some(next)),
                asked: AtomicUsize::new(0),
            }
        }

        pub fn asked(&self) -> usize {
            self.asked.load(Ordering::SeqCst)
        }
    }

    impl KeySource for Swapper {
        fn unknown_kid(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let next = self.next.lock().unwrap().take();
            let swapped = next.map(|ring| self.verifier.replace_keys(ring)).is_some();
            Box::pin(std::future::ready(swapped))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token<'a>(values: &[&'a [u8]]) -> Result<&'a str, AuthError> {
        bearer_token(values.iter().copied())
    }

    #[test]
    fn exactly_one_bearer_header_with_a_visible_token() {
        assert_eq!(token(&[b"Bearer abc.def.ghi"]), Ok("abc.def.ghi"));
        assert_eq!(token(&[b"bEaReR t"]), Ok("t"));
        assert_eq!(token(&[]), Err(AuthError::MissingToken));
        assert_eq!(
            token(&[b"Bearer a", b"Bearer a"]),
            Err(AuthError::MultipleHeaders)
        );
        for bad in [
            &b"Basic abc"[..],
            b"Bearer  abc",
            b"Bearer abc ",
            b"Bearerabc",
            b"Bearer",
            b"Bearer ",
            b"Bearer a\tb",
            b"Bearer \xff\xfe",
        ] {
            assert_eq!(token(&[bad]), Err(AuthError::MalformedHeader), "{bad:?}");
        }
    }

    #[test]
    fn each_refusal_has_its_status_code_and_challenge() {
        let cases = [
            (AuthError::MissingToken, 401, "invalid_token", true),
            (
                AuthError::InvalidToken(VerifyError::Expired),
                401,
                "invalid_token",
                true,
            ),
            (
                AuthError::MissingRole(Role::Admin),
                403,
                "insufficient_scope",
                true,
            ),
            (AuthError::NotAUser, 403, "insufficient_scope", true),
            (
                AuthError::InvalidToken(VerifyError::RevocationStale),
                503,
                "revocation_stale",
                false,
            ),
            (AuthError::NotConfigured, 500, "internal_error", false),
        ];
        for (err, status, code, challenged) in cases {
            assert_eq!((err.status(), err.code()), (status, code), "{err:?}");
            assert_eq!(err.challenge().is_some(), challenged, "{err:?}");
            assert_eq!(err.body().error, code);
            assert_eq!(err.retry_after().is_some(), status == 503);
        }
        let scope = AuthError::MissingScope("tasks:write").challenge().unwrap();
        assert!(scope.ends_with(r#", scope="tasks:write""#), "{scope}");
    }
}
