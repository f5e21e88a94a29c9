//! Moving a consumer group to the target: its committed source offsets,
//! translated exactly through the offset maps, committed on the target
//! under the same group id, and read back to prove they landed.
//!
//! [`translate`] is pure and refuses to guess: every committed partition
//! must translate exactly (copied far enough, not before the copy began).
//! [`move_group`] does the I/O. The group must have no active members on
//! the target (its consumers start there only after this).

use crate::exit::{Diagnostic, ExitStatus};
use crate::replicator::Maps;
use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::consumer_last::{Across, Back, across};
use crate::connect::admin;
use crate::connect::{ClusterCredentials, ConnectOptions, Connection, connect};
use crate::replicator::{self, LoadedPlan, OffsetMap, ReplicatorError, Reverse, Translation};

/// One partition of a moved group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedOffset {
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    pub source_offset: i64,
    pub target_offset: i64,
}

/// Why a group could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Replicator(#[from] ReplicatorError),
    #[error("group `{group}` has no committed offsets on the source for the plan's topics")]
    NoOffsets { group: String },
    #[error(
        "group `{group}`: {topic}[{partition}] is committed at {committed} but only offsets below {copied_up_to} are copied yet"
    )]
    NotYetCopied {
        group: String,
        topic: String,
        partition: i32,
        committed: i64,
        copied_up_to: i64,
    },
    #[error(
        "group `{group}`: {topic}[{partition}] is committed at {committed}, before the first copied offset {first_copied} (the source had deleted those records when copying began)"
    )]
    BeforeStart {
        group: String,
        topic: String,
        partition: i32,
        committed: i64,
        first_copied: i64,
    },
    /// A committed offset inside a loose run of the map that was not
    /// placed on the target before translating (a bug: `Placer` does it).
    #[error(
        "group `{group}`: {topic}[{partition}] committed at {committed} lies between target offsets {dst_from} and {dst_to}, and was not placed exactly"
    )]
    NotPlaced {
        group: String,
        topic: String,
        partition: i32,
        committed: i64,
        dst_from: i64,
        dst_to: i64,
    },
    #[error(
        "group `{group}`: {topic}[{partition}] translates to target offset {offset}, below the target partition's log start {log_start} (the target already deleted those records)"
    )]
    BelowLogStart {
        group: String,
        topic: String,
        partition: i32,
        offset: i64,
        log_start: i64,
    },
    #[error("group `{group}`: committing on the target failed: {message}")]
    Commit { group: String, message: String },
    #[error(
        "group `{group}`: {topic}[{partition}] reads back as {found:?} on the target, not {expected}"
    )]
    Mismatch {
        group: String,
        topic: String,
        partition: i32,
        expected: i64,
        found: Option<i64>,
    },
    #[error(
        "group `{group}`: {topic}[{partition}] was committed at {before} on the source when its offsets were moved, and at {after:?} right after: a consumer of the group still commits on the source"
    )]
    StillCommitting {
        group: String,
        topic: String,
        partition: i32,
        before: i64,
        after: Option<i64>,
    },
}

impl Diagnostic for MoveError {
    fn status(&self) -> ExitStatus {
        ExitStatus::Failure
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            MoveError::NotYetCopied { .. } => "let the replicator catch up (kcp migrate status shows the lag), then move the group".into(),
            MoveError::BeforeStart { .. } => "the group is behind the source's retention: reset it to the earliest offset on the target by hand".into(),
            MoveError::BelowLogStart { topic, .. } => format!("the target's retention deleted records the group has not read yet: raise `retention.ms` / `retention.bytes` of `{topic}` on the target before copying, or accept the loss and reset the group there by hand (kafka-consumer-groups --reset-offsets --to-earliest)"),
            MoveError::Commit { .. } | MoveError::Mismatch { .. } => "stop the group's consumers on the target and move it again".into(),
            MoveError::StillCommitting { .. } => "find and stop the consumer (an assign() consumer has no group membership; `group_quiet_secs` waits for its commits to stop), then run the same command again: the move is repeated with the final positions".into(),
            _ => return None,
        })
    }
}

