//! The body of each cutover step: what `kcp migrate execute` does at
//! preflight, target preparation, backfill, catch-up, each wave's stop,
//! offsets and start, the producers' stop, drain and start, verification
//! and finish. The state machine that orders them is in [`super::execute`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::execute::{Ends, ExecuteError, Run, Wait};
use super::fence;
use super::hooks::{self, HookEnv, HookError};
use super::members::{self, Members};
use super::offsets::{self, Laps, MoveError};
use super::replicating::Shared;
use super::run_report::report;
use super::run_state::{self, DoneStep, RunStateError};
use super::steps::{Action, Step};
use super::verify;
use crate::connect::Connection;
use crate::connect::admin::{self, OffsetSpec};
use crate::replicator::Maps;
use crate::replicator::{self, LoadedPlan, ReplicatorError, Stats};
use crate::telemetry::HookOutcome;

impl Run<'_, '_> {
    /// Runs one step's body; its result is stored with the done step.
    pub(super) fn run_step(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        match step.action {
            Action::Preflight => self.preflight(),
            Action::PrepareTarget => self.prepare_target(),
            Action::Backfill => self.backfill(step),
            Action::CatchUp => self.catch_up(step),
            Action::StopConsumers(i) if self.gateway_mode() => {
                let groups = self.cutover().waves[i].groups.clone();
                self.gateway_hold_groups(step, &groups)
            }
            Action::StartConsumers(i) if self.gateway_mode() => {
                let groups = self.cutover().waves[i].groups.clone();
                self.gateway_route_groups(&groups, crate::gateway::Route::Target)
            }
            Action::StopProducers if self.gateway_mode() => self.gateway_hold_producers(step),
            Action::StartProducers if self.gateway_mode() => {
                self.gateway_route_producers(crate::gateway::Route::Target)
            }
            Action::StopConsumers(i) => self.stop_consumers(step, i),
            Action::MoveOffsets(i) => self.move_offsets(step, i),
            Action::StartConsumers(i) => self.start_consumers(step, i),
            Action::CopySchemas => self.copy_schemas(),
            Action::StopSinks => self.stop_sinks(step),
            Action::MoveSinkOffsets => self.move_sink_offsets(step),
            Action::StartSinks => self.start_sinks(),
            Action::StopSources => self.stop_sources(),
            Action::StartSources => self.start_sources(),
            Action::StopProducers => self.stop_producers(step),
            Action::Drain => self.drain(step),
            Action::StartReverse => self.start_reverse(),
            Action::StartProducers => self.start_producers(step),
            Action::StopReverse => self.stop_reverse(),
            Action::Verify => self.verify(),
            Action::Finish => self.finish(step),
        }
    }

    /// Creates the missing target topics and the offset-map topic.
    fn prepare_target(&mut self) -> Result<Value, ExecuteError> {
        let shared = Shared::default();
        let plan = self.cx.plan;
        let (src, dst) = self.conns()?;
        replicator::prepare(plan, src, dst, &shared)?;
        self.forward(&shared);
        Ok(Value::Null)
    }

    /// Waits until the replicator has copied the backlog down to the lag threshold.
    fn backfill(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        self.wait(step, None, |run| {
            let Some(s) = run.stats() else {
                return Ok(Wait::Pending("starting the replicator".into()));
            };
            if s.watermarks_known && s.lag <= c.lag_threshold_records {
                return Ok(Wait::Done(json!({ "copied": s.copied, "lag": s.lag })));
            }
            Ok(Wait::Pending(progress_line(&s)))
        })
    }

    /// Waits until the lag stays at or under the threshold for `lag_sustain_secs`.
    fn catch_up(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        let mut below_since: Option<Instant> = None;
        let sustain = Duration::from_secs(c.lag_sustain_secs);
        self.wait(step, None, |run| {
            let Some(s) = run.stats() else {
                return Ok(Wait::Pending("starting the replicator".into()));
            };
            if s.watermarks_known && s.lag <= c.lag_threshold_records {
                let since = *below_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= sustain {
                    return Ok(Wait::Done(json!({ "lag": s.lag })));
                }
            } else {
                below_since = None;
            }
            Ok(Wait::Pending(format!(
                "{}; lag must stay at or under {} for {} s",
                progress_line(&s),
                c.lag_threshold_records,
                c.lag_sustain_secs
            )))
        })
    }

