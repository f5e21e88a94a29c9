//! The cutover's metrics (`kcp_migration_*`), set by `migrate execute` at
//! each step transition and around each hook.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: String,
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaveLabels {
    wave: String,
}

/// How a hook ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum HookOutcome {
    ok,
    failed,
    timed_out,
    interrupted,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    step: String,
    outcome: HookOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookStepLabels {
    step: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The cutover's metrics.
#[derive(Debug)]
pub struct MigrationMetrics {
    steps: Gauge,
    steps_done: Gauge,
    current_step: Family<StepLabels, Gauge>,
    current: Mutex<Option<StepLabels>>,
    step_started: FloatGauge,
    phase_seconds: Family<PhaseLabels, FloatGauge>,
    consumer_pause: Family<WaveLabels, FloatGauge>,
    producer_pause: FloatGauge,
    hook_runs: Family<HookLabels, Counter>,
    hook_seconds: Family<HookStepLabels, FloatGauge>,
    step_failures: Family<StepLabels, Counter>,
    point_of_no_return: Gauge,
    runs: Gauge,
}

/// A finished step's effect on the metrics, from the migration state.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub steps: usize,
    pub steps_done: usize,
    /// Seconds per phase done so far.
    pub phases: Vec<(String, f64)>,
    pub consumer_pauses: Vec<(String, f64)>,
    pub producer_pause_secs: Option<f64>,
    pub point_of_no_return: bool,
    pub runs: u32,
}

impl MigrationMetrics {
    pub(super) fn register(r: &mut Registry) -> Self {
        let m = MigrationMetrics {
            steps: Gauge::default(),
            steps_done: Gauge::default(),
            current_step: Family::default(),
            current: Mutex::new(None),
            step_started: FloatGauge::default(),
            phase_seconds: Family::default(),
            consumer_pause: Family::default(),
            producer_pause: FloatGauge::default(),
            hook_runs: Family::default(),
            hook_seconds: Family::default(),
            step_failures: Family::default(),
            point_of_no_return: Gauge::default(),
            runs: Gauge::default(),
        };
        r.register(
            "kcp_migration_steps",
            "Steps of the cutover in the plan",
            m.steps.clone(),
        );
        r.register(
            "kcp_migration_steps_done",
            "Steps of the cutover done (across runs)",
            m.steps_done.clone(),
        );
        r.register(
            "kcp_migration_current_step",
            "1 for the step running now (labels step and phase); no series between steps",
            m.current_step.clone(),
        );
        r.register(
            "kcp_migration_step_started_timestamp_seconds",
            "Unix time the running step started (first started, for a resumed step)",
            m.step_started.clone(),
        );
        r.register_with_unit(
            "kcp_migration_phase",
            "Time each phase of the cutover took, over its done steps",
            Unit::Seconds,
            m.phase_seconds.clone(),
        );
        r.register_with_unit(
            "kcp_migration_consumer_pause",
            "How long a wave's consumers were stopped (start of its stop step to the end of its start step)",
            Unit::Seconds,
            m.consumer_pause.clone(),
        );
        r.register_with_unit(
            "kcp_migration_producer_pause",
            "How long the producers were stopped (start of producers/stop to the end of producers/start)",
            Unit::Seconds,
            m.producer_pause.clone(),
        );
        r.register(
            "kcp_migration_hook_runs",
            "Hook runs by step and outcome (ok, failed, timed_out, interrupted)",
            m.hook_runs.clone(),
        );
        r.register_with_unit(
            "kcp_migration_hook_duration",
            "How long the step's hook ran, last time",
            Unit::Seconds,
            m.hook_seconds.clone(),
        );
        r.register(
            "kcp_migration_step_failures",
            "Steps that failed (the run stops; `kcp migrate execute` again resumes)",
            m.step_failures.clone(),
        );
        r.register(
            "kcp_migration_point_of_no_return",
            "1 once producers were started against the target (rollback is no longer possible)",
            m.point_of_no_return.clone(),
        );
        r.register(
            "kcp_migration_runs",
            "`kcp migrate execute` runs this migration has taken, this one included",
            m.runs.clone(),
        );
        m
    }

    /// The plan's steps, `(id, phase, has a hook)`: their failure counters
    /// (and hook outcomes) start at 0, so that the first failure is an
    /// increase.
    pub fn steps(&self, steps: &[(String, String, bool)]) {
        for (step, phase, hook) in steps {
            let _ = self.step_failures.get_or_create(&StepLabels {
                step: step.clone(),
                phase: phase.clone(),
            });
            if *hook {
                for outcome in [
                    HookOutcome::ok,
                    HookOutcome::failed,
                    HookOutcome::timed_out,
                    HookOutcome::interrupted,
                ] {
                    let _ = self.hook_runs.get_or_create(&HookLabels {
                        step: step.clone(),
                        outcome,
                    });
                }
            }
        }
    }

    /// A step starts, at Unix time `started`.
    pub fn step_started(&self, step: &str, phase: &str, started: f64) {
        let labels = StepLabels {
            step: step.to_owned(),
            phase: phase.to_owned(),
        };
        self.current_step.get_or_create(&labels).set(1);
        self.step_started.set(started);
        if let Ok(mut current) = self.current.lock()
            && let Some(previous) = current.replace(labels.clone())
            && previous != labels
        {
            self.current_step.remove(&previous);
        }
    }

    /// No step runs (between steps, or the run ended).
    pub fn no_step(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some(previous) = current.take()
        {
            self.current_step.remove(&previous);
        }
    }

    /// The migration's progress, after loading the state or finishing a step.
    pub fn progress(&self, p: &Progress) {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.steps.set(as_i64(p.steps));
        self.steps_done.set(as_i64(p.steps_done));
        for (phase, secs) in &p.phases {
            self.phase_seconds
                .get_or_create(&PhaseLabels {
                    phase: phase.clone(),
                })
                .set(*secs);
        }
        for (wave, secs) in &p.consumer_pauses {
            self.consumer_pause
                .get_or_create(&WaveLabels { wave: wave.clone() })
                .set(*secs);
        }
        if let Some(secs) = p.producer_pause_secs {
            self.producer_pause.set(secs);
        }
        self.point_of_no_return.set(i64::from(p.point_of_no_return));
        self.runs.set(i64::from(p.runs));
    }

    /// A hook of `step` ended after `secs`.
    pub fn hook(&self, step: &str, outcome: HookOutcome, secs: f64) {
        self.hook_runs
            .get_or_create(&HookLabels {
                step: step.to_owned(),
                outcome,
            })
            .inc();
        self.hook_seconds
            .get_or_create(&HookStepLabels {
                step: step.to_owned(),
            })
            .set(secs);
    }

    /// `step` failed.
    pub fn step_failed(&self, step: &str, phase: &str) {
        self.step_failures
            .get_or_create(&StepLabels {
                step: step.to_owned(),
                phase: phase.to_owned(),
            })
            .inc();
    }
}
