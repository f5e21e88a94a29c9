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
//! This module owns the state machine ([`execute`], `Run::all`) and the
//! polling of waits; each step's body is in `actions`, the replicator
//! thread (running from `backfill` to `producers/drain`) in `replicating`,
//! the run report in [`super::run_report`] and undoing in
//! [`super::rollback`]. Nothing here talks to the terminal or reads the
//! clock: the [`Operator`] gets notices and progress lines and answers the
//! confirmation before the point of no return, and [`Context::now`] tells
//! the time.

use crate::exit::{Diagnostic, ExitStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::hooks::HookError;
use super::offsets::MoveError;
use super::replicating::Replicating;
use super::run_report::{RunReport, report};
use super::run_state::{
    self, CurrentStep, DoneStep, MigrationState, Outcome, RunStateError, RunStateFile,
};
use super::steps::{Action, Step, steps};
use crate::connect::{ClusterCredentials, ConnectOptions, Connection, RestCredentials, connect};
use crate::kafka_connect::KafkaConnectError;
use crate::replicator::{Cutover, LoadedPlan, ReplicatorError};
use crate::schema_registry::SchemaRegistryError;
use crate::telemetry::{MigrationMetrics, Progress, Telemetry};

pub use super::actions::preflight;

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
    /// The clock (`Utc::now` outside tests).
    pub now: fn() -> DateTime<Utc>,
    /// Metrics and health (`--metrics-addr`).
    pub telemetry: Option<Arc<Telemetry>>,
    /// The registries and Connect clusters `cutover.schemas` and
    /// `cutover.connectors` name, from the credentials file.
    pub peers: Peers<'a>,
}

/// The REST peers of a plan: (source, target) pairs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peers<'a> {
    pub registries: Option<(&'a RestCredentials, &'a RestCredentials)>,
    pub connect: Option<(&'a RestCredentials, &'a RestCredentials)>,
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
    #[error(transparent)]
    Schemas(#[from] SchemaRegistryError),
    #[error(transparent)]
    Connectors(#[from] KafkaConnectError),
    #[error(transparent)]
    Gateway(#[from] crate::gateway::AdminError),
    #[error(
        "schemas differ between registries `{source_registry}` and `{target}` after the copy: {first}{}",
        if *more > 0 { format!(" (and {more} more)") } else { String::new() }
    )]
    SchemasDiffer {
        source_registry: String,
        target: String,
        first: String,
        more: usize,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the plan's `{key}` names `{name}`, which the credentials file does not list")]
    NoPeer { key: &'static str, name: String },
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
    #[error("the migration is past the point of no return: {}", match .wave {
        None => format!("producers have been started against the target (step `{step}`), so the target holds records the source lacks"),
        Some(wave) => format!("wave `{wave}` runs applications that also produce (Kafka Streams and the like), and they have been started against the target (step `{step}`): the target holds records and state the source lacks, and moving them back would lose or repeat their output"),
    })]
    PastNoReturn {
        step: String,
        /// The wave whose applications also produce, when its start is the
        /// step passed.
        wave: Option<String>,
        finished: bool,
    },
    #[error("the replicator thread stopped unexpectedly")]
    ReplicatorThread,
    /// A producer still writes to the source: records written after the
    /// drain read its end offsets were not copied.
    #[error(
        "records were written to the source after the drain began, and are not on the target: {}",
        .0.join(", ")
    )]
    WrittenAfterDrain(Vec<String>),
    #[error(
        "the plan asks to fence the producers, but no ACL on `{cluster}` allows a principal to write to the plan's topics"
    )]
    NoProducerToFence { cluster: String },
    /// `after_producers` was added to the plan after `producers/start`.
    #[error(
        "the plan has waves that move after the producers (`after_producers`), but the producers moved without the copy back: what they wrote to the target since is not on the source"
    )]
    ProducersMovedFirst,
}