    /// Stops a wave's consumers (hook or operator) and waits until they have left.
    fn stop_consumers(&mut self, step: &Step, i: usize) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        let wave = &c.waves[i];
        match &wave.stop_consumers {
            Some(cmd) => self.hook(step, cmd, "forward", "source", &wave.groups)?,
            None => self.cx.operator.notice(&format!(
                "stop the consumers of {} on `{}` now; kcp waits until they have left",
                wave.groups.join(", "),
                self.cx.plan.plan.source
            )),
        }
        self.wait_no_members(step, &wave.groups, true)?;
        Ok(Value::Null)
    }

    /// Moves a wave's groups' committed offsets to the target, exactly.
    fn move_offsets(&mut self, step: &Step, i: usize) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        let wave = &c.waves[i];
        let mut moved = serde_json::Map::new();
        let mut laps = Laps::start();
        // The consumers have stopped: their last commits are final, and
        // the replicator's maps after a checkpoint now cover them (as
        // long as it has copied that far).
        let maps = self.checkpointed_maps(Duration::from_secs(2));
        laps.lap("checkpoint");
        for group in &wave.groups {
            let offsets = self.move_group_waiting(step, group, maps.clone())?;
            moved.insert(
                group.clone(),
                serde_json::to_value(&offsets).unwrap_or_default(),
            );
        }
        laps.lap("moved");
        tracing::debug!(wave = %wave.name, laps = %laps, "wave's offsets moved");
        Ok(Value::Object(moved))
    }

    /// Moves one group's committed offsets to the target, waiting while
    /// the replicator has not copied up to them yet. `maps`: the
    /// replicator's maps at a checkpoint just made, for the first try;
    /// each later try asks for newer ones (or, with no replicator here,
    /// reads them from the target).
    pub(super) fn move_group_waiting(
        &mut self,
        step: &Step,
        group: &str,
        mut maps: Option<Maps>,
    ) -> Result<Vec<offsets::MovedOffset>, ExecuteError> {
        let back = self.copy_back()?;
        // In gateway mode the wave's clients are parked meanwhile.
        let every = if self.gateway_mode() {
            super::gateway::POLL
        } else {
            Duration::from_millis(250)
        };
        let offsets = self.wait_every(step, None, every, |run| {
            let plan = run.cx.plan;
            let known = maps
                .take()
                .or_else(|| run.checkpointed_maps(Duration::from_secs(2)));
            match offsets::move_group_on(plan, run.conns()?, group, back.as_ref(), known) {
                Ok(m) => Ok(Wait::Done(m)),
                Err(e @ MoveError::NotYetCopied { .. }) => {
                    run.back_checkpoint_soon();
                    Ok(Wait::Pending(format!("{e}; waiting for the replicator")))
                }
                Err(e) => Err(e.into()),
            }
        })?;
        self.cx.operator.notice(&format!(
            "group `{group}`: {} partition offset(s) committed on `{}` and read back",
            offsets.len(),
            self.cx.plan.plan.target
        ));
        Ok(offsets)
    }

    /// Starts a wave's consumers against the target.
    fn start_consumers(&mut self, step: &Step, i: usize) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        let wave = &c.waves[i];
        match &wave.start_consumers {
            Some(cmd) => self.hook(step, cmd, "forward", "target", &wave.groups)?,
            None => self.cx.operator.notice(&format!(
                "start the consumers of {} against `{}` now: their offsets are in place",
                wave.groups.join(", "),
                self.cx.plan.plan.target
            )),
        }
        Ok(Value::Null)
    }

    /// Stops the producers and waits until no source partition grows.
    fn stop_producers(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        match &c.stop_producers {
                Some(cmd) => self.hook(step, cmd, "forward", "source", &[])?,
                None => self.cx.operator.notice(&format!(
                    "stop the producers writing to `{}` now; kcp waits until no partition grows for {} s",
                    self.cx.plan.plan.source, c.producer_quiet_secs
                )),
            }
        if let Some(fence) = &c.fence_producers {
            self.fence_producers(&fence.principals)?;
        }
        let ends = self.wait_source_quiet(step, c.producer_quiet_secs)?;
        Ok(json!({ "source_ends": ends_to_json(&ends) }))
    }

    /// Denies the producers Write on the plan's source topics: `principals`,
    /// or every principal an ALLOW ACL lets write to them. Each binding is
    /// recorded in the migration state before it is created, so that a
    /// rollback after a crash deletes it too.
    fn fence_producers(&mut self, principals: &[String]) -> Result<(), ExecuteError> {
        let plan = self.cx.plan;
        let (src, _) = self.conns()?;
        let topics: Vec<String> = replicator::source_partitions(src, plan)?
            .into_iter()
            .map(|(t, _)| t)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let existing = admin::describe_acls(src).map_err(ReplicatorError::from)?;
        let principals = if principals.is_empty() {
            fence::writers(&existing, &topics)
        } else {
            principals.to_vec()
        };
        if principals.is_empty() {
            return Err(ExecuteError::NoProducerToFence {
                cluster: plan.plan.source.clone(),
            });
        }
        let add = fence::to_add(&principals, &topics, &existing);
        for b in &add {
            if !self.state.fenced.contains(b) {
                self.state.fenced.push(b.clone());
            }
        }
        self.save()?;
        let (src, _) = self.conns()?;
        admin::create_acls(src, &add).map_err(ReplicatorError::from)?;
        self.cx.operator.notice(&format!(
            "fenced the producers on `{}`: {} denied Write on {} topic(s) ({} binding(s) added; rollback removes them)",
            plan.plan.source,
            principals.join(", "),
            topics.len(),
            add.len()
        ));
        Ok(())
    }

    /// Deletes the deny-Write bindings kcp added (rollback), exactly.
    pub(super) fn lift_fence(&mut self) -> Result<(), ExecuteError> {
        if self.state.fenced.is_empty() {
            return Ok(());
        }
        let fenced = self.state.fenced.clone();
        let (src, _) = self.conns()?;
        let deleted = admin::delete_acls(src, &fenced).map_err(ReplicatorError::from)?;
        self.state.fenced.clear();
        self.save()?;
        self.cx.operator.notice(&format!(
            "lifted the producer fence on `{}`: {deleted} deny-Write binding(s) deleted",
            self.cx.plan.plan.source
        ));
        Ok(())
    }

    /// Waits until every partition is copied to the end it had when the
    /// producers stopped, then stops the replicator. In gateway mode the
    /// producers are held, so it polls faster (clients wait) and reads the
    /// ends again once copied to them: ends that moved are acknowledged
    /// records the source's high watermark had not covered yet.
    fn drain(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let mut laps = Laps::start();
        let gateway = self.gateway_mode();
        let every = if gateway {
            super::gateway::POLL
        } else {
            Duration::from_millis(250)
        };
        let mut ends = self.source_ends(replicator::copy_end(self.cx.plan))?;
        laps.lap("ends");
        // With scale-out, other processes copy some partitions: their
        // progress is in the offset maps they checkpoint on the target.
        let mut others = Others::new(self.cx.plan.plan.replication.scale_out);
        for reads in 1.. {
            self.wait_every(step, None, every, |run| {
                run.stats_soon();
                let Some(s) = run.stats() else {
                    return Ok(Wait::Pending("starting the replicator".into()));
                };
                let mut positions: HashMap<(String, i32), i64> = others.copied(run)?.clone();
                for p in &s.partitions {
                    let known = positions.entry((p.topic.clone(), p.partition)).or_default();
                    *known = (*known).max(p.position);
                }
                let behind = ends
                    .iter()
                    .filter(|(key, end)| positions.get(*key).is_none_or(|pos| pos < end))
                    .count();
                if behind == 0 {
                    return Ok(Wait::Done(()));
                }
                Ok(Wait::Pending(format!(
                    "draining: {behind} partition(s) not yet copied to their end"
                )))
            })?;
            laps.lap("copied");
            if !gateway || reads >= DRAIN_READS {
                break;
            }
            let again = self.source_ends(replicator::copy_end(self.cx.plan))?;
            laps.lap("ends");
            if again == ends {
                break;
            }
            ends = again;
        }
        let summary = self.stop_replicator()?;
        laps.lap("stopped");
        // Anything written since the ends were read was not necessarily
        // copied: producers must not move while a straggler writes.
        let after = self.source_ends(replicator::copy_end(self.cx.plan))?;
        laps.lap("checked");
        tracing::debug!(laps = %laps, "drained");
        let grown = written_after(&ends, &after);
        if !grown.is_empty() {
            return Err(ExecuteError::WrittenAfterDrain(grown));
        }
        Ok(json!({
            "source_ends": ends_to_json(&ends),
            "copied_this_run": summary.map(|s| s.copied),
        }))
    }

    /// Starts the producers against the target.
    fn start_producers(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        match &c.start_producers {
            Some(cmd) => self.hook(step, cmd, "forward", "target", &[])?,
            None => self.cx.operator.notice(&format!(
                "start the producers against `{}` now",
                self.cx.plan.plan.target
            )),
        }
        Ok(Value::Null)
    }

    /// Compares every copied partition on both clusters.
    fn verify(&mut self) -> Result<Value, ExecuteError> {
        self.cx
            .operator
            .progress("reading every copied partition on both clusters");
        let v = verify::verify(
            self.cx.plan,
            self.cx.source,
            self.cx.target,
            self.cx.timeout,
        )?;
        let bad: Vec<&verify::PartitionCheck> = v.partitions.iter().filter(|p| !p.ok).collect();
        if let Some(first) = bad.first() {
            return Err(ExecuteError::Verification {
                mismatched: bad.len(),
                first: format!(
                    "{}[{}]: {} record(s) on the source, {} on the target{}",
                    first.topic,
                    first.partition,
                    first.source_records,
                    first.target_records,
                    if first.differing_offsets.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", differing at source offset(s) {:?}",
                            first.differing_offsets
                        )
                    }
                ),
            });
        }
        Ok(json!({ "records": v.records, "partitions": v.partitions.len() }))
    }

    /// Writes the run report.
    fn finish(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let mut state = self.state.clone();
        state.done.push(DoneStep {
            id: step.id.clone(),
            phase: step.phase,
            started_at: (self.cx.now)(),
            finished_at: (self.cx.now)(),
            detail: Value::Null,
        });
        let report = report(&state);
        let path = run_state::report_path_for(self.cx.plan_path);
        let mut bytes = serde_json::to_vec_pretty(&report).expect("the report serializes");
        bytes.push(b'\n');
        run_state::write_atomic(&path, &bytes)
            .map_err(|source| RunStateError::Io { path, source })?;
        Ok(Value::Null)
    }

    fn preflight(&mut self) -> Result<Value, ExecuteError> {
        let plan = self.cx.plan;
        let (src, dst) = self.conns()?;
        preflight(plan, src, dst)
    }

    pub(super) fn hook(
        &mut self,
        step: &Step,
        command: &str,
        direction: &str,
        start_on: &str,
        groups: &[String],
    ) -> Result<(), ExecuteError> {
        let creds = if start_on == "source" {
            self.cx.source
        } else {
            self.cx.target
        };
        self.cx
            .operator
            .progress(&format!("running hook `{command}`"));
        let env = HookEnv {
            plan: &self.cx.plan.plan.name,
            step: &step.id,
            direction,
            start_on,
            bootstrap: creds.bootstrap_servers.join(","),
            wave: step.wave.as_deref(),
            groups,
        };
        let timeout = Duration::from_secs(self.cutover().hook_timeout_secs);
        let started = Instant::now();
        let result = hooks::run(command, &env, timeout, self.cx.stop);
        if let Some(m) = self.metrics() {
            let outcome = match &result {
                Ok(()) => HookOutcome::ok,
                Err(HookError::TimedOut { .. }) => HookOutcome::timed_out,
                Err(HookError::Interrupted { .. }) => HookOutcome::interrupted,
                Err(_) => HookOutcome::failed,
            };
            m.hook(&step.id, outcome, started.elapsed().as_secs_f64());
        }
        result?;
        Ok(())
    }

    /// Waits until `groups` have no members on the source (`on_source`) or
    /// the target, and then until their committed offsets stay unchanged
    /// for `group_quiet_secs`: a consumer that uses `assign()` has no
    /// membership, and only its commits show that it still runs. Static
    /// members (`group.instance.id`) are named while kcp waits for their
    /// session to expire. Where the cluster cannot list members, the quiet
    /// window alone decides.
    pub(super) fn wait_no_members(
        &mut self,
        step: &Step,
        groups: &[String],
        on_source: bool,
    ) -> Result<(), ExecuteError> {
        let quiet = Duration::from_secs(self.cutover().group_quiet_secs);
        let mut last: Option<(Committed, Instant)> = None;
        let mut told_static = false;
        let mut told_moving: Vec<String> = Vec::new();
        self.wait(step, None, |run| {
            let mut gone = false;
            if !run.members_unknown {
                let (src, dst) = run.conns()?;
                let conn = if on_source { src } else { dst };
                let answer = admin::describe_consumer_groups(conn, groups);
                match members::assess(answer.as_deref()) {
                    Members::Gone => gone = true,
                    Members::Present { busy, statics } => {
                        last = None;
                        if let Some(note) = members::static_note(&statics)
                            && !told_static
                        {
                            told_static = true;
                            run.cx.operator.notice(&note);
                        }
                        let why = if statics.is_empty() {
                            ""
                        } else {
                            " (static members leave when their session times out)"
                        };
                        return Ok(Wait::Pending(format!("waiting for {busy} to leave{why}")));
                    }
                    Members::NotReady(why) => {
                        return Ok(Wait::Pending(format!(
                            "waiting for the groups' coordinator ({why})"
                        )));
                    }
                    Members::Unknown(why) => {
                        run.members_unknown = true;
                        run.cx.operator.notice(&format!(
                            "the cluster cannot list group members ({why}); taking the groups as stopped once their committed offsets stay unchanged for {} s",
                            quiet.as_secs()
                        ));
                    }
                }
            }
            // Committed offsets unchanged for the quiet window.
            let (src, dst) = run.conns()?;
            let conn = if on_source { src } else { dst };
            let now = committed(conn, groups)?;
            match &last {
                Some((prev, since)) if *prev == now => {
                    if since.elapsed() >= quiet {
                        return Ok(Wait::Done(()));
                    }
                }
                Some((prev, _)) => {
                    let moved = moved_groups(prev, &now);
                    if gone && moved.iter().any(|g| !told_moving.contains(g)) {
                        run.cx.operator.notice(&format!(
                            "group(s) {} have no members but their committed offsets moved: a consumer that uses assign() (no group membership) still commits; stop it. kcp moves the offsets once they stay unchanged for {} s",
                            moved.join(", "),
                            quiet.as_secs()
                        ));
                        told_moving = moved;
                    }
                    last = Some((now, Instant::now()));
                }
                None => last = Some((now, Instant::now())),
            }
            Ok(Wait::Pending(format!(
                "waiting until the committed offsets of {} stay unchanged for {} s",
                groups.join(", "),
                quiet.as_secs()
            )))
        })
    }

    /// The selected source partitions' end offsets: `Latest` sees every
    /// write (is a producer still active?), [`replicator::copy_end`] is
    /// where the copy can get to (drain).
    pub(super) fn source_ends(&mut self, spec: OffsetSpec) -> Result<Ends, ExecuteError> {
        let plan = self.cx.plan;
        let (src, _) = self.conns()?;
        let parts = replicator::source_partitions(src, plan)?;
        Ok(admin::list_offsets(src, &parts, spec)
            .map_err(ReplicatorError::from)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect())
    }

    pub(super) fn wait_source_quiet(
        &mut self,
        step: &Step,
        quiet_secs: u64,
    ) -> Result<Ends, ExecuteError> {
        let quiet = Duration::from_secs(quiet_secs);
        let mut last: Option<(Ends, Instant)> = None;
        self.wait(step, None, |run| {
            let ends = run.source_ends(OffsetSpec::Latest)?;
            match &last {
                Some((prev, since)) if *prev == ends => {
                    if since.elapsed() >= quiet {
                        return Ok(Wait::Done(ends));
                    }
                }
                _ => last = Some((ends, Instant::now())),
            }
            let still = last
                .as_ref()
                .map_or(0.0, |(_, s)| s.elapsed().as_secs_f64());
            Ok(Wait::Pending(format!(
                "source quiet for {still:.0} s of {quiet_secs} s"
            )))
        })
    }
}

