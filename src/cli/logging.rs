//! Logs on stderr through `tracing`: the human format (the default) or, with
//! `--log-format json`, one JSON object per line ([`crate::output::log_line`]:
//! time, level, target, message, fields) for log shippers.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::args::{GlobalArgs, LogFormatArg};

/// Logs go to stderr. `-v` raises the level, `KCP_LOG` (an `EnvFilter`
/// directive such as `kcp=debug,librdkafka=info`) overrides it.
pub(super) fn init(global: &GlobalArgs, color: bool) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormatArg::Human => builder
            .with_ansi(color)
            .with_target(global.verbose > 1)
            .without_time()
            .try_init(),
        LogFormatArg::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// `--log-format json`: an event as one JSON line. The fields of the spans
/// it happened in are not included (kcp logs through events only).
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let line = crate::output::log_line(
            &meta.level().as_str().to_ascii_lowercase(),
            meta.target(),
            &fields.message,
            fields.fields,
        );
        writeln!(writer, "{line}")
    }
}

/// An event's message and other fields, as JSON values.
#[derive(Default)]
struct Fields {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_become_one_json_object_per_line() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                topic = "orders",
                partition = 3,
                lag = 1.5,
                "lag is \"high\"\nstill"
            );
            tracing::info!(target: "librdkafka", cluster = %"src", "FAIL: down");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "warn");
        assert_eq!(lines[0]["target"], "kcp::cli::logging::tests");
        assert_eq!(lines[0]["message"], "lag is \"high\"\nstill");
        assert_eq!(
            lines[0]["fields"],
            serde_json::json!({"topic": "orders", "partition": 3, "lag": 1.5})
        );
        assert!(
            chrono::DateTime::parse_from_rfc3339(lines[0]["time"].as_str().unwrap()).is_ok(),
            "{text}"
        );
        assert_eq!(lines[1]["target"], "librdkafka");
        assert_eq!(lines[1]["fields"]["cluster"], "src");
    }
}
