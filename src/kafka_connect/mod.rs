//! Kafka Connect clusters through their REST API: `kcp scan connectors`
//! reads connectors, configs (secrets left out), tasks, status, plugins and
//! offsets into the state file; `kcp create-asset connectors` writes the
//! target's connector configs; `kcp migrate connectors` re-creates them on
//! a target Connect cluster and carries source connectors' offsets.
//!
//! Not to be confused with [`crate::connect`], the Kafka connection module.
//! `client` is the REST edge (over [`crate::rest`]); `mask` decides what is
//! a secret; `managed` maps classes to Confluent Cloud managed connectors
//! (pure); `scan` reads; `transform` computes target configs (pure);
//! `copy` creates, carries offsets and verifies. No clap, no terminal.

pub mod client;
pub mod copy;
pub mod managed;
pub mod mask;
pub mod scan;
pub mod transform;

pub use client::Worker;

use crate::exit::{Diagnostic, ExitStatus};
use crate::rest::{PeerError, RestError};

/// Whether a Kafka version (`3.9.1`, `7.6.0-ccs`) is at least `major.minor`.
pub fn version_at_least(version: Option<&str>, major: u32, minor: u32) -> bool {
    let Some(v) = version else { return false };
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// Everything that can go wrong talking to a Connect cluster.
#[derive(Debug, thiserror::Error)]
pub enum KafkaConnectError {
    /// No answer, a refused login, or an entry that cannot be used.
    #[error(transparent)]
    Transport(#[from] PeerError),

    #[error(
        "`{url}` (Connect cluster `{cluster}`) does not answer as a Kafka Connect REST API: {detail}"
    )]
    NotConnect {
        cluster: String,
        url: String,
        detail: String,
    },

    #[error("Connect cluster `{cluster}`: {call} failed with {status}: {message}")]
    Api {
        cluster: String,
        call: String,
        status: u16,
        message: String,
    },

    #[error("no connector of Connect cluster `{cluster}` is selected (it has {connectors})")]
    NothingSelected { cluster: String, connectors: usize },

    #[error("target Connect cluster `{cluster}` already runs connectors with other configs; nothing was written:\n{}", names.iter().map(|n| format!("  - {n}")).collect::<Vec<_>>().join("\n"))]
    Conflicts { cluster: String, names: Vec<String> },

    #[error("source connectors whose offsets must be carried are still running on `{cluster}`; nothing was written:\n{}", names.iter().map(|n| format!("  - {n}")).collect::<Vec<_>>().join("\n"))]
    SourceRunning { cluster: String, names: Vec<String> },

    #[error(
        "Connect cluster `{cluster}` does not serve the offsets API ({detail}); offsets of source connectors cannot be carried"
    )]
    NoOffsetsApi { cluster: String, detail: String },

    #[error("Connect cluster `{cluster}`: {message}")]
    Verify { cluster: String, message: String },
}

impl Diagnostic for KafkaConnectError {
    fn status(&self) -> ExitStatus {
        match self {
            KafkaConnectError::Transport(e) => e.status(),
            KafkaConnectError::NothingSelected { .. } => ExitStatus::BadInput,
            _ => ExitStatus::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            KafkaConnectError::Transport(PeerError { error: RestError::Setup { .. }, .. }) => {
                "fix the Connect cluster's entry in the credentials file (`connect_clusters:`, see docs/reference/credentials.md)".into()
            }
            KafkaConnectError::Transport(PeerError {
                error: RestError::Unreachable { .. } | RestError::Timeout { .. },
                ..
            }) => {
                "check the Connect cluster's `url` in the credentials file (a worker's REST listener, e.g. http://connect:8083), that a worker runs, and that this machine can reach it".into()
            }
            KafkaConnectError::Transport(PeerError {
                error: RestError::Unauthorized { status: 403, .. },
                ..
            }) => {
                "the credentials were accepted but lack a permission: the account needs read access to connectors (and write access on a migration target)".into()
            }
            KafkaConnectError::Transport(PeerError {
                error: RestError::Unauthorized { .. },
                ..
            }) => {
                "check the Connect cluster's `auth` in the credentials file (basic: username and password as in the workers' JAAS realm; bearer: token)".into()
            }
            KafkaConnectError::NotConnect { .. } => {
                "point `url` at a Connect worker's REST listener (its `listeners` setting, default port 8083), without a path; a worker that is still starting answers 404 for a few seconds, so retry once it has started".into()
            }
            KafkaConnectError::NothingSelected { .. } => {
                "check `--connectors` against `kcp scan connectors`' output".into()
            }
            KafkaConnectError::Conflicts { .. } => {
                "delete or rename the listed connectors on the target, or leave them out with --connectors; run with --dry-run to list them again".into()
            }
            KafkaConnectError::SourceRunning { .. } => {
                "stop them first (`PUT /connectors/<name>/stop`, Kafka 3.5+), or pass --stop-source to let kcp stop them: offsets read from a running connector move on and the target would repeat records".into()
            }
            KafkaConnectError::NoOffsetsApi { .. } => {
                "both Connect clusters need Kafka 3.7 or newer to carry offsets (offsets API and connectors created STOPPED); or pass --skip-offsets and let the target's source connectors start over".into()
            }
            _ => return None,
        })
    }
}