/// Translates a group's committed source offsets (`(topic, partition,
/// offset)`, topics of the plan only) into target offsets.
pub fn translate(
    group: &str,
    plan: &LoadedPlan,
    maps: &Maps,
    committed: &[(String, i32, i64)],
) -> Result<Vec<MovedOffset>, MoveError> {
    let empty = OffsetMap::default();
    committed
        .iter()
        .map(|(topic, partition, offset)| {
            let map = maps.get(&(topic.clone(), *partition)).unwrap_or(&empty);
            moved(
                group,
                plan,
                (topic, *partition, *offset),
                map.translate(*offset),
            )
        })
        .collect()
}

/// One committed offset's translation as a moved offset, or why not.
fn moved(
    group: &str,
    plan: &LoadedPlan,
    (topic, partition, offset): (&str, i32, i64),
    translation: Translation,
) -> Result<MovedOffset, MoveError> {
    let (group, topic) = (group.to_owned(), topic.to_owned());
    match translation {
        Translation::Exact(target_offset) => Ok(MovedOffset {
            target_topic: plan.target_topic(&topic),
            source_topic: topic,
            partition,
            source_offset: offset,
            target_offset,
        }),
        Translation::NotYetCopied { copied_up_to } => Err(MoveError::NotYetCopied {
            group,
            topic,
            partition,
            committed: offset,
            copied_up_to,
        }),
        Translation::Within { dst_from, dst_to } => Err(MoveError::NotPlaced {
            group,
            topic,
            partition,
            committed: offset,
            dst_from,
            dst_to,
        }),
        Translation::BeforeStart { first_copied } => Err(MoveError::BeforeStart {
            group,
            topic,
            partition,
            committed: offset,
            first_copied,
        }),
    }
}

/// Consumer-last: translates a group's committed source offsets across
/// the drain ([`consumer_last::across`]): through the forward maps up to
/// the drained end, through the copy back's maps past it.
fn translate_across(
    group: &str,
    plan: &LoadedPlan,
    back: &Back,
    (src, dst): (&Connection, &Connection),
    forward: &mut Maps,
    committed: &[(String, i32, i64)],
) -> Result<Vec<MovedOffset>, MoveError> {
    // Read before the copy back's maps, which are repaired from the
    // source up to at least these ends.
    let parts: Vec<(String, i32)> = committed.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let stable: HashMap<(String, i32), i64> =
        admin::list_offsets(src, &parts, admin::OffsetSpec::LastStable)
            .map_err(ReplicatorError::from)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect();
    let mut backs = replicator::offset_maps(&back.plan, dst, src)?;
    let forward_placer = replicator::Placer::new(plan, src, dst)?;
    let back_placer = replicator::Placer::new(&back.plan, dst, src)?;
    let mut out = Vec::new();
    for (topic, partition, offset) in committed {
        let key = (topic.clone(), *partition);
        let target_key = (plan.target_topic(topic), *partition);
        let stable_end = stable.get(&key).copied().unwrap_or(0);
        let fmap = forward.entry(key.clone()).or_default();
        let bmap = backs.get_mut(&target_key);
        let source_end = back.source_ends.get(&key).copied();
        let at = (topic.as_str(), *partition, *offset);
        let translation = match across(fmap, bmap.as_deref(), source_end, stable_end, *offset) {
            Across::Forward(_) => forward_placer.translate(fmap, topic, *partition, *offset)?,
            Across::Back(Reverse::Exact(target)) => Translation::Exact(target),
            Across::Back(Reverse::Within { .. }) => {
                let bmap = bmap.expect("a copy back's map answered");
                Translation::Exact(back_placer.reverse(bmap, &target_key.0, *partition, *offset)?)
            }
            Across::NotYetCopied { copied_up_to } => Translation::NotYetCopied { copied_up_to },
        };
        out.push(moved(group, plan, at, translation)?);
    }
    Ok(out)
}

