//! End-to-end tests of the `kcp` binary and library, one module per area.
#![allow(unreachable_pub, clippy::print_stderr)]

#[path = "../support/mod.rs"]
mod support;

mod assets;
mod connect;
mod cutover;
mod discover;
mod docs;
mod examples;
mod help;
mod kafka;
mod migrate;
mod replicate;
mod report;
mod scan;
mod state;
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
