//! Exit codes: the one place where an outcome or an error becomes a process status.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the operation failed (network, broker, AWS, I/O, a hook) |
//! | 2 | bad input: command-line usage, or an invalid state, credentials or plan file |
//! | 3 | partial success: results were saved but some clusters or calls failed |
//! | 4 | the state file or a migration is locked by another `kcp` process |
//! | 130 | interrupted (SIGINT/SIGTERM) |
//!
//! Output whose reader went away (`kcp ... | head`) ends the command
//! quietly with 0, as `cat` or `rg` do: see [`is_broken_pipe`].

use crate::assets::AssetError;
use crate::connect::{ConnectError, CredentialsError};
use crate::discover::DiscoverError;
use crate::migrate::execute::ExecuteError;
use crate::migrate::hooks::HookError;
use crate::migrate::init::InitError;
use crate::migrate::run_state::RunStateError;
use crate::replicator::{PlanError, ReplicatorError};
use crate::report::ReportError;
use crate::state::StateError;

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

/// Chooses the exit status for an error by looking at the typed errors in its chain.
pub fn status_for(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ExecuteError>() {
            return match e {
                ExecuteError::Interrupted { .. }
                | ExecuteError::Hook(HookError::Interrupted { .. }) => ExitStatus::Interrupted,
                ExecuteError::RunState(RunStateError::Locked { .. }) => ExitStatus::Locked,
                e if e.is_bad_input() => ExitStatus::BadInput,
                _ => ExitStatus::Failure,
            };
        }
        if let Some(e) = cause.downcast_ref::<RunStateError>() {
            return match e {
                RunStateError::Locked { .. } => ExitStatus::Locked,
                e if e.is_bad_input() => ExitStatus::BadInput,
                _ => ExitStatus::Failure,
            };
        }
        if let Some(e) = cause.downcast_ref::<StateError>() {
            return match e {
                StateError::Locked { .. } => ExitStatus::Locked,
                StateError::Io { .. } | StateError::Write { .. } => ExitStatus::Failure,
                _ => ExitStatus::BadInput,
            };
        }
        if cause.downcast_ref::<CredentialsError>().is_some()
            || cause.downcast_ref::<ReportError>().is_some()
        {
            return ExitStatus::BadInput;
        }
        if let Some(e) = cause.downcast_ref::<AssetError>() {
            return if e.is_bad_input() {
                ExitStatus::BadInput
            } else {
                ExitStatus::Failure
            };
        }
        if let Some(DiscoverError::NoCredentials(_)) = cause.downcast_ref::<DiscoverError>() {
            return ExitStatus::Failure;
        }
        if cause.downcast_ref::<PlanError>().is_some()
            || cause.downcast_ref::<DiscoverError>().is_some()
            || cause.downcast_ref::<InitError>().is_some()
        {
            return ExitStatus::BadInput;
        }
        if let Some(ReplicatorError::PartitionCount { .. }) =
            cause.downcast_ref::<ReplicatorError>()
        {
            return ExitStatus::BadInput;
        }
        if cause.downcast_ref::<ConnectError>().is_some() {
            return ExitStatus::Failure;
        }
    }
    ExitStatus::Failure
}

/// The hints to print under an error, collected from the typed errors in its chain.
pub fn hints_for(err: &anyhow::Error) -> Vec<String> {
    let mut hints = Vec::new();
    for cause in err.chain() {
        let hint = if let Some(e) = cause.downcast_ref::<ExecuteError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<RunStateError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<StateError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<CredentialsError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<ConnectError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<ReportError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<PlanError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<ReplicatorError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<AssetError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<DiscoverError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<InitError>() {
            e.hint()
        } else {
            None
        };
        if let Some(hint) = hint
            && !hints.contains(&hint)
        {
            hints.push(hint);
        }
    }
    hints
}