/// How many times a gateway-mode drain reads the ends (producers held,
/// they move only while the high watermark catches up); after that, ends
/// that still move fail the drain as in hook mode.
const DRAIN_READS: usize = 5;

/// Committed offsets per group: `(topic, partition, offset)`.
type Committed = BTreeMap<String, Vec<(String, i32, Option<i64>)>>;

fn committed(conn: &Connection, groups: &[String]) -> Result<Committed, ExecuteError> {
    let mut out = Committed::new();
    for (group, result) in groups.iter().zip(admin::list_group_offsets(conn, groups)) {
        let mut offsets: Vec<(String, i32, Option<i64>)> = result
            .map_err(ReplicatorError::from)?
            .into_iter()
            .map(|o| (o.topic, o.partition, o.offset.ok()))
            .collect();
        offsets.sort();
        out.insert(group.clone(), offsets);
    }
    Ok(out)
}

/// The groups whose committed offsets differ between two reads.
fn moved_groups(before: &Committed, now: &Committed) -> Vec<String> {
    now.iter()
        .filter(|(g, offsets)| before.get(*g) != Some(offsets))
        .map(|(g, _)| g.clone())
        .collect()
}

fn progress_line(s: &Stats) -> String {
    let eta = if s.records_per_sec > 0.0 && s.watermarks_known {
        format!(", about {:.0} s left", s.lag as f64 / s.records_per_sec)
    } else {
        String::new()
    };
    format!(
        "{} copied, lag {}, {:.0} records/s{eta}",
        s.copied, s.lag, s.records_per_sec
    )
}

