//! The catalogue of known JWT attacks and malformations (RFC 8725 and the usual suspects),
//! each rejection its own test, plus round trips and a mutation property.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use proptest::prelude::*;
use ring::hmac;
use serde_json::{json, Value};

use super::*;
use crate::{ClaimsBuilder, ManualClock, Role};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"verify-tests-secret-0123456789abcdef";
const HS_KID: &str = "hs-1";
const ISS: &str = "tessera";
const AUD: &str = "tasks";

/// PEMs generated once per test run: (Ed25519, ES256) PKCS#8.
fn pems() -> &'static (String, String) {
    static PEMS: OnceLock<(String, String)> = OnceLock::new();
    PEMS.get_or_init(|| {
        let ed = Key::generate(Algorithm::EdDSA).unwrap().private_pem;
        let es = Key::generate(Algorithm::ES256).unwrap().private_pem;
        (ed, es)
    })
}

fn key(alg: Algorithm) -> Key {
    match alg {
        Algorithm::HS256 => Key::hs256(HS_KID, SECRET).unwrap(),
        Algorithm::EdDSA => Key::from_private_pem(alg, &pems().0).unwrap(),
        Algorithm::ES256 => Key::from_private_pem(alg, &pems().1).unwrap(),
    }
}

/// A verifier holding all three keys (signing with `signer`), clock at `NOW`.
fn verifier_signing_with(signer: Algorithm) -> (Verifier, ManualClock) {
    let mut ring = KeyRing::new(key(signer)).unwrap();
    for alg in Algorithm::ALL.into_iter().filter(|a| *a != signer) {
        ring = ring.with_verify_key(key(alg)).unwrap();
    }
    let clock = ManualClock::new(NOW);
    let verifier = Verifier::new(ring, Validation::new(ISS, AUD), Arc::new(clock.clone())).unwrap();
    (verifier, clock)
}

fn verifier() -> Verifier {
    verifier_signing_with(Algorithm::HS256).0
}

fn claims_json() -> Value {
    json!({
        "iss": ISS, "sub": "user-1", "aud": AUD, "exp": NOW + 600, "iat": NOW, "nbf": NOW,
        "jti": "jti-1", "sid": "sid-1", "role": "user", "ver": 0
    })
}

fn header_json(alg: Algorithm) -> Value {
    json!({ "alg": alg.name(), "typ": "at+jwt", "kid": key(alg).kid() })
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// `header.payload.signature`, signed by `key` over whatever raw text is given.
fn forge_raw(header: &[u8], payload: &[u8], key: &Key) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(sig))
}

fn forge(header: &Value, claims: &Value, key: &Key) -> String {
    forge_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        key,
    )
}

/// A well-formed HS256 token with these claims.
fn hs_token(claims: &Value) -> String {
    forge(
        &header_json(Algorithm::HS256),
        claims,
        &key(Algorithm::HS256),
    )
}

fn with_header(member: &str, value: Value) -> Value {
    let mut header = header_json(Algorithm::HS256);
    header[member] = value;
    header
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut claims = claims_json();
    claims[name] = value;
    claims
}

fn rejects(token: &str, expected: VerifyError) {
    assert_eq!(verifier().verify(token), Err(expected), "token {token}");
}

// --- round trips ---------------------------------------------------------------------

#[test]
fn round_trip_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let (verifier, _) = verifier_signing_with(alg);
        let claims = ClaimsBuilder::user(ISS, AUD, "user-7", "sid-7")
            .role(Role::Admin)
            .version(4)
            .scope("tasks:read")
            .build(NOW)
            .unwrap();
        let token = verifier.keys().sign(&claims).unwrap();
        assert_eq!(verifier.verify(&token), Ok(claims), "{alg}");
        let header: Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, header_json(alg));
    }
}

#[test]
fn forged_helper_tokens_verify_so_rejections_below_are_meaningful() {
    assert!(verifier().verify(&hs_token(&claims_json())).is_ok());
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let token = forge(&header_json(alg), &claims_json(), &key(alg));
        assert!(verifier().verify(&token).is_ok(), "{alg}");
    }
}

