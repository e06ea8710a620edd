//! Bytes in as a bearer token, through a verifier holding an HS256, an EdDSA and an ES256 key
//! (every algorithm mode at once), with and without the verified-token cache. Besides "never
//! panics": the cached verifier must give exactly the plain verifier's answer, twice (the
//! second time from the cache when the first verified).
#![no_main]

use std::sync::{Arc, OnceLock};

use auth_core::{Algorithm, Key, KeyRing, ManualClock, Validation, VerifiedCache, Verifier};
use libfuzzer_sys::fuzz_target;

/// The time the seeds were minted for (fuzz/seeds/verify_token: HS256 under kid `fuzz`).
const NOW: u64 = 1_800_000_000;
const SECRET: &[u8] = b"fuzz-hs256-secret-0123456789abcdef!";

struct Verifiers {
    plain: Verifier,
    cached: Verifier,
}

fn verifiers() -> &'static Verifiers {
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let ring = KeyRing::new(Key::hs256("fuzz", SECRET).unwrap())
            .unwrap()
            .with_verify_key(Key::generate(Algorithm::EdDSA).unwrap().key)
            .unwrap()
            .with_verify_key(Key::generate(Algorithm::ES256).unwrap().key)
            .unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let plain =
            Verifier::new(ring, Validation::new("tessera", "tasks"), clock.clone()).unwrap();
        let cached = Verifier::from_shared(
            plain.shared_keys(),
            Validation::new("tessera", "tasks").algorithms(&[
                Algorithm::HS256,
                Algorithm::EdDSA,
                Algorithm::ES256,
            ]),
            clock,
        )
        .unwrap()
        .with_cache(Arc::new(VerifiedCache::new(1 << 20)));
        Verifiers { plain, cached }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let verifiers = verifiers();
    let plain = verifiers.plain.verify(token);
    assert_eq!(verifiers.cached.verify(token), plain);
    assert_eq!(verifiers.cached.verify(token), plain);
});
