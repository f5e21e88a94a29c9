//! What the cutover tests with proof clients share: waiting for a consumer
//! to read what was produced, a checker's verdict on the two logs
//! (`testbed/live_clients.py check`, `testbed/gateway_clients.py check`),
//! and `migrate execute` run until it announces a step (to kill it there).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Waits (at most 60 s) until `consumed()` lines reach `produced`.
pub(crate) fn wait_consumed(produced: usize, consumed: impl Fn() -> usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumed() < produced && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `testbed/<script> check` on the producer's and the consumer's logs: its
/// JSON answer (whatever its exit code).
pub(crate) fn check_logs(
    python: &Path,
    script: &str,
    produced: &Path,
    consumed: &Path,
) -> serde_json::Value {
    let out = Command::new(python)
        .arg(crate::support::testbed_dir().join(script))
        .arg("check")
        .arg("--produced")
        .arg(produced)
        .arg("--consumed")
        .arg(consumed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

/// `kcp migrate execute --yes --plan PLAN` running, its stderr read line
/// by line (kcp announces a step there right after recording it as
/// current).
pub(crate) struct Execute {
    child: Child,
    lines: Receiver<String>,
}

impl Execute {
    pub(crate) fn start(plan: &Path) -> Execute {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
            .arg(plan)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Execute { child, lines }
    }

    /// Waits (at most 120 s) for a line `announces` accepts, then kills
    /// the run (SIGKILL). `Err`: the lines before, the run having ended
    /// (or hung) first; it is killed too.
    pub(crate) fn kill_at(mut self, announces: impl Fn(&str) -> bool) -> Result<(), Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        let found = loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if announces(&line) => break true,
                Ok(line) => seen.push(line),
                Err(_) => break false,
            }
        };
        if found {
            self.child.kill().unwrap();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if found { Ok(()) } else { Err(seen) }
    }
}
