//! Test bed for integration tests: real Tansu brokers (SQLite storage) and,
//! later, moto, started on free loopback ports and stopped when the handle
//! is dropped, including when a test panics.
//!
//! Binaries come from `testbed/install.sh` (cached under
//! `~/.cache/kcp/`), or from `KCP_TANSU_BIN` / `KCP_TESTBED_PYTHON`. When the
//! test bed is missing, tests skip with a loud message locally, and fail under
//! `CI=true`: CI must never pass by skipping.
#![allow(dead_code)]

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Locations of the test-bed programs.
#[derive(Debug, Clone)]
pub struct Testbed {
    pub tansu: PathBuf,
    /// The venv's Python, with moto, cbor2, boto3 and confluent-kafka.
    pub python: PathBuf,
}

fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".cache/kcp")
}

/// Finds the test bed, or explains how to install it. Returns `None` (skip)
/// only outside CI.
pub fn testbed() -> Option<Testbed> {
    let tansu = std::env::var_os("KCP_TANSU_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("tansu-0.6.0/bin/tansu"));
    let python = std::env::var_os("KCP_TESTBED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("testbed/venv/bin/python"));
    let missing: Vec<String> = [
        (&tansu, "Tansu broker", "KCP_TANSU_BIN"),
        (&python, "test-bed Python", "KCP_TESTBED_PYTHON"),
    ]
    .iter()
    .filter(|(path, _, _)| !path.is_file())
    .map(|(path, what, var)| format!("no {what} at `{}` (or set {var})", path.display()))
    .collect();
    if missing.is_empty() {
        return Some(Testbed { tansu, python });
    }
    let message = format!(
        "test bed missing: {}. Run `bash testbed/install.sh`",
        missing.join("; ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{message}");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    None
}

/// Skips the current test (returns) when the test bed is missing outside CI.
#[macro_export]
macro_rules! require_testbed {
    () => {
        match $crate::support::testbed() {
            Some(tb) => tb,
            None => return,
        }
    };
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A running Tansu broker. Several brokers can share one SQLite database
/// (that is how the SCRAM listener is built: one open broker for
/// administration, one with `--authentication` for clients).
pub struct TansuBroker {
    child: Child,
    pub port: u16,
    /// The Kafka cluster id it reports.
    pub cluster_id: String,
    dir: Arc<tempfile::TempDir>,
    log: PathBuf,
}

impl TansuBroker {
    /// Starts a broker with its own, empty SQLite database (cluster id
    /// `tansu_cluster`, Tansu's default).
    pub fn start(tb: &Testbed) -> Self {
        Self::start_named(tb, "tansu_cluster")
    }

    /// Starts a broker with its own database and the given cluster id (source
    /// and target clusters of a replication need different ids).
    pub fn start_named(tb: &Testbed, cluster_id: &str) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::spawn(tb, dir, false, cluster_id)
    }

    /// Starts another broker on the same database as `self`, optionally
    /// requiring SASL authentication.
    pub fn start_sharing(&self, tb: &Testbed, authentication: bool) -> Self {
        Self::spawn(
            tb,
            self.dir.clone(),
            authentication,
            &self.cluster_id.clone(),
        )
    }

    fn spawn(
        tb: &Testbed,
        dir: Arc<tempfile::TempDir>,
        authentication: bool,
        cluster_id: &str,
    ) -> Self {
        let mut last_error = String::new();
        // A port picked as free may be taken before Tansu binds it: retry.
        for _ in 0..5 {
            let port = free_port();
            let log = dir.path().join(format!("tansu-{port}.log"));
            let log_file = File::create(&log).expect("log file");
            let url = format!("tcp://127.0.0.1:{port}");
            let mut cmd = Command::new(&tb.tansu);
            cmd.arg("broker")
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                // Tansu resolves sqlite:// paths against its working directory.
                .args([
                    "--storage-engine",
                    "sqlite://tansu.db",
                    "--cluster-id",
                    cluster_id,
                ])
                .current_dir(dir.path())
                .env_remove("LISTENER_URL")
                .env_remove("ADVERTISED_LISTENER_URL")
                .env_remove("STORAGE_ENGINE")
                .env_remove("CLUSTER_ID")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log"))
                .stderr(log_file);
            if authentication {
                cmd.arg("--authentication");
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", tb.tansu.display()));
            let mut broker = TansuBroker {
                child,
                cluster_id: cluster_id.to_owned(),
                port,
                dir: dir.clone(),
                log,
            };
            match broker.wait_ready(Duration::from_secs(15)) {
                Ok(()) => return broker,
                Err(e) => last_error = e,
            }
        }
        panic!("Tansu did not start: {last_error}");
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}; log:\n{}", self.log_text()));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "port {} not open after {timeout:?}; log:\n{}",
                    self.port,
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The directory holding the SQLite database and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates a SCRAM user through this (unauthenticated) broker.
    pub fn create_scram_user(&self, tb: &Testbed, user: &str, password: &str, mechanism: &str) {
        let output = Command::new(&tb.tansu)
            .args(["user", "create", user, password, "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--mechanism", mechanism])
            .output()
            .expect("tansu user create");
        assert!(
            output.status.success(),
            "tansu user create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test bed's scripts folder.
pub fn testbed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed")
}

/// moto (through the MSK timestamp wrapper) with the CloudWatch CBOR shim in
/// front: one endpoint for MSK, CloudWatch and Cost Explorer. Both
/// processes are killed on drop.
pub struct Moto {
    moto: Child,
    shim: Child,
    /// The shim's port: point `AWS_ENDPOINT_URL` here.
    pub port: u16,
    pub moto_port: u16,
}

impl Moto {
    pub fn start(tb: &Testbed) -> Self {
        let moto_port = free_port();
        let mut moto = Command::new(&tb.python)
            .arg(testbed_dir().join("moto_tz_server.py"))
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", moto_port)).is_err() {
            if let Ok(Some(status)) = moto.try_wait() {
                panic!("moto exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto did not open port {moto_port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut shim = Command::new(&tb.python)
            .arg(testbed_dir().join("cw_cbor_shim.py"))
            .arg("0")
            .arg(format!("http://127.0.0.1:{moto_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the CBOR shim");
        let mut line = String::new();
        let stdout = shim.stdout.take().expect("shim stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("shim ready line");
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected shim output {line:?}"));
        Moto {
            moto,
            shim,
            port,
            moto_port,
        }
    }

    /// `http://127.0.0.1:<shim port>`.
    /// moto itself, without the shim (for seeding with boto3).
    pub fn upstream(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        for child in [&mut self.shim, &mut self.moto] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes a credentials file naming `source` as `src` and `target` as
/// `dst` (plaintext) into `dir` and returns its path.
pub fn write_pair_credentials(dir: &Path, source: &TansuBroker, target: &TansuBroker) -> PathBuf {
    write_credentials(
        dir,
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n  - name: dst\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            source.bootstrap(),
            target.bootstrap()
        ),
    )
}

/// Writes a credentials file into `dir` and returns its path.
pub fn write_credentials(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("credentials.yaml");
    std::fs::write(&path, yaml).expect("write credentials");
    path
}
