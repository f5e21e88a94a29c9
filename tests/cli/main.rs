//! End-to-end tests of the `kcp` binary and library, one module per area.
#![allow(unreachable_pub, clippy::print_stderr)]

#[path = "../support/mod.rs"]
mod support;

mod answers;
mod assets;
mod connect;
mod connectors;
mod consumer_last;
mod cutover;
mod discover;
mod docs;
mod escaping;
mod examples;
mod execute_lines;
mod execute_platform;
mod fan_in;
mod gateway;
mod gateway_replicas;
mod getting_started;
mod help;
mod image;
mod kafka;
mod map_identity;
mod meta_sync;
mod migrate;
mod predict;
mod proof;
mod quotas;
mod replicate;
mod report;
mod scan;
mod schemas;
mod small_answers;
mod state;
mod telemetry;
mod testbed;

use std::path::{Path, PathBuf};

/// The `kcp` binary with a clean, predictable environment.
pub fn kcp() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_kcp"));
    for var in [
        "KCP_STATE_FILE",
        "KCP_CREDENTIALS_FILE",
        "KCP_NO_PROGRESS",
        "KCP_LOG",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures").join(rel)
}

/// Output of a finished command, as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut assert_cmd::Command) -> Run {
    let out = cmd.output().expect("run kcp");
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&out.status) {
        stderr.push_str(&format!("\n[killed by signal {signal}]"));
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

/// A finished command as one text for a snapshot: exit code, stdout and
/// stderr together.
pub fn transcript(r: &Run) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        r.code, r.stdout, r.stderr
    )
}

/// What changes from run to run in kcp's output, replaced in snapshots:
/// temp folders, addresses with ports, timestamps, durations, pids.
pub fn snapshot_filters(temp: &Path) -> Vec<(String, String)> {
    vec![
        (regex_escape(&temp.display().to_string()), "[TEMP]".into()),
        (
            r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})".into(),
            "[TIME]".into(),
        ),
        (r"(127\.0\.0\.1|localhost):\d+".into(), "[ADDR]".into()),
        (r"\b\d+(\.\d+)? ?(ms|s)\b".into(), "[DURATION]".into()),
        (r"\bpid \d+".into(), "pid [PID]".into()),
    ]
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Runs `kcp` with the arguments and snapshots exit code, stdout and stderr
/// together, with [`snapshot_filters`] for `$temp`:
/// `kcp_snapshot!(temp_dir, cmd)` or `kcp_snapshot!("name", temp_dir, cmd)`.
#[macro_export]
macro_rules! kcp_snapshot {
    ($name:expr, $temp:expr, $cmd:expr) => {{
        let r = $crate::run($cmd);
        let filters = $crate::snapshot_filters($temp);
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({ filters => filters, prepend_module_to_snapshot => true }, {
            insta::assert_snapshot!($name, $crate::transcript(&r));
        });
        r
    }};
}
