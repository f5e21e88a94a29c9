//! `kcp migrate execute` and `kcp migrate rollback`: the cutover as a
//! resumable state machine.
//!
//! The steps come from [`super::steps`]. Before a step runs, the
//! migration-state file ([`super::run_state`]) records it as current; once
//! it is done, it moves to `done` with its timings and what it measured. A
//! re-run skips done steps and runs the current one again, so every step is
//! written to be safe to repeat: hooks must be idempotent (the plan says
//! so), offsets are translated from the source group's committed offsets
//! (unchanged while its consumers are stopped), the replicator resumes from
//! what is on the target.
//!
//! The replicator runs in a thread from `backfill` to `producers/drain`.
//! Nothing here talks to the terminal: the [`Operator`] gets notices and
//! progress lines and answers the confirmation before the point of no return.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::hooks::{self, HookEnv, HookError};
use super::members::{self, Members};
use super::offsets::{self, MoveError};
use super::run_state::{
    self, CurrentStep, DoneStep, MigrationState, Outcome, RunStateError, RunStateFile,
};
use super::steps::{Action, Step, steps};
use super::verify;
use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{ClusterCredentials, ConnectOptions, Connection, connect};
use crate::replicator::{
    self, Cutover, LoadedPlan, Observer, ReplicatorError, RunOptions, Stats, Summary,
};

/// The operator's side: notices, progress, confirmation.
pub trait Operator: Sync {
    /// A step starts (`resumed`: it had started before a crash or failure).
    fn step(&self, step: &Step, resumed: bool);
    /// A step is done.
    fn step_done(&self, step: &Step, secs: f64);
    /// Something worth telling.
    fn notice(&self, message: &str);
    /// The latest progress of the running step (replaces the previous one).
    fn progress(&self, message: &str);
    /// Asked before an irreversible step; `false` stops the run there.
    fn confirm(&self, question: &str) -> bool;
}

/// Everything a run needs.
pub struct Context<'a> {
    pub plan: &'a LoadedPlan,
    pub plan_path: &'a Path,
    pub source: &'a ClusterCredentials,
    pub target: &'a ClusterCredentials,
    /// Connection and request timeout.
    pub timeout: Duration,
    pub operator: &'a dyn Operator,
    /// Set on SIGINT/SIGTERM: the run stops at the next check, with its
    /// state saved.
    pub stop: &'a AtomicBool,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    RunState(#[from] RunStateError),
    #[error(transparent)]
    Replicator(#[from] ReplicatorError),
    #[error(transparent)]
    Move(#[from] MoveError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(
        "the plan names consumer group `{group}` (wave `{wave}`), which has no committed offsets on `{cluster}` for the plan's topics"
    )]
    UnknownGroup {
        group: String,
        wave: String,
        cluster: String,
    },
    #[error("not confirmed: stopped before `{step}`")]
    NotConfirmed { step: String },
    #[error("interrupted during `{step}`")]
    Interrupted { step: String },
    #[error("`{step}` did not finish within {secs} s: {what}")]
    TimedOut {
        step: String,
        secs: u64,
        what: String,
    },
    #[error(
        "verification failed: {mismatched} partition(s) differ between source and target, first {first}"
    )]
    Verification { mismatched: usize, first: String },
    #[error("this migration is {what} (see `{path}`)")]
    Over { what: &'static str, path: PathBuf },
    #[error("there is nothing to roll back: `{path}` does not exist")]
    NothingToRollBack { path: PathBuf },
    #[error(
        "the migration is past the point of no return: producers have been started against the target (step `{step}`), so the target holds records the source lacks"
    )]
    PastNoReturn { step: String },
    #[error("the replicator thread stopped unexpectedly")]
    ReplicatorThread,
}

