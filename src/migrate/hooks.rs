//! Hook commands: the plan's shell commands that stop and start consumers
//! and producers. Each runs with `sh -c`, stdin closed, its output on kcp's
//! stderr (stdout carries data), and a documented environment telling it
//! which way the migration goes.

use crate::exit::{Diagnostic, ExitStatus};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a hook is told through its environment.
#[derive(Debug, Clone)]
pub(crate) struct HookEnv<'a> {
    pub plan: &'a str,
    pub step: &'a str,
    /// `forward` (execute) or `rollback`.
    pub direction: &'a str,
    /// `source` or `target`: where the clients the hook starts should connect.
    pub start_on: &'a str,
    /// Bootstrap servers of that cluster, comma-separated.
    pub bootstrap: String,
    pub wave: Option<&'a str>,
    pub groups: &'a [String],
}

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook of step `{step}` (`{command}`) {outcome}")]
    Failed {
        step: String,
        command: String,
        outcome: String,
    },
    #[error("hook of step `{step}` (`{command}`) cannot start")]
    Spawn {
        step: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "hook of step `{step}` (`{command}`) was still running after {secs} s and was killed (hook_timeout_secs)"
    )]
    TimedOut {
        step: String,
        command: String,
        secs: u64,
    },
    #[error("interrupted while the hook of step `{step}` was running (it was stopped)")]
    Interrupted { step: String },
}

impl Diagnostic for HookError {
    fn status(&self) -> ExitStatus {
        match self {
            HookError::Interrupted { .. } => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        }
    }
}

/// Runs `command` to completion. Killed (and an error) after `timeout` or
/// when `stop` is set.
pub(crate) fn run(
    command: &str,
    env: &HookEnv<'_>,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), HookError> {
    let stderr = std::io::stderr();
    let out = std::os::fd::AsFd::as_fd(&stderr)
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::inherit());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("KCP_PLAN", env.plan)
        .env("KCP_STEP", env.step)
        .env("KCP_DIRECTION", env.direction)
        .env("KCP_START_ON", env.start_on)
        .env("KCP_BOOTSTRAP", &env.bootstrap)
        .env("KCP_WAVE", env.wave.unwrap_or(""))
        .env("KCP_GROUPS", env.groups.join(","))
        .stdin(Stdio::null())
        .stdout(out)
        .spawn()
        .map_err(|source| HookError::Spawn {
            step: env.step.to_owned(),
            command: command.to_owned(),
            source,
        })?;
    let started = Instant::now();
    let failed = |outcome: String| HookError::Failed {
        step: env.step.to_owned(),
        command: command.to_owned(),
        outcome,
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(failed(match status.code() {
                    Some(code) => format!("exited with status {code}"),
                    None => "was killed by a signal".into(),
                }));
            }
            Ok(None) => {}
            Err(e) => return Err(failed(format!("cannot be waited for: {e}"))),
        }
        if stop.load(Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Interrupted {
                step: env.step.to_owned(),
            });
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::TimedOut {
                step: env.step.to_owned(),
                command: command.to_owned(),
                secs: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HookEnv<'static> {
        HookEnv {
            plan: "p",
            step: "consumers/w1/stop",
            direction: "forward",
            start_on: "target",
            bootstrap: "127.0.0.1:1".into(),
            wave: Some("w1"),
            groups: &[],
        }
    }

    #[test]
    fn runs_with_its_environment_and_reports_failures() {
        let stop = AtomicBool::new(false);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let cmd = format!(
            "echo \"$KCP_STEP $KCP_DIRECTION $KCP_START_ON $KCP_BOOTSTRAP $KCP_WAVE\" > '{}'",
            out.display()
        );
        run(&cmd, &env(), Duration::from_secs(10), &stop).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "consumers/w1/stop forward target 127.0.0.1:1 w1\n"
        );
        let e = run("exit 3", &env(), Duration::from_secs(10), &stop).unwrap_err();
        assert!(e.to_string().ends_with("exited with status 3"), "{e}");
        let e = run("sleep 5", &env(), Duration::from_millis(200), &stop).unwrap_err();
        assert!(e.to_string().contains("was killed"), "{e}");
    }
}