/// What the other replicators of a scale-out plan have copied: each
/// partition's `src_end` in the offset maps on the target, read at most
/// every two seconds. Empty without scale-out.
struct Others {
    scale_out: bool,
    read_at: Option<Instant>,
    copied: HashMap<(String, i32), i64>,
}

impl Others {
    fn new(scale_out: bool) -> Self {
        Others {
            scale_out,
            read_at: None,
            copied: HashMap::new(),
        }
    }

    fn copied(
        &mut self,
        run: &mut Run<'_, '_>,
    ) -> Result<&HashMap<(String, i32), i64>, ExecuteError> {
        if self.scale_out
            && self
                .read_at
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
        {
            let plan = run.cx.plan;
            let (src, dst) = run.conns()?;
            self.copied = replicator::offset_maps(plan, src, dst)?
                .into_iter()
                .map(|(key, map)| (key, map.src_end))
                .collect();
            self.read_at = Some(Instant::now());
        }
        Ok(&self.copied)
    }
}

/// Partitions whose end moved past the one drained to, as
/// `topic[partition]: end A, now B`.
pub(super) fn written_after(drained: &Ends, now: &Ends) -> Vec<String> {
    now.iter()
        .filter_map(|((topic, partition), end)| {
            let before = drained
                .get(&(topic.clone(), *partition))
                .copied()
                .unwrap_or(0);
            (*end > before).then(|| format!("{topic}[{partition}]: end {before}, now {end}"))
        })
        .collect()
}

