//! Loading and saving the state file.
//!
//! - **Loading** parses JSON (syntax errors give line and column), reads the
//!   schema version (a newer one is refused), upgrades older layouts in
//!   memory, decodes strictly (errors give a JSON pointer and what was
//!   expected) and then checks semantic rules.
//! - **Saving** is atomic: the new content goes to a temp file in the same
//!   directory, is fsynced, gets mode 0600 and is renamed over the old file,
//!   then the directory is fsynced. A crash at any point leaves either the old
//!   or the new file, never a mix. Temp files left by a crashed writer are
//!   ignored by readers and removed by the next writer.
//! - **Symlinks**: a state file reached through a symlink is written where
//!   the link points (the link is kept) and locked there.
//! - **Locking**: an advisory lock on `.<name>.lock` beside the file. Writers
//!   take it exclusively and readers shared, so two `kcp` processes cannot
//!   clobber each other. The kernel releases it when the process dies.

use std::cell::Cell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::StateError;
use super::model::{CURRENT_SCHEMA_VERSION, State, ToolInfo};
use super::upgrade;
use super::validate::{self, Problem, escape_token};
use crate::fileio::{self, LockError, LockFile, LockMode, ReadError, WriteOptions, parent_dir};

/// How a command uses the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only; other readers may hold the file at the same time.
    Shared,
    /// Read and write; no other `kcp` process may hold the file.
    Exclusive,
}

/// A loaded state and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: State,
    /// The schema version on disk when it was older than the current one.
    pub upgraded_from: Option<u32>,
}

/// An open, locked state file. The lock lasts as long as this value.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    access: Access,
    _lock: Option<LockFile>,
    /// Set by `load` when the on-disk file was of an older schema version, so
    /// that the next save keeps a `.bak` copy of it first.
    pending_backup: Cell<Option<u32>>,
}

impl StateFile {
    /// Opens the state file at `path` and takes the lock. The file itself
    /// need not exist yet.
    pub fn open(path: &Path, access: Access) -> Result<Self, StateError> {
        let mode = match access {
            Access::Shared => LockMode::Shared,
            Access::Exclusive => LockMode::Exclusive,
        };
        // Readers never create the lock file: saves are atomic renames, so a
        // reader sees the old or the new file whatever a writer does, and
        // read-only runs leave nothing behind. They still honour a lock a
        // writer holds.
        let lock = if access == Access::Shared && !LockFile::path_for(path).exists() {
            None
        } else {
            match LockFile::acquire(path, mode) {
                Ok(lock) => Some(lock),
                Err(LockError::Held { holder }) => {
                    return Err(StateError::Locked {
                        path: path.to_owned(),
                        holder,
                    });
                }
                // A reader in a read-only directory goes without a lock: no
                // kcp process can write there either.
                Err(LockError::Io { source, .. })
                    if access == Access::Shared
                        && source.kind() == io::ErrorKind::PermissionDenied =>
                {
                    None
                }
                Err(LockError::Io { path, source }) => {
                    return Err(StateError::Write { path, source });
                }
            }
        };
        let state_file = StateFile {
            path: path.to_owned(),
            access,
            _lock: lock,
            pending_backup: Cell::new(None),
        };
        if access == Access::Exclusive {
            for left in fileio::remove_stale_temp_files(path) {
                tracing::warn!(
                    "removed `{}`, left behind by an interrupted save",
                    left.display()
                );
            }
        }
        Ok(state_file)
    }