impl Diagnostic for ExecuteError {
    fn status(&self) -> ExitStatus {
        match self {
            ExecuteError::RunState(e) => e.status(),
            ExecuteError::Replicator(e) => e.status(),
            ExecuteError::Move(e) => e.status(),
            ExecuteError::Hook(e) => e.status(),
            ExecuteError::Schemas(e) => e.status(),
            ExecuteError::Connectors(e) => e.status(),
            ExecuteError::Gateway(e) => e.status(),
            ExecuteError::Interrupted { .. } => ExitStatus::Interrupted,
            ExecuteError::UnknownGroup { .. }
            | ExecuteError::NotConfirmed { .. }
            | ExecuteError::Over { .. }
            | ExecuteError::NothingToRollBack { .. }
            | ExecuteError::PastNoReturn { .. }
            | ExecuteError::NoProducerToFence { .. }
            | ExecuteError::ProducersMovedFirst
            | ExecuteError::NoPeer { .. } => ExitStatus::BadInput,
            _ => ExitStatus::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            ExecuteError::RunState(e) => e.hint(),
            ExecuteError::Replicator(e) => e.hint(),
            ExecuteError::Move(e) => e.hint(),
            ExecuteError::Schemas(e) => e.hint().map(|h| format!("{h}; then run `kcp migrate execute` again: done steps are skipped")),
            ExecuteError::Connectors(e) => e.hint().map(|h| format!("{h}; then run `kcp migrate execute` again: done steps are skipped")),
            ExecuteError::SchemasDiffer { .. } => Some("`kcp migrate schemas --verify-only` lists every difference; fix the target registry, then run `kcp migrate execute` again".into()),
            ExecuteError::Gateway(e) => e.hint(),
            ExecuteError::Runtime(_) => None,
            ExecuteError::NoPeer { .. } => Some("add the entry to the credentials file (`schema_registries:` or `connect_clusters:`, see docs/reference/credentials.md) or fix the name in the plan".into()),
            ExecuteError::Hook(_) => Some("fix the hook (it runs with `sh -c`), then run `kcp migrate execute` again: done steps are skipped and this one runs again".into()),
            ExecuteError::UnknownGroup { .. } => Some("fix the group name in the plan's `cutover.waves`, or remove it; `kcp scan clusters` lists the groups".into()),
            ExecuteError::NotConfirmed { .. } => Some("run again and confirm, or pass --yes".into()),
            ExecuteError::Interrupted { .. } | ExecuteError::TimedOut { .. } | ExecuteError::ReplicatorThread => {
                Some("run `kcp migrate execute` again: it resumes from the migration-state file".into())
            }
            ExecuteError::WrittenAfterDrain(_) => Some("a producer still writes to the source (producers have not moved): find and stop it, then run `kcp migrate execute` again; it copies what was written and drains again".into()),
            ExecuteError::Verification { .. } => Some("`kcp migrate status` shows the lag; producers may still write to the source. Stop them and run `kcp migrate execute` again to re-drain and re-verify".into()),
            ExecuteError::Over { .. } => Some("to run the migration again from the start, move the migration-state file away".into()),
            ExecuteError::NothingToRollBack { .. } => None,
            ExecuteError::ProducersMovedFirst => Some("remove `after_producers` from the plan's waves: they then move like the others, their offsets translated exactly through the forward copy, and read on the target what the producers wrote there".into()),
            ExecuteError::NoProducerToFence { .. } => Some("name the producers' principals in the plan (`cutover.fence_producers.principals: [User:orders-app]`), or remove `fence_producers`; a super user cannot be fenced".into()),
            ExecuteError::PastNoReturn { finished, .. } => Some(format!(
                "{}To go back anyway, run a reverse migration (a plan from target to source): the provenance headers stop records from being copied in circles",
                if *finished { "the migration is finished on the target. " } else { "keep the target: finish with `kcp migrate execute`. " }
            )),
        }
    }
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
            (cx.now)(),
        )
    });
    check_not_over(&state, &path)?;
    state.runs += 1;
    state.last_error = None;
    let mut run = Run {
        cx,
        file,
        state,
        unsaved,
        replicator: None,
        back: None,
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
    let stopped_back = run.stop_back();
    let report = result?;
    stopped?;
    stopped_back?;
    Ok(report)
}

