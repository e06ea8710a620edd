//! The one verification routine (docs/ARCHITECTURE.md "Tokens", RFC 8725). Order: size
//! cap → three segments → header → key by `kid` → header `alg` equals the key's algorithm
//! → signature → only then the claims (`exp`, `nbf`, `iat`, `iss`, `aud`) → and last, when
//! the verifier holds one, the revocation view. Nothing in a token selects a key source:
//! `jku`, `x5u`, `jwk` and `x5c` are never read.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::Guard;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::cache::{Verified, VerifiedCache};
use crate::{
    Algorithm, Claims, Clock, Key, KeyRing, RevocationView, SetupError, SharedKeys, Verdict, B64,
    TOKEN_TYPE,
};

/// Longest token accepted, checked before any parsing. Tessera's tokens are ~400 bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Largest clock-skew allowance for `exp`, `nbf` and `iat`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);
/// Clock-skew allowance unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Decoded segments up to this size (every segment of every token Tessera issues) go into a
/// stack buffer, so verification does not allocate for base64; larger ones, up to
/// [`MAX_TOKEN_LEN`], into a heap buffer. Small, because the buffer is zeroed per token.
const STACK_DECODE_LEN: usize = 1024;

/// What a token must say about itself to be accepted, besides a good signature.
#[derive(Clone, Debug)]
pub struct Validation {
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    algorithms: Option<Vec<Algorithm>>,
}

impl Validation {
    /// Tokens must have `iss == issuer` and list `audience` in `aud`; leeway
    /// [`DEFAULT_LEEWAY`]; algorithms: those of the key ring's keys.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            leeway: DEFAULT_LEEWAY,
            algorithms: None,
        }
    }

    /// Also accept tokens for `audience`.
    #[must_use]
    pub fn also_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock-skew allowance, at most [`MAX_LEEWAY`].
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Restrict the accepted `alg` values further than "whatever the keys use".
    #[must_use]
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = Some(algorithms.to_vec());
        self
    }
}

/// Why a token was refused. Each maps onto RFC 6750 `invalid_token`; the description is
/// short, fixed text that never contains any part of the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Longer than [`MAX_TOKEN_LEN`].
    TooLong,
    /// Not exactly three non-empty segments.
    Malformed,
    /// A segment is not strict unpadded base64url.
    Base64,
    /// The header is not a JSON object, or repeats a member.
    Header,
    /// No `alg` in the header.
    MissingAlg,
    /// `alg` is not one Tessera knows (`none`, in any spelling, lands here).
    UnsupportedAlg,
    /// `alg` is known but not in this verifier's allow-list.
    AlgNotAllowed,
    /// `typ` is missing or not `at+jwt`.
    WrongType,
    /// The header has `crit`: Tessera understands no extensions, so it must refuse.
    Crit,
    /// No `kid` in the header.
    MissingKid,
    /// `kid` names no key in the ring.
    UnknownKid,
    /// The header's `alg` differs from the algorithm of the key `kid` names.
    AlgMismatch,
    /// The signature does not verify.
    BadSignature,
    /// The payload is not a JSON object of the required claims.
    Claims,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// No `aud` value is among the configured audiences.
    WrongAudience,
    /// Valid, but revoked since it was issued (the verifier's revocation view says so).
    Revoked,
    /// The revocation view is stale and its policy is to refuse every token meanwhile:
    /// the server's state, not the token's (HTTP 503, not 401).
    RevocationStale,
}

