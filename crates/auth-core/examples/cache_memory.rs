//! Resident memory of a verified-token cache holding N EdDSA tokens (default 100,000), each
//! verified once through the cache: `cargo run --release -p auth-core --example
//! cache_memory [N]`. Linux (`/proc`).

#![allow(clippy::expect_used)] // an example that cannot measure should stop loudly

use std::sync::Arc;

use auth_core::{
    Algorithm, ClaimsBuilder, Key, KeyRing, SystemClock, Validation, VerifiedCache, Verifier,
};

#[path = "support/rss.rs"]
mod rss;

use rss::rss_kib;

fn main() {
    let entries: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().expect("N is a number"));
    let ring = KeyRing::new(Key::generate(Algorithm::EdDSA).expect("key").key).expect("ring");
    let clock = Arc::new(SystemClock);
    let now = auth_core::Clock::now(&SystemClock);
    // Tokens shaped like the auth-service's: a UUID subject, a 43-character session id.
    let tokens: Vec<String> = (0..entries)
        .map(|i| {
            let claims = ClaimsBuilder::user(
                "tessera",
                "tasks",
                format!("0b6f4c5e-7d2a-4a8e-9c3b-{i:012}"),
                format!("{i:043}"),
            )
            .build(now)
            .expect("claims");
            ring.sign(&claims).expect("sign")
        })
        .collect();
    let cache = Arc::new(VerifiedCache::new(1 << 30));
    let verifier = Verifier::new(ring, Validation::new("tessera", "tasks"), clock)
        .expect("verifier")
        .with_cache(cache.clone());
    let before = rss_kib();
    for token in &tokens {
        verifier.verify(token).expect("valid");
    }
    let after = rss_kib();
    println!(
        "{} entries ({} B tokens): {:.1} MiB resident ({:.0} bytes per entry; weighed {:.1} MiB)",
        cache.len(),
        tokens[0].len(),
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / entries as f64,
        cache.bytes() as f64 / (1 << 20) as f64
    );
}
