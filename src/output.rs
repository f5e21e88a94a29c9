//! The one output object: data goes to stdout (a table or JSON), status,
//! warnings and progress go to stderr.
//!
//! Commands never print directly; they call [`Printer`]. This keeps stdout
//! clean for pipes (`kcp state version --output json | jq`) and lets tests
//! capture both streams.
//!
//! With `--log-format json`, everything on stderr (status, warnings, errors
//! and the `tracing` logs) is one JSON object per line ([`log_line`]) for
//! log shippers, and no progress bar is drawn.
//!
//! Names kcp prints come from outside it (brokers, cloud APIs, hand-edited
//! files) and may hold control characters: [`escape`] is the one place that
//! makes such text safe for a terminal, and the printer applies it to every
//! table cell and stderr line, and to [`Printer::text`]. JSON is written
//! exactly (serde escapes control characters itself).

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

/// How data is written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable tables and text.
    #[default]
    Table,
    /// One JSON document.
    Json,
}

/// How much status text goes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// When to colour stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    Auto,
    Always,
    Never,
}

/// Writes data and status according to the global flags.
#[derive(Debug, Clone)]
pub struct Printer {
    format: Format,
    verbosity: Verbosity,
    progress: bool,
    color: bool,
    json_logs: bool,
}

/// One log line as a JSON object: `time` (RFC 3339, UTC, milliseconds),
/// `level` (`error`, `warn`, `info`, `debug`, `trace`), `target` (the module,
/// `kcp` for status lines), `message`, and `fields` (the event's other
/// fields, such as `topic`, `partition`, `step`), without a newline.
pub fn log_line(
    level: &str,
    target: &str,
    message: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) -> String {
    serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": level,
        "target": target,
        "message": message,
        "fields": fields,
    })
    .to_string()
}

impl Printer {
    /// Builds a printer. Colour in `Auto` mode follows `NO_COLOR` and whether
    /// stderr is a terminal; progress bars are shown only on a terminal.
    pub fn new(format: Format, verbosity: Verbosity, progress: bool, color: ColorMode) -> Self {
        let tty = io::stderr().is_terminal();
        let color = match color {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        };
        Printer {
            format,
            verbosity,
            progress: progress && tty && verbosity == Verbosity::Normal,
            color,
            json_logs: false,
        }
    }

    /// Status, warnings and errors as JSON log lines ([`log_line`]), no
    /// colour and no progress bars (`--log-format json`).
    pub fn with_json_logs(mut self, on: bool) -> Self {
        if on {
            self.json_logs = true;
            self.progress = false;
            self.color = false;
        }
        self
    }

    /// The data format chosen with `--output`.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether progress bars may be drawn.
    pub fn progress_enabled(&self) -> bool {
        self.progress
    }

    /// Whether stderr is coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Writes data to stdout exactly as given: JSON, or a document whose
    /// names are already [`escape`]d.
    pub fn data(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Writes human-readable text to stdout, its lines [`escape`]d.
    pub fn text(&self, text: &str) -> io::Result<()> {
        self.data(&escape_lines(text))
    }

    /// Writes rows as kcp's one table style to stdout, every cell
    /// [`escape`]d (a newline in a name would break the table's lines).
    pub fn table<R: tabled::Tabled>(&self, rows: impl IntoIterator<Item = R>) -> io::Result<()> {
        let mut table = tabled::Table::new(rows);
        table
            .with(tabled::settings::Format::content(|cell| {
                escape(cell).into_owned()
            }))
            .with(tabled::settings::Style::sharp());
        self.data(&table.to_string())
    }

    /// Writes a value as pretty JSON to stdout.
    pub fn json<T: serde::Serialize>(&self, value: &T) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        self.data(&text)
    }

    /// A status line on stderr (suppressed by `-q`).
    pub fn status(&self, message: &str) {
        self.status_with(message, serde_json::Map::new());
    }

    /// A status line with fields (`step`, `topic`...): shown in JSON logs,
    /// left out of the human line, which says them in its words.
    pub fn status_with(&self, message: &str, fields: serde_json::Map<String, serde_json::Value>) {
        if self.verbosity >= Verbosity::Normal {
            if self.json_logs {
                self.json_line("info", message, fields);
            } else {
                self.stderr_line("", message);
            }
        }
    }

    /// A warning on stderr (always shown).
    pub fn warn(&self, message: &str) {
        if self.json_logs {
            self.json_line("warn", message, serde_json::Map::new());
        } else {
            self.stderr_line(&self.paint("warning", "33"), message);
        }
    }

    /// An error and its hints on stderr (always shown).
    pub fn error(&self, message: &str, hints: &[String]) {
        if self.json_logs {
            let mut fields = serde_json::Map::new();
            if !hints.is_empty() {
                fields.insert("hints".into(), hints.into());
            }
            self.json_line("error", message, fields);
            return;
        }
        self.stderr_line(&self.paint("error", "31"), message);
        for hint in hints {
            self.stderr_line(&self.paint("hint", "36"), hint);
        }
    }

    fn json_line(
        &self,
        level: &str,
        message: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) {
        let line = log_line(level, "kcp", message, fields);
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    fn paint(&self, label: &str, ansi: &str) -> String {
        if self.color {
            format!("\x1b[1;{ansi}m{label}\x1b[0m")
        } else {
            label.to_owned()
        }
    }

    fn stderr_line(&self, label: &str, message: &str) {
        let message = escape_lines(message);
        let mut err = io::stderr().lock();
        // A closed stderr is not worth failing the command for.
        let _ = if label.is_empty() {
            writeln!(err, "{message}")
        } else {
            writeln!(err, "{label}: {message}")
        };
    }
}

/// Makes text from outside kcp safe to show: control characters (C0,
/// including newline and tab, DEL and C1) and the bidirectional overrides
/// and isolates (which reorder what a terminal shows) become visible escapes
/// such as `\n`, `\u{1b}` and `\u{202e}`; everything else is unchanged.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`] for text of several lines: its newlines are kept.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.split('\n').map(escape).collect::<Vec<_>>().join("\n"))
}

fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_become_visible() {
        assert_eq!(escape("orders.v1"), "orders.v1");
        assert!(matches!(escape("orders.v1"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\x1b]0;owned\x07b\nc\td\r\u{9b}e\u{7f}"),
            "a\\u{1b}]0;owned\\u{7}b\\nc\\td\\r\\u{9b}e\\u{7f}"
        );
        assert_eq!(escape("abc\u{202e}fed\u{2066}"), "abc\\u{202e}fed\\u{2066}");
        assert_eq!(escape("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}");
        assert_eq!(
            escape_lines("one \x1b[31mred\ntwo\r"),
            "one \\u{1b}[31mred\ntwo\\r"
        );
    }
}