/// Connects to the source and the target at once.
pub fn connect_both(
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    timeout: Duration,
) -> Result<(Connection, Connection), ExecuteError> {
    let options = ConnectOptions { timeout };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| connect(source, options));
        let b = s.spawn(|| connect(target, options));
        (a.join(), b.join())
    });
    let a = a.map_err(|_| ExecuteError::ReplicatorThread)?;
    let b = b.map_err(|_| ExecuteError::ReplicatorThread)?;
    Ok((
        a.map_err(ReplicatorError::from)?,
        b.map_err(ReplicatorError::from)?,
    ))
}

/// Refuses to run a migration that finished or was rolled back (what
/// `execute` and its dry run check first).
pub fn check_not_over(state: &MigrationState, path: &Path) -> Result<(), ExecuteError> {
    let what = match state.outcome {
        Outcome::InProgress => return Ok(()),
        Outcome::Finished => "finished",
        Outcome::RollingBack | Outcome::RolledBack => "rolled back",
    };
    Err(ExecuteError::Over {
        what,
        path: path.to_owned(),
    })
}

pub(super) fn load_for(
    cx: &Context<'_>,
    file: &RunStateFile,
) -> Result<Option<MigrationState>, ExecuteError> {
    let Some(state) = file.load()? else {
        return Ok(None);
    };
    state.check_belongs_to(&cx.plan.plan, file.path())?;
    Ok(Some(state))
}

/// End offsets of source partitions.
pub(super) type Ends = BTreeMap<(String, i32), i64>;

/// The answer of one poll of a wait.
pub(super) enum Wait<T> {
    Done(T),
    Pending(String),
}

pub(super) struct Run<'a, 'c> {
    pub(super) cx: &'a Context<'c>,
    pub(super) file: RunStateFile,
    pub(super) state: MigrationState,
    /// Nothing written yet (a new migration before preflight passed).
    pub(super) unsaved: bool,
    pub(super) replicator: Option<Replicating>,
    /// Consumer-last: the copy back (target to source).
    pub(super) back: Option<Replicating>,
    pub(super) conns: Option<(Connection, Connection)>,
    /// The source refused to list group members (DescribeGroups); waits use
    /// the committed-offsets quiet window instead.
    pub(super) members_unknown: bool,
}

impl Run<'_, '_> {
    pub(super) fn cutover(&self) -> Cutover {
        self.cx.plan.plan.cutover.clone().unwrap_or_default()
    }

    /// Writes the migration-state file (not before a new migration's
    /// preflight has passed).
    pub(super) fn save(&mut self) -> Result<(), ExecuteError> {
        if self.unsaved && !self.state.is_done("preflight") {
            return Ok(());
        }
        self.unsaved = false;
        self.file.save(&mut self.state, (self.cx.now)())?;
        Ok(())
    }

    /// The cutover's metrics (`--metrics-addr`).
    pub(super) fn metrics(&self) -> Option<Arc<MigrationMetrics>> {
        self.cx.telemetry.as_ref().and_then(|t| t.migration())
    }

    /// Sets the cutover's metrics from the migration state.
    fn publish(&self, steps: &[Step]) {
        let Some(m) = self.metrics() else {
            return;
        };
        let r = report(&self.state);
        m.progress(&Progress {
            steps: steps.len(),
            steps_done: steps.iter().filter(|s| self.state.is_done(&s.id)).count(),
            phases: r
                .phases
                .iter()
                .map(|p| (p.phase.to_string(), p.secs))
                .collect(),
            consumer_pauses: r.consumer_pauses.into_iter().collect(),
            producer_pause_secs: r.producer_pause_secs,
            point_of_no_return: steps
                .iter()
                .any(|s| s.point_of_no_return && self.state.is_done(&s.id)),
            runs: self.state.runs,
        });
    }

