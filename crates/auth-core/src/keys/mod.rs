//! Key material: one [`Key`] per `kid` with exactly one algorithm, PEM import/export and
//! fresh key generation (here); the [`KeyRing`] that holds the signing keys beside
//! verify-only ones on a schedule ([`keyring`]); JWKS (RFC 7517) with RFC 7638 thumbprints
//! as `kid`s ([`jwk`]).

mod jwk;
mod keyring;

pub use jwk::{Jwk, Jwks};
pub use keyring::KeyRing;

use std::fmt;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use ring::{digest, hmac};

use crate::{Algorithm, SetupError, SignError, B64};

/// Shortest HS256 secret accepted: RFC 7518 §3.2 requires a key at least as long as the
/// hash output (256 bits).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// How an operator makes a good secret; quoted in every "secret too short" error.
pub const SECRET_REMEDY: &str = "generate one with `openssl rand -base64 48` (or `make keys`)";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE {
/// OID 1.3.101.112 }, BIT STRING (33 bytes, 0 unused bits) }. DER is canonical, so every
/// valid Ed25519 SPKI is exactly this prefix followed by the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const ED25519_PUBLIC_LEN: usize = 32;

/// DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480): id-ecPublicKey with the
/// prime256v1 named curve and an uncompressed point. Every valid one is this prefix
/// followed by the 65-byte point `04 || x || y`.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P256_POINT_LEN: usize = 65;
const P256_COORD_LEN: usize = 32;

/// One key: a `kid`, exactly one algorithm, and the material for it. The private half
/// (HMAC secret, Ed25519/ECDSA private key) is never printed or exported from here.
pub struct Key {
    kid: String,
    alg: Algorithm,
    material: Material,
    /// `base64url({"alg":…,"typ":"at+jwt","kid":…})`: the header of every token this key
    /// signs, built once.
    encoded_header: String,
}

enum Material {
    Hmac(hmac::Key),
    Ed25519 {
        public: Vec<u8>,
        pair: Option<Ed25519KeyPair>,
    },
    Es256 {
        public: Vec<u8>,
        pair: Option<EcdsaKeyPair>,
    },
}

/// A freshly generated asymmetric key and its PKCS#8 private key in PEM, to be written to
/// disk once (with 0600 permissions) by whoever asked for it.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The usable key, `kid` set to its thumbprint.
    pub key: Key,
    /// `-----BEGIN PRIVATE KEY-----` PKCS#8.
    pub private_pem: String,
}

impl Key {
    /// An HS256 key from the shared secret's bytes. Refuses secrets shorter than
    /// [`MIN_HMAC_SECRET_LEN`].
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Key, SetupError> {
        if secret.len() < MIN_HMAC_SECRET_LEN {
            return Err(SetupError::SecretTooShort { len: secret.len() });
        }
        let material = Material::Hmac(hmac::Key::new(hmac::HMAC_SHA256, secret));
        Ok(Key::assemble(kid.into(), Algorithm::HS256, material))
    }

    /// An HS256 key whose `kid` is derived from the secret: `hs-` and 16 base64url
    /// characters of SHA-256 over a domain-separated secret. Every service holding the
    /// same secret agrees on the `kid` without configuring one, and a new secret gets a
    /// new `kid`, so secrets rotate like key pairs. The fingerprint gives an attacker
    /// nothing a token's own HMAC does not already give.
    pub fn hs256_fingerprinted(secret: &[u8]) -> Result<Key, SetupError> {
        let mut hash = digest::Context::new(&digest::SHA256);
        hash.update(b"tessera hs256 kid\0");
        hash.update(secret);
        let digest = hash.finish();
        let kid = format!("hs-{}", B64.encode(&digest.as_ref()[..12]));
        Key::hs256(kid, secret)
    }

