//! SIGINT and SIGTERM for the commands: long runs (replicate, execute,
//! rollback) get a stop flag and stop cleanly (a second signal ends the
//! process at once); commands that save only at their end (scan, discover,
//! migrate schemas, migrate init) and those that write nothing (`migrate
//! status`, `execute --dry-run`) end at the first signal. Either way the status is 130 (interrupted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::exit::ExitStatus;

/// For commands that save only at their end (scan, discover, migrate init)
/// or write nothing (`migrate status`, `execute --dry-run`): the first
/// SIGINT or SIGTERM ends the process with the documented status 130 (not
/// the shell's 143 for a SIGTERM death); nothing was saved.
pub(super) fn exit_on_signal() -> anyhow::Result<()> {
    install_signal_handlers(Arc::new(AtomicBool::new(true)))
}

/// Sets `stop` on the first SIGINT or SIGTERM; a second one exits at once.
pub(super) fn install_signal_handlers(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("kcp-signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                for _ in 0..2 {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                    if stop.swap(true, Ordering::SeqCst) {
                        #[allow(clippy::exit)] // a second signal means "now"
                        std::process::exit(i32::from(ExitStatus::Interrupted.code()));
                    }
                }
            });
        })?;
    Ok(())
}
