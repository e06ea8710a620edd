//! How long a client may take to send a request and how many connections one process
//! holds: the `…__HTTP__*` settings and the limits every service's server is built with.
//! Clients that never finish a request (a slow head, a slow body) are cut off, and the
//! open-file limit is raised and shared out so held connections cannot starve the rest.
//! The per-request half (upgrade refusal, the body deadline) is [`crate::http::edges`].

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

/// Open files kept back from client connections: Redis, outbound calls, key files, logs.
pub const RESERVED_FILES: u64 = 256;
/// The most connections one worker holds however high the open-file limit (actix-web's
/// own default).
pub const MAX_CONNECTIONS_PER_WORKER: usize = 25_000;
/// Longest head or body timeout accepted.
const MAX_TIMEOUT_SECS: u64 = 300;

/// The `http` section both services share (`…__HTTP__*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Seconds a client has to send a request's head (`…__HTTP__HEAD_TIMEOUT_SECS`);
    /// then 408 and the connection is closed.
    pub head_timeout_secs: u64,
    /// Seconds a client has to send a request's body once the head has arrived
    /// (`…__HTTP__BODY_TIMEOUT_SECS`); then 408 and the connection is closed.
    pub body_timeout_secs: u64,
    /// Connections each worker holds at most (`…__HTTP__MAX_CONNECTIONS`); beyond it the
    /// worker stops accepting until one closes. 0: the open-file limit, less
    /// [`RESERVED_FILES`], shared by the workers (at most [`MAX_CONNECTIONS_PER_WORKER`]).
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            head_timeout_secs: 5,
            body_timeout_secs: 10,
            max_connections: 0,
        }
    }
}

impl HttpSettings {
    /// Refuses timeouts that are zero (no bound) or absurd, naming the setting.
    pub fn check(&self, prefix: &str) -> Result<(), String> {
        let range = 1..=MAX_TIMEOUT_SECS;
        if range.contains(&self.head_timeout_secs) && range.contains(&self.body_timeout_secs) {
            Ok(())
        } else {
            Err(format!(
                "{prefix}__HTTP__HEAD_TIMEOUT_SECS and {prefix}__HTTP__BODY_TIMEOUT_SECS must be \
                 1 to {MAX_TIMEOUT_SECS}"
            ))
        }
    }

    /// The limits a server with `workers` workers (0: one per CPU, as actix-web counts)
    /// runs with. Raises the open-file limit first (see [`raise_open_files_limit`]).
    pub fn limits(&self, workers: usize) -> Limits {
        let open_files = raise_open_files_limit();
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        };
        let connections_per_worker = match self.max_connections {
            0 => {
                let shared = open_files.saturating_sub(RESERVED_FILES) / workers as u64;
                usize::try_from(shared)
                    .unwrap_or(usize::MAX)
                    .clamp(1, MAX_CONNECTIONS_PER_WORKER)
            }
            n => n,
        };
        tracing::info!(
            open_files,
            workers,
            connections_per_worker,
            head_timeout_secs = self.head_timeout_secs,
            body_timeout_secs = self.body_timeout_secs,
            "connection limits"
        );
        Limits {
            head_timeout: Duration::from_secs(self.head_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            connections_per_worker,
        }
    }
}

/// What a server is built with (`HttpServer::client_request_timeout`, `max_connections`,
/// and [`crate::http::edges`]'s body deadline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub head_timeout: Duration,
    pub body_timeout: Duration,
    pub connections_per_worker: usize,
}

/// Raises this process's soft open-file limit to its hard limit (the common soft default
/// of 1024 is what a few hundred held connections exhaust; the kernel's `nr_open` caps an
/// unlimited hard limit) and returns the limit now in force. Done once per process; later
/// calls return the same number.
pub fn raise_open_files_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| match rlimit::increase_nofile_limit(kernel_max_open_files()) {
        Ok(limit) => {
            tracing::info!(open_files = limit, "open-file limit raised to the hard limit");
            limit
        }
        Err(err) => {
            let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
            tracing::warn!(error = %err, open_files = soft, "could not raise the open-file limit");
            soft
        }
    })
}

/// The most open files the kernel lets one process have (Linux `fs.nr_open`).
fn kernel_max_open_files() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_must_be_bounded() {
        let ok = HttpSettings::default();
        assert!(ok.check("TASKS").is_ok());
        for (head, body) in [(0, 10), (5, 0), (5, MAX_TIMEOUT_SECS + 1)] {
            let settings = HttpSettings {
                head_timeout_secs: head,
                body_timeout_secs: body,
                ..HttpSettings::default()
            };
            let err = settings.check("TASKS").unwrap_err();
            assert!(err.contains("TASKS__HTTP__BODY_TIMEOUT_SECS"), "{err}");
        }
    }

    #[test]
    fn connections_share_the_open_file_limit() {
        let open_files = raise_open_files_limit();
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let target = hard.min(kernel_max_open_files());
        assert_eq!(
            (open_files, soft),
            (target, target),
            "raised to the hard limit"
        );
        let auto = HttpSettings::default().limits(2);
        let expected = (open_files.saturating_sub(RESERVED_FILES) / 2)
            .clamp(1, MAX_CONNECTIONS_PER_WORKER as u64);
        assert_eq!(auto.connections_per_worker as u64, expected);
        let fixed = HttpSettings {
            max_connections: 300,
            ..HttpSettings::default()
        };
        assert_eq!(fixed.limits(2).connections_per_worker, 300);
        assert_eq!(fixed.limits(2).body_timeout, Duration::from_secs(10));
    }
}
