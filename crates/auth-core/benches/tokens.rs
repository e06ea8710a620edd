//! Issue and verify for each algorithm, beside the floor: a bare HMAC-SHA256 over the same
//! signing input. `cargo bench -p auth-core`; the HS256 target is verify ≤ 2.5× the floor.
//! Also each algorithm through a warm verified-token cache, and the revocation view's check
//! with 100,000 entries.

#![allow(clippy::expect_used)] // a bench that cannot set up should stop loudly

use std::hint::black_box;
use std::sync::Arc;

use auth_core::{
    Algorithm, ClaimsBuilder, Key, KeyRing, Revocation, RevocationView, Revoked, SystemClock,
    Validation, VerifiedCache, Verifier,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use ring::hmac;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!!";
/// Distinct tokens cycled through, so nothing benefits from one hot token.
const TOKENS: usize = 256;

fn verifier(alg: Algorithm) -> Verifier {
    let key = match alg {
        Algorithm::HS256 => Key::hs256("hs-1", SECRET).expect("key"),
        _ => Key::generate(alg).expect("key").key,
    };
    let ring = KeyRing::new(key).expect("ring");
    Verifier::new(
        ring,
        Validation::new("tessera", "tasks"),
        Arc::new(SystemClock),
    )
    .expect("verifier")
}

/// A verifier over the same ring as `verifier`, with a cache of `bytes`.
fn verifier_with_cache(verifier: &Verifier, alg: Algorithm, bytes: u64) -> Verifier {
    Verifier::from_shared(
        verifier.shared_keys(),
        Validation::new("tessera", "tasks").algorithms(&[alg]),
        Arc::new(SystemClock),
    )
    .expect("verifier")
    .with_cache(Arc::new(VerifiedCache::new(bytes)))
}

fn claims(i: usize, now: u64) -> auth_core::Claims {
    ClaimsBuilder::user(
        "tessera",
        "tasks",
        format!("0b6f4c5e-7d2a-4a8e-9c3b-{i:012}"),
        format!("sess-{i:08}"),
    )
    .version(1)
    .build(now)
    .expect("claims")
}

fn bench(c: &mut Criterion) {
    let now = auth_core::Clock::now(&SystemClock);
    for alg in Algorithm::ALL {
        let verifier = verifier(alg);
        let tokens: Vec<String> = (0..TOKENS)
            .map(|i| verifier.keys().sign(&claims(i, now)).expect("sign"))
            .collect();
        let one = claims(0, now);
        c.bench_function(&format!("issue/{alg}"), |b| {
            b.iter(|| verifier.keys().sign(black_box(&one)))
        });
        let mut i = 0;
        c.bench_function(&format!("verify/{alg}"), |b| {
            b.iter(|| {
                i = (i + 1) % TOKENS;
                verifier.verify(black_box(&tokens[i])).expect("valid")
            })
        });
        // Through a cache too small to keep anything: every token a miss, verified in full
        // and offered to the cache (what a token seen once costs with the cache on).
        let missing = verifier_with_cache(&verifier, alg, 1);
        c.bench_function(&format!("verify/{alg}-cache-miss"), |b| {
            b.iter(|| {
                i = (i + 1) % TOKENS;
                missing.verify_shared(black_box(&tokens[i])).expect("valid")
            })
        });
        // The same tokens through a warm verified-token cache: every one a hit. Both cache
        // cases call `verify_shared`, as the framework adapters do (a hit copies nothing).
        let cached = verifier_with_cache(&verifier, alg, 64 << 20);
        for token in &tokens {
            cached.verify(token).expect("valid");
        }
        c.bench_function(&format!("verify/{alg}-cache-hit"), |b| {
            b.iter(|| {
                i = (i + 1) % TOKENS;
                cached.verify_shared(black_box(&tokens[i])).expect("valid")
            })
        });
        if alg == Algorithm::HS256 {
            let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
            // The same tokens with the header members reordered: byte-different from the
            // header our key writes, so verification takes the full header parse.
            let respelled: Vec<String> = tokens
                .iter()
                .map(|token| {
                    let payload = token.split('.').nth(1).expect("jws");
                    let header = B64.encode(r#"{"typ":"at+jwt","alg":"HS256","kid":"hs-1"}"#);
                    let input = format!("{header}.{payload}");
                    let tag = hmac::sign(&key, input.as_bytes());
                    format!("{input}.{}", B64.encode(tag))
                })
                .collect();
            let mut i = 0;
            c.bench_function("verify/HS256-full-header-parse", |b| {
                b.iter(|| {
                    i = (i + 1) % TOKENS;
                    verifier.verify(black_box(&respelled[i])).expect("valid")
                })
            });
            let inputs: Vec<&str> = tokens
                .iter()
                .map(|t| t.rsplit_once('.').expect("jws").0)
                .collect();
            eprintln!("signing input: {} bytes", inputs[0].len());
            let mut i = 0;
            c.bench_function("floor/hmac-sha256", |b| {
                b.iter(|| {
                    i = (i + 1) % TOKENS;
                    hmac::sign(&key, black_box(inputs[i].as_bytes()))
                })
            });
        }
    }
}

/// The revocation check a resource server adds after the signature: a view holding
/// 100,000 revoked sessions, asked about tokens that are not revoked (the common case: all
/// three lookups miss) and about revoked ones.
fn revocation(c: &mut Criterion) {
    const ENTRIES: usize = 100_000;
    let now = auth_core::Clock::now(&SystemClock);
    let view = RevocationView::new();
    for i in 0..ENTRIES {
        view.apply(&Revocation {
            revoked: Revoked::Session {
                sid: format!("revoked-{i:08}"),
            },
            until: now + 630,
        });
    }
    let live: Vec<auth_core::Claims> = (0..TOKENS).map(|i| claims(i, now)).collect();
    let mut i = 0;
    c.bench_function("revocation/check-100k-miss", |b| {
        b.iter(|| {
            i = (i + 1) % TOKENS;
            view.is_revoked(black_box(&live[i]), now)
        })
    });
    let revoked: Vec<auth_core::Claims> = (0..TOKENS)
        .map(|i| {
            let mut claims = claims(i, now);
            claims.sid = format!("revoked-{i:08}");
            claims
        })
        .collect();
    c.bench_function("revocation/check-100k-hit", |b| {
        b.iter(|| {
            i = (i + 1) % TOKENS;
            view.is_revoked(black_box(&revoked[i]), now)
        })
    });
}

criterion_group!(benches, bench, revocation);
criterion_main!(benches);
