//! Running kcp in production: Prometheus metrics and health of `kcp
//! migrate replicate` and `kcp migrate execute`, served on an opt-in HTTP
//! listener (`--metrics-addr`).
//!
//! - [`Telemetry`]: the registry (prometheus-client) with the metrics of one
//!   command, and its [`Health`].
//! - [`ReplicatorMetrics`] (`kcp_replicator_*`): published by the copy loop
//!   once a second, never per record; see `replicator.rs`.
//! - [`MigrationMetrics`] (`kcp_migration_*`): set by `execute` at each step.
//! - [`Health`]: liveness (the copy loop goes round) and readiness (copying,
//!   both clusters answer, partitions assigned).
//! - [`serve`]: the listener (`/metrics`, `/healthz`, `/readyz`).
//!
//! Every metric is listed in docs/metrics.md (a test keeps the two equal).
//! The replicator and the cutover know these types only as optional
//! handles: without `--metrics-addr` nothing is registered or updated.

mod health;
mod migration;
mod replicator;
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use health::{Cluster, Health, Report};
pub use migration::{HookOutcome, MigrationMetrics, Progress};
pub use replicator::{
    ErrorKind, PartitionMetrics, PartitionSample, ReplicatorMetrics, SyncKind, SyncOutcome,
};
pub use server::{Listener, ServeError, serve};

/// The `Content-Type` of the Prometheus text format (0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Which command's metrics to register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `kcp migrate replicate`: the replicator's metrics.
    Replicate,
    /// `kcp migrate execute`: the cutover's and the replicator's.
    Execute,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    librdkafka: String,
    command: String,
}

/// The metrics and health of one command.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    pub health: Arc<Health>,
    replicator: Arc<ReplicatorMetrics>,
    migration: Option<Arc<MigrationMetrics>>,
    /// `/metrics` requests served.
    scrapes: AtomicU64,
}

impl Telemetry {
    /// `plan`: the plan's name, a `plan` label on every series (so that one
    /// Prometheus can watch several migrations); `liveness_bound`: how long
    /// the copy loop may go without a round before `/healthz` fails.
    pub fn new(command: Command, plan: &str, liveness_bound: Duration) -> Self {
        let health = Arc::new(Health::new(liveness_bound));
        let mut registry =
            Registry::with_labels(std::iter::once(("plan".into(), plan.to_owned().into())));
        registry.register(
            "kcp_build",
            "The kcp build: version, librdkafka version and the command running",
            Info::new(BuildLabels {
                version: crate::VERSION.to_owned(),
                librdkafka: rdkafka::util::get_rdkafka_version().1,
                command: match command {
                    Command::Replicate => "migrate replicate",
                    Command::Execute => "migrate execute",
                }
                .to_owned(),
            }),
        );
        let start: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
        start.set(health.start_time());
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            start,
        );
        let replicator = Arc::new(ReplicatorMetrics::register(&mut registry, health.clone()));
        let migration = (command == Command::Execute)
            .then(|| Arc::new(MigrationMetrics::register(&mut registry)));
        if command == Command::Replicate {
            health.expect_copying(true);
        }
        Telemetry {
            registry,
            health,
            replicator,
            migration,
            scrapes: AtomicU64::new(0),
        }
    }

    /// Waits until `/metrics` has been served once more than when called
    /// (so that Prometheus sees the last state of a run that failed), at
    /// most `limit` or until `stop` is set. Whether it was.
    pub fn await_scrape(&self, limit: Duration, stop: &AtomicBool) -> bool {
        let before = self.scrapes.load(Ordering::Relaxed);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            if self.scrapes.load(Ordering::Relaxed) > before {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The replicator's metrics.
    pub fn replicator(&self) -> Arc<ReplicatorMetrics> {
        self.replicator.clone()
    }

    /// The cutover's metrics (`execute` only).
    pub fn migration(&self) -> Option<Arc<MigrationMetrics>> {
        self.migration.clone()
    }

    /// Every metric, in the Prometheus text format (a scrape).
    pub fn encode(&self) -> String {
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.replicator.refresh();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn partitions_publish_counts_and_lag_and_retire_their_state() {
        let t = Telemetry::new(Command::Replicate, "p", Duration::from_secs(60));
        let m = t.replicator();
        let mut p = m.partition("orders", 2);
        m.publish(
            &mut p,
            &PartitionSample {
                copied_records: 10,
                copied_bytes: 1000,
                skipped_cycles: 2,
                lag_records: Some(5),
                lag_seconds: Some(1.5),
                map_runs: Some(1),
                ..PartitionSample::default()
            },
        );
        m.publish(
            &mut p,
            &PartitionSample {
                copied_records: 5,
                copied_bytes: 500,
                lag_records: Some(0),
                lag_seconds: Some(0.0),
                map_runs: Some(1),
                ..PartitionSample::default()
            },
        );
        let text = t.encode();
        let labels = r#"{plan="p",topic="orders",partition="2"}"#;
        assert_eq!(
            sample(
                &text,
                &format!("kcp_replicator_copied_records_total{labels}")
            ),
            Some(15.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, &format!("kcp_replicator_copied_bytes_total{labels}")),
            Some(1500.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"kcp_replicator_skipped_records_total{plan="p",topic="orders",partition="2",reason="cycle"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, &format!("kcp_replicator_lag_records{labels}")),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, &format!("kcp_replicator_lag_seconds{labels}")),
            Some(0.0)
        );
        assert!(text.contains("# TYPE kcp_replicator_copied_records_total counter"));
        assert!(text.contains("kcp_build_info{"), "{text}");
        assert!(text.contains("process_start_time_seconds "), "{text}");
        assert!(!text.contains("kcp_migration_"), "replicate has no cutover");

        m.retire(&mut p);
        let text = t.encode();
        assert_eq!(
            sample(&text, &format!("kcp_replicator_lag_records{labels}")),
            None,
            "a handed-over partition has no lag here"
        );
        assert_eq!(
            sample(
                &text,
                &format!("kcp_replicator_copied_records_total{labels}")
            ),
            Some(15.0),
            "counters stay"
        );
    }

    #[test]
    fn the_current_step_is_the_only_step_series() {
        let t = Telemetry::new(Command::Execute, "p", Duration::from_secs(60));
        let m = t.migration().unwrap();
        m.step_started("preflight", "preflight", 1.0);
        m.step_started("prepare-target", "prepare-target", 2.0);
        let text = t.encode();
        assert!(
            text.contains(
                r#"kcp_migration_current_step{plan="p",step="prepare-target",phase="prepare-target"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains(r#"step="preflight""#), "{text}");
        m.hook("producers/stop", HookOutcome::failed, 2.5);
        m.no_step();
        let text = t.encode();
        assert!(!text.contains("kcp_migration_current_step{plan"), "{text}");
        assert!(
            text.contains(
                r#"kcp_migration_hook_runs_total{plan="p",step="producers/stop",outcome="failed"} 1"#
            ),
            "{text}"
        );
    }
}
