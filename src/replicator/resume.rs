//! Where each partition resumes: its offset map, loaded from the map topic
//! and repaired from the provenance headers of what the target really
//! holds, begun at the source's log start when new. The same rule serves a
//! first start, a restart after a crash, a scale-out hand-over and the
//! translation of committed offsets.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;

use super::ReplicatorError;
use super::clients::{cluster_id, consumer};
use super::deleted;
use super::join;
use super::map_store;
use super::map_store::Maps;
use super::offset_map::{OffsetMap, TopicIds};
use super::plan::{LoadedPlan, OnDeleted};
use super::provenance::Provenance;
use super::start::Start;
use super::target::source_topics;
use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{Connection, KcpContext};

/// A partition ready to be copied: where it resumes.
pub(super) struct Resumed {
    pub(super) topic: String,
    pub(super) target_topic: String,
    pub(super) partition: i32,
    pub(super) map: OffsetMap,
    /// Records deleted on the source before they were copied, skipped as
    /// the plan allows (`on_deleted_records: skip`).
    pub(super) deleted: u64,
}

/// Where each of `wanted` (source topic, partition) resumes: its map,
/// loaded from `maps` and repaired from the provenance on the target, begun
/// at the source's log start if new. Records retention deleted before they
/// were copied stop the run, or are skipped and counted when the plan says
/// `on_deleted_records: skip`. Notices go to `notice`.
#[allow(clippy::too_many_arguments)]
pub(super) fn resume_maps(
    src: &Connection,
    dst: &Connection,
    plan: &LoadedPlan,
    reader: &BaseConsumer<KcpContext>,
    src_id: &str,
    maps: &mut Maps,
    wanted: &[(String, i32)],
    timeout: Duration,
    notice: &mut dyn FnMut(String),
) -> Result<Vec<Resumed>, ReplicatorError> {
    // The source's log starts are read meanwhile, on a thread: over a long
    // link each source request is a round trip.
    let (earliest, targets, ids) = std::thread::scope(|scope| {
        let earliest = scope.spawn(|| admin::list_offsets(src, wanted, OffsetSpec::Earliest));
        let targets = target_ends(dst, plan, wanted)?;
        let ids = TopicIdsNow::read(src, dst, &targets);
        let earliest = join(earliest)?;
        Ok::<_, ReplicatorError>((earliest, targets, ids))
    })?;
    screen(maps, &targets, &ids, notice)?;
    let repaired = map_store::repair(reader, src_id, &targets, maps, &|t| plan.merges(t), timeout)?;
    if repaired.found > 0 {
        notice(format!(
            "resumed: {} copied records found on the target past the last checkpoint",
            repaired.found
        ));
    }
    let earliest_of: HashMap<(String, i32), i64> = earliest
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
        .collect();
    refuse_holes(src, dst, plan, &repaired.jumps, &earliest_of, timeout)?;
    let new: Vec<(String, i32)> = targets
        .iter()
        .filter(|(t, _, p, _)| {
            maps.get(&(t.clone(), *p))
                .is_none_or(|m| m.src_start.is_none())
        })
        .map(|(t, _, p, _)| (t.clone(), *p))
        .collect();
    let starts = start_offsets(src, plan, &new, &earliest_of)?;
    let mut out = Vec::new();
    let mut lost = Vec::new();
    for (topic, target_topic, partition, hw) in targets {
        let mut map = maps.remove(&(topic.clone(), partition)).unwrap_or_default();
        let key = (topic.clone(), partition);
        let start = starts
            .get(&key)
            .or_else(|| earliest_of.get(&key))
            .copied()
            .unwrap_or(0);
        map.start_at(start, hw);
        map.topic_ids = ids.of(&topic, &target_topic);
        let gone = deleted::find([(topic.as_str(), partition, map.src_end)], &earliest_of);
        let mut deleted = 0;
        for range in gone {
            if plan.plan.replication.on_deleted_records == OnDeleted::Stop {
                lost.push(range);
                continue;
            }
            notice(deleted::skipping(&range));
            deleted += range.count();
            map.advance_source(range.to);
        }
        out.push(Resumed {
            topic,
            target_topic,
            partition,
            map,
            deleted,
        });
    }
    if !lost.is_empty() {
        return Err(ReplicatorError::RecordsDeleted(lost));
    }
    Ok(out)
}

