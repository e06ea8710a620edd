//! Access-token claims (docs/ARCHITECTURE.md "Tokens"): the payload every Tessera access
//! token carries, the builder the [`crate::Issuer`] fills it with, and typed accessors for
//! the parts callers branch on.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{SignError, B64};

/// Prefix of `sub` for service (client-credentials) callers: `svc:<client_id>`.
pub const SERVICE_SUBJECT_PREFIX: &str = "svc:";
/// A caller's role, as the `role` claim spells it (lowercase). A token naming any other
/// role does not verify: Tessera issues no other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every user starts with it.
    User,
    /// May use administrative endpoints.
    Admin,
    /// A service's (client-credentials) token; what it may do is its `scope`.
    Service,
}

impl Role {
    /// The claim's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    /// The role `text` spells, if any.
    pub fn parse(text: &str) -> Option<Role> {
        [Role::User, Role::Admin, Role::Service]
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
/// The scope a service token needs to purge a deleted account's tasks at the
/// tasks-service: a contract between the auth-service (which asks for it) and the
/// tasks-service (which requires it).
pub const SCOPE_TASKS_PURGE: &str = "tasks:purge";
/// Default access-token lifetime: 10 minutes.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(600);

/// The claims of a Tessera access token. Every field but `scope` is required on
/// verification; nothing secret belongs here, since the payload is only base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer; must equal the verifier's configured issuer.
    pub iss: String,
    /// Subject: a user id, or `svc:<client_id>` for a service. See [`Claims::subject`].
    pub sub: String,
    /// Audience(s); one must be among the verifier's configured audiences.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// Unique token id (128 random bits, base64url).
    pub jti: String,
    /// Session (refresh-token family) this token was issued under.
    pub sid: String,
    /// The caller's role.
    pub role: Role,
    /// The user's token version at issue time; bumping it ends every older family.
    pub ver: u64,
    /// Space-separated OAuth scopes (RFC 8693 §4.2), where relevant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Who a token speaks for, as told by `sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An end user, by user id.
    User(&'a str),
    /// A service, by OAuth client id (the part after `svc:`).
    Service(&'a str),
}

impl Claims {
    /// Who the token speaks for.
    pub fn subject(&self) -> Subject<'_> {
        match self.sub.strip_prefix(SERVICE_SUBJECT_PREFIX) {
            Some(client_id) => Subject::Service(client_id),
            None => Subject::User(&self.sub),
        }
    }

    /// The user id, or `None` for a service token.
    pub fn user_id(&self) -> Option<&str> {
        match self.subject() {
            Subject::User(id) => Some(id),
            Subject::Service(_) => None,
        }
    }

    /// Whether the token carries exactly this role.
    pub fn has_role(&self, role: Role) -> bool {
        self.role == role
    }

    /// Whether `scope` lists this scope (exact, space-separated match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|scopes| scopes.split(' ').any(|s| s == scope))
    }
}

/// The `aud` claim: RFC 7519 allows one string or an array of strings. Tessera issues a
/// single string and accepts both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "tasks"`
    One(String),
    /// `"aud": ["tasks", "billing"]`
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among the token's audiences.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }

    /// Every audience, in token order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice = match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many.as_slice(),
        };
        slice.iter().map(String::as_str)
    }
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Audience::One(audience.to_owned())
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(one) => serializer.serialize_str(one),
            Audience::Many(many) => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;

        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut many = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(8));
                while let Some(audience) = seq.next_element::<String>()? {
                    many.push(audience);
                }
                Ok(Audience::Many(many))
            }
        }

        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// Builds the claims of a fresh access token. The issuer (auth-service) is its only user;
/// resource servers only read [`Claims`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ClaimsBuilder {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
    role: Role,
    ver: u64,
    scope: Option<String>,
    lifetime: Duration,
}

impl ClaimsBuilder {
    /// Claims for an end user's token in session `session_id`. Role defaults to
    /// [`Role::User`], version to 0, lifetime to [`DEFAULT_ACCESS_TTL`].
    pub fn user(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        user_id: impl Into<String>,
        session_id: impl Into<String>,
    ) -> Self {
        ClaimsBuilder {
            iss: issuer.into(),
            aud: audience.into(),
            sub: user_id.into(),
            sid: session_id.into(),
            role: Role::User,
            ver: 0,
            scope: None,
            lifetime: DEFAULT_ACCESS_TTL,
        }
    }

