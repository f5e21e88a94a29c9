//! Liveness and readiness of a running replicator, as atomics the copy loop
//! and the client callbacks set and the HTTP listener reads.
//!
//! - Live: the copy loop is not running (start-up, or `execute` between
//!   replicator runs), or it went round within the liveness bound.
//! - Ready: no copy is expected (`execute` outside its copying steps), or
//!   the copy loop runs, both clusters answer and this process copies at
//!   least one partition.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// A cluster the replicator talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    Source,
    Target,
}

impl Cluster {
    pub fn name(self) -> &'static str {
        match self {
            Cluster::Source => "source",
            Cluster::Target => "target",
        }
    }
}

/// Whether a cluster answers, and why not.
#[derive(Debug, Default)]
struct Link {
    down: AtomicBool,
    why: Mutex<Option<String>>,
}

/// The health of a run.
#[derive(Debug)]
pub struct Health {
    /// When this was created, as an instant and as Unix time.
    epoch: Instant,
    epoch_unix: f64,
    liveness_bound: Duration,
    copying_expected: AtomicBool,
    copy_loop: AtomicBool,
    /// Milliseconds after `epoch` of the copy loop's last round.
    last_beat_ms: AtomicU64,
    partitions: AtomicU64,
    source: Link,
    target: Link,
}

