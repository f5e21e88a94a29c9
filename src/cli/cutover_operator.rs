//! How `migrate execute` and `rollback` talk to the operator: step lines,
//! notices, progress and the confirmation before the point of no return.
//! On a terminal, progress is a spinner; without one (a pipe, systemd,
//! Kubernetes, `--no-progress`) a long step reports every
//! [`PROGRESS_EVERY`] as a status line on stderr, or as a JSON line on
//! stdout with `--output json`. Names from the plan and the brokers (group
//! ids, wave names) are [`escape`]d in every human line.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::progress::Spinners;
use crate::migrate::execute::Operator;
use crate::migrate::steps::Step;
use crate::output::{Format, Printer, escape};

/// Without a spinner, a long step's progress line at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The operator on the command line.
pub(super) struct CliOperator<'a> {
    printer: &'a Printer,
    spinners: Spinners,
    yes: bool,
    /// The running step, and when it started or last reported progress.
    current: Mutex<Option<(String, Instant)>>,
}

impl<'a> CliOperator<'a> {
    pub(super) fn new(printer: &'a Printer, yes: bool) -> Self {
        CliOperator {
            printer,
            spinners: Spinners::new(printer, &["migrate".to_owned()]),
            yes,
            current: Mutex::new(None),
        }
    }

    /// Removes the spinner (before the summary is printed).
    pub(super) fn clear(&self) {
        self.spinners.clear();
    }

    fn set_current(&self, step: Option<&Step>) {
        if let Ok(mut current) = self.current.lock() {
            *current = step.map(|s| (s.id.clone(), Instant::now()));
        }
    }

    /// The running step's id when its next progress line is due.
    fn due(&self) -> Option<String> {
        let mut current = self.current.lock().ok()?;
        let (id, last) = current.as_mut()?;
        if last.elapsed() < PROGRESS_EVERY {
            return None;
        }
        *last = Instant::now();
        Some(id.clone())
    }
}

/// A step's fields for JSON logs: `step`, `phase`, `wave` and `extra`.
fn step_fields(
    step: &Step,
    extra: &[(&str, serde_json::Value)],
) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("step".into(), step.id.clone().into());
    fields.insert("phase".into(), step.phase.to_string().into());
    if let Some(wave) = &step.wave {
        fields.insert("wave".into(), wave.clone().into());
    }
    for (key, value) in extra {
        fields.insert((*key).to_owned(), value.clone());
    }
    fields
}

impl Operator for CliOperator<'_> {
    fn step(&self, step: &Step, resumed: bool) {
        self.set_current(Some(step));
        let resumed_note = if resumed { " (resumed)" } else { "" };
        self.spinners
            .set("migrate", &format!("{}{resumed_note}", escape(&step.id)));
        if self.printer.format() == Format::Json {
            let _ = self.printer.data(
                &serde_json::json!({"event": "step", "step": step.id, "phase": step.phase, "resumed": resumed}).to_string(),
            );
        } else {
            self.printer.status_with(
                &format!("{}{resumed_note}: {}", escape(&step.id), escape(&step.does)),
                step_fields(step, &[("resumed", resumed.into())]),
            );
        }
    }

    fn step_done(&self, step: &Step, secs: f64) {
        self.set_current(None);
        if self.printer.format() == Format::Json {
            let _ = self.printer.data(
                &serde_json::json!({"event": "done", "step": step.id, "secs": secs}).to_string(),
            );
        } else {
            self.printer.status_with(
                &format!("{} done in {secs:.1} s", escape(&step.id)),
                step_fields(step, &[("secs", secs.into())]),
            );
        }
    }

    fn notice(&self, message: &str) {
        self.printer.status(&escape(message));
    }

    fn progress(&self, message: &str) {
        self.spinners.set("migrate", &escape(message));
        if self.printer.progress_enabled() {
            return;
        }
        let Some(step) = self.due() else {
            return;
        };
        if self.printer.format() == Format::Json {
            let _ = self.printer.data(
                &serde_json::json!({"event": "progress", "step": step, "message": message})
                    .to_string(),
            );
        } else {
            let mut fields = serde_json::Map::new();
            fields.insert("step".into(), step.clone().into());
            self.printer
                .status_with(&format!("{}: {}", escape(&step), escape(message)), fields);
        }
    }

    fn confirm(&self, question: &str) -> bool {
        if self.yes {
            return true;
        }
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return false;
        }
        self.spinners.clear();
        let mut err = std::io::stderr();
        let _ = write!(err, "{} Type `yes` to go on: ", escape(question));
        let _ = err.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        answer.trim() == "yes"
    }
}
