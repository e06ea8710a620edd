//! Logs: one `tracing` subscriber per process, human-readable or JSON lines, filtered by a
//! configurable directive. Every request's lines carry its request id (see [`crate::http`]).
//!
//! actix's HTTP codec logs every connection it closes over a client's malformed request at
//! ERROR (`actix_http::h1::dispatcher`: "stream error: request parse error: …"), so any
//! client could write ERROR lines at will. Those events never reach the output; instead
//! [`ClientErrors`] writes one INFO line per minute at most, counting them and quoting the
//! latest.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where actix's HTTP/1 codec logs the connections it drops.
const CODEC_TARGET: &str = "actix_http::h1::dispatcher";
/// At most one summary of client-caused codec errors per this long.
pub const CLIENT_ERRORS_EVERY: Duration = Duration::from_secs(60);

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The `log` section of a service's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `info,tasks_service=debug`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        }
    }
}

/// Installs the global subscriber. A second call (tests start many apps) is a no-op.
/// Each request's span closes with one line holding method, path, status, request id and
/// time taken.
pub fn init(settings: &LogSettings) {
    init_with_writer(settings, std::io::stdout);
}

/// [`init`] writing somewhere else (tests capture log lines to check what never appears).
pub fn init_with_writer<W>(settings: &LogSettings, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(true);
    let fmt = match settings.format {
        LogFormat::Json => fmt.json().with_current_span(true).boxed(),
        LogFormat::Pretty => fmt.boxed(),
    };
    let not_codec = filter_fn(|meta| meta.target() != CODEC_TARGET);
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt.with_filter(not_codec))
        .with(ClientErrors::new(CLIENT_ERRORS_EVERY))
        .try_init();
    if installed.is_ok() && EnvFilter::try_new(&settings.level).is_err() {
        tracing::warn!(directive = %settings.level, "invalid log level directive; using `info`");
    }
}

/// Counts the connections actix's codec drops over client errors and logs them at INFO, at
/// most once per window: the first at once, later ones in the next window's line.
#[derive(Debug)]
pub struct ClientErrors {
    every: Duration,
    /// When the last line was written, and what was counted since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl ClientErrors {
    /// A counter writing at most one line per `every`.
    pub fn new(every: Duration) -> ClientErrors {
        ClientErrors {
            every,
            state: Mutex::new((None, 0)),
        }
    }
}

impl<S: Subscriber> Layer<S> for ClientErrors {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != CODEC_TARGET {
            return;
        }
        let count = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            state.1 += 1;
            if state.0.is_some_and(|at| at.elapsed() < self.every) {
                return;
            }
            let count = state.1;
            *state = (Some(Instant::now()), 0);
            count
        };
        let mut message = Message(String::new());
        event.record(&mut message);
        tracing::info!(
            count,
            latest = %message.0,
            "connections closed over client errors (malformed requests, resets) since the \
             last such line; one line per minute at most"
        );
    }
}

/// The `message` field of an event.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// For integration tests: logs only when `TEST_LOG` is set, so test output stays quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(&LogSettings {
            format: LogFormat::Pretty,
            level: "debug".to_owned(),
        });
    }
}
