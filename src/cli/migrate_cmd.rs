//! `kcp migrate replicate` (`init`, `status` and `execute --dry-run` are in `cutover_cmd.rs`;
//! running the cutover and rollback come with the cutover issue).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::args::{GlobalArgs, MetricsArgs, MigrateReplicateArgs};
use super::progress::Spinners;
use crate::connect::CredentialsFile;
use crate::exit::ExitStatus;
use crate::output::{Format, Printer};
use crate::replicator::{self, LoadedPlan, Observer, RunOptions, Stats};
use crate::telemetry::{self, Telemetry};

/// Starts the metrics and health listener when `--metrics-addr` asks for
/// it. The copy loop may go `60 s + 3 × timeout` without a round before
/// `/healthz` fails: its longest waits are requests bounded by the timeout.
pub(super) fn start_telemetry(
    args: &MetricsArgs,
    command: telemetry::Command,
    plan: &LoadedPlan,
    timeout: Duration,
    printer: &Printer,
) -> anyhow::Result<Option<Arc<Telemetry>>> {
    let Some(addr) = &args.metrics_addr else {
        return Ok(None);
    };
    let t = Arc::new(Telemetry::new(
        command,
        &plan.plan.name,
        Duration::from_secs(60) + timeout * 3,
    ));
    let listener = telemetry::serve(addr, t.clone())?;
    let url = format!("http://{}", listener.addr());
    let mut fields = serde_json::Map::new();
    fields.insert("addr".into(), listener.addr().to_string().into());
    printer.status_with(
        &format!("serving {url}/metrics, {url}/healthz and {url}/readyz"),
        fields,
    );
    Ok(Some(t))
}

struct CliObserver<'a> {
    printer: &'a Printer,
    spinners: Spinners,
    /// Stats samples seen: without a spinner (not a terminal, or
    /// `--no-progress`), every tenth becomes a status line.
    samples: std::sync::atomic::AtomicU64,
}

/// Without a spinner, a progress line every this many stats samples.
const SAMPLES_PER_LINE: u64 = 10;

impl Observer for CliObserver<'_> {
    fn stats(&self, stats: &Stats) {
        match self.printer.format() {
            Format::Json => {
                if let Ok(line) = serde_json::to_string(stats) {
                    let _ = self.printer.data(&line);
                }
            }
            Format::Table => {
                let line = format!(
                    "{} copied, {:.0} records/s, {:.1} MB/s, lag {}",
                    stats.copied,
                    stats.records_per_sec,
                    stats.bytes_per_sec / 1e6,
                    stats.lag
                );
                if self.printer.progress_enabled() {
                    self.spinners.set("replicate", &line);
                    return;
                }
                let n = self
                    .samples
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n % SAMPLES_PER_LINE == SAMPLES_PER_LINE - 1 {
                    self.printer.status(&format!("replicating: {line}"));
                }
            }
        }
    }

    fn notice(&self, message: &str) {
        self.printer.status(message);
    }

    fn warning(&self, message: &str) {
        self.printer.warn(message);
    }
}

pub(super) fn replicate(
    args: MigrateReplicateArgs,
    _global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let plan = LoadedPlan::load(&args.plan)?;
    let creds = CredentialsFile::load(&plan.credentials_path())?;
    let source = creds.cluster(&plan.plan.source)?.clone();
    let target = creds.cluster(&plan.plan.target)?.clone();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let telemetry = start_telemetry(
        &args.metrics,
        telemetry::Command::Replicate,
        &plan,
        timeout,
        printer,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    super::signals::install_signal_handlers(stop.clone())?;
    let observer = CliObserver {
        printer,
        spinners: Spinners::new(printer, &["replicate".to_owned()]),
        samples: std::sync::atomic::AtomicU64::new(0),
    };
    let options = RunOptions {
        timeout,
        until_caught_up: args.until_caught_up,
        max_bytes_per_sec: args.max_bytes_per_sec,
        stats_interval: Duration::from_millis(args.stats_interval_ms.max(100)),
        metrics: telemetry.as_ref().map(|t| t.replicator()),
    };
    let summary = replicator::run(&plan, &source, &target, &options, &observer, &stop)?;
    observer.spinners.clear();
    match printer.format() {
        Format::Json => printer.data(&serde_json::to_string(
            &serde_json::json!({ "summary": summary }),
        )?)?,
        Format::Table => printer.status(&format!(
            "copied {} records ({:.1} MB) over {} partitions in {:.1}s, lag {}{}{}",
            summary.copied,
            summary.bytes as f64 / 1e6,
            summary.partitions,
            summary.elapsed_secs,
            summary
                .lag_at_end
                .map_or_else(|| "unknown".to_owned(), |lag| lag.to_string()),
            if summary.deleted_before_copy > 0 {
                format!(
                    "; {} record(s) were deleted on the source before they could be copied",
                    summary.deleted_before_copy
                )
            } else {
                String::new()
            },
            if summary.interrupted {
                "; interrupted, progress saved"
            } else {
                ""
            }
        )),
    }
    Ok(if summary.interrupted {
        ExitStatus::Interrupted
    } else {
        ExitStatus::Success
    })
}
