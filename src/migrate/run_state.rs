//! The migration-state file: what `kcp migrate execute` has done, so that a
//! re-run (after a crash, a kill or a failed step) resumes where it stopped.
//!
//! It sits beside the plan (`plan.yaml` → `plan.migration-state.json`), is
//! versioned, written atomically after every transition (temp file, fsync,
//! rename, fsync of the folder) and locked: one `execute` or `rollback` at a
//! time per plan (`flock` on `.<name>.lock`, released by the kernel when the
//! process dies). A file that does not parse is refused with its location and
//! never overwritten.

use crate::exit::{Diagnostic, ExitStatus};
use crate::fileio::{self, LockError, LockFile, LockMode, ReadError, WriteOptions};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::connect::admin::TopicWriteAcl;

use crate::replicator::plan::Plan;

/// The layout version this build writes.
pub const VERSION: u32 = 1;

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Started, not finished: `execute` resumes it.
    InProgress,
    /// Every step done; the run report is written.
    Finished,
    /// `rollback` is undoing it.
    RollingBack,
    /// Undone: consumers and producers are back on the source.
    RolledBack,
}

/// A step that finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneStep {
    pub id: String,
    pub phase: super::steps::Phase,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// What the step measured or moved (counts, offsets, verification).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// The step in progress when the file was last written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentStep {
    pub id: String,
    pub started_at: DateTime<Utc>,
}

/// The file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationState {
    pub version: u32,
    /// The plan's `name`, `source` and `target`: a state file is refused for
    /// another plan.
    pub plan: String,
    pub source: String,
    pub target: String,
    pub outcome: Outcome,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many times `execute` has started on this migration.
    pub runs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CurrentStep>,
    /// Steps done, in order.
    #[serde(default)]
    pub done: Vec<DoneStep>,
    /// Steps `rollback` has undone, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undone: Vec<DoneStep>,
    /// The last error that stopped `execute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Deny-Write ACL bindings kcp added on the source at `producers/stop`
    /// (the plan's `fence_producers`), recorded before they are created;
    /// `rollback` deletes exactly these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fenced: Vec<TopicWriteAcl>,
    /// Connectors kcp stopped on the source Connect cluster
    /// (`cutover.connectors`), recorded before they are stopped; `rollback`
    /// resumes exactly these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped_connectors: Vec<StoppedConnector>,
}

/// A connector `execute` stopped on the source Connect cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedConnector {
    pub name: String,
    /// `source` or `sink`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl MigrationState {
    pub fn new(plan: &str, source: &str, target: &str, now: DateTime<Utc>) -> Self {
        MigrationState {
            version: VERSION,
            plan: plan.to_owned(),
            source: source.to_owned(),
            target: target.to_owned(),
            outcome: Outcome::InProgress,
            created_at: now,
            updated_at: now,
            runs: 0,
            current: None,
            done: Vec::new(),
            undone: Vec::new(),
            last_error: None,
            fenced: Vec::new(),
            stopped_connectors: Vec::new(),
        }
    }

    /// `plan `name` (source → target)`, for messages.
    pub fn describe(&self) -> String {
        format!("plan `{}` ({} → {})", self.plan, self.source, self.target)
    }

    /// Refuses a state of another plan (another name, source or target):
    /// what `execute`, `rollback`, `status` and the dry run all check.
    pub fn check_belongs_to(&self, plan: &Plan, path: &Path) -> Result<(), RunStateError> {
        if self.plan != plan.name || self.source != plan.source || self.target != plan.target {
            return Err(RunStateError::OtherPlan {
                path: path.to_owned(),
                found: self.describe(),
                expected: format!("plan `{}` ({} → {})", plan.name, plan.source, plan.target),
            });
        }
        Ok(())
    }

    pub fn is_done(&self, id: &str) -> bool {
        self.done.iter().any(|d| d.id == id)
    }

    pub fn done_step(&self, id: &str) -> Option<&DoneStep> {
        self.done.iter().find(|d| d.id == id)
    }

    /// The phase the migration is in, for `status`.
    pub fn phase(&self) -> String {
        match self.outcome {
            Outcome::Finished => "finished".into(),
            Outcome::RolledBack => "rolled back".into(),
            Outcome::RollingBack => "rolling back".into(),
            Outcome::InProgress => match (&self.current, self.done.last()) {
                (Some(c), _) => format!("{} (in progress)", c.id),
                (None, Some(d)) => format!("after {}", d.id),
                (None, None) => "not started".into(),
            },
        }
    }
}

/// Why the migration-state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunStateError {
    #[error("migration-state file `{path}` is not valid: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "migration-state file `{path}` has layout version {found}; this kcp reads up to {VERSION}"
    )]
    Newer { path: PathBuf, found: u32 },
    #[error("migration-state file `{path}` belongs to {found}, not to {expected}")]
    OtherPlan {
        path: PathBuf,
        /// `plan `name` (source → target)`.
        found: String,
        expected: String,
    },
    #[error("another kcp process{} is running this migration (`{path}` is locked)", holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { path: PathBuf, holder: Option<u32> },
    #[error("cannot read or write `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Diagnostic for RunStateError {
    fn status(&self) -> ExitStatus {
        match self {
            RunStateError::Locked { .. } => ExitStatus::Locked,
            RunStateError::Io { .. } => ExitStatus::Failure,
            _ => ExitStatus::BadInput,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            RunStateError::Corrupt { path, .. } => Some(format!(
                "kcp did not change it. Restore it from a backup, or if no step has run yet delete `{}` to start over",
                path.display()
            )),
            RunStateError::Newer { .. } => Some("use the kcp version that wrote it".into()),
            RunStateError::OtherPlan { .. } => Some(
                "each plan keeps its own migration-state file beside it; use the plan the migration was started with".into(),
            ),
            RunStateError::Locked { .. } => {
                Some("wait for it to finish, or stop it (Ctrl-C) before starting another".into())
            }
            RunStateError::Io { .. } => None,
        }
    }
}