impl VerifyError {
    /// Short fixed text for RFC 6750 `error_description` and the JSON error `message`.
    pub const fn description(self) -> &'static str {
        match self {
            VerifyError::TooLong => "token is too long",
            VerifyError::Malformed => "token is not three base64url segments",
            VerifyError::Base64 => "token is not valid base64url",
            VerifyError::Header => "token header is malformed",
            VerifyError::MissingAlg => "token header has no alg",
            VerifyError::UnsupportedAlg => "token algorithm is not supported",
            VerifyError::AlgNotAllowed => "token algorithm is not allowed",
            VerifyError::WrongType => "token type is not at+jwt",
            VerifyError::Crit => "token has critical header extensions",
            VerifyError::MissingKid => "token header has no kid",
            VerifyError::UnknownKid => "token key id is unknown",
            VerifyError::AlgMismatch => "token algorithm does not match its key",
            VerifyError::BadSignature => "token signature is invalid",
            VerifyError::Claims => "token claims are missing or malformed",
            VerifyError::Expired => "token has expired",
            VerifyError::NotYetValid => "token is not yet valid",
            VerifyError::IssuedInFuture => "token was issued in the future",
            VerifyError::WrongIssuer => "token issuer is not accepted",
            VerifyError::WrongAudience => "token audience is not accepted",
            VerifyError::Revoked => "token has been revoked",
            VerifyError::RevocationStale => "revocation state is stale; retry shortly",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for VerifyError {}

/// Where a [`Verifier`] can learn keys it does not hold yet: a resource server's JWKS
/// fetcher. The actix extractor asks it once when a token names an unknown `kid`, then
/// verifies again with whatever ring the verifier has by then.
pub trait KeySource: Send + Sync + 'static {
    /// Tries to learn new keys; `true` when the verifier's ring may have changed since the
    /// call began. Must bound its own rate: forged `kid`s arrive at an attacker's pace.
    fn unknown_kid(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// Verifies access tokens against a key ring. Built once at start-up and shared; the ring
/// can be replaced while requests run ([`Verifier::replace_keys`]: a reloaded key set, a
/// fetched JWKS), and each verification reads one ring from start to end.
pub struct Verifier {
    keys: SharedKeys,
    issuer: String,
    audiences: Vec<String>,
    leeway: u64,
    algorithms: Vec<Algorithm>,
    clock: Arc<dyn Clock>,
    /// What has been revoked, checked after everything else; `None`: nothing is.
    revocation: Option<Arc<RevocationView>>,
    /// Tokens that verified, by their bytes; `None`: every token is verified in full.
    cache: Option<Arc<VerifiedCache>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys.load())
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The JOSE header members Tessera looks at. Duplicate members are an error (serde's
/// derive refuses them), unknown members are ignored; `jku`, `x5u`, `jwk` and `x5c` are
/// therefore never even parsed.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Present,
}

/// Whether a member appeared at all, whatever its value (even `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Present(true))
    }
}

impl Verifier {
    /// A verifier over `keys` enforcing `validation`, reading time from `clock`. Without
    /// [`Validation::algorithms`] the allow-list is the algorithms of `keys`, fixed here:
    /// keys swapped in later never widen it.
    pub fn new(
        keys: KeyRing,
        validation: Validation,
        clock: Arc<dyn Clock>,
    ) -> Result<Verifier, SetupError> {
        Verifier::from_shared(SharedKeys::new(keys), validation, clock)
    }

    /// Like [`Verifier::new`], over a ring shared with others (the service's [`Issuer`]):
    /// a replacement by any holder reaches this verifier too.
    ///
    /// [`Issuer`]: crate::Issuer
    pub fn from_shared(
        keys: SharedKeys,
        validation: Validation,
        clock: Arc<dyn Clock>,
    ) -> Result<Verifier, SetupError> {
        if validation.issuer.is_empty() {
            return Err(SetupError::Validation("the expected issuer is empty"));
        }
        if validation.audiences.iter().any(String::is_empty) {
            return Err(SetupError::Validation("an expected audience is empty"));
        }
        if validation.leeway > MAX_LEEWAY {
            return Err(SetupError::Validation("leeway exceeds 60 seconds"));
        }
        let algorithms = validation
            .algorithms
            .unwrap_or_else(|| keys.load().keys().map(Key::alg).collect());
        Ok(Verifier {
            keys,
            issuer: validation.issuer,
            audiences: validation.audiences,
            leeway: validation.leeway.as_secs(),
            algorithms,
            clock,
            revocation: None,
            cache: None,
        })
    }

    /// Refuses tokens `view` holds as revoked (after every other check passed). The view is
    /// shared: whoever feeds it (see service-kit) changes what this verifier accepts.
    #[must_use]
    pub fn with_revocation(mut self, view: Arc<RevocationView>) -> Verifier {
        self.revocation = Some(view);
        self
    }

    /// The current key ring.
    pub fn keys(&self) -> Guard<Arc<KeyRing>> {
        self.keys.load()
    }

