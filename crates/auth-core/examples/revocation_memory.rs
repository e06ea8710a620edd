//! Resident memory of a revocation view holding N revoked sessions (default 1,000,000):
//! `cargo run --release -p auth-core --example revocation_memory [N]`. Linux (`/proc`).

#![allow(clippy::expect_used)] // an example that cannot measure should stop loudly

use auth_core::{Revocation, RevocationView, Revoked};

#[path = "support/rss.rs"]
mod rss;

use rss::rss_kib;

fn main() {
    let entries: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("N is a number"));
    let before = rss_kib();
    let view = RevocationView::new();
    for i in 0..entries {
        // A real session id: 43 base64url characters.
        let sid = format!("{i:043}");
        view.apply(&Revocation {
            revoked: Revoked::Session { sid },
            until: 1_800_000_000,
        });
    }
    let after = rss_kib();
    let mib = (after - before) as f64 / 1024.0;
    println!(
        "{} entries: {mib:.1} MiB ({:.0} bytes per entry)",
        view.len(),
        (after - before) as f64 * 1024.0 / entries as f64
    );
}
