//! The rotating key set (`AUTH__JWT__KEYS_DIR`) in a running instance: re-read every
//! `AUTH__JWT__KEYS_RELOAD_SECS`, so a `keys rotate` on the shared directory reaches every
//! instance without a restart. State changes (next → active → retired → dropped) need no
//! reload: they follow from the times in the ring and the clock.

use std::sync::Arc;
use std::time::Duration;

use super::set::{Manifest, MANIFEST};

use crate::audit::{Audit, AuditEvent};
use crate::state::AppState;

/// Starts the reloader when a key set is configured.
pub fn spawn_reloader(state: Arc<AppState>) {
    let Some(dir) = state.settings().jwt.keys_dir.clone() else {
        return;
    };
    let alg = state.settings().jwt.algorithm.algorithm();
    let every = Duration::from_secs(state.settings().jwt.keys_reload_secs);
    let signing_kid = |state: &AppState| {
        state
            .verifier()
            .keys()
            .signing_key_at(state.now())
            .map(|key| key.kid().to_owned())
    };
    // What the ring loaded at start-up signs with: a change from it is a rotation.
    let mut signing = signing_kid(&state);
    tokio::spawn(async move {
        let mut seen: Option<Vec<u8>> = None;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = state.now();
            match std::fs::read(dir.join(MANIFEST)) {
                Ok(bytes) if seen.as_ref() != Some(&bytes) => {
                    let loaded = Manifest::parse(&dir, &bytes)
                        .and_then(|manifest| Ok((manifest.ring(&dir, alg, now)?, manifest)));
                    match loaded {
                        Ok((ring, manifest)) => {
                            state.verifier().replace_keys(ring);
                            seen = Some(bytes);
                            let states: Vec<String> = manifest
                                .states(now)
                                .iter()
                                .map(|(key, state)| format!("{}={state}", key.kid))
                                .collect();
                            tracing::info!(keys = ?states, "key set loaded");
                        }
                        // Keep signing with the keys loaded before; try again next tick.
                        Err(err) => tracing::error!(error = %err, "key set not reloaded"),
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(error = %err, dir = %dir.display(), "key set unreadable")
                }
            }
            let now_signing = signing_kid(&state);
            if now_signing != signing {
                tracing::info!(kid = ?now_signing, "signing key");
                if let (Some(before), Some(kid)) = (&signing, &now_signing) {
                    state.audit(
                        Audit::new(AuditEvent::SigningKeyRotated)
                            .detail("kid", kid.as_str())
                            .detail("previous_kid", before.as_str()),
                    );
                }
                signing = now_signing;
            }
        }
    });
}