/// Moves `group`: reads its committed offsets on the source, translates
/// them, commits them on the target and reads them back. `back`: the copy
/// back of a consumer-last migration, once it started (offsets past the
/// drain are records it copied to the source).
pub fn move_group(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    group: &str,
    timeout: Duration,
    back: Option<&Back>,
) -> Result<Vec<MovedOffset>, MoveError> {
    let src = connect(source, ConnectOptions { timeout }).map_err(ReplicatorError::from)?;
    let dst = connect(target, ConnectOptions { timeout }).map_err(ReplicatorError::from)?;
    move_group_on(plan, (&src, &dst), group, back, None)
}

/// [`move_group`] over connections already open (`migrate execute`'s).
/// `known`: the offset maps exactly as the target holds them, from the
/// replicator running in this process (its last checkpoint); used when
/// they cover every partition the group committed, else the maps are
/// read from the target.
pub fn move_group_on(
    plan: &LoadedPlan,
    (src, dst): (&Connection, &Connection),
    group: &str,
    back: Option<&Back>,
    known: Option<Maps>,
) -> Result<Vec<MovedOffset>, MoveError> {
    let mut laps = Laps::start();
    let committed = committed_on_source(src, plan, group)?;
    if committed.is_empty() {
        return Err(MoveError::NoOffsets {
            group: group.to_owned(),
        });
    }
    laps.lap("committed");
    let mut maps = match known {
        Some(maps) if covers(&maps, &committed) => maps,
        _ => {
            let maps = replicator::offset_maps(plan, src, dst)?;
            laps.lap("maps read");
            maps
        }
    };
    let moved = match back {
        Some(back) => translate_across(group, plan, back, (src, dst), &mut maps, &committed)?,
        None => {
            replicator::Placer::new(plan, src, dst)?.place_all(&mut maps, &committed)?;
            translate(group, plan, &maps, &committed)?
        }
    };
    laps.lap("place");

    let entries: Vec<(String, i32, i64)> = moved
        .iter()
        .map(|m| (m.target_topic.clone(), m.partition, m.target_offset))
        .collect();
    check_log_start(dst, group, &entries)?;
    let plan_topics: Vec<String> = maps.keys().map(|(t, _)| plan.target_topic(t)).collect();
    clear_stale(dst, group, &plan_topics, &entries)?;
    laps.lap("checks");
    commit_checked(dst, group, &entries)?;
    laps.lap("commit");
    still_committed(src, group, plan, &committed)?;
    laps.lap("recheck");
    tracing::debug!(group, laps = %laps, "group offsets moved");
    Ok(moved)
}

/// Whether `maps` has a map for every partition in `committed`.
fn covers(maps: &Maps, committed: &[(String, i32, i64)]) -> bool {
    committed
        .iter()
        .all(|(t, p, _)| maps.contains_key(&(t.clone(), *p)))
}

/// Where a move's (or a step's) time went, for `-vv`: `connect 120 ms,
/// maps 300 ms, …`.
pub(super) struct Laps {
    last: std::time::Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Laps {
    pub(super) fn start() -> Self {
        Laps {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }
    pub(super) fn lap(&mut self, what: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((what, now - self.last));
        self.last = now;
    }
}

impl std::fmt::Display for Laps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (what, took)) in self.laps.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{what} {} ms", took.as_millis())?;
        }
        Ok(())
    }
}

/// `group`'s committed offsets on the source, in the plan's topics:
/// `(topic, partition, offset)`.
fn committed_on_source(
    src: &Connection,
    plan: &LoadedPlan,
    group: &str,
) -> Result<Vec<(String, i32, i64)>, MoveError> {
    Ok(admin::list_group_offsets(src, &[group.to_owned()])
        .pop()
        .expect("one result per group")
        .map_err(ReplicatorError::from)?
        .into_iter()
        .filter(|o| plan.selects(&o.topic))
        .filter_map(|o| Some((o.topic, o.partition, o.offset.ok().filter(|c| *c >= 0)?)))
        .collect())
}