    /// The path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the state file exists on disk.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Loads, upgrades in memory and validates the state.
    pub fn load(&self, now: DateTime<Utc>) -> Result<Loaded, StateError> {
        let text = match fileio::read_text(&self.path) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(StateError::NotFound {
                    path: self.path.clone(),
                });
            }
            Err(ReadError::NotText) => {
                return Err(StateError::NotText {
                    path: self.path.clone(),
                });
            }
            Err(ReadError::Io(source)) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let loaded = parse(&self.path, &text, now)?;
        self.pending_backup.set(loaded.upgraded_from);
        Ok(loaded)
    }

    /// Loads the state, or starts a new one when the file does not exist.
    pub fn load_or_new(&self, now: DateTime<Utc>) -> Result<Loaded, StateError> {
        match self.load(now) {
            Err(StateError::NotFound { .. }) => Ok(Loaded {
                state: State::new(now),
                upgraded_from: None,
            }),
            other => other,
        }
    }

    /// Saves the state atomically. Refuses a state that does not validate, so
    /// a bug elsewhere cannot write a file that kcp would then refuse to read.
    /// When the file on disk had an older schema version, a `.bak` copy of it
    /// is made first and its path returned.
    pub fn save(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
    ) -> Result<Option<PathBuf>, StateError> {
        assert_eq!(
            self.access,
            Access::Exclusive,
            "saving needs exclusive access"
        );
        state.schema_version = CURRENT_SCHEMA_VERSION;
        state.updated_at = now.max(state.created_at);
        state.written_by = ToolInfo::current();
        state.normalize();
        let problems = validate::check(state);
        if !problems.is_empty() {
            return Err(StateError::Invalid {
                path: self.path.clone(),
                problems,
            });
        }
        let mut bytes =
            serde_json::to_vec_pretty(state).map_err(|e| self.write_err(io::Error::other(e)))?;
        bytes.push(b'\n');

        let backup = match self.pending_backup.get() {
            Some(from) => Some(self.backup(from)?),
            None => None,
        };
        fileio::write_atomic(&self.path, &bytes, WriteOptions::PRIVATE)
            .map_err(|e| self.write_err(e))?;
        self.pending_backup.set(None);
        Ok(backup)
    }

    /// Writes `bytes` to a fsynced temp file beside the state file, mode 0600.
    /// Split out of [`save`](Self::save) so tests can simulate a crash between
    /// writing and renaming.
    pub fn write_temp(&self, bytes: &[u8]) -> Result<tempfile::NamedTempFile, StateError> {
        fileio::write_temp(&self.path, bytes, true).map_err(|e| self.write_err(e))
    }

    /// Copies the current file to `<path>.v<version>.bak` (with a counter when
    /// that exists) and returns the copy's path.
    pub fn backup(&self, version: u32) -> Result<PathBuf, StateError> {
        let mut target = sibling_suffix(&self.path, &format!(".v{version}.bak"));
        let mut n = 1;
        while target.exists() {
            target = sibling_suffix(&self.path, &format!(".v{version}.{n}.bak"));
            n += 1;
        }
        fs::copy(&self.path, &target).map_err(|source| StateError::Write {
            path: target.clone(),
            source,
        })?;
        Ok(target)
    }

    fn write_err(&self, source: io::Error) -> StateError {
        StateError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// Parses, upgrades and validates state-file text. `path` is only used in errors.
pub fn parse(path: &Path, text: &str, now: DateTime<Utc>) -> Result<Loaded, StateError> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| StateError::Syntax {
        path: path.to_owned(),
        message: strip_location(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let version = upgrade::detect_version(&doc).map_err(|message| StateError::NotAState {
        path: path.to_owned(),
        message,
    })?;
    if version > CURRENT_SCHEMA_VERSION {
        return Err(StateError::Newer {
            path: path.to_owned(),
            found: version,
            supported: CURRENT_SCHEMA_VERSION,
            ours: crate::VERSION,
            writer: doc
                .pointer("/written_by/version")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        });
    }

    let (state, upgraded_from) = if version == CURRENT_SCHEMA_VERSION {
        // Decode from the text so errors carry a line and column too.
        let mut de = serde_json::Deserializer::from_str(text);
        let state = serde_path_to_error::deserialize(&mut de).map_err(|e| invalid(path, &e))?;
        (state, None)
    } else {
        let upgraded =
            upgrade::upgrade(doc, version, now).map_err(|source| StateError::Upgrade {
                path: path.to_owned(),
                source,
            })?;
        let state = serde_path_to_error::deserialize(upgraded).map_err(|e| invalid(path, &e))?;
        (state, Some(version))
    };

    let problems = validate::check(&state);
    if !problems.is_empty() {
        return Err(StateError::Invalid {
            path: path.to_owned(),
            problems,
        });
    }
    Ok(Loaded {
        state,
        upgraded_from,
    })
}

fn invalid(path: &Path, e: &serde_path_to_error::Error<serde_json::Error>) -> StateError {
    let mut pointer = String::new();
    for segment in e.path().iter() {
        pointer.push('/');
        match segment {
            serde_path_to_error::Segment::Seq { index } => pointer.push_str(&index.to_string()),
            serde_path_to_error::Segment::Map { key } => pointer.push_str(&escape_token(key)),
            serde_path_to_error::Segment::Enum { variant } => {
                pointer.push_str(&escape_token(variant))
            }
            serde_path_to_error::Segment::Unknown => pointer.push('?'),
        }
    }
    let inner = e.inner();
    let mut message = strip_location(inner);
    if inner.line() > 0 {
        message.push_str(&format!(
            " (line {}, column {})",
            inner.line(),
            inner.column()
        ));
    }
    StateError::Invalid {
        path: path.to_owned(),
        problems: vec![Problem { pointer, message }],
    }
}

/// serde_json appends " at line L column C"; we report those separately.
fn strip_location(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_owned(),
        _ => text,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kcp-state.json".to_owned())
}

/// `dir/<before><name><after>`.
fn sibling(path: &Path, before: &str, after: &str) -> PathBuf {
    parent_dir(path).join(format!("{before}{}{after}", file_name(path)))
}

fn sibling_suffix(path: &Path, suffix: &str) -> PathBuf {
    sibling(path, "", suffix)
}