pub(super) fn ends_to_json(ends: &Ends) -> Value {
    Value::Array(
        ends.iter()
            .map(|((t, p), e)| json!({ "topic": t, "partition": p, "end": e }))
            .collect(),
    )
}

/// The preflight checks, on connections to both clusters: those of
/// `migrate replicate` (the clusters differ, the plan selects topics,
/// existing target topics fit) and that every group of the waves has
/// committed offsets on the source. Reads only: the `preflight` step and
/// `execute --dry-run` run it.
pub fn preflight(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
) -> Result<Value, ExecuteError> {
    let waves = plan.plan.cutover.clone().unwrap_or_default().waves;
    let topics = replicator::preflight(plan, src, dst)?;
    for wave in &waves {
        let results = admin::list_group_offsets(src, &wave.groups);
        for (group, result) in wave.groups.iter().zip(results) {
            let offsets = result.map_err(ReplicatorError::from)?;
            if !offsets
                .iter()
                .any(|o| plan.selects(&o.topic) && o.offset.as_ref().is_ok_and(|c| *c >= 0))
            {
                return Err(ExecuteError::UnknownGroup {
                    group: group.clone(),
                    wave: wave.name.clone(),
                    cluster: plan.plan.source.clone(),
                });
            }
        }
    }
    Ok(json!({
        "topics": topics.len(),
        "partitions": topics.values().map(|n| i64::from(*n)).sum::<i64>(),
        "groups": waves.iter().map(|w| w.groups.len()).sum::<usize>(),
    }))
}