/// Refuses a move the source's group outran: a consumer that still commits
/// there (one the hooks or the membership check missed, such as an
/// `assign()` consumer between two commits) would read on the source what
/// the target copy of the group will read again, or leave records behind.
/// Moving again once it has stopped commits the new positions.
fn still_committed(
    src: &Connection,
    group: &str,
    plan: &LoadedPlan,
    moved: &[(String, i32, i64)],
) -> Result<(), MoveError> {
    let now: HashMap<(String, i32), i64> = committed_on_source(src, plan, group)?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
    for (topic, partition, before) in moved {
        let after = now.get(&(topic.clone(), *partition)).copied();
        if after != Some(*before) {
            return Err(MoveError::StillCommitting {
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                before: *before,
                after,
            });
        }
    }
    Ok(())
}

/// Refuses a position the target no longer holds: committing it would let
/// the consumers' reset policy skip or re-read silently.
fn check_log_start(
    dst: &Connection,
    group: &str,
    entries: &[(String, i32, i64)],
) -> Result<(), MoveError> {
    let parts: Vec<(String, i32)> = entries.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let starts: HashMap<(String, i32), i64> =
        admin::list_offsets(dst, &parts, admin::OffsetSpec::Earliest)
            .map_err(ReplicatorError::from)?
            .into_iter()
            .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
            .collect();
    for (topic, partition, offset) in entries {
        if let Some(&log_start) = starts.get(&(topic.clone(), *partition))
            && *offset < log_start
        {
            return Err(MoveError::BelowLogStart {
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
                log_start,
            });
        }
    }
    Ok(())
}

/// Deletes the group's target offsets on the plan's topics that the move
/// does not set (left by a rehearsal): on those partitions its consumers
/// start as they would on the source, by their reset policy.
fn clear_stale(
    dst: &Connection,
    group: &str,
    plan_topics: &[String],
    entries: &[(String, i32, i64)],
) -> Result<(), MoveError> {
    let setting: std::collections::HashSet<(&str, i32)> =
        entries.iter().map(|(t, p, _)| (t.as_str(), *p)).collect();
    let stale: Vec<(String, i32)> = admin::list_group_offsets(dst, &[group.to_owned()])
        .pop()
        .expect("one result per group")
        .map_err(ReplicatorError::from)?
        .into_iter()
        .filter(|o| o.offset.as_ref().is_ok_and(|c| *c >= 0))
        .filter(|o| plan_topics.contains(&o.topic))
        .filter(|o| !setting.contains(&(o.topic.as_str(), o.partition)))
        .map(|o| (o.topic, o.partition))
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    tracing::info!(
        group,
        ?stale,
        "clearing target offsets the source group has not committed"
    );
    admin::delete_group_offsets(dst, group, &stale).map_err(|e| MoveError::Commit {
        group: group.to_owned(),
        message: format!("clearing offsets left on the target: {e}"),
    })
}

/// Commits `entries` (topic, partition, offset) for `group` on the cluster
/// of `conn` and reads them back.
fn commit_checked(
    conn: &Connection,
    group: &str,
    entries: &[(String, i32, i64)],
) -> Result<(), MoveError> {
    let commit_err = |e: rdkafka::error::KafkaError| MoveError::Commit {
        group: group.to_owned(),
        message: e.to_string(),
    };
    let committer = replicator::consumer(
        conn.credentials(),
        &[("group.id", group), ("enable.auto.commit", "false")],
    )?;
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in entries {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(commit_err)?;
    }
    committer
        .commit(&list, CommitMode::Sync)
        .map_err(commit_err)?;
    let landed: HashMap<(String, i32), i64> = admin::list_group_offsets(conn, &[group.to_owned()])
        .pop()
        .expect("one result per group")
        .map_err(ReplicatorError::from)?
        .into_iter()
        .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
        .collect();
    for (topic, partition, offset) in entries {
        let found = landed.get(&(topic.clone(), *partition)).copied();
        if found != Some(*offset) {
            return Err(MoveError::Mismatch {
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                expected: *offset,
                found,
            });
        }
    }
    Ok(())
}

