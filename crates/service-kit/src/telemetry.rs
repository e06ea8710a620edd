//! Logs: one `tracing` subscriber per process, human-readable or JSON lines, filtered by a
//! configurable directive. Every request's lines carry its request id (see [`crate::http`]).
//!
//! actix's HTTP codec logs every connection it closes over a client's malformed request at
//! ERROR (`actix_http::h1::dispatcher`: "stream error: request parse error: …"), so any
//! client could write ERROR lines at will. Those events never reach the output; instead
//! [`ClientErrors`] writes one INFO line per minute at most, counting them and quoting the
//! latest.
//!
//! Audit events (target [`AUDIT_TARGET`]) are not log lines: each is one JSON object,
//! written as its emitter serialized it, whatever the log format and level (only
//! `…__LOG__AUDIT=false` silences them). See the auth-service's `audit` module for the
//! schema.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SdkTracer;
use serde::Deserialize;
use tracing::field::Visit;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::traces::{self, OtelSettings, TraceSetupError};

/// The target of audit events; their one field, [`AUDIT_FIELD`], is the JSON line.
pub const AUDIT_TARGET: &str = "audit";
/// The field of an audit event holding its JSON line.
pub const AUDIT_FIELD: &str = "record";
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
    /// Whether audit events are written (`…__LOG__AUDIT`), whatever `level` says.
    pub audit: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
            audit: true,
        }
    }
}

/// Installs the global subscriber. A second call (tests start many apps) is a no-op.
/// Each request's span closes with one line holding method, path, status, request id and
/// time taken.
pub fn init(settings: &LogSettings) {
    install(settings, std::io::stdout, None);
}

/// [`init`] with traces: spans exported as `service` to `otel.endpoint` when it is set
/// (see [`crate::traces`]); `prefix` names the setting in errors.
pub fn init_traced(
    service: &'static str,
    prefix: &str,
    settings: &LogSettings,
    otel: &OtelSettings,
) -> Result<(), TraceSetupError> {
    init_traced_with_writer(service, prefix, settings, otel, std::io::stdout)
}

/// [`init_traced`] writing somewhere else (tests).
pub fn init_traced_with_writer<W>(
    service: &'static str,
    prefix: &str,
    settings: &LogSettings,
    otel: &OtelSettings,
    writer: W,
) -> Result<(), TraceSetupError>
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let tracer = traces::tracer(service, otel, prefix)?;
    install(settings, writer, tracer);
    Ok(())
}

/// [`init`] writing somewhere else (tests capture log lines to check what never appears).
pub fn init_with_writer<W>(settings: &LogSettings, writer: W)
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    install(settings, writer, None);
}

fn install<W>(settings: &LogSettings, writer: W, tracer: Option<SdkTracer>)
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let installed = subscriber(settings, writer)
        .with(tracer.map(|tracer| {
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(
                    filter_fn(|meta| meta.is_span() && is_ours(meta.target()))
                        .with_max_level_hint(LevelFilter::TRACE),
                )
        }))
        .try_init();
    if installed.is_ok() && EnvFilter::try_new(&settings.level).is_err() {
        tracing::warn!(directive = %settings.level, "invalid log level directive; using `info`");
    }
}

/// Whether `target` is one of Tessera's crates (whose spans, at every level, are traced).
fn is_ours(target: &str) -> bool {
    ["auth_service", "tasks_service", "service_kit", "auth_core"]
        .iter()
        .any(|ours| {
            target
                .strip_prefix(ours)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// The subscriber [`init_with_writer`] installs: log lines filtered by `settings.level`
/// (actix's codec errors summarised by [`ClientErrors`] instead), audit lines whatever the
/// level.
pub fn subscriber<W>(
    settings: &LogSettings,
    writer: W,
) -> impl Subscriber + Send + Sync + for<'s> tracing_subscriber::registry::LookupSpan<'s>
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_span_events(FmtSpan::CLOSE)
        .with_target(true);
    let fmt = match settings.format {
        LogFormat::Json => fmt.json().with_current_span(true).boxed(),
        LogFormat::Pretty => fmt.boxed(),
    };
    // Every filter states the most verbose level it lets through, so the subscriber's
    // overall maximum (the level, or `info` for audit lines) turns the `debug!`/`trace!`
    // call sites of every crate off at the macro.
    let logged = filter_fn(|meta| meta.target() != CODEC_TARGET && meta.target() != AUDIT_TARGET)
        .with_max_level_hint(LevelFilter::TRACE);
    let audit = settings.audit;
    let audited = filter_fn(move |meta| audit && meta.target() == AUDIT_TARGET)
        .with_max_level_hint(LevelFilter::INFO);
    let codec_errors =
        filter_fn(|meta| meta.target() == CODEC_TARGET && *meta.level() == Level::ERROR)
            .with_max_level_hint(LevelFilter::ERROR);
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter.and(logged)))
        .with(AuditLines(writer).with_filter(audited))
        .with(ClientErrors::new(CLIENT_ERRORS_EVERY).with_filter(codec_errors))
}

/// Writes each audit event's line as it is, one per line.
struct AuditLines<W>(W);

impl<S: Subscriber, W: for<'w> MakeWriter<'w> + 'static> Layer<S> for AuditLines<W> {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut line = Field(AUDIT_FIELD, String::new());
        event.record(&mut line);
        if line.1.is_empty() {
            return;
        }
        line.1.push('\n');
        let _ = self.0.make_writer().write_all(line.1.as_bytes());
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
        let mut message = Field("message", String::new());
        event.record(&mut message);
        tracing::info!(
            count,
            latest = %message.1,
            "connections closed over client errors (malformed requests, resets) since the \
             last such line; one line per minute at most"
        );
    }
}

/// One field of an event, by name.
struct Field(&'static str, String);

impl Visit for Field {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == self.0 {
            value.clone_into(&mut self.1);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == self.0 {
            self.1 = format!("{value:?}");
        }
    }
}

/// For integration tests: logs only when `TEST_LOG` is set, so test output stays quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(&LogSettings {
            format: LogFormat::Pretty,
            level: "debug".to_owned(),
            audit: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Everything written, shared by its clones.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written_with(settings: &LogSettings) -> String {
        let out = Written::default();
        let writer = out.clone();
        let subscriber = subscriber(settings, move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: AUDIT_TARGET, record = r#"{"event":"logout"}"#);
            tracing::info!("an ordinary line");
            tracing::error!("an error line");
        });
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn audit_lines_are_written_verbatim_whatever_the_level() {
        let quiet = LogSettings {
            format: LogFormat::Json,
            level: "error".to_owned(),
            audit: true,
        };
        let text = written_with(&quiet);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], r#"{"event":"logout"}"#, "as emitted, one line");
        assert!(lines[1].contains("an error line"), "{text}");
    }

    #[test]
    fn call_sites_below_what_any_layer_wants_are_off_at_the_macro() {
        for (level, most) in [("warn", LevelFilter::INFO), ("debug", LevelFilter::DEBUG)] {
            let settings = LogSettings {
                level: level.to_owned(),
                ..LogSettings::default()
            };
            let subscriber = subscriber(&settings, std::io::sink);
            let current = tracing::subscriber::with_default(subscriber, LevelFilter::current);
            assert_eq!(current, most, "{level}: audit lines are info");
        }
    }

    #[test]
    fn audit_lines_can_be_turned_off() {
        let off = LogSettings {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
            audit: false,
        };
        let text = written_with(&off);
        assert!(!text.contains("logout"), "{text}");
        assert!(text.contains("an ordinary line"), "{text}");
    }
}
