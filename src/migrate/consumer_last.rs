//! Consumer-last migrations: waves that move after the producers
//! (`after_producers: true`), and the copy back that keeps them fed.
//!
//! When the producers move, the forward copy has been drained and stopped,
//! and nothing writes to the source any more (`producers/drain` checked
//! it). So each partition of the source holds its own records up to the
//! drained end `E`, and the target holds their copies followed by what the
//! moved producers write. From `producers/start` until the last
//! consumer-last wave moved, a second replicator runs the other way (plan
//! [`LoadedPlan::reversed`]: from the target's end at `reverse/start`, its
//! offset maps on the source) and appends those records, in order, to the
//! source after `E`; the copies of the source's own records carry its
//! provenance and are never copied back.
//!
//! A group committed at source offset `X` then translates exactly
//! ([`across`]): at or below `E` through the forward maps, as always;
//! above `E`, `X` lies among the copies back, and the copy back's map read
//! backwards (target offsets to source offsets) gives the target offset of
//! the first record the group has not read.
//!
//! This holds while only kcp writes to the source after the drain: every
//! producer of a topic moves in the producer step. `reverse/start` refuses
//! to begin when the source grew since the drain (and marks the drain to
//! do again: the next run copies what was written, drains, and comes back
//! here), and a committed offset past what the copy back wrote waits for
//! it (never guessed).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::execute::{Ends, ExecuteError, Run};
use super::run_state::MigrationState;
use crate::connect::admin::{self, OffsetSpec};
use crate::replicator::{self, LoadedPlan, OffsetMap, ReplicatorError, Reverse, Translation};

/// Where the copy back of one partition starts, recorded by
/// `reverse/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    pub topic: String,
    pub partition: i32,
    /// The source's end after the drain: offsets above it are copies back.
    pub source_end: i64,
    /// The target's end then: the first record the moved producers write
    /// lands here, and the copy back starts here.
    pub target_start: i64,
}

/// The copy back as the offset move needs it: its plan and each source
/// partition's drained end.
#[derive(Debug, Clone)]
pub struct Back {
    pub plan: LoadedPlan,
    pub source_ends: HashMap<(String, i32), i64>,
}

impl Back {
    /// The copy back `reverse/start` recorded in the migration state;
    /// `None` before it ran (no consumer-last wave, or not that far yet).
    pub fn recorded(
        plan: &LoadedPlan,
        state: &MigrationState,
    ) -> Result<Option<Back>, ExecuteError> {
        let Some(done) = state.done_step("reverse/start") else {
            return Ok(None);
        };
        let boundaries: Vec<Boundary> = serde_json::from_value(done.detail["boundaries"].clone())
            .map_err(|_| missing("reverse/start"))?;
        Back::new(plan, &boundaries).map(Some)
    }

    /// From the boundaries `reverse/start` recorded.
    pub fn new(plan: &LoadedPlan, boundaries: &[Boundary]) -> Result<Self, ExecuteError> {
        let mut topics: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
        for b in boundaries {
            topics
                .entry(plan.target_topic(&b.topic))
                .or_default()
                .insert(b.partition, b.target_start);
        }
        let plan = plan
            .reversed(&topics)
            .map_err(|e| ReplicatorError::Setup(e.to_string()))?;
        Ok(Back {
            plan,
            source_ends: boundaries
                .iter()
                .map(|b| ((b.topic.clone(), b.partition), b.source_end))
                .collect(),
        })
    }
}

/// Where a committed source offset of a consumer-last group lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Across {
    /// At or below the drained end: the forward map's answer.
    Forward(Translation),
    /// Among the copies back: the copy back's map read backwards gives
    /// the target offset (its "source" offset).
    Back(Reverse),
    /// Past what the copy back has written (or checkpointed) yet.
    NotYetCopied { copied_up_to: i64 },
}

/// Translates `committed` on a partition drained at `source_end` (`None`:
/// no copy back, a wave that moved before the producers), through the
/// forward map and the copy back's map (`back`, keyed by the target's
/// offsets, landing on the source's). `stable_end` is the source
/// partition's last stable offset read before `back` was loaded (and
/// repaired from the source's provenance headers up to at least there).
/// Pure.
pub fn across(
    forward: &OffsetMap,
    back: Option<&OffsetMap>,
    source_end: Option<i64>,
    stable_end: i64,
    committed: i64,
) -> Across {
    let Some(end) = source_end.filter(|end| committed > *end) else {
        return Across::Forward(forward.translate(committed));
    };
    let Some(back) = back else {
        return Across::NotYetCopied { copied_up_to: end };
    };
    if committed <= back.dst_end {
        return Across::Back(back.reverse(committed));
    }
    // Past the last copy back, yet within what the source holds: only the
    // copy back's transaction markers lie there (nothing else writes to
    // the source, and `back` holds every copy below `stable_end`). The
    // group read every copy back.
    if committed <= stable_end {
        return Across::Back(back.reverse(back.dst_end));
    }
    Across::NotYetCopied {
        copied_up_to: back.dst_end,
    }
}