/// Refuses to resume when the copies on the target skip source records:
/// a jump in the source offsets that the copies name is a gap on the
/// source (transaction markers, aborted or compacted records, records that
/// came from the target) or a hole another writer left (records lost by a
/// tool without kcp's gapless producer). Only the source tells them apart:
/// each partition's jumps are read there, and a record in one that kcp
/// would have copied stops the run rather than resume past it.
fn refuse_holes(
    src: &Connection,
    dst: &Connection,
    plan: &LoadedPlan,
    jumps: &[map_store::Jump],
    log_start: &HashMap<(String, i32), i64>,
    timeout: Duration,
) -> Result<(), ReplicatorError> {
    // Records retention already deleted are no one's to copy.
    let jumps: Vec<&map_store::Jump> = jumps
        .iter()
        .filter(|j| {
            j.to > log_start
                .get(&(j.topic.clone(), j.partition))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    if jumps.is_empty() {
        return Ok(());
    }
    let mut span: HashMap<(String, i32), (i64, i64)> = HashMap::new();
    for j in &jumps {
        let start = log_start
            .get(&(j.topic.clone(), j.partition))
            .copied()
            .unwrap_or(0);
        let e = span
            .entry((j.topic.clone(), j.partition))
            .or_insert((j.from.max(start), j.to));
        *e = (e.0.min(j.from.max(start)), e.1.max(j.to));
    }
    let ranges: Vec<(String, i32, i64, i64)> = span
        .into_iter()
        .map(|((t, p), (from, to))| (t, p, from, to))
        .collect();
    let dst_id = cluster_id(dst)?;
    let isolation = if plan.plan.replication.read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let group = format!("{}.holes", super::copier::replicator_group(plan));
    let reader = consumer(
        src.credentials(),
        &[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("isolation.level", isolation),
        ],
    )?;
    let mut holes: HashMap<usize, u64> = HashMap::new();
    super::ranges::read_ranges(
        &reader,
        &ranges,
        timeout,
        |topic, partition, offset, _, _, headers| {
            let from_target = Provenance::names(
                headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
                &dst_id,
            );
            let inside = jumps.iter().position(|j| {
                j.topic == topic && j.partition == partition && (j.from..j.to).contains(&offset)
            });
            if let (false, Some(i)) = (from_target, inside) {
                *holes.entry(i).or_default() += 1;
            }
        },
    )?;
    match holes.into_iter().min_by_key(|(i, _)| *i) {
        None => Ok(()),
        Some((i, records)) => {
            let j = jumps[i];
            Err(ReplicatorError::HoleOnTarget {
                topic: j.topic.clone(),
                target_topic: plan.target_topic(&j.topic),
                partition: j.partition,
                from: j.from,
                to: j.to,
                records,
            })
        }
    }
}

/// (source topic, target topic, partition, target end) of each of
/// `wanted`: the target's last stable offsets.
fn target_ends(
    dst: &Connection,
    plan: &LoadedPlan,
    wanted: &[(String, i32)],
) -> Result<Vec<(String, String, i32, i64)>, ReplicatorError> {
    let target_parts: Vec<(String, i32)> = wanted
        .iter()
        .map(|(t, p)| (plan.target_topic(t), *p))
        .collect();
    let hw_of: HashMap<(String, i32), i64> =
        admin::list_offsets(dst, &target_parts, OffsetSpec::LastStable)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect();
    Ok(wanted
        .iter()
        .map(|(t, p)| {
            let dst_topic = plan.target_topic(t);
            let hw = hw_of.get(&(dst_topic.clone(), *p)).copied().unwrap_or(0);
            (t.clone(), dst_topic, *p, hw)
        })
        .collect())
}

/// The topic ids of the source and target topics now; a topic whose id
/// is unknown (not created yet, a cluster without ids, a failed call) is
/// absent, and its maps are checked by their claims alone.
struct TopicIdsNow {
    source: HashMap<String, String>,
    target: HashMap<String, String>,
}

impl TopicIdsNow {
    /// Reads the ids of the topics of `targets` (source topic, target
    /// topic, partition, target end).
    fn read(src: &Connection, dst: &Connection, targets: &[(String, String, i32, i64)]) -> Self {
        let names = |pick: fn(&(String, String, i32, i64)) -> &String| -> Vec<String> {
            let set: HashSet<&String> = targets.iter().map(pick).collect();
            set.into_iter().cloned().collect()
        };
        let ids = |conn: &Connection, topics: Vec<String>| {
            admin::topic_ids(conn, &topics).unwrap_or_else(|e| {
                tracing::debug!("topic ids unknown: {e}");
                HashMap::new()
            })
        };
        // Both clusters at once: each is a round trip.
        std::thread::scope(|scope| {
            let source = scope.spawn(|| ids(src, names(|t| &t.0)));
            let target = ids(dst, names(|t| &t.1));
            TopicIdsNow {
                source: join(source),
                target,
            }
        })
    }

    /// The ids a map of `topic` copied to `target_topic` is written with.
    fn of(&self, topic: &str, target_topic: &str) -> Option<TopicIds> {
        Some(TopicIds {
            source: self.source.get(topic)?.clone(),
            target: self.target.get(target_topic)?.clone(),
        })
    }
}

/// Drops the maps that are not about the target topics as they are now, so
/// they are rebuilt from the provenance the target really holds: a map
/// claiming more copies than its target partition holds, or written for a
/// target topic since deleted and created again (another topic id). A map
/// written for a source topic since deleted and created again stops the
/// run: its copy on the target is of the old topic.
fn screen(
    maps: &mut Maps,
    targets: &[(String, String, i32, i64)],
    ids: &TopicIdsNow,
    notice: &mut dyn FnMut(String),
) -> Result<(), ReplicatorError> {
    for (topic, dst_topic, partition, hw) in targets {
        let key = (topic.clone(), *partition);
        let Some(map) = maps.get(&key) else {
            continue;
        };
        let was = map.topic_ids.as_ref();
        let why = if was.is_some_and(|w| {
            ids.target
                .get(dst_topic)
                .is_some_and(|now| *now != w.target)
        }) {
            format!("was written for another `{dst_topic}` (deleted and re-created since)")
        } else if map.dst_end > *hw {
            format!(
                "claims {} record(s) copied to `{dst_topic}-{partition}`, which holds {hw} (re-created?)",
                map.dst_end
            )
        } else {
            if let Some((was, now)) = was
                .zip(ids.source.get(topic))
                .filter(|(w, now)| w.source != **now)
            {
                return Err(ReplicatorError::SourceRecreated {
                    topic: topic.clone(),
                    target_topic: dst_topic.clone(),
                    was: was.source.clone(),
                    now: now.clone(),
                });
            }
            continue;
        };
        notice(format!(
            "the offset map of `{topic}-{partition}` {why}: rebuilding it from the target"
        ));
        maps.remove(&key);
    }
    Ok(())
}

/// Where each partition without a map starts, by the plan's start rules
/// (`start_from`, `start_overrides`): its log start, its end, the first
/// record at or after a time, or an explicit offset. An offset past the end
/// is refused; one below the log start is found by the deleted-records
/// check like any other.
fn start_offsets(
    src: &Connection,
    plan: &LoadedPlan,
    new: &[(String, i32)],
    log_start: &HashMap<(String, i32), i64>,
) -> Result<HashMap<(String, i32), i64>, ReplicatorError> {
    if new.is_empty() || plan.starts_at_earliest() {
        return Ok(HashMap::new());
    }
    let lookup = |spec: OffsetSpec| -> Result<HashMap<(String, i32), i64>, ReplicatorError> {
        Ok(admin::list_offsets(src, new, spec)?
            .into_iter()
            .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
            .collect())
    };
    let end = lookup(super::slot::copy_end(plan))?;
    let mut by_time: HashMap<i64, HashMap<(String, i32), i64>> = HashMap::new();
    let mut out = HashMap::new();
    for key in new {
        let end_of = end.get(key).copied().unwrap_or(0);
        let start = match plan.start_for(&key.0, key.1) {
            Start::Earliest => log_start.get(key).copied().unwrap_or(0),
            Start::Latest => end_of,
            Start::Timestamp(ms) => {
                let at = match by_time.entry(ms) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(lookup(OffsetSpec::Timestamp(ms))?)
                    }
                };
                // No record at or after the time: start at the end.
                at.get(key)
                    .copied()
                    .filter(|o| *o >= 0)
                    .map_or(end_of, |o| o.min(end_of))
            }
            Start::Offset(offset) if offset > end_of => {
                return Err(ReplicatorError::StartPastEnd {
                    topic: key.0.clone(),
                    partition: key.1,
                    offset,
                    end: end_of,
                });
            }
            Start::Offset(offset) => offset,
        };
        out.insert(key.clone(), start);
    }
    Ok(out)
}

