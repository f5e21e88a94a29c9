//! The replicator thread of `kcp migrate execute`: started for the
//! copying steps, watched while waits poll (a replicator that stopped on
//! its own fails the step), stopped (drained, checkpointed) before the
//! steps that need the copy finished.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::execute::{ExecuteError, Run};
use crate::replicator::{self, Observer, ReplicatorError, RunOptions, Stats, Summary};

/// Progress shared with the replicator thread.
#[derive(Default)]
pub(super) struct Shared {
    stats: Mutex<Option<Stats>>,
    notices: Mutex<Vec<String>>,
    checkpoint: AtomicBool,
    checkpoints: AtomicU64,
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
    fn checkpointed(&self) {
        self.checkpoints.fetch_add(1, Ordering::Release);
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

    /// Asks the replicator to checkpoint at once: its offset maps (and,
    /// under transactions, its copies) then cover what it copied so far,
    /// instead of what it had copied at the last interval.
    pub(super) fn checkpoint_soon(&self) {
        if let Some(r) = &self.replicator {
            r.shared.checkpoint.store(true, Ordering::Relaxed);
        }
    }

    /// Asks the replicator to checkpoint at once and waits, at most
    /// `limit`, until it has: the maps on the target then cover what it
    /// had copied when asked. Used before a wave's offsets move, once its
    /// consumers have stopped, so that the first attempt finds their
    /// newest commits copied instead of failing and trying again.
    pub(super) fn checkpoint_now(&self, limit: Duration) {
        let Some(r) = &self.replicator else {
            return;
        };
        let before = r.shared.checkpoints.load(Ordering::Acquire);
        r.shared.checkpoint.store(true, Ordering::Relaxed);
        let started = Instant::now();
        while r.shared.checkpoints.load(Ordering::Acquire) == before
            && started.elapsed() < limit
            && !r.thread.is_finished()
        {
            std::thread::sleep(Duration::from_millis(5));
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
            metrics: self.cx.telemetry.as_ref().map(|t| t.replicator()),
        };
        if let Some(t) = &self.cx.telemetry {
            t.health.expect_copying(true);
        }
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
    pub(super) fn check_replicator(&mut self) -> Result<(), ExecuteError> {
        if let Some(r) = &self.replicator {
            self.forward(&r.shared);
            if r.thread.is_finished() {
                self.copy_expected(false);
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
    pub(super) fn stop_replicator(&mut self) -> Result<Option<Summary>, ExecuteError> {
        let Some(r) = self.replicator.take() else {
            return Ok(None);
        };
        r.stop.store(true, Ordering::SeqCst);
        self.copy_expected(false);
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