impl ExecuteError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ExecuteError::RunState(e) => e.hint(),
            ExecuteError::Replicator(e) => e.hint(),
            ExecuteError::Move(e) => e.hint(),
            ExecuteError::Hook(_) => Some("fix the hook (it runs with `sh -c`), then run `kcp migrate execute` again: done steps are skipped and this one runs again".into()),
            ExecuteError::UnknownGroup { .. } => Some("fix the group name in the plan's `cutover.waves`, or remove it; `kcp scan clusters` lists the groups".into()),
            ExecuteError::NotConfirmed { .. } => Some("run again and confirm, or pass --yes".into()),
            ExecuteError::Interrupted { .. } | ExecuteError::TimedOut { .. } | ExecuteError::ReplicatorThread => {
                Some("run `kcp migrate execute` again: it resumes from the migration-state file".into())
            }
            ExecuteError::Verification { .. } => Some("`kcp migrate status` shows the lag; producers may still write to the source. Stop them and run `kcp migrate execute` again to re-drain and re-verify".into()),
            ExecuteError::Over { .. } => Some("to run the migration again from the start, move the migration-state file away".into()),
            ExecuteError::NothingToRollBack { .. } => None,
            ExecuteError::PastNoReturn { .. } => Some("keep the target: finish with `kcp migrate execute`. To go back anyway, run a reverse migration (a plan from target to source): the provenance headers stop records from being copied in circles".into()),
        }
    }

    /// Bad input (exit 2) rather than a failure of the run.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ExecuteError::RunState(e) => e.is_bad_input(),
            ExecuteError::Replicator(ReplicatorError::PartitionCount { .. })
            | ExecuteError::UnknownGroup { .. }
            | ExecuteError::NotConfirmed { .. }
            | ExecuteError::Over { .. }
            | ExecuteError::NothingToRollBack { .. }
            | ExecuteError::PastNoReturn { .. } => true,
            _ => false,
        }
    }
}

/// The run report (`<plan>.report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub plan: String,
    pub source: String,
    pub target: String,
    pub kcp_version: &'static str,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `execute` runs it took (more than 1 after a crash or a failure).
    pub runs: u32,
    pub phases: Vec<PhaseTiming>,
    pub steps: Vec<DoneStep>,
    /// Per wave: from the start of its stop step to the end of its start step.
    pub consumer_pauses: BTreeMap<String, f64>,
    /// From the start of `producers/stop` to the end of `producers/start`.
    pub producer_pause_secs: Option<f64>,
    pub records_verified: u64,
    pub partitions_verified: u64,
}

/// When a phase ran.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub secs: f64,
}

/// What `execute` ended with.
pub struct Executed {
    pub report: RunReport,
    pub report_path: PathBuf,
}

/// Runs (or resumes) the migration to the end.
pub fn execute(cx: &Context<'_>) -> Result<Executed, ExecuteError> {
    let path = run_state::path_for(cx.plan_path);
    let file = RunStateFile::lock(&path)?;
    let existing = load_for(cx, &file)?;
    // A new migration writes nothing until preflight has passed: bad input
    // leaves no trace.
    let unsaved = existing.is_none();
    let mut state = existing.unwrap_or_else(|| {
        MigrationState::new(
            &cx.plan.plan.name,
            &cx.plan.plan.source,
            &cx.plan.plan.target,
            Utc::now(),
        )
    });
    match state.outcome {
        Outcome::InProgress => {}
        Outcome::Finished => {
            return Err(ExecuteError::Over {
                what: "finished",
                path,
            });
        }
        Outcome::RollingBack | Outcome::RolledBack => {
            return Err(ExecuteError::Over {
                what: "rolled back",
                path,
            });
        }
    }
    state.runs += 1;
    state.last_error = None;
    let mut run = Run {
        cx,
        file,
        state,
        unsaved,
        replicator: None,
        conns: None,
        members_unknown: false,
    };
    run.save()?;
    let result = run.all();
    if let Err(e) = &result {
        run.state.last_error = Some(e.to_string());
        let _ = run.save();
    }
    let stopped = run.stop_replicator();
    let report = result?;
    stopped?;
    Ok(report)
}

fn load_for(cx: &Context<'_>, file: &RunStateFile) -> Result<Option<MigrationState>, ExecuteError> {
    let Some(state) = file.load()? else {
        return Ok(None);
    };
    let p = &cx.plan.plan;
    if state.plan != p.name || state.source != p.source || state.target != p.target {
        return Err(RunStateError::OtherPlan {
            path: file.path().to_owned(),
            found: state.describe(),
            expected: format!("plan `{}` ({} → {})", p.name, p.source, p.target),
        }
        .into());
    }
    Ok(Some(state))
}

/// Progress shared with the replicator thread.
#[derive(Default)]
struct Shared {
    stats: Mutex<Option<Stats>>,
    notices: Mutex<Vec<String>>,
}

impl Observer for Shared {
    fn stats(&self, stats: &Stats) {
        if let Ok(mut s) = self.stats.lock() {
            *s = Some(stats.clone());
        }
    }
    fn notice(&self, message: &str) {
        if let Ok(mut n) = self.notices.lock() {
            n.push(message.to_owned());
        }
    }
}

