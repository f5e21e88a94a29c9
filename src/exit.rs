//! Exit codes: the one place where an outcome or an error becomes a process status.
//!
//! [`ExitStatus::ALL`] with [`ExitStatus::code`] and [`ExitStatus::meaning`]
//! is the exit-code table; the tables in `docs/commands/README.md` and
//! `ARCHITECTURE.md` are checked against it (`tests/cli/docs.rs`).
//!
//! Output whose reader went away (`kcp ... | head`) ends the command
//! quietly with 0, as `cat` or `rg` do: see [`is_broken_pipe`].

use std::error::Error;

use crate::assets::AssetError;
use crate::connect::wire::WireError;
use crate::connect::{ConnectError, CredentialsError};
use crate::discover::DiscoverError;
use crate::gateway::GatewayError;
use crate::kafka_connect::KafkaConnectError;
use crate::migrate::execute::ExecuteError;
use crate::migrate::hooks::HookError;
use crate::migrate::init::InitError;
use crate::migrate::offsets::MoveError;
use crate::migrate::run_state::RunStateError;
use crate::quotas::LedgerError;
use crate::replicator::{PlanError, ReplicatorError};
use crate::report::ReportError;
use crate::schema_registry::SchemaRegistryError;
use crate::state::StateError;
use crate::telemetry::ServeError;

/// What every error type of kcp says about itself: the exit status it ends
/// a command with, and what the user can do about it. An error that wraps
/// another (`#[error(transparent)]`) answers with the inner one's.
pub trait Diagnostic: Error {
    fn status(&self) -> ExitStatus;
    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// Bad command-line input that clap's parsers cannot catch (a value out of
/// range given the other flags, a selection that selects nothing): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        UsageError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl Diagnostic for UsageError {
    fn status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// The typed errors kcp knows, as [`Diagnostic`]s: the one list of them.
fn diagnostic<'a>(cause: &'a (dyn Error + 'static)) -> Option<&'a dyn Diagnostic> {
    macro_rules! first_of {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$ty>() {
                return Some(e);
            })*
        };
    }
    first_of!(
        UsageError,
        ExecuteError,
        RunStateError,
        HookError,
        MoveError,
        StateError,
        CredentialsError,
        ReportError,
        AssetError,
        DiscoverError,
        PlanError,
        InitError,
        ReplicatorError,
        ConnectError,
        WireError,
        LedgerError,
        SchemaRegistryError,
        KafkaConnectError,
        ServeError,
        GatewayError,
    );
    None
}
/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
    BadInput,
    Partial,
    Locked,
    Interrupted,
}

impl ExitStatus {
    /// Every exit status, in the order of their codes.
    pub const ALL: [ExitStatus; 6] = [
        ExitStatus::Success,
        ExitStatus::Failure,
        ExitStatus::BadInput,
        ExitStatus::Partial,
        ExitStatus::Locked,
        ExitStatus::Interrupted,
    ];

    /// What the exit code tells a script: the documented meaning.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::Failure => {
                "the operation failed (network, broker, AWS, I/O, a hook, verification)"
            }
            ExitStatus::BadInput => {
                "bad input: usage, or an invalid state, credentials, plan or mapping file"
            }
            ExitStatus::Partial => {
                "partial success: results were saved but some clusters or calls failed"
            }
            ExitStatus::Locked => {
                "locked by another `kcp` process: the state file, a migration, or a plan's copier"
            }
            ExitStatus::Interrupted => "interrupted (SIGINT/SIGTERM)",
        }
    }

    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::Partial => 3,
            ExitStatus::Locked => 4,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

/// Whether the error is a write to a pipe whose reader has gone (`| head`):
/// not a failure of the command, so nothing is printed and the status is 0.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit status of an error: the first typed error in its chain says it;
/// an error kcp does not know is a failure.
pub fn status_for(err: &anyhow::Error) -> ExitStatus {
    err.chain()
        .find_map(diagnostic)
        .map_or(ExitStatus::Failure, Diagnostic::status)
}

/// An error's message with its causes, each said once: a cause whose text
/// the message already holds (librdkafka's errors repeat their code as
/// their source) is left out.
pub fn message_for(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain().map(ToString::to_string) {
        if message.contains(&cause) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&cause);
    }
    message
}

/// The hints to print under an error, from every typed error in its chain,
/// each once.
pub fn hints_for(err: &anyhow::Error) -> Vec<String> {
    let mut hints = Vec::new();
    for hint in err.chain().filter_map(diagnostic).filter_map(|d| d.hint()) {
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    hints
}
