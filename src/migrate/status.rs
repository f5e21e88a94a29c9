//! `kcp migrate status`: how far a migration has come, read live from both
//! clusters: per-topic copy lag from the offset maps on the target, and per
//! consumer group whether its committed offsets can be translated exactly
//! yet and whether it has moved (committed on the target).
//!
//! [`sample`] talks to the clusters; [`Status::rate`] and the rest are pure.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::consumer_last::{Across, Back, across};
use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{ClusterCredentials, ConnectOptions, connect};
use crate::replicator::Maps;
use crate::replicator::{self, LoadedPlan, OffsetMap, ReplicatorError, Translation};

/// One reading of a migration.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub plan: String,
    /// What is on the target, from the copy alone (see [`copy_phase`]); the
    /// cutover phases appear here once `migrate execute` records them.
    pub phase: String,
    pub topics: Vec<TopicStatus>,
    /// Records on the source not yet on the target, all topics.
    pub lag: i64,
    /// Records copied so far, all topics.
    pub copied: i64,
    pub groups: Vec<GroupStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicStatus {
    pub topic: String,
    pub partitions: usize,
    pub source_end: i64,
    pub copied: i64,
    pub lag: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    pub group: String,
    pub wave: Option<String>,
    /// Committed partitions whose offsets translate exactly now.
    pub translatable: usize,
    pub committed_partitions: usize,
    /// Whether the group has committed offsets on the target.
    pub on_target: bool,
}

/// Copied records and lag of one partition from its map and the source end.
fn partition_progress(map: Option<&OffsetMap>, source_start: i64, source_end: i64) -> (i64, i64) {
    match map {
        Some(m) => {
            let from = m.src_start.unwrap_or(source_start);
            let done = m.src_end.clamp(from, source_end.max(from));
            (done - from, (source_end - m.src_end).max(0))
        }
        None => (0, (source_end - source_start).max(0)),
    }
}

impl Status {
    /// Records per second between two readings.
    pub fn rate(earlier: &Status, later: &Status, elapsed: Duration) -> f64 {
        let secs = elapsed.as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        (later.copied - earlier.copied).max(0) as f64 / secs
    }
}

/// Reads the migration's progress from both clusters. `back`: the copy
/// back of a consumer-last migration, once it started: the source's records
/// past the drain came back from the target (not lag), and a group
/// committed there translates through the copy back's maps.
pub fn sample(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    timeout: Duration,
    back: Option<&Back>,
) -> Result<Status, ReplicatorError> {
    let src = connect(source, ConnectOptions { timeout })?;
    let dst = connect(target, ConnectOptions { timeout })?;
    let maps: Maps = replicator::offset_maps(plan, &src, &dst)?;
    let backs: Maps = match back {
        Some(b) => replicator::offset_maps(&b.plan, &dst, &src)?,
        None => HashMap::new(),
    };
    let drained = |key: &(String, i32)| back.and_then(|b| b.source_ends.get(key).copied());
    let parts = replicator::source_partitions(&src, plan)?;
    let offsets = |spec| -> Result<HashMap<(String, i32), i64>, ReplicatorError> {
        Ok(admin::list_offsets(&src, &parts, spec)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect())
    };
    let (starts, mut ends) = (
        offsets(OffsetSpec::Earliest)?,
        offsets(replicator::copy_end(plan))?,
    );
    // Past the drain, the source holds what came back from the target.
    let stable = ends.clone();
    for (key, end) in ends.iter_mut() {
        if let Some(drained) = drained(key) {
            *end = (*end).min(drained);
        }
    }
    let mut topics: BTreeMap<String, TopicStatus> = BTreeMap::new();
    for (topic, partition) in &parts {
        let key = (topic.clone(), *partition);
        let (copied, lag) = partition_progress(
            maps.get(&key),
            starts.get(&key).copied().unwrap_or(0),
            ends.get(&key).copied().unwrap_or(0),
        );
        let t = topics.entry(topic.clone()).or_insert_with(|| TopicStatus {
            topic: topic.clone(),
            partitions: 0,
            source_end: 0,
            copied: 0,
            lag: 0,
        });
        t.partitions += 1;
        t.source_end += ends.get(&key).copied().unwrap_or(0);
        t.copied += copied;
        t.lag += lag;
    }
    // Groups of the plan's cutover waves.
    let mut wave_of: Vec<(String, String)> = Vec::new();
    if let Some(cutover) = &plan.plan.cutover {
        for w in &cutover.waves {
            wave_of.extend(w.groups.iter().map(|g| (g.clone(), w.name.clone())));
        }
    }
    let names: Vec<String> = wave_of.iter().map(|(g, _)| g.clone()).collect();
    let on_source = admin::list_group_offsets(&src, &names);
    let on_target = admin::list_group_offsets(&dst, &names);
    let groups = wave_of
        .iter()
        .zip(on_source.into_iter().zip(on_target))
        .map(|((group, wave), (s, t))| {
            let committed: Vec<_> = s
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| Some((o.topic, o.partition, o.offset.ok().filter(|c| *c >= 0)?)))
                .filter(|(topic, _, _)| plan.selects(topic))
                .collect();
            let translatable = committed
                .iter()
                .filter(|(topic, p, c)| {
                    let key = (topic.clone(), *p);
                    let back_map = backs.get(&(plan.target_topic(topic), *p));
                    let stable_end = stable.get(&key).copied().unwrap_or(0);
                    maps.get(&key).is_some_and(|m| {
                        matches!(
                            across(m, back_map, drained(&key), stable_end, *c),
                            Across::Forward(Translation::Exact(_) | Translation::Within { .. })
                                | Across::Back(_)
                        )
                    })
                })
                .count();
            GroupStatus {
                group: group.clone(),
                wave: Some(wave.clone()),
                translatable,
                committed_partitions: committed.len(),
                on_target: t
                    .unwrap_or_default()
                    .iter()
                    .any(|o| o.offset.as_ref().is_ok_and(|c| *c >= 0)),
            }
        })
        .collect();
    let topics: Vec<TopicStatus> = topics.into_values().collect();
    let copied = topics.iter().map(|t| t.copied).sum();
    let lag = topics.iter().map(|t| t.lag).sum();
    Ok(Status {
        plan: plan.plan.name.clone(),
        phase: copy_phase(copied, lag).to_owned(),
        lag,
        copied,
        topics,
        groups,
    })
}

/// `not started`, `partly copied` or `copied` (nothing left to copy when
/// read). Whether a replicator runs is not known here (it is another
/// process, and by default in no group), so no phase claims it.
fn copy_phase(copied: i64, lag: i64) -> &'static str {
    match (copied, lag) {
        (0, _) => "not started",
        (_, 0) => "copied",
        _ => "partly copied",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_from_where_copying_began() {
        let mut m = OffsetMap::default();
        m.start_at(100, 0);
        m.record_run(100, 0, 50);
        m.advance_source(150);
        assert_eq!(partition_progress(Some(&m), 100, 180), (50, 30));
        assert_eq!(partition_progress(None, 10, 25), (0, 15));
        let status = |copied| Status {
            plan: String::new(),
            phase: String::new(),
            topics: Vec::new(),
            lag: 0,
            copied,
            groups: Vec::new(),
        };
        assert_eq!(
            Status::rate(&status(10), &status(30), Duration::from_secs(2)),
            10.0
        );
    }

    #[test]
    fn the_copy_phase_claims_no_running_replicator() {
        assert_eq!(copy_phase(0, 90), "not started");
        assert_eq!(copy_phase(40, 50), "partly copied");
        assert_eq!(copy_phase(90, 0), "copied");
    }
}
