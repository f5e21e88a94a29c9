//! The replicator threads of `kcp migrate execute`: the forward copy,
//! started for the copying steps, and in consumer-last plans the copy back
//! (target to source, from `producers/start` until the last wave moved);
//! both watched while waits poll (a copy that stopped on its own fails the
//! step), stopped (drained, checkpointed) before the steps that need them
//! finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::execute::{ExecuteError, Run};
use crate::connect::ClusterCredentials;
use crate::replicator::{
    self, LoadedPlan, Maps, Observer, ReplicatorError, RunOptions, Stats, Summary,
};
use crate::telemetry::ReplicatorMetrics;

/// Progress shared with the replicator thread.
#[derive(Default)]
pub(super) struct Shared {
    stats: Mutex<Option<Stats>>,
    notices: Mutex<Vec<String>>,
    checkpoint: AtomicBool,
    stats_wanted: AtomicBool,
    maps_wanted: AtomicBool,
    maps: Mutex<Option<Maps>>,
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
    fn checkpoint_wanted(&self) -> bool {
        self.checkpoint.load(Ordering::Relaxed) && self.checkpoint.swap(false, Ordering::Relaxed)
    }
    fn stats_wanted(&self) -> bool {
        self.stats_wanted.load(Ordering::Relaxed)
            && self.stats_wanted.swap(false, Ordering::Relaxed)
    }
    fn maps_wanted(&self) -> bool {
        self.maps_wanted.swap(false, Ordering::Relaxed)
    }
    fn maps(&self, maps: Maps) {
        if let Ok(mut m) = self.maps.lock() {
            *m = Some(maps);
        }
    }
}

pub(super) struct Replicating {
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    thread: JoinHandle<Result<Summary, ReplicatorError>>,
}

impl Run<'_, '_> {
    pub(super) fn stats(&self) -> Option<Stats> {
        let r = self.replicator.as_ref()?;
        r.shared.stats.lock().ok()?.clone()
    }

    /// Asks the replicator for its stats at once rather than at the next
    /// interval (a drain while clients wait).
    pub(super) fn stats_soon(&self) {
        if let Some(r) = &self.replicator {
            r.shared.stats_wanted.store(true, Ordering::Relaxed);
        }
    }