/// Moves `group` back to the source (rollback): its committed target
/// offsets, translated back through the offset maps, committed on the
/// source and read back. A group with nothing committed on the target keeps
/// its source offsets (empty result).
pub fn move_group_back(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    group: &str,
    timeout: Duration,
) -> Result<Vec<MovedOffset>, MoveError> {
    let src = connect(source, ConnectOptions { timeout }).map_err(ReplicatorError::from)?;
    let dst = connect(target, ConnectOptions { timeout }).map_err(ReplicatorError::from)?;
    let mut maps = replicator::offset_maps(plan, &src, &dst)?;
    let source_of: HashMap<(String, i32), String> = maps
        .keys()
        .map(|(t, p)| ((plan.target_topic(t), *p), t.clone()))
        .collect();
    let placer = replicator::Placer::new(plan, &src, &dst)?;
    let mut moved = Vec::new();
    for o in admin::list_group_offsets(&dst, &[group.to_owned()])
        .pop()
        .expect("one result per group")
        .map_err(ReplicatorError::from)?
    {
        let Some(offset) = o.offset.ok().filter(|c| *c >= 0) else {
            continue;
        };
        let Some(source_topic) = source_of.get(&(o.topic.clone(), o.partition)) else {
            continue;
        };
        let map = maps
            .get_mut(&(source_topic.clone(), o.partition))
            .expect("a map per plan partition");
        moved.push(MovedOffset {
            source_offset: placer.reverse(map, source_topic, o.partition, offset)?,
            source_topic: source_topic.clone(),
            target_topic: o.topic,
            partition: o.partition,
            target_offset: offset,
        });
    }
    let entries: Vec<(String, i32, i64)> = moved
        .iter()
        .map(|m| (m.source_topic.clone(), m.partition, m.source_offset))
        .collect();
    if !entries.is_empty() {
        commit_checked(&src, group, &entries)?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The replicator's maps stand in for the target's only when they
    /// cover every partition the group committed: a replicator scaled
    /// out holds only its own partitions.
    #[test]
    fn known_maps_are_used_only_when_they_cover_every_committed_partition() {
        let maps: Maps = [(("orders".into(), 0), OffsetMap::default())]
            .into_iter()
            .collect();
        assert!(covers(&maps, &[("orders".into(), 0, 5)]));
        assert!(!covers(
            &maps,
            &[("orders".into(), 0, 5), ("orders".into(), 1, 3)]
        ));
        assert!(covers(&maps, &[]));
    }

    #[test]
    fn refuses_to_guess() {
        let plan = LoadedPlan::parse(
            Path::new("p.yaml"),
            "version: 1\nname: p\ncredentials_file: c.yaml\nsource: a\ntarget: b\ntopics: { rename: { prefix: 'dc1.' } }\n",
        )
        .unwrap();
        let mut map = OffsetMap::default();
        map.start_at(10, 0);
        map.record_run(10, 0, 20);
        map.advance_source(30);
        let maps = HashMap::from([(("orders".to_owned(), 0), map)]);
        let ok = translate("g", &plan, &maps, &[("orders".into(), 0, 15)]).unwrap();
        assert_eq!(ok[0].target_topic, "dc1.orders");
        assert_eq!(ok[0].target_offset, 5);
        let e = translate("g", &plan, &maps, &[("orders".into(), 0, 31)]).unwrap_err();
        assert!(
            matches!(
                e,
                MoveError::NotYetCopied {
                    copied_up_to: 30,
                    ..
                }
            ),
            "{e}"
        );
        let e = translate("g", &plan, &maps, &[("orders".into(), 0, 3)]).unwrap_err();
        assert!(
            matches!(
                e,
                MoveError::BeforeStart {
                    first_copied: 10,
                    ..
                }
            ),
            "{e}"
        );
        let e = translate("g", &plan, &maps, &[("orders".into(), 1, 0)]);
        assert!(
            e.is_ok(),
            "an empty partition's offset 0 translates to 0: {e:?}"
        );
    }
}