struct Replicating {
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    thread: JoinHandle<Result<Summary, ReplicatorError>>,
}

/// End offsets of source partitions.
type Ends = BTreeMap<(String, i32), i64>;

/// The answer of one poll of a wait.
enum Wait<T> {
    Done(T),
    Pending(String),
}

struct Run<'a, 'c> {
    cx: &'a Context<'c>,
    file: RunStateFile,
    state: MigrationState,
    /// Nothing written yet (a new migration before preflight passed).
    unsaved: bool,
    replicator: Option<Replicating>,
    conns: Option<(Connection, Connection)>,
    /// The source refused to list group members (DescribeGroups); waits use
    /// the committed-offsets quiet window instead.
    members_unknown: bool,
}

impl Run<'_, '_> {
    fn cutover(&self) -> Cutover {
        self.cx.plan.plan.cutover.clone().unwrap_or_default()
    }

    /// Writes the migration-state file (not before a new migration's
    /// preflight has passed).
    fn save(&mut self) -> Result<(), ExecuteError> {
        if self.unsaved && !self.state.is_done("preflight") {
            return Ok(());
        }
        self.unsaved = false;
        self.file.save(&mut self.state, Utc::now())?;
        Ok(())
    }

    fn all(&mut self) -> Result<Executed, ExecuteError> {
        let steps = steps(self.cx.plan);
        for step in &steps {
            if self.state.is_done(&step.id) {
                continue;
            }
            if step.replicating {
                self.start_replicator()?;
            } else {
                self.stop_replicator()?;
            }
            if step.point_of_no_return
                && !self.cx.operator.confirm(&format!(
                    "`{}` cannot be undone: {}. Go on?",
                    step.id, step.does
                ))
            {
                return Err(ExecuteError::NotConfirmed {
                    step: step.id.clone(),
                });
            }
            let resumed = self.state.current.as_ref().is_some_and(|c| c.id == step.id);
            let started_at = match &self.state.current {
                Some(c) if resumed => c.started_at,
                _ => Utc::now(),
            };
            self.state.current = Some(CurrentStep {
                id: step.id.clone(),
                started_at,
            });
            self.save()?;
            self.cx.operator.step(step, resumed);
            let clock = Instant::now();
            let detail = self.run_step(step)?;
            let finished_at = Utc::now();
            self.state.current = None;
            self.state.done.push(DoneStep {
                id: step.id.clone(),
                phase: step.phase.to_owned(),
                started_at,
                finished_at,
                detail,
            });
            if step.action == Action::Finish {
                self.state.outcome = Outcome::Finished;
            }
            self.save()?;
            self.cx
                .operator
                .step_done(step, clock.elapsed().as_secs_f64());
        }
        Ok(Executed {
            report: report(&self.state),
            report_path: run_state::report_path_for(self.cx.plan_path),
        })
    }

