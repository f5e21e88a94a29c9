//! A whole `kcp scan clusters`: the state file checked before minutes of
//! scanning (readable, writable, not locked by another process), clusters scanned a few at a
//! time with no lock held (read-only commands run meanwhile), then the state
//! locked, read again, merged with the outcomes and saved once. A scan in
//! which every cluster failed saves nothing: the state keeps what it had
//! (or is not created).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use super::{Progress, ScanOptions, merge, scan_cluster};
use crate::connect::{ClusterCredentials, ConnectError};
use crate::state::{Access, KafkaCluster, StateError, StateFile};

/// Clusters scanned at the same time.
const MAX_PARALLEL: usize = 4;

/// One cluster's scan.
pub struct Outcome {
    pub cluster: String,
    pub result: Result<KafkaCluster, ConnectError>,
}

/// What a scan did.
pub struct Scanned {
    /// By cluster name.
    pub outcomes: Vec<Outcome>,
    /// Whether the state file was written (not when every cluster failed).
    pub saved: bool,
}

impl Scanned {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_err()).count()
    }
}

/// Scans `clusters` into the state file at `state_file`.
pub fn run(
    state_file: &Path,
    clusters: &[&ClusterCredentials],
    options: &ScanOptions,
    progress: &dyn Progress,
    now: DateTime<Utc>,
) -> Result<Scanned, StateError> {
    // Fail before spending minutes scanning when the state cannot be used
    // or written (the lock is let go at once).
    StateFile::open(state_file, Access::Exclusive)?.load_or_new(now)?;
    let outcomes = scan_all(clusters, options, progress, now);
    let saved = outcomes.iter().any(|o| o.result.is_ok());
    if saved {
        // Read again under the lock: what another writer saved meanwhile
        // is kept.
        let file = StateFile::open(state_file, Access::Exclusive)?;
        let mut loaded = file.load_or_new(now)?;
        for outcome in &outcomes {
            let Some(creds) = clusters.iter().find(|c| c.name == outcome.cluster) else {
                continue;
            };
            let result = match &outcome.result {
                Ok(cluster) => Ok(cluster.clone()),
                Err(e) => Err(e.to_string()),
            };
            merge(&mut loaded.state, creds, result);
        }
        file.save(&mut loaded.state, now)?;
    }
    Ok(Scanned { outcomes, saved })
}

/// Scans every cluster, `MAX_PARALLEL` at a time; outcomes sorted by name.
fn scan_all(
    clusters: &[&ClusterCredentials],
    options: &ScanOptions,
    progress: &dyn Progress,
    started_at: DateTime<Utc>,
) -> Vec<Outcome> {
    let outcomes = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..MAX_PARALLEL.min(clusters.len()) {
            scope.spawn(|| {
                while let Some(creds) = clusters.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let result = scan_cluster(creds, options, progress, started_at);
                    progress.finished(&creds.name, result.is_ok());
                    if let Ok(mut all) = outcomes.lock() {
                        all.push(Outcome {
                            cluster: creds.name.clone(),
                            result,
                        });
                    }
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap_or_default();
    outcomes.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    outcomes
}
