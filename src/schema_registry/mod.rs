//! Confluent-compatible Schema Registries: `kcp scan schema-registry` reads
//! one into the state file, `kcp migrate schemas` copies subjects from one
//! to another keeping schema ids.
//!
//! `client` is the HTTP edge (auth, TLS, the API's errors); `scan` reads;
//! `copy` orders, copies and verifies. No clap, no terminal.

pub mod client;
pub mod copy;
pub mod scan;

pub use client::Registry;
pub use copy::{Conflict, CopyReport, CopyRequest};

use crate::exit::{Diagnostic, ExitStatus};
use crate::rest::{PeerError, RestError};

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum SchemaRegistryError {
    /// No answer, a refused login, or an entry that cannot be used.
    #[error(transparent)]
    Transport(#[from] PeerError),

    #[error(
        "`{url}` (schema registry `{registry}`) does not answer as a Confluent-compatible Schema Registry: {detail}"
    )]
    NotARegistry {
        registry: String,
        url: String,
        detail: String,
    },

    #[error("schema registry `{registry}`: {call} failed with {status}{}: {message}", code.map(|c| format!(" (error code {c})")).unwrap_or_default())]
    Api {
        registry: String,
        call: String,
        status: u16,
        code: Option<i64>,
        message: String,
    },

    #[error("schema registry `{registry}`: {message}")]
    Source { registry: String, message: String },

    #[error("no subject of schema registry `{registry}` is selected (it has {subjects})")]
    NothingSelected { registry: String, subjects: usize },

    #[error("target schema registry `{registry}` already holds something else where the copy needs to write; nothing was written:\n{}", conflicts.iter().map(|c| format!("  - {} version {} (id {}): {}", c.subject, c.version, c.id, c.problem)).collect::<Vec<_>>().join("\n"))]
    Conflicts {
        registry: String,
        conflicts: Vec<Conflict>,
    },

    #[error("target schema registry `{registry}` cannot be put in IMPORT mode: {message}")]
    NoImportMode { registry: String, message: String },

    #[error("target schema registry `{registry}` gave {subject} version {version} the id {got} instead of {wanted}{}", if *undone { "; that version was deleted again" } else { "; delete that version on the target by hand" })]
    IdNotKept {
        registry: String,
        subject: String,
        version: u32,
        wanted: u32,
        got: u32,
        undone: bool,
    },
}

impl Diagnostic for SchemaRegistryError {
    fn status(&self) -> ExitStatus {
        match self {
            SchemaRegistryError::Transport(e) => e.status(),
            SchemaRegistryError::NothingSelected { .. } => ExitStatus::BadInput,
            _ => ExitStatus::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            SchemaRegistryError::Transport(PeerError { error: RestError::Setup { .. }, .. }) => {
                "fix the registry's `tls` entry in the credentials file (see docs/reference/credentials.md)".into()
            }
            SchemaRegistryError::Transport(PeerError {
                error: RestError::Unreachable { .. } | RestError::Timeout { .. },
                ..
            }) => {
                "check the registry's `url` in the credentials file, that the registry runs, and that this machine can reach it".into()
            }
            SchemaRegistryError::Transport(PeerError {
                error: RestError::Unauthorized { status: 403, .. },
                ..
            }) => {
                "the credentials were accepted but lack a permission: grant the account read access to subjects, configs and modes (and write access on a migration target)".into()
            }
            SchemaRegistryError::Transport(PeerError {
                error: RestError::Unauthorized { .. },
                ..
            }) => {
                "check the registry's `auth` in the credentials file (basic: username and password, or Confluent Cloud's API key and secret; bearer: token)".into()
            }
            SchemaRegistryError::NotARegistry { .. } => {
                "point `url` at the registry's API root: Confluent's port (e.g. :8081), Karapace's, or Apicurio's `/apis/ccompat/v7`".into()
            }
            SchemaRegistryError::NothingSelected { .. } => {
                "check `--subjects` and `--exclude-subjects` against `kcp scan schema-registry`'s output".into()
            }
            SchemaRegistryError::Conflicts { .. } => {
                "the target is not empty where it must be: migrate into a registry (or context) whose ids are free, or delete the listed subjects and ids on the target; run with --dry-run to list them again".into()
            }
            SchemaRegistryError::NoImportMode { .. } => {
                "the account needs permission to set modes; a registry without modes (Apicurio) can only be filled with --without-import-mode, which stops at the first id it assigns differently".into()
            }
            SchemaRegistryError::IdNotKept { .. } => {
                "this target assigns its own ids: copy into an empty target with --without-import-mode only when the source's ids are dense from 1, or use a registry that supports IMPORT mode".into()
            }
            _ => return None,
        })
    }
}