/// The migration-state file of a plan, locked while this value lives.
#[derive(Debug)]
pub struct RunStateFile {
    path: PathBuf,
    _lock: Option<LockFile>,
}

/// `plan.yaml` → `plan.migration-state.json` in the same folder.
pub fn path_for(plan: &Path) -> PathBuf {
    sibling(plan, "migration-state.json")
}

/// `plan.yaml` → `plan.report.json` in the same folder.
pub fn report_path_for(plan: &Path) -> PathBuf {
    sibling(plan, "report.json")
}

fn sibling(plan: &Path, suffix: &str) -> PathBuf {
    let stem = plan
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kcp-migration".into());
    fileio::parent_dir(plan).join(format!("{stem}.{suffix}"))
}

impl RunStateFile {
    /// Takes the lock (exclusive, without waiting) for writing.
    pub fn lock(path: &Path) -> Result<Self, RunStateError> {
        match LockFile::acquire(path, LockMode::Exclusive) {
            Ok(lock) => Ok(RunStateFile {
                path: path.to_owned(),
                _lock: Some(lock),
            }),
            Err(LockError::Held { holder }) => Err(RunStateError::Locked {
                path: path.to_owned(),
                holder,
            }),
            Err(LockError::Io { path, source }) => Err(RunStateError::Io { path, source }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file; `None` when it does not exist yet.
    pub fn load(&self) -> Result<Option<MigrationState>, RunStateError> {
        read(&self.path)
    }

    /// Replaces the file atomically.
    pub fn save(
        &self,
        state: &mut MigrationState,
        now: DateTime<Utc>,
    ) -> Result<(), RunStateError> {
        state.updated_at = now;
        let mut bytes = serde_json::to_vec_pretty(state).expect("the state serializes");
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes).map_err(|source| RunStateError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads the migration-state file of `plan` without locking (for `status`
/// and the dry run); `None` when it does not exist. Refused, as `execute`
/// refuses it, when it belongs to another plan.
pub fn read_for(path: &Path, plan: &Plan) -> Result<Option<MigrationState>, RunStateError> {
    let state = read(path)?;
    if let Some(state) = &state {
        state.check_belongs_to(plan, path)?;
    }
    Ok(state)
}

/// Reads a migration-state file without locking; `None` when it does not
/// exist.
pub fn read(path: &Path) -> Result<Option<MigrationState>, RunStateError> {
    let text = match fileio::read_text(path) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(ReadError::NotText) => {
            return Err(RunStateError::Corrupt {
                path: path.to_owned(),
                message: "it is not a text file (UTF-8 JSON)".into(),
            });
        }
        Err(ReadError::Io(source)) => {
            return Err(RunStateError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(path, &text).map(Some)
}

/// Parses a migration-state file's text.
pub fn parse(path: &Path, text: &str) -> Result<MigrationState, RunStateError> {
    let corrupt = |e: serde_json::Error| RunStateError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
    let found = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| RunStateError::Corrupt {
            path: path.to_owned(),
            message: "no `version` number".into(),
        })?;
    if found > u64::from(VERSION) {
        return Err(RunStateError::Newer {
            path: path.to_owned(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_str(text).map_err(corrupt)
}

/// Writes `bytes` to `path` atomically (see [`fileio::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fileio::write_atomic(path, bytes, WriteOptions::REPLACE).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn round_trips_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("plan.yaml"));
        assert!(path.ends_with("plan.migration-state.json"));
        let file = RunStateFile::lock(&path).unwrap();
        assert_eq!(file.load().unwrap(), None);
        let mut s = MigrationState::new("p", "a", "b", now());
        s.done.push(DoneStep {
            id: "preflight".into(),
            phase: super::super::steps::Phase::Preflight,
            started_at: now(),
            finished_at: now(),
            detail: serde_json::Value::Null,
        });
        file.save(&mut s, now()).unwrap();
        assert_eq!(file.load().unwrap(), Some(s.clone()));
        assert_eq!(s.phase(), "after preflight");

        // A second writer is refused while the first holds the lock.
        let e = RunStateFile::lock(&path).unwrap_err();
        assert!(
            matches!(e, RunStateError::Locked { holder: Some(pid), .. } if pid == std::process::id())
        );
        drop(file);
        assert!(RunStateFile::lock(&path).is_ok());

        let e = parse(&path, "{\"version\": 1, \"plan\": ").unwrap_err();
        assert!(e.to_string().contains("EOF while parsing"), "{e}");
        assert_eq!(e.status(), ExitStatus::BadInput);
        let e = parse(&path, "{\"version\": 9}").unwrap_err();
        assert!(matches!(e, RunStateError::Newer { found: 9, .. }));
        let e = parse(&path, "{\"version\": 1, \"plan\": \"p\"}").unwrap_err();
        assert!(e.to_string().contains("missing field `source`"), "{e}");
    }
}