/// Our keys' own header takes a byte-compare fast path; the same header spelled
/// differently must reach the same verdict through the full parse.
#[test]
fn other_spellings_of_a_valid_header_verify_too() {
    let hs = key(Algorithm::HS256);
    let payload = claims_json().to_string();
    for header in [
        r#"{"typ":"at+jwt","alg":"HS256","kid":"hs-1"}"#,
        r#" { "alg" : "HS256" , "kid" : "hs-1" , "typ" : "at+jwt" } "#,
        r#"{"alg":"HS256","kid":"hs\u002d1","typ":"at+jwt","x-extra":1}"#,
    ] {
        let token = forge_raw(header.as_bytes(), payload.as_bytes(), &hs);
        assert!(verifier().verify(&token).is_ok(), "{header}");
    }
}

#[test]
fn fast_path_header_still_honours_the_allow_list() {
    let ring = KeyRing::new(key(Algorithm::HS256)).unwrap();
    let validation = Validation::new(ISS, AUD).algorithms(&[Algorithm::EdDSA]);
    let verifier = Verifier::new(ring, validation, Arc::new(ManualClock::new(NOW))).unwrap();
    let token = verifier
        .keys()
        .sign(&serde_json::from_value(claims_json()).unwrap())
        .unwrap();
    assert_eq!(verifier.verify(&token), Err(VerifyError::AlgNotAllowed));
}

#[test]
fn array_audience_containing_ours_is_accepted() {
    let token = hs_token(&with_claim("aud", json!(["billing", AUD])));
    assert!(verifier().verify(&token).is_ok());
}

#[test]
fn verify_only_public_key_accepts_what_the_private_key_signed() {
    let signer = key(Algorithm::EdDSA);
    let token = forge(&header_json(Algorithm::EdDSA), &claims_json(), &signer);
    let ring = KeyRing::verify_only([signer.to_verify_only().unwrap()]).unwrap();
    let verifier = Verifier::new(
        ring,
        Validation::new(ISS, AUD),
        Arc::new(ManualClock::new(NOW)),
    )
    .unwrap();
    assert!(verifier.verify(&token).is_ok());
    assert!(verifier
        .keys()
        .sign(&serde_json::from_value(claims_json()).unwrap())
        .is_err());
}

// --- alg ------------------------------------------------------------------------------

#[test]
fn alg_none_in_any_spelling_is_rejected() {
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = with_header("alg", json!(none));
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string()),
            b64(claims_json().to_string())
        );
        rejects(&unsigned, VerifyError::Malformed);
        // With any signature attached, the algorithm itself is refused.
        rejects(&hs_token_with_header(&header), VerifyError::UnsupportedAlg);
    }
}

fn hs_token_with_header(header: &Value) -> String {
    forge(header, &claims_json(), &key(Algorithm::HS256))
}

#[test]
fn alg_missing_is_rejected() {
    let mut header = header_json(Algorithm::HS256);
    header.as_object_mut().unwrap().remove("alg");
    rejects(&hs_token_with_header(&header), VerifyError::MissingAlg);
    rejects(
        &hs_token_with_header(&with_header("alg", Value::Null)),
        VerifyError::MissingAlg,
    );
}

#[test]
fn alg_unknown_or_wrong_case_is_rejected() {
    for alg in ["RS256", "HS512", "hs256", "ES256K", ""] {
        rejects(
            &hs_token_with_header(&with_header("alg", json!(alg))),
            VerifyError::UnsupportedAlg,
        );
    }
    rejects(
        &hs_token_with_header(&with_header("alg", json!(256))),
        VerifyError::Header,
    );
}

/// The classic confusion attack: take the server's *public* key, use it as an HMAC
/// secret, and claim `alg: HS256` with the asymmetric key's `kid`.
#[test]
fn hs256_signed_with_a_public_key_is_algorithm_confusion() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let public = key(alg);
        let mut header = header_json(alg);
        header["alg"] = json!("HS256");
        for secret in [
            public.public_key_pem().unwrap().into_bytes(),
            B64.decode(public.to_jwk().unwrap().x.unwrap()).unwrap(),
        ] {
            let input = format!(
                "{}.{}",
                b64(header.to_string()),
                b64(claims_json().to_string())
            );
            let tag = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, &secret),
                input.as_bytes(),
            );
            rejects(&format!("{input}.{}", b64(tag)), VerifyError::AlgMismatch);
        }
    }
}

