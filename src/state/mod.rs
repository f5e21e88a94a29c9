//! The versioned state file, `kcp-state.json`: its model, how it is loaded
//! and validated, upgraded from older layouts, and saved atomically under an
//! advisory lock.
//!
//! This module owns every byte of the state file. It does no networking and
//! reads no clock: callers pass `now`.

mod aws_model;
mod connect_model;
mod model;
mod store;
pub(crate) mod upgrade;
mod validate;

pub use aws_model::*;
pub use connect_model::*;
pub use model::*;

/// The JSON Schema (draft 2020-12) of the state file this build writes,
/// generated from the model; `docs/reference/state-schema.json` is a copy
/// that the tests keep equal.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(State);
    serde_json::to_string_pretty(&schema).expect("schemas serialize")
}
pub use store::{Access, Loaded, StateFile, parse};
pub use validate::Problem;

use crate::exit::{Diagnostic, ExitStatus};
use std::path::PathBuf;

/// Everything that can go wrong with a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file `{path}` does not exist")]
    NotFound { path: PathBuf },

    #[error("cannot read state file `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("state file `{path}` is not a text file (UTF-8 JSON)")]
    NotText { path: PathBuf },

    #[error("cannot write state file `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("state file `{path}` is not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },

    #[error("state file `{path}` is not a kcp state file: {message}")]
    NotAState { path: PathBuf, message: String },

    #[error(
        "state file `{path}` has schema version {found}, but this kcp ({ours}) supports versions up to {supported}{}",
        writer.as_ref().map(|w| format!("; it was written by kcp {w}")).unwrap_or_default()
    )]
    Newer {
        path: PathBuf,
        found: u32,
        supported: u32,
        ours: &'static str,
        writer: Option<String>,
    },

    #[error("state file `{path}` is invalid:\n{}", format_problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },

    #[error("state file `{path}` could not be upgraded")]
    Upgrade {
        path: PathBuf,
        #[source]
        source: upgrade::UpgradeError,
    },

    #[error("state file `{path}` is in use by another kcp process{}", holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { path: PathBuf, holder: Option<u32> },
}

fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Diagnostic for StateError {
    fn status(&self) -> ExitStatus {
        match self {
            StateError::Locked { .. } => ExitStatus::Locked,
            StateError::Io { .. } | StateError::Write { .. } => ExitStatus::Failure,
            _ => ExitStatus::BadInput,
        }
    }

    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        Some(match self {
            StateError::NotFound { .. } => {
                "run `kcp discover` or `kcp scan clusters` to create it, or point `--state-file` (or `KCP_STATE_FILE`) at an existing file".to_owned()
            }
            StateError::NotText { .. } => {
                "point `--state-file` (or `KCP_STATE_FILE`) at a kcp state file; kcp did not change this one".to_owned()
            }
            StateError::Syntax { .. } | StateError::Invalid { .. } => {
                "fix the file by hand at the location shown; if a kcp upgrade rewrote it, the `.v<N>.bak` copy it kept next to it is the version before".to_owned()
            }
            StateError::NotAState { .. } => {
                "check `--state-file`: it must point at a file written by kcp".to_owned()
            }
            StateError::Newer { .. } => {
                "install a newer kcp (`cargo install --path .` from an up-to-date checkout) to read this file".to_owned()
            }
            StateError::Upgrade { .. } => {
                "the file does not match the layout of its version; restore it from a backup or fix the field shown".to_owned()
            }
            StateError::Locked { .. } => {
                "wait for the other kcp command to finish; if none is running, the lock is released automatically when its process exits".to_owned()
            }
            StateError::Io { .. } | StateError::Write { .. } => return None,
        })
    }
}