    /// The handle on the ring, for an [`Issuer`](crate::Issuer) that signs with it.
    pub fn shared_keys(&self) -> SharedKeys {
        self.keys.clone()
    }

    /// Verifies with `keys` from now on; verifications under way finish with the old ring.
    pub fn replace_keys(&self, keys: KeyRing) {
        self.keys.replace(keys);
    }

    /// Keeps the tokens that verify in `cache`, so the next presentation of the same bytes
    /// skips the signature (and is still checked against the ring, the clock and the
    /// revocation view: see [`crate::cache`]).
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<VerifiedCache>) -> Verifier {
        self.cache = Some(cache);
        self
    }

    /// Verifies a compact JWS access token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        match self.verify_any(token)? {
            Checked::Fresh(claims) => Ok(claims),
            Checked::Shared(claims) => Ok(Arc::unwrap_or_clone(claims)),
        }
    }

    /// [`Verifier::verify`], with the claims shared: a verified-token cache hit hands out
    /// the cached claims without copying them (what the framework adapters use).
    pub fn verify_shared(&self, token: &str) -> Result<Arc<Claims>, VerifyError> {
        match self.verify_any(token)? {
            Checked::Fresh(claims) => Ok(Arc::new(claims)),
            Checked::Shared(claims) => Ok(claims),
        }
    }

    /// Both of the above: claims parsed now (no cache) or shared with the cache.
    fn verify_any(&self, token: &str) -> Result<Checked, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong);
        }
        let now = self.clock.now();
        let Some(cache) = &self.cache else {
            let (claims, _) = self.verify_signed(token, now, false)?;
            self.check_revocation(&claims, now)?;
            return Ok(Checked::Fresh(claims));
        };
        if let Some(hit) = cache.get(token) {
            if self.still_valid(&hit, now) {
                self.check_revocation(&hit.claims, now)?;
                return Ok(Checked::Shared(hit.claims.clone()));
            }
            // Expired, or its key dropped: gone from the cache, and the full path below
            // gives the answer an uncached verifier would.
            cache.remove(token);
        }
        let (claims, kid) = self.verify_signed(token, now, true)?;
        self.check_revocation(&claims, now)?;
        let claims = Arc::new(claims);
        let verified = Verified {
            claims: claims.clone(),
            kid: kid.unwrap_or_default(),
        };
        cache.insert(token, verified, |entry| {
            self.check_claims(&entry.claims, now).is_ok()
        });
        Ok(Checked::Shared(claims))
    }

    /// Everything but revocation: format, header, key, signature, claims. With `kid`, also
    /// the id of the key that verified (for the cache).
    fn verify_signed(
        &self,
        token: &str,
        now: u64,
        kid: bool,
    ) -> Result<(Claims, Option<Box<str>>), VerifyError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(VerifyError::Malformed)?;
        if [header, payload, signature].iter().any(|s| s.is_empty()) || payload.contains('.') {
            return Err(VerifyError::Malformed);
        }

        let ring = self.keys.load();
        let key = self.key_for(&ring, header, now)?;

        let mut scratch = Scratch::new();
        if !key.verify_signature(signing_input.as_bytes(), scratch.decode(signature)?) {
            return Err(VerifyError::BadSignature);
        }

        let claims: Claims = parse_object(scratch.decode(payload)?).ok_or(VerifyError::Claims)?;
        self.check_claims(&claims, now)?;
        Ok((claims, kid.then(|| key.kid().into())))
    }

    /// Whether a cached token would still verify at `now`: its key is still in the ring,
    /// not dropped, and allowed; its time claims still hold.
    fn still_valid(&self, hit: &Verified, now: u64) -> bool {
        let ring = self.keys.load();
        let key_live = ring
            .find_live(now, |key| {
                key.kid() == &*hit.kid && self.algorithms.contains(&key.alg())
            })
            .is_some();
        key_live && self.check_claims(&hit.claims, now).is_ok()
    }

    /// The last check: the revocation view, when there is one.
    fn check_revocation(&self, claims: &Claims, now: u64) -> Result<(), VerifyError> {
        match self
            .revocation
            .as_ref()
            .map(|view| view.verdict(claims, now))
        {
            None | Some(Verdict::Valid) => Ok(()),
            Some(Verdict::Revoked) => Err(VerifyError::Revoked),
            Some(Verdict::Stale) => Err(VerifyError::RevocationStale),
        }
    }

    /// Header checks, ending with the key the token names and must be signed with (a
    /// key dropped from `ring` at `now` is as unknown as one never there).
    fn key_for<'r>(
        &self,
        ring: &'r KeyRing,
        encoded: &str,
        now: u64,
    ) -> Result<&'r Key, VerifyError> {
        // Fast path: byte-for-byte the header one of our keys writes. It names that key,
        // that key's algorithm, `typ: at+jwt` and no `crit`, so every header check below
        // would pass; only the allow-list is left to apply. Other spellings of the same
        // header take the full path and reach the same answer.
        if let Some(key) = ring.find_live(now, |key| key.encoded_header() == encoded) {
            return match self.algorithms.contains(&key.alg()) {
                true => Ok(key),
                false => Err(VerifyError::AlgNotAllowed),
            };
        }

        let mut scratch = Scratch::new();
        let header: Header = parse_object(scratch.decode(encoded)?).ok_or(VerifyError::Header)?;

        let alg = header.alg.ok_or(VerifyError::MissingAlg)?;
        let alg = Algorithm::from_name(&alg).ok_or(VerifyError::UnsupportedAlg)?;
        if !self.algorithms.contains(&alg) {
            return Err(VerifyError::AlgNotAllowed);
        }
        if header.crit.0 {
            return Err(VerifyError::Crit);
        }
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::MissingKid)?;
        let key = ring
            .find_live(now, |key| key.kid() == kid)
            .ok_or(VerifyError::UnknownKid)?;
        if key.alg() != alg {
            return Err(VerifyError::AlgMismatch);
        }
        Ok(key)
    }

    /// Time, issuer and audience checks on claims whose signature already verified.
    fn check_claims(&self, claims: &Claims, now: u64) -> Result<(), VerifyError> {
        if [&claims.sub, &claims.sid, &claims.jti]
            .iter()
            .any(|s| s.is_empty())
        {
            return Err(VerifyError::Claims);
        }
        let latest = now.saturating_add(self.leeway);
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired);
        }
        if claims.nbf > latest {
            return Err(VerifyError::NotYetValid);
        }
        if claims.iat > latest {
            return Err(VerifyError::IssuedInFuture);
        }
        if claims.iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !claims
            .aud
            .iter()
            .any(|aud| self.audiences.iter().any(|expected| expected == aud))
        {
            return Err(VerifyError::WrongAudience);
        }
        Ok(())
    }
}