#[test]
fn alg_outside_the_allow_list_is_rejected() {
    let ring = KeyRing::new(key(Algorithm::HS256))
        .unwrap()
        .with_verify_key(key(Algorithm::EdDSA))
        .unwrap();
    let validation = Validation::new(ISS, AUD).algorithms(&[Algorithm::EdDSA]);
    let verifier = Verifier::new(ring, validation, Arc::new(ManualClock::new(NOW))).unwrap();
    let token = hs_token(&claims_json());
    assert_eq!(verifier.verify(&token), Err(VerifyError::AlgNotAllowed));
}

#[test]
fn asymmetric_alg_with_the_hmac_kid_is_rejected() {
    let mut header = header_json(Algorithm::ES256);
    header["kid"] = json!(HS_KID);
    let token = forge(&header, &claims_json(), &key(Algorithm::ES256));
    rejects(&token, VerifyError::AlgMismatch);
}

// --- kid ------------------------------------------------------------------------------

#[test]
fn unknown_kid_is_rejected() {
    rejects(
        &hs_token_with_header(&with_header("kid", json!("hs-2"))),
        VerifyError::UnknownKid,
    );
}

#[test]
fn kid_with_path_traversal_or_sql_is_just_unknown() {
    for kid in [
        "../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "x'; DROP TABLE keys;--",
        "\u{0}",
    ] {
        rejects(
            &hs_token_with_header(&with_header("kid", json!(kid))),
            VerifyError::UnknownKid,
        );
    }
}

#[test]
fn kid_missing_is_rejected() {
    let mut header = header_json(Algorithm::HS256);
    header.as_object_mut().unwrap().remove("kid");
    rejects(&hs_token_with_header(&header), VerifyError::MissingKid);
}

// --- key-carrying headers ------------------------------------------------------------

#[test]
fn jku_x5u_jwk_x5c_headers_are_ignored_never_followed() {
    for (member, value) in [
        ("jku", json!("http://127.0.0.1:1/jwks.json")),
        ("x5u", json!("http://127.0.0.1:1/cert.pem")),
        ("jwk", json!({"kty": "oct", "k": "AAAA"})),
        ("x5c", json!(["MIIB"])),
    ] {
        let token = hs_token_with_header(&with_header(member, value));
        assert!(
            verifier().verify(&token).is_ok(),
            "{member} changed the outcome"
        );
    }
}

/// An attacker embeds their own public key in `jwk` and signs with its private half.
#[test]
fn token_signed_by_its_embedded_jwk_is_rejected() {
    let attacker = Key::generate(Algorithm::EdDSA).unwrap().key;
    let mut header = header_json(Algorithm::EdDSA);
    header["jwk"] = serde_json::to_value(attacker.to_jwk().unwrap()).unwrap();
    // Naming our key: the signature does not verify against it.
    rejects(
        &forge(&header, &claims_json(), &attacker),
        VerifyError::BadSignature,
    );
    // Naming the embedded key: it is not in the ring.
    header["kid"] = json!(attacker.kid());
    rejects(
        &forge(&header, &claims_json(), &attacker),
        VerifyError::UnknownKid,
    );
}

#[test]
fn crit_present_is_rejected() {
    for crit in [json!(["exp"]), json!([]), Value::Null] {
        rejects(
            &hs_token_with_header(&with_header("crit", crit)),
            VerifyError::Crit,
        );
    }
    let mut header = with_header("crit", json!(["b64"]));
    header["b64"] = json!(false);
    rejects(&hs_token_with_header(&header), VerifyError::Crit);
}

// --- typ ------------------------------------------------------------------------------

#[test]
fn typ_wrong_or_missing_is_rejected() {
    for typ in [
        json!("JWT"),
        json!("at+jwt2"),
        json!("application/jwt"),
        json!(""),
        Value::Null,
    ] {
        rejects(
            &hs_token_with_header(&with_header("typ", typ)),
            VerifyError::WrongType,
        );
    }
    let mut header = header_json(Algorithm::HS256);
    header.as_object_mut().unwrap().remove("typ");
    rejects(&hs_token_with_header(&header), VerifyError::WrongType);
}

#[test]
fn typ_accepts_rfc_9068_spellings() {
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+JWT",
    ] {
        let token = hs_token_with_header(&with_header("typ", json!(typ)));
        assert!(verifier().verify(&token).is_ok(), "{typ}");
    }
}

// --- time -----------------------------------------------------------------------------