    /// A signing key from a PKCS#8 `PRIVATE KEY` PEM (as written by [`Key::generate`] or
    /// `openssl genpkey`). The `kid` is the RFC 7638 thumbprint of the public key.
    pub fn from_private_pem(alg: Algorithm, pem_text: &str) -> Result<Key, SetupError> {
        let der = pem_contents(pem_text, "PRIVATE KEY")?;
        let invalid = |_| SetupError::InvalidKey {
            alg,
            reason: "not a PKCS#8 private key for this algorithm",
        };
        let material = match alg {
            Algorithm::HS256 => return Err(SetupError::NotAsymmetric),
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(invalid)?;
                Material::Ed25519 {
                    public: pair.public_key().as_ref().to_vec(),
                    pair: Some(pair),
                }
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                    &SystemRandom::new(),
                )
                .map_err(invalid)?;
                Material::Es256 {
                    public: pair.public_key().as_ref().to_vec(),
                    pair: Some(pair),
                }
            }
        };
        Ok(Key::with_thumbprint_kid(alg, material))
    }

    /// A verify-only key from an SPKI `PUBLIC KEY` PEM. The `kid` is the RFC 7638
    /// thumbprint, so it matches the `kid` the signer derives from the private half.
    pub fn from_public_pem(alg: Algorithm, pem_text: &str) -> Result<Key, SetupError> {
        let der = pem_contents(pem_text, "PUBLIC KEY")?;
        let (prefix, len): (&[u8], usize) = match alg {
            Algorithm::HS256 => return Err(SetupError::NotAsymmetric),
            Algorithm::EdDSA => (&ED25519_SPKI_PREFIX, ED25519_PUBLIC_LEN),
            Algorithm::ES256 => (&P256_SPKI_PREFIX, P256_POINT_LEN),
        };
        let public = der
            .strip_prefix(prefix)
            .filter(|raw| raw.len() == len)
            .ok_or(SetupError::InvalidKey {
                alg,
                reason:
                    "not an SPKI public key for this algorithm (P-256 keys must be uncompressed)",
            })?;
        Key::from_public_bytes(alg, public.to_vec())
    }

    /// A verify-only key from a JWK (RFC 7517; OKP/Ed25519 per RFC 8037, EC/P-256 per
    /// RFC 7518 §6.2). The JWK's own `kid` is kept when present.
    pub fn from_jwk(jwk: &Jwk) -> Result<Key, SetupError> {
        let bad = |reason| SetupError::InvalidJwk(reason);
        let coord = |value: &Option<String>, name| {
            let text = value.as_deref().ok_or(bad(name))?;
            B64.decode(text).map_err(|_| bad(name))
        };
        let (alg, public) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => (Algorithm::EdDSA, coord(&jwk.x, "bad or missing x")?),
            ("EC", Some("P-256")) => {
                let x = coord(&jwk.x, "bad or missing x")?;
                let y = coord(&jwk.y, "bad or missing y")?;
                if x.len() != P256_COORD_LEN || y.len() != P256_COORD_LEN {
                    return Err(bad("P-256 coordinates must be 32 bytes"));
                }
                let mut point = Vec::with_capacity(P256_POINT_LEN);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (Algorithm::ES256, point)
            }
            _ => return Err(bad("only OKP/Ed25519 and EC/P-256 keys are supported")),
        };
        if let Some(declared) = jwk.alg.as_deref() {
            if declared != alg.name() {
                return Err(bad("`alg` does not match the key type"));
            }
        }
        let key = Key::from_public_bytes(alg, public)?;
        Ok(match &jwk.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }

    /// A fresh asymmetric key from the system CSPRNG. Its PEM is a form standard tools read
    /// (`openssl pkey`, Python `cryptography`): PKCS#8 v1 for Ed25519, see
    /// [`ed25519_pkcs8_v1`].
    pub fn generate(alg: Algorithm) -> Result<GeneratedKey, SetupError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::HS256 => return Err(SetupError::NotAsymmetric),
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .ok()
                .and_then(|v2| ed25519_pkcs8_v1(v2.as_ref())),
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .ok()
                    .map(|document| document.as_ref().to_vec())
            }
        }
        .ok_or(SetupError::Random)?;
        let private_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
        let key = Key::from_private_pem(alg, &private_pem)?;
        Ok(GeneratedKey { key, private_pem })
    }

    /// The same key under another `kid` (e.g. an operator-chosen name).
    pub fn with_kid(self, kid: impl Into<String>) -> Key {
        Key::assemble(kid.into(), self.alg, self.material)
    }

    /// The public half alone, for a resource server or for publishing; `None` for HS256,
    /// whose only material is the secret.
    pub fn to_verify_only(&self) -> Option<Key> {
        let public = self.public_bytes()?.to_vec();
        let key = Key::from_public_bytes(self.alg, public).ok()?;
        Some(key.with_kid(self.kid.clone()))
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key is used with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Whether this key holds signing material.
    pub fn can_sign(&self) -> bool {
        match &self.material {
            Material::Hmac(_) => true,
            Material::Ed25519 { pair, .. } => pair.is_some(),
            Material::Es256 { pair, .. } => pair.is_some(),
        }
    }

    /// The public key as an SPKI `PUBLIC KEY` PEM; `None` for HS256.
    pub fn public_key_pem(&self) -> Option<String> {
        let prefix: &[u8] = match self.alg {
            Algorithm::HS256 => return None,
            Algorithm::EdDSA => &ED25519_SPKI_PREFIX,
            Algorithm::ES256 => &P256_SPKI_PREFIX,
        };
        let der = [prefix, self.public_bytes()?].concat();
        Some(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }

    /// The public key as a JWK with `kid`, `alg` and `use: "sig"`; `None` for HS256,
    /// which must never be published.
    pub fn to_jwk(&self) -> Option<Jwk> {
        let public = self.public_bytes()?;
        let mut jwk = match self.alg {
            Algorithm::HS256 => return None,
            Algorithm::EdDSA => Jwk::okp(B64.encode(public)),
            Algorithm::ES256 => {
                let (x, y) = public[1..].split_at(P256_COORD_LEN);
                Jwk::ec(B64.encode(x), B64.encode(y))
            }
        };
        jwk.kid = Some(self.kid.clone());
        jwk.alg = Some(self.alg.name().to_owned());
        jwk.use_ = Some("sig".to_owned());
        Some(jwk)
    }

    /// `base64url(header)` of tokens signed with this key.
    pub(crate) fn encoded_header(&self) -> &str {
        &self.encoded_header
    }

    /// Signs the JWS signing input (`header.payload`).
    pub(crate) fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.material {
            Material::Hmac(key) => Ok(hmac::sign(key, signing_input).as_ref().to_vec()),
            Material::Ed25519 {
                pair: Some(pair), ..
            } => Ok(pair.sign(signing_input).as_ref().to_vec()),
            Material::Es256 {
                pair: Some(pair), ..
            } => pair
                .sign(&SystemRandom::new(), signing_input)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| SignError::Crypto),
            Material::Ed25519 { pair: None, .. } | Material::Es256 { pair: None, .. } => {
                Err(SignError::NoSigningKey)
            }
        }
    }

    /// Checks a signature over the JWS signing input; HMAC comparison is constant-time.
    pub(crate) fn verify_signature(&self, signing_input: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(key) => hmac::verify(key, signing_input, sig).is_ok(),
            Material::Ed25519 { public, .. } => {
                signature::UnparsedPublicKey::new(&signature::ED25519, public)
                    .verify(signing_input, sig)
                    .is_ok()
            }
            Material::Es256 { public, .. } => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public)
                    .verify(signing_input, sig)
                    .is_ok()
            }
        }
    }

    fn from_public_bytes(alg: Algorithm, public: Vec<u8>) -> Result<Key, SetupError> {
        let material = match alg {
            Algorithm::HS256 => return Err(SetupError::NotAsymmetric),
            Algorithm::EdDSA if public.len() == ED25519_PUBLIC_LEN => {
                Material::Ed25519 { public, pair: None }
            }
            Algorithm::ES256 if public.len() == P256_POINT_LEN && public[0] == 0x04 => {
                Material::Es256 { public, pair: None }
            }
            _ => {
                return Err(SetupError::InvalidKey {
                    alg,
                    reason: "public key has the wrong length or encoding",
                })
            }
        };
        Ok(Key::with_thumbprint_kid(alg, material))
    }

    fn with_thumbprint_kid(alg: Algorithm, material: Material) -> Key {
        let mut key = Key::assemble(String::new(), alg, material);
        if let Some(kid) = key.to_jwk().map(|jwk| jwk.thumbprint()) {
            key = key.with_kid(kid);
        }
        key
    }

    fn assemble(kid: String, alg: Algorithm, material: Material) -> Key {
        let header = serde_json::json!({ "alg": alg.name(), "typ": crate::TOKEN_TYPE, "kid": kid });
        let encoded_header = B64.encode(header.to_string());
        Key {
            kid,
            alg,
            material,
            encoded_header,
        }
    }

    fn public_bytes(&self) -> Option<&[u8]> {
        match &self.material {
            Material::Hmac(_) => None,
            Material::Ed25519 { public, .. } | Material::Es256 { public, .. } => Some(public),
        }
    }
}

