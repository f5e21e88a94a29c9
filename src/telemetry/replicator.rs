//! The replicator's metrics (`kcp_replicator_*`). The copy loop keeps its
//! own plain counters per partition and publishes them here once a second
//! through a [`PartitionMetrics`] handle per partition (atomics, no lock,
//! no label lookup); rare events (checkpoints, errors, throttle waits)
//! update the process-wide metrics directly.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::health::{Cluster, Health};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// Why a source record was not copied.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SkipReason {
    /// It came from the target (its provenance names the target): a cycle.
    cycle,
    /// Deleted on the source before it could be copied
    /// (`on_deleted_records: skip`).
    deleted,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkipLabels {
    topic: String,
    partition: i32,
    reason: SkipReason,
}

/// What went wrong, for `kcp_replicator_errors_total{kind}`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ErrorKind {
    /// A fetch from the source that librdkafka retries by itself (a broker
    /// down, a leader moving).
    source_retriable,
    /// The source's end offsets could not be read (lag unknown until the
    /// next read, every 2 s).
    end_offsets,
    /// A copy the target refused or did not confirm (the run stops, or
    /// starts over from the target's truth).
    produce,
    /// Reading the source failed for good (the run stops).
    consume,
    /// Writing the offset maps failed (the run stops).
    checkpoint,
    /// Anything else that stopped a run (set-up, checks, discovery).
    other,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: ErrorKind,
}

/// What the metadata sync changed, for
/// `kcp_replicator_metadata_sync_changes_total{kind}`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SyncKind {
    topic_config,
    acl,
    quota,
}

/// How a metadata sync change ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SyncOutcome {
    /// Set (a config) or created (a binding) on the target.
    applied,
    /// Deleted on the target (gone from the source).
    deleted,
    /// Refused by the target (reported once, not tried again).
    refused,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    kind: SyncKind,
    outcome: SyncOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

/// The replicator's metrics, shared by every run of the process (an
/// in-process restart, or `execute` starting the replicator again, keeps
/// counting).
#[derive(Debug)]
pub struct ReplicatorMetrics {
    pub health: Arc<Health>,
    copied_records: Family<PartitionLabels, Counter>,
    copied_bytes: Family<PartitionLabels, Counter>,
    skipped_records: Family<SkipLabels, Counter>,
    lag_records: Family<PartitionLabels, Gauge>,
    lag_seconds: Family<PartitionLabels, FloatGauge>,
    map_runs: Family<PartitionLabels, Gauge>,
    partitions: Gauge,
    in_flight: Gauge,
    errors: Family<ErrorLabels, Counter>,
    restarts: Counter,
    checkpoints: Counter,
    last_checkpoint: FloatGauge,
    throttle_wait: FloatCounter,
    backpressure_waits: Counter,
    last_poll: FloatGauge,
    cluster_up: Family<ClusterLabels, Gauge>,
    sync_changes: Family<SyncLabels, Counter>,
}

/// One partition's series, kept by the copy loop's slot. The lag series
/// exist only once the partition's end offset is known, and go away when
/// the partition is handed over (scale-out), so sums over processes count
/// each partition once.
#[derive(Debug)]
pub struct PartitionMetrics {
    labels: PartitionLabels,
    copied_records: Counter,
    copied_bytes: Counter,
    skipped: [Option<Counter>; 2],
    lag: Option<(Gauge, FloatGauge)>,
    map_runs: Option<Gauge>,
}

/// What the copy loop publishes for one partition: counts since the last
/// publication, and the partition's state now.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartitionSample {
    pub copied_records: u64,
    pub copied_bytes: u64,
    pub skipped_cycles: u64,
    pub skipped_deleted: u64,
    /// Records behind the source's end offset, when it is known.
    pub lag_records: Option<i64>,
    /// Age of the last record copied, in seconds (0 when caught up).
    pub lag_seconds: Option<f64>,
    /// Runs in its offset map (the partition's state: set while copied here).
    pub map_runs: Option<usize>,
}