#[test]
fn expired_is_rejected_after_the_leeway() {
    let (verifier, clock) = verifier_signing_with(Algorithm::HS256);
    let token = hs_token(&claims_json());
    let exp = NOW + 600;
    clock.set(exp + DEFAULT_LEEWAY.as_secs() - 1);
    assert!(verifier.verify(&token).is_ok(), "within leeway");
    clock.set(exp + DEFAULT_LEEWAY.as_secs());
    assert_eq!(verifier.verify(&token), Err(VerifyError::Expired));
}

#[test]
fn nbf_in_the_future_is_rejected() {
    let leeway = DEFAULT_LEEWAY.as_secs();
    rejects(
        &hs_token(&with_claim("nbf", json!(NOW + leeway + 1))),
        VerifyError::NotYetValid,
    );
    assert!(verifier()
        .verify(&hs_token(&with_claim("nbf", json!(NOW + leeway))))
        .is_ok());
}

#[test]
fn iat_absurdly_in_the_future_is_rejected() {
    rejects(
        &hs_token(&with_claim("iat", json!(NOW + 86_400 * 365))),
        VerifyError::IssuedInFuture,
    );
    rejects(
        &hs_token(&with_claim("iat", json!(u64::MAX))),
        VerifyError::IssuedInFuture,
    );
}

#[test]
fn non_integer_or_negative_times_are_malformed_claims() {
    for exp in [json!(-1), json!("1700000600"), json!(1.7e9 + 0.5)] {
        rejects(&hs_token(&with_claim("exp", exp)), VerifyError::Claims);
    }
}

#[test]
fn leeway_above_a_minute_is_refused_at_setup() {
    let ring = KeyRing::new(key(Algorithm::HS256)).unwrap();
    let validation = Validation::new(ISS, AUD).leeway(Duration::from_secs(61));
    let err = Verifier::new(ring, validation, Arc::new(ManualClock::new(NOW))).unwrap_err();
    assert!(matches!(err, SetupError::Validation(_)), "{err}");
}

// --- iss / aud ------------------------------------------------------------------------

#[test]
fn wrong_issuer_is_rejected() {
    rejects(
        &hs_token(&with_claim("iss", json!("evil"))),
        VerifyError::WrongIssuer,
    );
    rejects(
        &hs_token(&with_claim("iss", json!("Tessera"))),
        VerifyError::WrongIssuer,
    );
}

#[test]
fn wrong_audience_is_rejected() {
    rejects(
        &hs_token(&with_claim("aud", json!("billing"))),
        VerifyError::WrongAudience,
    );
    rejects(
        &hs_token(&with_claim("aud", json!([]))),
        VerifyError::WrongAudience,
    );
    rejects(
        &hs_token(&with_claim("aud", json!(["billing", "TASKS"]))),
        VerifyError::WrongAudience,
    );
}

// --- claims ---------------------------------------------------------------------------

#[test]
fn each_required_claim_missing_is_rejected() {
    for name in [
        "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "role", "ver",
    ] {
        let mut claims = claims_json();
        claims.as_object_mut().unwrap().remove(name);
        rejects(&hs_token(&claims), VerifyError::Claims);
    }
}

#[test]
fn empty_identity_claims_are_rejected() {
    for name in ["sub", "sid", "jti"] {
        rejects(&hs_token(&with_claim(name, json!(""))), VerifyError::Claims);
    }
}

#[test]
fn wrongly_typed_claims_are_rejected() {
    rejects(
        &hs_token(&with_claim("sub", json!(42))),
        VerifyError::Claims,
    );
    rejects(
        &hs_token(&with_claim("ver", json!("1"))),
        VerifyError::Claims,
    );
    rejects(
        &hs_token(&with_claim("scope", json!(["a"]))),
        VerifyError::Claims,
    );
}

// --- tampering ------------------------------------------------------------------------

#[test]
fn tampered_header_is_rejected() {
    let token = hs_token(&claims_json());
    let (_, rest) = token.split_once('.').unwrap();
    // Same alg and kid, different (still valid) typ spelling: the signature no longer matches.
    let header = with_header("typ", json!("AT+JWT"));
    rejects(
        &format!("{}.{rest}", b64(header.to_string())),
        VerifyError::BadSignature,
    );
}

#[test]
fn tampered_payload_is_rejected() {
    let token = hs_token(&claims_json());
    let parts: Vec<&str> = token.split('.').collect();
    let elevated = b64(with_claim("role", json!("admin")).to_string());
    rejects(
        &format!("{}.{elevated}.{}", parts[0], parts[2]),
        VerifyError::BadSignature,
    );
}