/// What `/healthz` and `/readyz` answer (as JSON, with 200 or 503).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub ok: bool,
    /// Is the copy loop running?
    pub copying: bool,
    /// Seconds since the copy loop last went round (while it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_poll_secs_ago: Option<f64>,
    pub partitions: u64,
    pub source: String,
    pub target: String,
    /// Why not, when not `ok`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Health {
    /// `liveness_bound`: how long the copy loop may go without a round
    /// before the process counts as stuck.
    pub fn new(liveness_bound: Duration) -> Self {
        Health {
            epoch: Instant::now(),
            epoch_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            liveness_bound,
            copying_expected: AtomicBool::new(false),
            copy_loop: AtomicBool::new(false),
            last_beat_ms: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            source: Link::default(),
            target: Link::default(),
        }
    }

    /// Unix time at which this was created (the process start, near enough).
    pub fn start_time(&self) -> f64 {
        self.epoch_unix
    }

    /// Whether a copy is expected now (always for `migrate replicate`; the
    /// copying steps of `migrate execute`).
    pub fn expect_copying(&self, expected: bool) {
        self.copying_expected.store(expected, Ordering::Relaxed);
    }

    /// The copy loop starts (with both clusters just connected) or stops.
    pub fn copy_loop(&self, running: bool) {
        if running {
            self.beat();
            self.source.down.store(false, Ordering::Relaxed);
            self.target.down.store(false, Ordering::Relaxed);
        } else {
            self.partitions.store(0, Ordering::Relaxed);
        }
        self.copy_loop.store(running, Ordering::Relaxed);
    }

    /// The copy loop went round.
    pub fn beat(&self) {
        // 0 stands for never.
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_beat_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Unix time of the copy loop's last round, if it ever went round.
    pub fn last_beat(&self) -> Option<f64> {
        match self.last_beat_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch_unix + ms as f64 / 1000.0),
        }
    }

    /// The partitions this process copies now.
    pub fn set_partitions(&self, n: u64) {
        self.partitions.store(n, Ordering::Relaxed);
    }

    fn link(&self, cluster: Cluster) -> &Link {
        match cluster {
            Cluster::Source => &self.source,
            Cluster::Target => &self.target,
        }
    }

    /// A sign that `cluster` answers (a record read, a delivery, a request
    /// answered). Cheap when nothing changes: one relaxed load.
    pub fn answered(&self, cluster: Cluster) {
        let link = self.link(cluster);
        if link.down.load(Ordering::Relaxed) {
            link.down.store(false, Ordering::Relaxed);
            tracing::info!(cluster = cluster.name(), "cluster answers again");
        }
    }

    /// `cluster` did not answer (all brokers down, a request that failed).
    pub fn lost(&self, cluster: Cluster, why: &str) {
        let link = self.link(cluster);
        if let Ok(mut w) = link.why.lock() {
            *w = Some(why.to_owned());
        }
        if !link.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                cluster = cluster.name(),
                reason = why,
                "cluster does not answer"
            );
        }
    }

    /// Whether `cluster` answers, as far as known.
    pub fn is_up(&self, cluster: Cluster) -> bool {
        !self.link(cluster).down.load(Ordering::Relaxed)
    }

    fn describe(&self, cluster: Cluster) -> String {
        let link = self.link(cluster);
        if !link.down.load(Ordering::Relaxed) {
            return "ok".to_owned();
        }
        match link.why.lock().ok().and_then(|w| w.clone()) {
            Some(why) => format!("not answering: {why}"),
            None => "not answering".to_owned(),
        }
    }

    fn base(&self) -> Report {
        let copying = self.copy_loop.load(Ordering::Relaxed);
        let last = self.last_beat_ms.load(Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Report {
            ok: true,
            copying,
            last_poll_secs_ago: copying.then(|| now.saturating_sub(last) as f64 / 1000.0),
            partitions: self.partitions.load(Ordering::Relaxed),
            source: self.describe(Cluster::Source),
            target: self.describe(Cluster::Target),
            problems: Vec::new(),
        }
    }

    /// Liveness: the copy loop, when it runs, went round within the bound.
    pub fn liveness(&self) -> Report {
        let mut r = self.base();
        if let Some(ago) = r.last_poll_secs_ago
            && ago > self.liveness_bound.as_secs_f64()
        {
            r.problems.push(format!(
                "the copy loop has not gone round for {ago:.0} s (bound {} s)",
                self.liveness_bound.as_secs()
            ));
        }
        r.ok = r.problems.is_empty();
        r
    }

    /// Readiness: copying with both clusters answering, or no copy expected.
    pub fn readiness(&self) -> Report {
        let mut r = self.base();
        if self.copying_expected.load(Ordering::Relaxed) {
            if !r.copying {
                r.problems.push("the copy loop is not running (yet)".into());
            }
            for cluster in [Cluster::Source, Cluster::Target] {
                if !self.is_up(cluster) {
                    r.problems
                        .push(format!("the {} cluster does not answer", cluster.name()));
                }
            }
            if r.copying && r.partitions == 0 {
                r.problems
                    .push("no partition is assigned to this process".into());
            }
        }
        r.ok = r.problems.is_empty();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_copying_with_both_clusters_and_partitions() {
        let h = Health::new(Duration::from_secs(60));
        assert!(h.readiness().ok, "nothing expected yet");
        h.expect_copying(true);
        assert!(!h.readiness().ok);
        h.copy_loop(true);
        assert_eq!(
            h.readiness().problems,
            vec!["no partition is assigned to this process"]
        );
        h.set_partitions(3);
        assert!(h.readiness().ok);
        h.lost(Cluster::Target, "1/1 brokers are down");
        let r = h.readiness();
        assert!(!r.ok);
        assert_eq!(r.target, "not answering: 1/1 brokers are down");
        assert!(
            h.liveness().ok,
            "a cluster away does not make the process dead"
        );
        h.answered(Cluster::Target);
        assert!(h.readiness().ok);
        h.copy_loop(false);
        assert!(!h.readiness().ok);
        h.expect_copying(false);
        assert!(h.readiness().ok);
    }

    #[test]
    fn live_unless_the_copy_loop_stalls() {
        let h = Health::new(Duration::ZERO);
        assert!(h.liveness().ok, "start-up is not bounded here");
        h.copy_loop(true);
        std::thread::sleep(Duration::from_millis(20));
        let r = h.liveness();
        assert!(!r.ok, "{r:?}");
        assert!(r.problems[0].contains("has not gone round"), "{r:?}");
        h.copy_loop(false);
        assert!(h.liveness().ok);
    }
}