impl ReplicatorMetrics {
    pub(super) fn register(registry: &mut Registry, health: Arc<Health>) -> Self {
        let m = ReplicatorMetrics {
            health,
            copied_records: Family::default(),
            copied_bytes: Family::default(),
            skipped_records: Family::default(),
            lag_records: Family::default(),
            lag_seconds: Family::default(),
            map_runs: Family::default(),
            partitions: Gauge::default(),
            in_flight: Gauge::default(),
            errors: Family::default(),
            restarts: Counter::default(),
            checkpoints: Counter::default(),
            last_checkpoint: FloatGauge::default(),
            throttle_wait: FloatCounter::default(),
            backpressure_waits: Counter::default(),
            last_poll: FloatGauge::default(),
            cluster_up: Family::default(),
            sync_changes: Family::default(),
        };
        // Every kind at 0 from the start, so that the first error is an
        // increase (`increase()`, alerts) rather than a new series.
        for kind in [
            ErrorKind::source_retriable,
            ErrorKind::end_offsets,
            ErrorKind::produce,
            ErrorKind::consume,
            ErrorKind::checkpoint,
            ErrorKind::other,
        ] {
            let _ = m.errors.get_or_create(&ErrorLabels { kind });
        }
        for kind in [SyncKind::topic_config, SyncKind::acl, SyncKind::quota] {
            for outcome in [
                SyncOutcome::applied,
                SyncOutcome::deleted,
                SyncOutcome::refused,
            ] {
                let _ = m.sync_changes.get_or_create(&SyncLabels { kind, outcome });
            }
        }
        let r = registry;
        r.register(
            "kcp_replicator_copied_records",
            "Records copied to the target and acknowledged by it",
            m.copied_records.clone(),
        );
        r.register_with_unit(
            "kcp_replicator_copied",
            "Bytes (keys and values) of the records copied to the target",
            Unit::Bytes,
            m.copied_bytes.clone(),
        );
        r.register(
            "kcp_replicator_skipped_records",
            "Source records not copied: reason=cycle (they came from the target), reason=deleted (deleted on the source before their copy, on_deleted_records: skip)",
            m.skipped_records.clone(),
        );
        r.register(
            "kcp_replicator_lag_records",
            "Records on the source not copied yet (source end offset minus next offset to copy)",
            m.lag_records.clone(),
        );
        r.register_with_unit(
            "kcp_replicator_lag",
            "Age of the last record copied (now minus its timestamp) while the partition has lag; 0 when caught up",
            Unit::Seconds,
            m.lag_seconds.clone(),
        );
        r.register(
            "kcp_replicator_offset_map_runs",
            "Runs (ranges of consecutive offsets) in the partition's offset map: the map's size",
            m.map_runs.clone(),
        );
        r.register(
            "kcp_replicator_partitions",
            "Source partitions this process copies now",
            m.partitions.clone(),
        );
        r.register(
            "kcp_replicator_in_flight_records",
            "Records sent to the target and not acknowledged yet",
            m.in_flight.clone(),
        );
        r.register(
            "kcp_replicator_errors",
            "Errors by kind: source_retriable, end_offsets (retried); produce, consume, checkpoint, other (stop a run)",
            m.errors.clone(),
        );
        r.register(
            "kcp_replicator_restarts",
            "In-process restarts from the target's truth after a delivery the target did not confirm",
            m.restarts.clone(),
        );
        r.register(
            "kcp_replicator_checkpoints",
            "Offset-map checkpoints that wrote maps to the target",
            m.checkpoints.clone(),
        );
        r.register(
            "kcp_replicator_last_checkpoint_timestamp_seconds",
            "Unix time of the last offset-map checkpoint pass (maps written, or none had changed)",
            m.last_checkpoint.clone(),
        );
        r.register_with_unit(
            "kcp_replicator_throttle_wait",
            "Time the copy loop slept to hold --max-bytes-per-sec",
            Unit::Seconds,
            m.throttle_wait.clone(),
        );
        r.register(
            "kcp_replicator_backpressure_waits",
            "Times a copy waited for room in the producer queue (the target is the bottleneck)",
            m.backpressure_waits.clone(),
        );
        r.register(
            "kcp_replicator_last_poll_timestamp_seconds",
            "Unix time the copy loop last went round (liveness)",
            m.last_poll.clone(),
        );
        r.register(
            "kcp_replicator_metadata_sync_changes",
            "Changes the metadata sync made on the target, by kind (topic_config, acl, quota) and outcome (applied, deleted, refused)",
            m.sync_changes.clone(),
        );
        r.register(
            "kcp_replicator_cluster_up",
            "1 when the cluster answers as far as the replicator knows, else 0 (readiness)",
            m.cluster_up.clone(),
        );
        m
    }