    fn run_step(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        match step.action {
            Action::Preflight => self.preflight(),
            Action::PrepareTarget => {
                let shared = Shared::default();
                let plan = self.cx.plan;
                let (src, dst) = self.conns()?;
                replicator::prepare(plan, src, dst, &shared)?;
                self.forward(&shared);
                Ok(Value::Null)
            }
            Action::Backfill => self.wait(step, None, |run| {
                let Some(s) = run.stats() else {
                    return Ok(Wait::Pending("starting the replicator".into()));
                };
                if s.watermarks_known && s.lag <= c.lag_threshold_records {
                    return Ok(Wait::Done(json!({ "copied": s.copied, "lag": s.lag })));
                }
                Ok(Wait::Pending(progress_line(&s)))
            }),
            Action::CatchUp => {
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
            Action::StopConsumers(i) => {
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
            Action::MoveOffsets(i) => {
                let wave = &c.waves[i];
                let mut moved = serde_json::Map::new();
                for group in &wave.groups {
                    let offsets = self.wait(step, None, |run| {
                        match offsets::move_group(
                            run.cx.plan,
                            run.cx.source,
                            run.cx.target,
                            group,
                            run.cx.timeout,
                        ) {
                            Ok(m) => Ok(Wait::Done(m)),
                            Err(e @ MoveError::NotYetCopied { .. }) => {
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
                    moved.insert(
                        group.clone(),
                        serde_json::to_value(&offsets).unwrap_or_default(),
                    );
                }
                Ok(Value::Object(moved))
            }
            Action::StartConsumers(i) => {
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
            Action::StopProducers => {
                match &c.stop_producers {
                    Some(cmd) => self.hook(step, cmd, "forward", "source", &[])?,
                    None => self.cx.operator.notice(&format!(
                        "stop the producers writing to `{}` now; kcp waits until no partition grows for {} s",
                        self.cx.plan.plan.source, c.producer_quiet_secs
                    )),
                }
                let ends = self.wait_source_quiet(step, c.producer_quiet_secs)?;
                Ok(json!({ "source_ends": ends_to_json(&ends) }))
            }
            Action::Drain => {
                let ends = self.source_ends(replicator::copy_end(self.cx.plan))?;
                self.wait(step, None, |run| {
                    let Some(s) = run.stats() else {
                        return Ok(Wait::Pending("starting the replicator".into()));
                    };
                    let positions: HashMap<(&str, i32), i64> = s
                        .partitions
                        .iter()
                        .map(|p| ((p.topic.as_str(), p.partition), p.position))
                        .collect();
                    let behind = ends
                        .iter()
                        .filter(|((t, p), end)| {
                            positions.get(&(t.as_str(), *p)).is_none_or(|pos| pos < end)
                        })
                        .count();
                    if behind == 0 {
                        return Ok(Wait::Done(()));
                    }
                    Ok(Wait::Pending(format!(
                        "draining: {behind} partition(s) not yet copied to their end"
                    )))
                })?;
                let summary = self.stop_replicator()?;
                Ok(json!({
                    "source_ends": ends_to_json(&ends),
                    "copied_this_run": summary.map(|s| s.copied),
                }))
            }
            Action::StartProducers => {
                match &c.start_producers {
                    Some(cmd) => self.hook(step, cmd, "forward", "target", &[])?,
                    None => self.cx.operator.notice(&format!(
                        "start the producers against `{}` now",
                        self.cx.plan.plan.target
                    )),
                }
                Ok(Value::Null)
            }
            Action::Verify => {
                self.cx
                    .operator
                    .progress("reading every copied partition on both clusters");
                let v = verify::verify(
                    self.cx.plan,
                    self.cx.source,
                    self.cx.target,
                    self.cx.timeout,
                )?;
                let bad: Vec<&verify::PartitionCheck> =
                    v.partitions.iter().filter(|p| !p.ok).collect();
                if let Some(first) = bad.first() {
                    return Err(ExecuteError::Verification {
                        mismatched: bad.len(),
                        first: format!(
                            "{}[{}]: {} record(s) on the source, {} on the target",
                            first.topic,
                            first.partition,
                            first.source_records,
                            first.target_records
                        ),
                    });
                }
                Ok(json!({ "records": v.records, "partitions": v.partitions.len() }))
            }
            Action::Finish => {
                let mut state = self.state.clone();
                state.done.push(DoneStep {
                    id: step.id.clone(),
                    phase: step.phase.to_owned(),
                    started_at: Utc::now(),
                    finished_at: Utc::now(),
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
        }
    }

    fn conns(&mut self) -> Result<(&Connection, &Connection), ExecuteError> {
        if self.conns.is_none() {
            let options = ConnectOptions {
                timeout: self.cx.timeout,
            };
            let (a, b) = std::thread::scope(|s| {
                let a = s.spawn(|| connect(self.cx.source, options));
                let b = s.spawn(|| connect(self.cx.target, options));
                (a.join(), b.join())
            });
            let a = a.map_err(|_| ExecuteError::ReplicatorThread)?;
            let b = b.map_err(|_| ExecuteError::ReplicatorThread)?;
            self.conns = Some((
                a.map_err(ReplicatorError::from)?,
                b.map_err(ReplicatorError::from)?,
            ));
        }
        let (a, b) = self.conns.as_ref().expect("just set");
        Ok((a, b))
    }

    fn preflight(&mut self) -> Result<Value, ExecuteError> {
        let plan = self.cx.plan;
        let waves = self.cutover().waves;
        let (src, dst) = self.conns()?;
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

    fn hook(
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
        hooks::run(command, &env, timeout, self.cx.stop)?;
        Ok(())
    }

    /// Waits until `groups` have no members on the source (`on_source`) or
    /// the target. Where the cluster cannot list members, waits until their
    /// committed offsets stay unchanged for `group_quiet_secs` instead.
    fn wait_no_members(
        &mut self,
        step: &Step,
        groups: &[String],
        on_source: bool,
    ) -> Result<(), ExecuteError> {
        let quiet = Duration::from_secs(self.cutover().group_quiet_secs);
        let mut last: Option<(Vec<String>, Instant)> = None;
        self.wait(step, None, |run| {
            if !run.members_unknown {
                let (src, dst) = run.conns()?;
                let conn = if on_source { src } else { dst };
                let answer = admin::describe_consumer_groups(conn, groups);
                match members::assess(answer.as_deref()) {
                    Members::Gone => return Ok(Wait::Done(())),
                    Members::Present(busy) => {
                        return Ok(Wait::Pending(format!("waiting for {busy} to leave")));
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
            // Fallback: committed offsets unchanged for the quiet window.
            let (src, dst) = run.conns()?;
            let conn = if on_source { src } else { dst };
            let mut now: Vec<String> = Vec::new();
            for (group, result) in groups.iter().zip(admin::list_group_offsets(conn, groups)) {
                for o in result.map_err(ReplicatorError::from)? {
                    now.push(format!("{group} {} {} {:?}", o.topic, o.partition, o.offset));
                }
            }
            now.sort();
            match &last {
                Some((prev, since)) if *prev == now => {
                    if since.elapsed() >= quiet {
                        return Ok(Wait::Done(()));
                    }
                }
                _ => last = Some((now, Instant::now())),
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
    fn source_ends(&mut self, spec: OffsetSpec) -> Result<Ends, ExecuteError> {
        let plan = self.cx.plan;
        let (src, _) = self.conns()?;
        let parts = replicator::source_partitions(src, plan)?;
        Ok(admin::list_offsets(src, &parts, spec)
            .map_err(ReplicatorError::from)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect())
    }

    fn wait_source_quiet(&mut self, step: &Step, quiet_secs: u64) -> Result<Ends, ExecuteError> {
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

    /// Polls `f` every 250 ms until it is done, the run is interrupted, the
    /// replicator fails or `limit` passes.
    fn wait<T>(
        &mut self,
        step: &Step,
        limit: Option<Duration>,
        mut f: impl FnMut(&mut Self) -> Result<Wait<T>, ExecuteError>,
    ) -> Result<T, ExecuteError> {
        let started = Instant::now();
        loop {
            if self.cx.stop.load(Ordering::SeqCst) {
                return Err(ExecuteError::Interrupted {
                    step: step.id.clone(),
                });
            }
            self.check_replicator()?;
            match f(self)? {
                Wait::Done(t) => return Ok(t),
                Wait::Pending(progress) => {
                    if let Some(limit) = limit
                        && started.elapsed() >= limit
                    {
                        return Err(ExecuteError::TimedOut {
                            step: step.id.clone(),
                            secs: limit.as_secs(),
                            what: progress,
                        });
                    }
                    self.cx.operator.progress(&progress);
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn stats(&self) -> Option<Stats> {
        let r = self.replicator.as_ref()?;
        r.shared.stats.lock().ok()?.clone()
    }

    fn forward(&self, shared: &Shared) {
        if let Ok(mut notices) = shared.notices.lock() {
            for n in notices.drain(..) {
                self.cx.operator.notice(&n);
            }
        }
    }

    fn start_replicator(&mut self) -> Result<(), ExecuteError> {
        if self.replicator.is_some() {
            return Ok(());
        }
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (plan, source, target) = (
            self.cx.plan.clone(),
            self.cx.source.clone(),
            self.cx.target.clone(),
        );
        let options = RunOptions {
            timeout: self.cx.timeout,
            until_caught_up: false,
            max_bytes_per_sec: None,
            stats_interval: Duration::from_millis(500),
        };
        let (s, st) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("kcp-replicator".into())
            .spawn(move || replicator::run(&plan, &source, &target, &options, &*s, &st))
            .map_err(|_| ExecuteError::ReplicatorThread)?;
        self.replicator = Some(Replicating {
            stop,
            shared,
            thread,
        });
        self.cx.operator.notice("replicator started");
        Ok(())
    }

    /// Fails when the replicator thread has stopped on its own.
    fn check_replicator(&mut self) -> Result<(), ExecuteError> {
        if let Some(r) = &self.replicator {
            self.forward(&r.shared);
            if r.thread.is_finished() {
                let r = self.replicator.take().expect("checked");
                return match r.thread.join() {
                    Ok(Err(e)) => Err(e.into()),
                    _ => Err(ExecuteError::ReplicatorThread),
                };
            }
        }
        Ok(())
    }

    /// Stops the replicator (drains, flushes, checkpoints) if it runs.
    fn stop_replicator(&mut self) -> Result<Option<Summary>, ExecuteError> {
        let Some(r) = self.replicator.take() else {
            return Ok(None);
        };
        r.stop.store(true, Ordering::SeqCst);
        let out = r.thread.join();
        self.forward(&r.shared);
        match out {
            Ok(Ok(summary)) => {
                self.cx.operator.notice("replicator stopped");
                Ok(Some(summary))
            }
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ExecuteError::ReplicatorThread),
        }
    }
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

fn ends_to_json(ends: &Ends) -> Value {
    Value::Array(
        ends.iter()
            .map(|((t, p), e)| json!({ "topic": t, "partition": p, "end": e }))
            .collect(),
    )
}

/// The run report from the migration state. Pure.
pub fn report(state: &MigrationState) -> RunReport {
    let mut phases: Vec<PhaseTiming> = Vec::new();
    for d in &state.done {
        match phases.last_mut() {
            Some(p) if p.phase == d.phase => p.finished_at = d.finished_at,
            _ => phases.push(PhaseTiming {
                phase: d.phase.clone(),
                started_at: d.started_at,
                finished_at: d.finished_at,
                secs: 0.0,
            }),
        }
    }
    for p in &mut phases {
        p.secs = secs(p.started_at, p.finished_at);
    }
    let find = |id: &str| state.done.iter().find(|d| d.id == id);
    let mut consumer_pauses = BTreeMap::new();
    for d in &state.done {
        if let Some(wave) =
            d.id.strip_prefix("consumers/")
                .and_then(|w| w.strip_suffix("/start"))
            && let Some(stop) = find(&format!("consumers/{wave}/stop"))
        {
            consumer_pauses.insert(wave.to_owned(), secs(stop.started_at, d.finished_at));
        }
    }
    let producer_pause_secs = match (find("producers/stop"), find("producers/start")) {
        (Some(a), Some(b)) => Some(secs(a.started_at, b.finished_at)),
        _ => None,
    };
    let verified = find("verify").map(|d| &d.detail);
    let number = |key: &str| {
        verified
            .and_then(|v| v.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    RunReport {
        plan: state.plan.clone(),
        source: state.source.clone(),
        target: state.target.clone(),
        kcp_version: crate::VERSION,
        started_at: state.created_at,
        finished_at: state
            .done
            .last()
            .map_or(state.updated_at, |d| d.finished_at),
        runs: state.runs,
        phases,
        steps: state.done.clone(),
        consumer_pauses,
        producer_pause_secs,
        records_verified: number("records"),
        partitions_verified: number("partitions"),
    }
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    pub undone: Vec<String>,
    pub groups_moved_back: BTreeMap<String, usize>,
}

/// Undoes a migration that has not passed the point of no return:
/// producers and consumers go back to the source (with their target
/// progress translated back), in reverse order. Target topics and the data
/// copied into them stay.
pub fn rollback(cx: &Context<'_>) -> Result<RolledBack, ExecuteError> {
    let path = run_state::path_for(cx.plan_path);
    let file = RunStateFile::lock(&path)?;
    let Some(mut state) = load_for(cx, &file)? else {
        return Err(ExecuteError::NothingToRollBack { path });
    };
    if state.outcome == Outcome::RolledBack {
        return Err(ExecuteError::Over {
            what: "rolled back already",
            path,
        });
    }
    let all = steps(cx.plan);
    let no_return: Vec<&Step> = all.iter().filter(|s| s.point_of_no_return).collect();
    for s in no_return {
        let current = state.current.as_ref().is_some_and(|c| c.id == s.id);
        if state.is_done(&s.id) || current {
            return Err(ExecuteError::PastNoReturn { step: s.id.clone() });
        }
    }
    state.outcome = Outcome::RollingBack;
    file.save(&mut state, Utc::now())?;
    let mut run = Run {
        cx,
        file,
        state,
        unsaved: false,
        replicator: None,
        conns: None,
        members_unknown: false,
    };
    let c = run.cutover();
    let mut out = RolledBack {
        undone: Vec::new(),
        groups_moved_back: BTreeMap::new(),
    };
    // Steps that started count as done for undoing: their hook may have run.
    let touched = |run: &Run<'_, '_>, id: &str| {
        run.state.is_done(id) || run.state.current.as_ref().is_some_and(|c| c.id == id)
    };
    for step in all.iter().rev() {
        if !touched(&run, &step.id) || run.state.undone.iter().any(|u| u.id == step.id) {
            continue;
        }
        let started_at = Utc::now();
        run.cx.operator.step(step, false);
        let detail = match step.action {
            Action::StopProducers => {
                match &c.start_producers {
                    Some(cmd) => run.hook(step, cmd, "rollback", "source", &[])?,
                    None => run.cx.operator.notice(&format!(
                        "start the producers against `{}` again",
                        cx.plan.plan.source
                    )),
                }
                Value::Null
            }
            Action::StartConsumers(i) => {
                // Consumers ran on the target: stop them there and carry
                // their progress back.
                let wave = &c.waves[i];
                match &wave.stop_consumers {
                    Some(cmd) => run.hook(step, cmd, "rollback", "target", &wave.groups)?,
                    None => run.cx.operator.notice(&format!(
                        "stop the consumers of {} on `{}` now",
                        wave.groups.join(", "),
                        cx.plan.plan.target
                    )),
                }
                run.wait_no_members(step, &wave.groups, false)?;
                let mut moved = serde_json::Map::new();
                for group in &wave.groups {
                    let back =
                        offsets::move_group_back(cx.plan, cx.source, cx.target, group, cx.timeout)?;
                    out.groups_moved_back.insert(group.clone(), back.len());
                    moved.insert(
                        group.clone(),
                        serde_json::to_value(&back).unwrap_or_default(),
                    );
                }
                Value::Object(moved)
            }
            Action::StopConsumers(i) => {
                let wave = &c.waves[i];
                match &wave.start_consumers {
                    Some(cmd) => run.hook(step, cmd, "rollback", "source", &wave.groups)?,
                    None => run.cx.operator.notice(&format!(
                        "start the consumers of {} against `{}` again",
                        wave.groups.join(", "),
                        cx.plan.plan.source
                    )),
                }
                Value::Null
            }
            // Copying, offsets committed on the target and target topics
            // change nothing on the source: nothing to undo.
            _ => continue,
        };
        run.state.undone.push(DoneStep {
            id: step.id.clone(),
            phase: step.phase.to_owned(),
            started_at,
            finished_at: Utc::now(),
            detail,
        });
        run.save()?;
        out.undone.push(step.id.clone());
    }
    run.state.outcome = Outcome::RolledBack;
    run.state.current = None;
    run.save()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        format!("2026-11-25T10:00:{s:02}Z").parse().unwrap()
    }

    #[test]
    fn report_times_phases_and_pauses() {
        let mut state = MigrationState::new("p", "a", "b", at(0));
        for (id, phase, from, to) in [
            ("preflight", "preflight", 0, 1),
            ("consumers/w1/stop", "consumer-cutover", 10, 12),
            ("consumers/w1/offsets", "consumer-cutover", 12, 13),
            ("consumers/w1/start", "consumer-cutover", 13, 15),
            ("producers/stop", "producer-cutover", 20, 23),
            ("producers/drain", "producer-cutover", 23, 24),
            ("producers/start", "producer-cutover", 24, 25),
        ] {
            state.done.push(DoneStep {
                id: id.into(),
                phase: phase.into(),
                started_at: at(from),
                finished_at: at(to),
                detail: Value::Null,
            });
        }
        state.done.push(DoneStep {
            id: "verify".into(),
            phase: "verify".into(),
            started_at: at(25),
            finished_at: at(27),
            detail: json!({ "records": 42, "partitions": 3 }),
        });
        let r = report(&state);
        let phases: Vec<(&str, f64)> = r
            .phases
            .iter()
            .map(|p| (p.phase.as_str(), p.secs))
            .collect();
        assert_eq!(
            phases,
            [
                ("preflight", 1.0),
                ("consumer-cutover", 5.0),
                ("producer-cutover", 5.0),
                ("verify", 2.0)
            ]
        );
        assert_eq!(r.consumer_pauses["w1"], 5.0);
        assert_eq!(r.producer_pause_secs, Some(5.0));
        assert_eq!((r.records_verified, r.partitions_verified), (42, 3));
    }
}