/// Loads the offset maps of every selected source partition, repaired from
/// the provenance on the target: what any process needs to translate a
/// group's committed offsets exactly. Read-only on both clusters; uses the
/// callers' connections (and the target connection's timeout).
pub fn offset_maps(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
) -> Result<Maps, ReplicatorError> {
    let (target, timeout) = (dst.credentials(), dst.timeout());
    let src_id = cluster_id(src)?;
    let topics = source_topics(src, plan)?;
    let map_topic = &plan.plan.replication.offset_map_topic;
    let md = dst.fetch_metadata(Some(map_topic))?;
    let map_parts: Vec<(String, i32)> = md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| (map_topic.clone(), p.id())))
        .collect();
    let watermarks: Vec<(i32, i64)> = admin::list_offsets(dst, &map_parts, OffsetSpec::LastStable)?
        .into_iter()
        .map(|o| (o.partition, o.offset.unwrap_or(0)))
        .collect();
    let group = format!("{}.reader", super::copier::replicator_group(plan));
    let reader = consumer(
        target,
        &[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            // Ranges end at the high watermark: a fetch there finds nothing
            // new, and the default 500 ms wait delays each range's end.
            ("fetch.wait.max.ms", "20"),
        ],
    )?;
    let dst_id = cluster_id(dst)?;
    let target_topic = |t: &str| plan.target_topic(t);
    let scope = map_store::Scope {
        source_cluster: &src_id,
        target_cluster: &dst_id,
        target_topic: &target_topic,
    };
    let mut maps = map_store::load(&reader, map_topic, &watermarks, &scope, timeout)?;
    // Target partitions that exist (before the first copy, none may).
    let on_target: HashSet<(String, i32)> = dst
        .fetch_metadata(None)?
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| (t.name().to_owned(), p.id())))
        .collect();
    let parts: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (plan.target_topic(t), p)))
        .filter(|key| on_target.contains(key))
        .collect();
    let hw: HashMap<(String, i32), i64> = admin::list_offsets(dst, &parts, OffsetSpec::LastStable)?
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
        .collect();
    let targets: Vec<(String, String, i32, i64)> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
        .map(|(t, p)| {
            let dst_topic = plan.target_topic(&t);
            let h = hw.get(&(dst_topic.clone(), p)).copied().unwrap_or(0);
            (t, dst_topic, p, h)
        })
        .collect();
    let ids = TopicIdsNow::read(src, dst, &targets);
    screen(&mut maps, &targets, &ids, &mut |n| tracing::warn!("{n}"))?;
    map_store::repair(
        &reader,
        &src_id,
        &targets,
        &mut maps,
        &|t| plan.merges(t),
        timeout,
    )?;
    Ok(maps)
}