    /// Claims for a service's token: `sub` becomes `svc:<client_id>`, the role
    /// [`Role::Service`].
    pub fn service(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        client_id: &str,
        session_id: impl Into<String>,
    ) -> Self {
        let sub = format!("{SERVICE_SUBJECT_PREFIX}{client_id}");
        ClaimsBuilder::user(issuer, audience, sub, session_id).role(Role::Service)
    }

    /// The caller's role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// The user's current token version.
    pub fn version(mut self, ver: u64) -> Self {
        self.ver = ver;
        self
    }

    /// Space-separated scopes.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// How long the token is valid (whole seconds).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The claims of a token issued at `now` (seconds since the epoch), with a random `jti`.
    pub fn build(self, now: u64) -> Result<Claims, SignError> {
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| SignError::Random)?;
        Ok(Claims {
            iss: self.iss,
            sub: self.sub,
            aud: Audience::One(self.aud),
            exp: now.saturating_add(self.lifetime.as_secs()),
            iat: now,
            nbf: now,
            jti: B64.encode(jti),
            sid: self.sid,
            role: self.role,
            ver: self.ver,
            scope: self.scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        ClaimsBuilder::user("tessera", "tasks", "u-1", "s-1")
            .build(1_000)
            .unwrap()
    }

    #[test]
    fn builder_fills_times_and_defaults() {
        let c = ClaimsBuilder::user("tessera", "tasks", "u-1", "s-1")
            .version(3)
            .lifetime(Duration::from_secs(60))
            .build(1_000)
            .unwrap();
        assert_eq!((c.iat, c.nbf, c.exp), (1_000, 1_000, 1_060));
        assert_eq!((c.role, c.ver), (Role::User, 3));
        assert_eq!(c.aud, Audience::One("tasks".into()));
        assert_eq!(c.jti.len(), 22, "128 bits in unpadded base64url");
        assert_ne!(c.jti, claims().jti, "jti must be random");
    }

    #[test]
    fn subject_distinguishes_users_and_services() {
        let user = claims();
        assert_eq!(user.subject(), Subject::User("u-1"));
        assert_eq!(user.user_id(), Some("u-1"));
        let svc = ClaimsBuilder::service("tessera", "tasks", "billing", "s-2")
            .build(0)
            .unwrap();
        assert_eq!(svc.sub, "svc:billing");
        assert_eq!(svc.subject(), Subject::Service("billing"));
        assert_eq!(svc.user_id(), None);
    }

    #[test]
    fn scope_matches_whole_words_only() {
        let mut c = claims();
        assert!(!c.has_scope("tasks:read"));
        c.scope = Some("tasks:read tasks:write".into());
        assert!(c.has_scope("tasks:write"));
        assert!(!c.has_scope("tasks"));
        assert!(!c.has_scope(""));
    }

    #[test]
    fn audience_accepts_string_or_array() {
        let one: Audience = serde_json::from_str(r#""tasks""#).unwrap();
        assert!(one.contains("tasks"));
        let many: Audience = serde_json::from_str(r#"["a","tasks"]"#).unwrap();
        assert!(many.contains("tasks") && !many.contains("b"));
        assert_eq!(many.iter().collect::<Vec<_>>(), ["a", "tasks"]);
        assert!(serde_json::from_str::<Audience>("42").is_err());
        assert!(serde_json::from_str::<Audience>("[1]").is_err());
    }

    #[test]
    fn serialized_claims_round_trip_without_absent_scope() {
        let c = claims();
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("scope"));
        assert_eq!(serde_json::from_str::<Claims>(&json).unwrap(), c);
    }

    #[test]
    fn roles_are_their_lowercase_names_and_nothing_else() {
        for role in [Role::User, Role::Admin, Role::Service] {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
        assert!(serde_json::from_str::<Role>("\"Admin\"").is_err());
        assert_eq!(Role::parse("superuser"), None);
    }
}