/// RFC 9068 §4: `at+jwt` or `application/at+jwt`; media types compare case-insensitively.
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case(TOKEN_TYPE)
}

/// Verified claims: parsed for this call, or shared with the verified-token cache.
enum Checked {
    Fresh(Claims),
    Shared(Arc<Claims>),
}

/// Where a segment is decoded: a small stack buffer, or a heap one for larger segments.
struct Scratch {
    stack: [u8; STACK_DECODE_LEN],
    heap: Vec<u8>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            stack: [0; STACK_DECODE_LEN],
            heap: Vec::new(),
        }
    }

    /// Strict base64url of `segment`, decoded into this scratch space.
    fn decode(&mut self, segment: &str) -> Result<&[u8], VerifyError> {
        let room = segment.len() / 4 * 3 + 3;
        let buf: &mut [u8] = if room <= STACK_DECODE_LEN {
            &mut self.stack
        } else {
            self.heap.resize(room, 0);
            &mut self.heap
        };
        let len = B64
            .decode_slice(segment, buf)
            .map_err(|_| VerifyError::Base64)?;
        Ok(&buf[..len])
    }
}

/// Parses a JSON object, and only an object: serde's derive would also accept an array
/// for a struct, which no JOSE header or claims set may be. The whole text must be UTF-8
/// (RFC 8259 §8.1), checked once up front, which lets serde_json skip checking each string
/// (about 15% of the parse).
fn parse_object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Option<T> {
    let json = std::str::from_utf8(json).ok()?;
    if !json
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return None;
    }
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests;