impl fmt::Debug for Key {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

/// A random HS256 secret: 48 bytes from the system CSPRNG as unpadded base64url (64
/// characters, all of which are used as the secret's bytes).
pub fn generate_hmac_secret() -> Result<String, SetupError> {
    let mut bytes = [0u8; 48];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SetupError::Random)?;
    Ok(B64.encode(bytes))
}

fn pem_contents(text: &str, label: &'static str) -> Result<Vec<u8>, SetupError> {
    let parsed = pem::parse(text).map_err(|_| SetupError::NotPem)?;
    if parsed.tag() != label {
        return Err(SetupError::WrongPemLabel {
            expected: label,
            found: parsed.tag().to_owned(),
        });
    }
    Ok(parsed.into_contents())
}

/// DER of an Ed25519 PKCS#8 v1 `PrivateKeyInfo` (RFC 8410 §7) up to the 32-byte seed:
/// SEQUENCE { version 0, AlgorithmIdentifier { id-Ed25519 }, OCTET STRING { OCTET STRING } }.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The same up to the seed in ring's v2 `OneAsymmetricKey` (version 1, the public key after
/// the seed).
const ED25519_PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The PKCS#8 v1 form of ring's v2 Ed25519 document: the seed alone, without the public
/// key. ring writes only v2, which OpenSSL 3.0 (`openssl pkey`: unsupported) and Python
/// `cryptography` refuse, so operators could not inspect, back up or convert the keys;
/// ring reads both. `None` if `v2` is not the document ring writes.
fn ed25519_pkcs8_v1(v2: &[u8]) -> Option<Vec<u8>> {
    let seed = v2.strip_prefix(&ED25519_PKCS8_V2_PREFIX)?.get(..32)?;
    Some([&ED25519_PKCS8_V1_PREFIX[..], seed].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn short_hmac_secret_is_refused_with_a_remedy() {
        let err = Key::hs256("k", &SECRET[..31]).unwrap_err();
        assert!(matches!(err, SetupError::SecretTooShort { len: 31 }));
        assert!(err.to_string().contains("openssl rand"), "{err}");
        assert!(Key::hs256("k", SECRET).is_ok());
    }

    #[test]
    fn fingerprinted_kid_depends_only_on_the_secret() {
        let a = Key::hs256_fingerprinted(SECRET).unwrap();
        assert_eq!(a.kid(), Key::hs256_fingerprinted(SECRET).unwrap().kid());
        assert!(
            a.kid().starts_with("hs-") && a.kid().len() == 19,
            "{}",
            a.kid()
        );
        let other = Key::hs256_fingerprinted(b"another-secret-another-secret-0123").unwrap();
        assert_ne!(a.kid(), other.kid());
        assert!(!a.kid().contains("0123456789"));
    }

    #[test]
    fn ed25519_keys_are_written_as_pkcs8_v1_and_v2_still_reads() {
        let generated = Key::generate(Algorithm::EdDSA).unwrap();
        let der = pem_contents(&generated.private_pem, "PRIVATE KEY").unwrap();
        assert_eq!(der.len(), 48, "v1: no public key inside");
        assert_eq!(der[..16], ED25519_PKCS8_V1_PREFIX);

        let v2 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let v2_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", v2.as_ref()));
        let v1_pem = pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            ed25519_pkcs8_v1(v2.as_ref()).unwrap(),
        ));
        let from_v2 = Key::from_private_pem(Algorithm::EdDSA, &v2_pem).unwrap();
        let from_v1 = Key::from_private_pem(Algorithm::EdDSA, &v1_pem).unwrap();
        assert_eq!(from_v1.kid(), from_v2.kid(), "the same key either way");
        assert_eq!(ed25519_pkcs8_v1(&v2.as_ref()[1..]), None);
    }

    #[test]
    fn generated_secret_is_long_enough_and_random() {
        let a = generate_hmac_secret().unwrap();
        assert!(a.len() >= MIN_HMAC_SECRET_LEN);
        assert_ne!(a, generate_hmac_secret().unwrap());
    }

    #[test]
    fn debug_never_prints_material() {
        let shown = format!("{:?}", Key::hs256("k", SECRET).unwrap());
        assert!(!shown.contains("0123456789"), "{shown}");
    }

    #[test]
    fn pem_round_trips_keep_the_thumbprint_kid() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256] {
            let generated = Key::generate(alg).unwrap();
            let reloaded = Key::from_private_pem(alg, &generated.private_pem).unwrap();
            assert_eq!(reloaded.kid(), generated.key.kid());
            let public_pem = generated.key.public_key_pem().unwrap();
            assert!(public_pem.contains("BEGIN PUBLIC KEY"));
            let public = Key::from_public_pem(alg, &public_pem).unwrap();
            assert_eq!(public.kid(), generated.key.kid());
            assert!(!public.can_sign());
            assert_eq!(public.to_jwk(), generated.key.to_jwk());
        }
    }

    #[test]
    fn pem_of_the_wrong_kind_is_refused() {
        let ed = Key::generate(Algorithm::EdDSA).unwrap();
        let err = Key::from_private_pem(Algorithm::ES256, &ed.private_pem).unwrap_err();
        assert!(matches!(err, SetupError::InvalidKey { .. }), "{err}");
        let public = ed.key.public_key_pem().unwrap();
        let err = Key::from_private_pem(Algorithm::EdDSA, &public).unwrap_err();
        assert!(matches!(err, SetupError::WrongPemLabel { .. }), "{err}");
        let err = Key::from_public_pem(Algorithm::ES256, &public).unwrap_err();
        assert!(matches!(err, SetupError::InvalidKey { .. }), "{err}");
        assert!(matches!(
            Key::from_public_pem(Algorithm::EdDSA, "not a pem"),
            Err(SetupError::NotPem)
        ));
        assert!(matches!(
            Key::from_private_pem(Algorithm::HS256, &ed.private_pem),
            Err(SetupError::NotAsymmetric)
        ));
    }

    #[test]
    fn jwk_round_trip_and_shape() {
        let es = Key::generate(Algorithm::ES256).unwrap().key;
        let jwk = es.to_jwk().unwrap();
        assert_eq!(
            (jwk.kty.as_str(), jwk.crv.as_deref()),
            ("EC", Some("P-256"))
        );
        assert_eq!(
            (jwk.alg.as_deref(), jwk.use_.as_deref()),
            (Some("ES256"), Some("sig"))
        );
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["use"], "sig");
        assert!(json.get("d").is_none());
        let back = Key::from_jwk(&jwk).unwrap();
        assert_eq!(back.kid(), es.kid());
        assert_eq!(back.alg(), Algorithm::ES256);

        let mut lying = jwk.clone();
        lying.alg = Some("EdDSA".into());
        assert!(matches!(
            Key::from_jwk(&lying),
            Err(SetupError::InvalidJwk(_))
        ));
        let mut short = jwk;
        short.y = Some("AAAA".into());
        assert!(matches!(
            Key::from_jwk(&short),
            Err(SetupError::InvalidJwk(_))
        ));
    }

    /// RFC 8037 Appendix A.3: the thumbprint of the example Ed25519 key.
    #[test]
    fn okp_thumbprint_matches_rfc_8037_example() {
        let jwk = Jwk::okp("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into());
        assert_eq!(
            jwk.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn hs256_keys_are_never_published() {
        let ring = KeyRing::new(Key::hs256("k", SECRET).unwrap()).unwrap();
        assert!(ring.jwks_at(0).keys.is_empty());
        assert_eq!(Key::hs256("k", SECRET).unwrap().public_key_pem(), None);
    }

    #[test]
    fn ring_rejects_duplicate_kids_and_verify_only_signers() {
        let ring = KeyRing::new(Key::hs256("a", SECRET).unwrap()).unwrap();
        let err = ring
            .with_verify_key(Key::hs256("a", SECRET).unwrap())
            .unwrap_err();
        assert!(matches!(err, SetupError::DuplicateKid(kid) if kid == "a"));

        let public = Key::generate(Algorithm::EdDSA)
            .unwrap()
            .key
            .to_verify_only()
            .unwrap();
        assert!(matches!(
            KeyRing::new(public),
            Err(SetupError::NotSigningKey(_))
        ));
        assert!(matches!(
            KeyRing::verify_only([]),
            Err(SetupError::EmptyKeyRing)
        ));
    }

    #[test]
    fn jwks_lists_every_public_key() {
        let active = Key::generate(Algorithm::EdDSA).unwrap().key;
        let previous = Key::generate(Algorithm::ES256).unwrap().key;
        let kids = [active.kid().to_owned(), previous.kid().to_owned()];
        let ring = KeyRing::new(active)
            .unwrap()
            .with_verify_key(previous.to_verify_only().unwrap())
            .unwrap();
        let listed: Vec<_> = ring
            .jwks_at(0)
            .keys
            .into_iter()
            .filter_map(|k| k.kid)
            .collect();
        assert_eq!(listed, kids);
        assert_eq!(ring.signing_key_at(0).unwrap().kid(), kids[0]);
    }

    /// next → active → retired → dropped, by the clock alone.
    #[test]
    fn scheduled_keys_take_over_and_drop_on_time() {
        let first = Key::generate(Algorithm::EdDSA).unwrap().key;
        let second = Key::generate(Algorithm::EdDSA).unwrap().key;
        let kids = [first.kid().to_owned(), second.kid().to_owned()];
        let ring = KeyRing::empty()
            .with_scheduled_key(first, 100, Some(500))
            .unwrap()
            .with_scheduled_key(second, 200, None)
            .unwrap();
        let signer = |now| ring.signing_key_at(now).map(|key| key.kid().to_owned());
        let published = |now| ring.jwks_at(now).keys.len();
        assert_eq!(
            signer(99),
            None,
            "nothing signs before the first key's time"
        );
        assert_eq!(signer(100).as_ref(), Some(&kids[0]));
        assert_eq!(signer(199).as_ref(), Some(&kids[0]), "the second is next");
        assert_eq!(published(199), 2, "next keys are published");
        assert_eq!(signer(200).as_ref(), Some(&kids[1]), "the first retires");
        assert_eq!(published(499), 2, "retired keys are still published");
        assert_eq!(published(500), 1, "dropped");
        assert!(ring.find_live(499, |key| key.kid() == kids[0]).is_some());
        assert!(ring.find_live(500, |key| key.kid() == kids[0]).is_none());
        assert!(
            ring.get(&kids[0]).is_some(),
            "still held, only no longer used"
        );
    }
}