    fn all(&mut self) -> Result<Executed, ExecuteError> {
        let steps = steps(self.cx.plan);
        if let Some(m) = self.metrics() {
            let ids: Vec<(String, String, bool)> = steps
                .iter()
                .map(|s| (s.id.clone(), s.phase.to_string(), s.hook.is_some()))
                .collect();
            m.steps(&ids);
        }
        self.publish(&steps);
        for step in &steps {
            if self.state.is_done(&step.id) {
                continue;
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
            if step.replicating {
                self.start_replicator()?;
            } else {
                self.stop_replicator()?;
            }
            // The copy back starts once `producers/start` is confirmed.
            if step.reversing {
                self.start_back()?;
            } else if step.action != Action::StopReverse {
                self.stop_back()?;
            }
            let resumed = self.state.current.as_ref().is_some_and(|c| c.id == step.id);
            let started_at = match &self.state.current {
                Some(c) if resumed => c.started_at,
                _ => (self.cx.now)(),
            };
            self.state.current = Some(CurrentStep {
                id: step.id.clone(),
                started_at,
            });
            self.save()?;
            self.cx.operator.step(step, resumed);
            let metrics = self.metrics();
            if let Some(m) = &metrics {
                m.step_started(
                    &step.id,
                    &step.phase.to_string(),
                    started_at.timestamp_millis() as f64 / 1000.0,
                );
            }
            let clock = Instant::now();
            let detail = match self.run_step(step) {
                Ok(detail) => detail,
                Err(e) => {
                    if let Some(m) = &metrics {
                        m.step_failed(&step.id, &step.phase.to_string());
                        m.no_step();
                    }
                    return Err(e);
                }
            };
            let finished_at = (self.cx.now)();
            self.state.current = None;
            self.state.done.push(DoneStep {
                id: step.id.clone(),
                phase: step.phase,
                started_at,
                finished_at,
                detail,
            });
            if step.action == Action::Finish {
                self.state.outcome = Outcome::Finished;
            }
            self.save()?;
            if let Some(m) = &metrics {
                m.no_step();
            }
            self.publish(&steps);
            self.cx
                .operator
                .step_done(step, clock.elapsed().as_secs_f64());
        }
        Ok(Executed {
            report: report(&self.state),
            report_path: run_state::report_path_for(self.cx.plan_path),
        })
    }

    pub(super) fn conns(&mut self) -> Result<(&Connection, &Connection), ExecuteError> {
        if self.conns.is_none() {
            self.conns = Some(connect_both(
                self.cx.source,
                self.cx.target,
                self.cx.timeout,
            )?);
        }
        let (a, b) = self.conns.as_ref().expect("just set");
        Ok((a, b))
    }

    /// Polls `f` every 250 ms until it is done, the run is interrupted, the
    /// replicator fails or `limit` passes.
    pub(super) fn wait<T>(
        &mut self,
        step: &Step,
        limit: Option<Duration>,
        f: impl FnMut(&mut Self) -> Result<Wait<T>, ExecuteError>,
    ) -> Result<T, ExecuteError> {
        self.wait_every(step, limit, Duration::from_millis(250), f)
    }

    /// [`Self::wait`], polling every `every` (while clients are paused).
    pub(super) fn wait_every<T>(
        &mut self,
        step: &Step,
        limit: Option<Duration>,
        every: Duration,
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
            std::thread::sleep(every);
        }
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    /// A finished migration's rollback does not send the user to
    /// `execute`, which refuses a finished migration.
    #[test]
    fn past_the_point_of_no_return_the_hint_fits_the_outcome() {
        let hint = |finished| {
            ExecuteError::PastNoReturn {
                step: "producers/start".into(),
                wave: None,
                finished,
            }
            .hint()
            .unwrap()
        };
        assert!(
            !hint(true).contains("kcp migrate execute"),
            "{}",
            hint(true)
        );
        assert!(hint(false).contains("finish with `kcp migrate execute`"));
    }
}