    /// A partition's handle: its counters, created at 0.
    pub fn partition(&self, topic: &str, partition: i32) -> PartitionMetrics {
        let labels = PartitionLabels {
            topic: topic.to_owned(),
            partition,
        };
        PartitionMetrics {
            copied_records: self.copied_records.get_or_create_owned(&labels),
            copied_bytes: self.copied_bytes.get_or_create_owned(&labels),
            skipped: [None, None],
            lag: None,
            map_runs: None,
            labels,
        }
    }

    /// Publishes a partition's sample.
    pub fn publish(&self, p: &mut PartitionMetrics, s: &PartitionSample) {
        p.copied_records.inc_by(s.copied_records);
        p.copied_bytes.inc_by(s.copied_bytes);
        for (i, (n, reason)) in [
            (s.skipped_cycles, SkipReason::cycle),
            (s.skipped_deleted, SkipReason::deleted),
        ]
        .into_iter()
        .enumerate()
        {
            if n > 0 {
                p.skipped[i]
                    .get_or_insert_with(|| {
                        self.skipped_records.get_or_create_owned(&SkipLabels {
                            topic: p.labels.topic.clone(),
                            partition: p.labels.partition,
                            reason,
                        })
                    })
                    .inc_by(n);
            }
        }
        if let Some(lag) = s.lag_records {
            let (records, seconds) = p.lag.get_or_insert_with(|| {
                (
                    self.lag_records.get_or_create_owned(&p.labels),
                    self.lag_seconds.get_or_create_owned(&p.labels),
                )
            });
            records.set(lag);
            seconds.set(s.lag_seconds.unwrap_or(f64::NAN));
        }
        if let Some(runs) = s.map_runs {
            p.map_runs
                .get_or_insert_with(|| self.map_runs.get_or_create_owned(&p.labels))
                .set(i64::try_from(runs).unwrap_or(i64::MAX));
        }
    }

    /// The partition is no longer copied by this process: its state series
    /// go (its counters stay).
    pub fn retire(&self, p: &mut PartitionMetrics) {
        if p.lag.take().is_some() {
            self.lag_records.remove(&p.labels);
            self.lag_seconds.remove(&p.labels);
        }
        if p.map_runs.take().is_some() {
            self.map_runs.remove(&p.labels);
        }
    }

    /// Process-wide state after a publication.
    pub fn set_totals(&self, partitions: u64, in_flight: u64) {
        self.partitions
            .set(i64::try_from(partitions).unwrap_or(i64::MAX));
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.health.set_partitions(partitions);
        self.health.beat();
    }

    /// The copy loop stopped: no partition is copied here any more.
    pub fn stopped(&self) {
        self.partitions.set(0);
        self.in_flight.set(0);
        self.health.copy_loop(false);
    }

    pub fn error(&self, kind: ErrorKind) {
        self.errors.get_or_create(&ErrorLabels { kind }).inc();
    }

    /// A change of the metadata sync.
    pub fn sync_change(&self, kind: SyncKind, outcome: SyncOutcome) {
        self.sync_changes
            .get_or_create(&SyncLabels { kind, outcome })
            .inc();
    }

    pub fn restart(&self) {
        self.restarts.inc();
    }

    /// A checkpoint pass ended at Unix time `now`, with every map on the
    /// target up to date; `wrote`: it had maps to write.
    pub fn checkpoint(&self, wrote: bool, now: f64) {
        if wrote {
            self.checkpoints.inc();
        }
        self.last_checkpoint.set(now);
    }

    pub fn throttled(&self, secs: f64) {
        self.throttle_wait.inc_by(secs);
    }

    pub fn backpressure(&self, waits: u64) {
        self.backpressure_waits.inc_by(waits);
    }

    /// Copies the health's state into its metrics (before an encoding).
    pub(super) fn refresh(&self) {
        if let Some(t) = self.health.last_beat() {
            self.last_poll.set(t);
        }
        for cluster in [Cluster::Source, Cluster::Target] {
            self.cluster_up
                .get_or_create(&ClusterLabels {
                    cluster: cluster.name(),
                })
                .set(i64::from(self.health.is_up(cluster)));
        }
    }
}
