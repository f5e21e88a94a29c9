//! What a run reports: periodic [`Stats`] and notices through an
//! [`Observer`], and the closing [`Summary`].

use std::time::Instant;

use serde::Serialize;

use super::map_store::Maps;
use super::slot::Slot;
use crate::telemetry::{PartitionMetrics, PartitionSample, ReplicatorMetrics};

/// Per-partition progress.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionStats {
    pub topic: String,
    pub partition: i32,
    /// Next source offset to copy.
    pub position: i64,
    pub high_watermark: i64,
    pub lag: i64,
    pub copied: u64,
    /// Age of the last copied record (now minus its timestamp), in ms.
    pub record_age_ms: Option<i64>,
}

/// A stats sample.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub elapsed_secs: f64,
    pub copied: u64,
    pub bytes: u64,
    pub skipped_cycles: u64,
    pub records_per_sec: f64,
    pub bytes_per_sec: f64,
    pub lag: i64,
    /// Every partition's source end offset has been read at least once
    /// (until then `lag` undercounts).
    pub watermarks_known: bool,
    pub partitions: Vec<PartitionStats>,
}

/// Receives stats and notices (progress bars or JSON lines in the CLI).
pub trait Observer: Sync {
    fn stats(&self, stats: &Stats);
    fn notice(&self, message: &str);
    /// Something the operator should act on (a change the target
    /// refused); a notice unless the observer tells them apart.
    fn warning(&self, message: &str) {
        self.notice(message);
    }
    /// True once each time the observer wants the copy checkpointed now
    /// rather than at the next interval (a cutover step waiting for the
    /// map to cover a consumer group's committed offsets). Asked after
    /// every record: keep it a load of an atomic.
    fn checkpoint_wanted(&self) -> bool {
        false
    }
    /// True when the observer wants the offset maps of the next
    /// checkpoint (`maps`). Asked once per checkpoint.
    fn maps_wanted(&self) -> bool {
        false
    }
    /// The offset maps of the active partitions as the checkpoint just
    /// made left them: exactly what the target holds (every copy they
    /// name is delivered and, under transactions, committed), so a cutover
    /// step can translate offsets without reading the maps back from the
    /// target. Called before `checkpointed`, only when `maps_wanted`.
    fn maps(&self, _maps: Maps) {}
    /// True once each time the observer wants stats now rather than at
    /// the next interval (a drain while producers wait). Asked after every
    /// record: keep it a load of an atomic.
    fn stats_wanted(&self) -> bool {
        false
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Records copied (since the last in-process restart, if any).
    pub copied: u64,
    pub bytes: u64,
    pub skipped_cycles: u64,
    /// Records deleted on the source before they could be copied (only
    /// with `on_deleted_records: skip`; otherwise the run stops).
    pub deleted_before_copy: u64,
    /// Records on the source not copied yet when the run ended, from the
    /// last read of the source's latest offsets; `None` when a partition's
    /// latest offset was never read.
    pub lag_at_end: Option<u64>,
    pub partitions: usize,
    pub caught_up: bool,
    pub interrupted: bool,
    pub elapsed_secs: f64,
}

/// A stats sample of the active slots.
pub(super) fn sample(
    slots: &[Slot],
    started: Instant,
    copied: u64,
    bytes: u64,
    skipped: u64,
    rps: f64,
    bps: f64,
) -> Stats {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let partitions: Vec<PartitionStats> = slots
        .iter()
        .filter(|s| s.active)
        .map(|s| PartitionStats {
            topic: s.topic.clone(),
            partition: s.partition,
            position: s.map.src_end,
            high_watermark: s.high_watermark.unwrap_or(0),
            lag: s.high_watermark.map_or(0, |hw| (hw - s.map.src_end).max(0)),
            copied: s.copied,
            record_age_ms: s.last_timestamp.map(|t| now_ms - t),
        })
        .collect();
    Stats {
        elapsed_secs: started.elapsed().as_secs_f64(),
        copied,
        bytes,
        skipped_cycles: skipped,
        records_per_sec: rps,
        bytes_per_sec: bps,
        lag: partitions.iter().map(|p| p.lag).sum(),
        watermarks_known: slots.iter().any(|s| s.active)
            && slots
                .iter()
                .filter(|s| s.active)
                .all(|s| s.high_watermark.is_some()),
        partitions,
    }
}

/// A slot's Prometheus series, and how much of its counts is published.
pub(super) struct SlotMeter {
    handle: PartitionMetrics,
    copied: u64,
    bytes: u64,
    skipped: u64,
    deleted: u64,
}

/// Publishes every slot's counts since the last call and its state now
/// (once a second, and when a run ends); a partition no longer copied here
/// loses its state series. `now_ms`: Unix time in milliseconds.
pub(super) fn publish(metrics: &ReplicatorMetrics, slots: &mut [Slot], now_ms: i64) {
    let (mut partitions, mut in_flight) = (0u64, 0u64);
    for s in slots.iter_mut() {
        let meter = s.meter.get_or_insert_with(|| SlotMeter {
            handle: metrics.partition(&s.topic, s.partition),
            copied: 0,
            bytes: 0,
            skipped: 0,
            deleted: 0,
        });
        let mut sample = PartitionSample {
            copied_records: s.copied - meter.copied,
            copied_bytes: s.bytes - meter.bytes,
            skipped_cycles: s.skipped - meter.skipped,
            skipped_deleted: s.deleted - meter.deleted,
            ..PartitionSample::default()
        };
        (meter.copied, meter.bytes, meter.skipped, meter.deleted) =
            (s.copied, s.bytes, s.skipped, s.deleted);
        if s.active {
            partitions += 1;
            in_flight += s.in_flight;
            let lag = s.high_watermark.map(|hw| (hw - s.map.src_end).max(0));
            sample.lag_records = lag;
            sample.lag_seconds = match lag {
                Some(0) => Some(0.0),
                Some(_) => s
                    .last_timestamp
                    .map(|t| (now_ms - t).max(0) as f64 / 1000.0),
                None => None,
            };
            sample.map_runs = Some(s.map.runs.len());
            metrics.publish(&mut meter.handle, &sample);
        } else {
            metrics.publish(&mut meter.handle, &sample);
            metrics.retire(&mut meter.handle);
        }
    }
    metrics.set_totals(partitions, in_flight);
}