impl Run<'_, '_> {
    /// `reverse/start`: checks that the source has not grown since the
    /// drain and records where the copy back starts.
    pub(super) fn start_reverse(&mut self) -> Result<Value, ExecuteError> {
        // A plan given `after_producers` once the producers had moved: what
        // they wrote to the target since is on no source partition.
        if self.state.is_done("producers/start") {
            return Err(ExecuteError::ProducersMovedFirst);
        }
        let drained = self.drained_ends()?;
        let plan = self.cx.plan;
        let (src, dst) = self.conns()?;
        let parts = replicator::source_partitions(src, plan)?;
        let now: Ends = admin::list_offsets(src, &parts, replicator::copy_end(plan))
            .map_err(ReplicatorError::from)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect();
        let grown = super::actions::written_after(&drained, &now);
        if !grown.is_empty() {
            // Not copied, and past the drained end the copy back's
            // translation would take them for its own: drain again once the
            // writer is stopped (the next run does, then starts here).
            self.state.done.retain(|d| d.id != "producers/drain");
            self.save()?;
            return Err(ExecuteError::WrittenAfterDrain(grown));
        }
        let target_parts: Vec<(String, i32)> = parts
            .iter()
            .map(|(t, p)| (plan.target_topic(t), *p))
            .collect();
        let target_ends: HashMap<(String, i32), i64> =
            admin::list_offsets(dst, &target_parts, OffsetSpec::Latest)
                .map_err(ReplicatorError::from)?
                .into_iter()
                .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
                .collect();
        let boundaries: Vec<Boundary> = parts
            .into_iter()
            .map(|(topic, partition)| Boundary {
                source_end: now.get(&(topic.clone(), partition)).copied().unwrap_or(0),
                target_start: target_ends
                    .get(&(plan.target_topic(&topic), partition))
                    .copied()
                    .unwrap_or(0),
                topic,
                partition,
            })
            .collect();
        // The copy back must be able to run: its plan is checked now.
        Back::new(plan, &boundaries)?;
        Ok(json!({ "boundaries": boundaries }))
    }

    /// The source ends the drain waited for.
    fn drained_ends(&self) -> Result<Ends, ExecuteError> {
        let detail = self
            .state
            .done_step("producers/drain")
            .map(|d| d.detail.clone())
            .unwrap_or_default();
        let ends: Vec<DrainedEnd> =
            serde_json::from_value(detail["source_ends"].clone()).unwrap_or_default();
        if ends.is_empty() {
            return Err(missing("producers/drain"));
        }
        Ok(ends
            .into_iter()
            .map(|e| ((e.topic, e.partition), e.end))
            .collect())
    }

    /// The copy back, from what `reverse/start` recorded; `None` before it
    /// ran (no consumer-last wave, or not that far yet).
    pub(super) fn copy_back(&self) -> Result<Option<Back>, ExecuteError> {
        Back::recorded(self.cx.plan, &self.state)
    }

    /// The copy back's plan (for its thread).
    pub(super) fn back_plan(&self) -> Result<LoadedPlan, ExecuteError> {
        Ok(self
            .copy_back()?
            .ok_or_else(|| missing("reverse/start"))?
            .plan)
    }

    /// `reverse/stop`: every wave reads the target; the copy back stops.
    pub(super) fn stop_reverse(&mut self) -> Result<Value, ExecuteError> {
        let summary = self.stop_back()?;
        Ok(json!({ "copied_back_this_run": summary.map(|s| s.copied) }))
    }
}

#[derive(Deserialize)]
struct DrainedEnd {
    topic: String,
    partition: i32,
    end: i64,
}

