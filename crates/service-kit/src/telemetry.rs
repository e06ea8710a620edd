//! Logs: one `tracing` subscriber per process, human-readable or JSON lines, filtered by a
//! configurable directive. Every request's lines carry its request id (see [`crate::http`]).

use serde::Deserialize;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(true);
    let installed = match settings.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if installed.is_ok() && EnvFilter::try_new(&settings.level).is_err() {
        tracing::warn!(directive = %settings.level, "invalid log level directive; using `info`");
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