    /// Asks the replicator to checkpoint at once and hand over its
    /// offset maps as that checkpoint left them, waiting at most `limit`:
    /// exactly what the target holds, without reading the maps back from
    /// it (about a second, while a wave's consumers are parked). `None`
    /// when no replicator runs here or it did not answer in time; the
    /// caller then reads the target.
    pub(super) fn checkpointed_maps(&self, limit: Duration) -> Option<Maps> {
        let r = self.replicator.as_ref()?;
        let shared = &r.shared;
        shared.maps.lock().ok()?.take();
        shared.maps_wanted.store(true, Ordering::Relaxed);
        shared.checkpoint.store(true, Ordering::Relaxed);
        let started = Instant::now();
        loop {
            if let Some(maps) = shared.maps.lock().ok()?.take() {
                return Some(maps);
            }
            if started.elapsed() >= limit || r.thread.is_finished() {
                shared.maps_wanted.store(false, Ordering::Relaxed);
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub(super) fn forward(&self, shared: &Shared) {
        if let Ok(mut notices) = shared.notices.lock() {
            for n in notices.drain(..) {
                self.cx.operator.notice(&n);
            }
        }
    }

    /// Tells readiness whether the replicator should be copying now.
    fn copy_expected(&self, expected: bool) {
        if let Some(t) = &self.cx.telemetry {
            t.health.expect_copying(expected);
        }
    }

    pub(super) fn start_replicator(&mut self) -> Result<(), ExecuteError> {
        if self.replicator.is_some() {
            return Ok(());
        }
        if let Some(t) = &self.cx.telemetry {
            t.health.expect_copying(true);
        }
        let metrics = self.cx.telemetry.as_ref().map(|t| t.replicator());
        self.replicator = Some(spawn(
            self.cx.plan.clone(),
            (self.cx.source.clone(), self.cx.target.clone()),
            self.cx.timeout,
            metrics,
            "kcp-replicator",
        )?);
        self.cx.operator.notice("replicator started");
        Ok(())
    }

    /// Consumer-last: starts the copy back (target to source) where
    /// `reverse/start` recorded, if it does not run.
    pub(super) fn start_back(&mut self) -> Result<(), ExecuteError> {
        if self.back.is_some() {
            return Ok(());
        }
        let plan = self.back_plan()?;
        self.back = Some(spawn(
            plan,
            (self.cx.target.clone(), self.cx.source.clone()),
            self.cx.timeout,
            None,
            "kcp-copy-back",
        )?);
        self.cx.operator.notice(&format!(
            "copying the producers' new records back from `{}` to `{}`",
            self.cx.plan.plan.target, self.cx.plan.plan.source
        ));
        Ok(())
    }

    /// Stops the copy back (drains, checkpoints) if it runs.
    pub(super) fn stop_back(&mut self) -> Result<Option<Summary>, ExecuteError> {
        let Some(r) = self.back.take() else {
            return Ok(None);
        };
        let summary = self.join(r)?;
        self.cx.operator.notice(&format!(
            "stopped copying back to `{}`",
            self.cx.plan.plan.source
        ));
        Ok(Some(summary))
    }

    /// Asks the copy back to checkpoint at once (see [`Self::checkpoint_soon`]).
    pub(super) fn back_checkpoint_soon(&self) {
        if let Some(r) = &self.back {
            r.shared.checkpoint.store(true, Ordering::Relaxed);
        }
    }

    fn join(&mut self, r: Replicating) -> Result<Summary, ExecuteError> {
        r.stop.store(true, Ordering::SeqCst);
        let out = r.thread.join();
        self.forward(&r.shared);
        match out {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ExecuteError::ReplicatorThread),
        }
    }

    /// Fails when the replicator thread or the copy back has stopped on
    /// its own.
    pub(super) fn check_replicator(&mut self) -> Result<(), ExecuteError> {
        if let Some(r) = &self.replicator {
            self.forward(&r.shared);
            if r.thread.is_finished() {
                self.copy_expected(false);
                let r = self.replicator.take().expect("checked");
                return Err(ended(r));
            }
        }
        if let Some(r) = &self.back {
            self.forward(&r.shared);
            if r.thread.is_finished() {
                return Err(ended(self.back.take().expect("checked")));
            }
        }
        Ok(())
    }

    /// Stops the replicator (drains, flushes, checkpoints) if it runs.
    pub(super) fn stop_replicator(&mut self) -> Result<Option<Summary>, ExecuteError> {
        let Some(r) = self.replicator.take() else {
            return Ok(None);
        };
        self.copy_expected(false);
        let summary = self.join(r)?;
        self.cx.operator.notice("replicator stopped");
        Ok(Some(summary))
    }
}

/// The error of a copy thread that ended on its own.
fn ended(r: Replicating) -> ExecuteError {
    match r.thread.join() {
        Ok(Err(e)) => e.into(),
        _ => ExecuteError::ReplicatorThread,
    }
}

/// Starts a replicator thread over `plan` from `clusters.0` to `clusters.1`.
fn spawn(
    plan: LoadedPlan,
    (source, target): (ClusterCredentials, ClusterCredentials),
    timeout: Duration,
    metrics: Option<Arc<ReplicatorMetrics>>,
    name: &str,
) -> Result<Replicating, ExecuteError> {
    let shared = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        timeout,
        until_caught_up: false,
        max_bytes_per_sec: None,
        stats_interval: Duration::from_millis(500),
        metrics,
    };
    let (s, st) = (shared.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || replicator::run(&plan, &source, &target, &options, &*s, &st))
        .map_err(|_| ExecuteError::ReplicatorThread)?;
    Ok(Replicating {
        stop,
        shared,
        thread,
    })
}