fn missing(step: &str) -> ExecuteError {
    ExecuteError::Replicator(ReplicatorError::Setup(format!(
        "the migration-state file lacks what step `{step}` recorded; it was written by another kcp or edited"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The source held 0..100 and was drained at 100; the target holds
    /// their copies at 0..100 (forward map), then the moved producers'
    /// records from 100 on. The copy back started at target offset 100 and
    /// wrote target 100..130 to source 100..130, then (after a marker of
    /// its transaction at source 130) target 130..140 to source 131..141.
    fn maps() -> (OffsetMap, OffsetMap) {
        let mut forward = OffsetMap::default();
        forward.start_at(0, 0);
        forward.record_run(0, 0, 100);
        let mut back = OffsetMap::default();
        back.start_at(100, 100);
        back.record_run(100, 100, 30);
        back.record_run(130, 131, 10);
        (forward, back)
    }

    /// [`across`], with a loose run of the copy back placed as
    /// `Placer::reverse` does from the source's provenance headers (the
    /// copies back as (target offset, source offset) pairs).
    fn placed(forward: &OffsetMap, back: &OffsetMap, stable_end: i64, committed: i64) -> Across {
        let copies: Vec<(i64, i64)> = (100..130)
            .map(|t| (t, t))
            .chain((130..140).map(|t| (t, t + 1)))
            .collect();
        match across(forward, Some(back), Some(100), stable_end, committed) {
            Across::Back(Reverse::Within {
                dst_from,
                dst_to,
                src_to,
            }) => {
                let first = copies
                    .iter()
                    .find(|(_, d)| (dst_from..dst_to).contains(d))
                    .map_or(src_to, |(t, _)| *t);
                Across::Back(Reverse::Exact(first))
            }
            other => other,
        }
    }

    #[test]
    fn offsets_up_to_the_drain_translate_forward() {
        let (forward, back) = maps();
        for (committed, target) in [(0, 0), (42, 42), (100, 100)] {
            assert_eq!(
                across(&forward, Some(&back), Some(100), 141, committed),
                Across::Forward(Translation::Exact(target)),
                "{committed}"
            );
        }
        // A wave that moved before the producers: no copy back at all.
        assert_eq!(
            across(&forward, None, None, 100, 100),
            Across::Forward(Translation::Exact(100))
        );
    }

    /// Past the drained end, the group read records that came back from
    /// the target: it resumes on the target right after the last of them,
    /// whose origin is the target (no provenance from the source).
    #[test]
    fn offsets_past_the_drain_translate_through_the_copy_back() {
        let (forward, back) = maps();
        let t = |stable_end, committed| placed(&forward, &back, stable_end, committed);
        let exact = |target| Across::Back(Reverse::Exact(target));
        // Read one copy back (source 100 = target 100): resume at 101.
        assert_eq!(t(141, 101), exact(101));
        assert_eq!(t(141, 130), exact(130));
        // Source 130 is the copy back's transaction marker: the next copy
        // is target 130's (at source 131).
        assert_eq!(t(141, 131), exact(130));
        assert_eq!(t(141, 135), exact(134));
        // Everything copied back read: resume after the last, at 140.
        assert_eq!(t(141, 141), exact(140));
        // Its position past the closing marker at 141: the same.
        assert_eq!(t(142, 142), exact(140));
        // Past what the source holds: wait for the copy back.
        assert_eq!(t(141, 142), Across::NotYetCopied { copied_up_to: 141 });
        // A copy back that has not started (or checkpointed) yet.
        assert_eq!(
            across(&forward, None, Some(100), 141, 101),
            Across::NotYetCopied { copied_up_to: 100 }
        );
    }

    /// Whether a group stopped at the boundary commits it from the forward
    /// side (read all of the source's own records) or the copy back has
    /// begun without having written anything, it resumes at the first
    /// record the moved producers wrote.
    #[test]
    fn the_boundary_itself_is_the_first_moved_record() {
        let (forward, _) = maps();
        let mut empty_back = OffsetMap::default();
        empty_back.start_at(100, 100);
        assert_eq!(
            across(&forward, Some(&empty_back), Some(100), 100, 100),
            Across::Forward(Translation::Exact(100))
        );
        assert_eq!(
            across(&forward, Some(&empty_back), Some(100), 100, 101),
            Across::NotYetCopied { copied_up_to: 100 }
        );
        // The copy back's first transaction was only a marker (at 100).
        assert_eq!(
            across(&forward, Some(&empty_back), Some(100), 101, 101),
            Across::Back(Reverse::Exact(100))
        );
    }

    /// The copy back is rebuilt after a crash from what `reverse/start`
    /// recorded: its plan (renamed topics start where recorded) and the
    /// drained ends.
    #[test]
    fn the_copy_back_comes_back_from_the_migration_state() {
        use crate::migrate::run_state::DoneStep;
        use crate::migrate::steps::Phase;
        use crate::replicator::start::Start;
        let plan = LoadedPlan::parse(
            std::path::Path::new("p.yaml"),
            "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\ntopics: { rename: { prefix: 'new.' } }\ncutover:\n  waves:\n    - { name: w, groups: [g], after_producers: true }\n",
        )
        .unwrap();
        let now = chrono::Utc::now();
        let mut state = MigrationState::new("p", "a", "b", now);
        assert!(Back::recorded(&plan, &state).unwrap().is_none());
        let boundaries = vec![Boundary {
            topic: "orders".into(),
            partition: 1,
            source_end: 20,
            target_start: 26,
        }];
        state.done.push(DoneStep {
            id: "reverse/start".into(),
            phase: Phase::ProducerCutover,
            started_at: now,
            finished_at: now,
            detail: json!({ "boundaries": boundaries }),
        });
        let back = Back::recorded(&plan, &state).unwrap().unwrap();
        assert_eq!(back.plan.plan.name, "p.reverse");
        assert_eq!(
            (
                back.plan.plan.source.as_str(),
                back.plan.plan.target.as_str()
            ),
            ("b", "a")
        );
        assert_eq!(back.plan.start_for("new.orders", 1), Start::Offset(26));
        assert_eq!(back.plan.target_topic("new.orders"), "orders");
        assert_eq!(back.source_ends[&("orders".to_owned(), 1)], 20);
        state.done[0].detail = json!({});
        assert!(
            Back::recorded(&plan, &state).is_err(),
            "a detail that lost its boundaries"
        );
    }
}