#[test]
fn tampered_signature_is_rejected() {
    for alg in Algorithm::ALL {
        let token = forge(&header_json(alg), &claims_json(), &key(alg));
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut raw = B64.decode(sig).unwrap();
        raw[0] ^= 1;
        rejects(&format!("{input}.{}", b64(&raw)), VerifyError::BadSignature);
        raw.pop();
        rejects(&format!("{input}.{}", b64(&raw)), VerifyError::BadSignature);
    }
}

#[test]
fn signature_stripped_is_rejected() {
    let token = hs_token(&claims_json());
    let (input, _) = token.rsplit_once('.').unwrap();
    rejects(&format!("{input}."), VerifyError::Malformed);
    rejects(input, VerifyError::Malformed);
}

#[test]
fn extra_or_empty_segments_are_rejected() {
    let token = hs_token(&claims_json());
    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        format!("{token}.{}", parts[2]),
        format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
        format!("{}.{}..{}", parts[0], parts[1], parts[2]),
        String::new(),
        "..".to_owned(),
        parts[0].to_owned(),
    ] {
        rejects(&bad, VerifyError::Malformed);
    }
}

#[test]
fn invalid_base64url_is_rejected() {
    let token = hs_token(&claims_json());
    let parts: Vec<&str> = token.split('.').collect();
    let padded = format!("{}.{}.{}=", parts[0], parts[1], parts[2]);
    rejects(&padded, VerifyError::Base64);
    let standard_alphabet = format!("{}+.{}.{}", parts[0], parts[1], parts[2]);
    rejects(&standard_alphabet, VerifyError::Base64);
    let with_space = format!("{} .{}.{}", parts[0], parts[1], parts[2]);
    rejects(&with_space, VerifyError::Base64);
}

/// A 32-byte HMAC tag is 43 base64url characters whose last one carries two spare bits;
/// setting them must not yield a second valid encoding of the same token.
#[test]
fn non_canonical_base64_trailing_bits_are_rejected() {
    let token = hs_token(&claims_json());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let sibling = alphabet.as_bytes()[index ^ 1] as char;
    let forged = format!("{input}.{}{sibling}", &sig[..sig.len() - 1]);
    rejects(&forged, VerifyError::Base64);
}

#[test]
fn non_utf8_or_non_json_header_is_rejected() {
    let hs = key(Algorithm::HS256);
    let payload = claims_json().to_string();
    for header in [
        &b"\xff\xfe{}"[..],
        b"not json",
        b"[\"HS256\",\"at+jwt\",\"hs-1\"]",
        b"{",
        b"{}x",
        b"null",
    ] {
        rejects(
            &forge_raw(header, payload.as_bytes(), &hs),
            VerifyError::Header,
        );
    }
}

#[test]
fn non_utf8_or_non_json_payload_is_rejected() {
    let hs = key(Algorithm::HS256);
    let header = header_json(Algorithm::HS256).to_string();
    let array = serde_json::to_string(
        &claims_json()
            .as_object()
            .unwrap()
            .values()
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for payload in [
        &b"\xff\xfe"[..],
        b"not json",
        array.as_bytes(),
        b"\"a string\"",
        b"",
    ] {
        let token = forge_raw(header.as_bytes(), payload, &hs);
        let expected = if payload.is_empty() {
            VerifyError::Malformed
        } else {
            VerifyError::Claims
        };
        rejects(&token, expected);
    }
}

#[test]
fn duplicate_header_members_are_rejected() {
    let hs = key(Algorithm::HS256);
    let header = br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","alg":"none"}"#;
    rejects(
        &forge_raw(header, claims_json().to_string().as_bytes(), &hs),
        VerifyError::Header,
    );
    let header = br#"{"alg":"HS256","typ":"at+jwt","kid":"hs-1","kid":"hs-2"}"#;
    rejects(
        &forge_raw(header, claims_json().to_string().as_bytes(), &hs),
        VerifyError::Header,
    );
}

#[test]
fn duplicate_claims_are_rejected() {
    let hs = key(Algorithm::HS256);
    let header = header_json(Algorithm::HS256).to_string();
    let mut payload = claims_json().to_string();
    payload.pop();
    payload.push_str(r#","sub":"admin-user"}"#);
    rejects(
        &forge_raw(header.as_bytes(), payload.as_bytes(), &hs),
        VerifyError::Claims,
    );
}

#[test]
fn oversized_token_is_rejected_before_parsing() {
    let huge = with_claim("scope", json!("x".repeat(MAX_TOKEN_LEN)));
    rejects(&hs_token(&huge), VerifyError::TooLong);
    rejects(&"a".repeat(MAX_TOKEN_LEN + 1), VerifyError::TooLong);
}

#[test]
fn a_large_token_under_the_cap_verifies_and_its_tampered_twin_does_not() {
    // A payload too large for the stack buffer is decoded on the heap, with the same rules.
    let large = with_claim("scope", json!("tasks:read ".repeat(400)));
    let token = hs_token(&large);
    assert!(
        token.len() > 4_000 && token.len() <= MAX_TOKEN_LEN,
        "{}",
        token.len()
    );
    let claims = verifier().verify(&token).unwrap();
    assert_eq!(claims.scope.as_deref().map(str::len), Some(4_400));
    let (input, signature) = token.rsplit_once('.').unwrap();
    let flipped = if input.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{flipped}.{signature}", &input[..input.len() - 1]);
    assert!(verifier().verify(&tampered).is_err());
}

#[test]
fn descriptions_never_contain_token_text() {
    let token = hs_token(&with_claim("iss", json!("evil")));
    let err = verifier().verify(&token).unwrap_err();
    let text = err.to_string();
    assert!(token.split('.').all(|part| !text.contains(part)));
    assert!(!text.contains("evil"));
}

// --- mutations ------------------------------------------------------------------------

fn valid_tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        Algorithm::ALL
            .into_iter()
            .map(|alg| forge(&header_json(alg), &claims_json(), &key(alg)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any change to a valid token's bytes — flipped bits, replaced, inserted or removed
    /// bytes — never verifies.
    #[test]
    fn random_mutations_never_verify(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4),
    ) {
        let verifier = verifier();
        let original = valid_tokens()[which].as_bytes().to_vec();
        let mut bytes = original.clone();
        for (at, byte, kind) in edits {
            match kind {
                0 => { let i = at.index(bytes.len()); bytes[i] ^= byte | 1; }
                1 => { let i = at.index(bytes.len()); bytes[i] = byte; }
                2 => { let i = at.index(bytes.len() + 1); bytes.insert(i, byte); }
                _ if bytes.len() > 1 => { let i = at.index(bytes.len()); bytes.remove(i); }
                _ => {}
            }
        }
        prop_assume!(bytes != original);
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(verifier.verify(&text).is_err(), "mutated token verified: {}", text);
    }
}

// --- revocation ------------------------------------------------------------------------

#[test]
fn a_revoked_token_is_refused_after_every_other_check() {
    let (plain, _) = verifier_signing_with(Algorithm::HS256);
    let view = Arc::new(crate::RevocationView::new());
    let (verifier, clock) = verifier_signing_with(Algorithm::HS256);
    let verifier = verifier.with_revocation(view.clone());
    let claims = ClaimsBuilder::user(ISS, AUD, "user-1", "sid-1")
        .version(2)
        .build(NOW)
        .unwrap();
    let token = plain.keys().sign(&claims).unwrap();
    let other = plain
        .keys()
        .sign(
            &ClaimsBuilder::user(ISS, AUD, "user-1", "sid-2")
                .version(2)
                .build(NOW)
                .unwrap(),
        )
        .unwrap();
    assert_eq!(verifier.verify(&token), Ok(claims.clone()));

    view.apply(&crate::Revocation {
        revoked: crate::Revoked::Session {
            sid: "sid-1".into(),
        },
        until: NOW + 630,
    });
    assert_eq!(verifier.verify(&token), Err(VerifyError::Revoked));
    assert!(
        verifier.verify(&other).is_ok(),
        "another session of the same user"
    );
    assert_eq!(
        plain.verify(&token),
        Ok(claims),
        "a verifier without the view"
    );
    // A forged or expired token keeps its own error: revocation is the last check.
    let mut forged = token.clone();
    forged.push('A');
    assert_ne!(verifier.verify(&forged), Err(VerifyError::Revoked));
    clock.advance(std::time::Duration::from_secs(3600));
    assert_eq!(verifier.verify(&token), Err(VerifyError::Expired));
}
