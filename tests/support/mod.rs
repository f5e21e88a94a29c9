//! Test bed for integration tests: real Apache Kafka clusters (KRaft,
//! `testbed/kafka.sh`) and moto, started on free loopback ports and stopped
//! when the handle is dropped, including when a test panics.
//!
//! Kafka's jars and the venv come from `testbed/install.sh` (cached under
//! `~/.cache/kcp/`), or from `KCP_KAFKA_ROOT` / `KCP_TESTBED_PYTHON`. When
//! the test bed is missing, tests skip with a loud message locally, and fail
//! under `CI=true`: CI must never pass by skipping.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Kafka release of the target side (the newest line), the default.
pub const KAFKA_LATEST: &str = "4.1.1";
/// A 3.x release, what most MSK clusters run: the source side where it matters.
pub const KAFKA_3: &str = "3.9.1";

/// Locations of the test-bed programs.
#[derive(Debug, Clone)]
pub struct Testbed {
    /// `<root>/<version>/libs` holds each installed Kafka release.
    pub kafka_root: PathBuf,
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
    let kafka_root = std::env::var_os("KCP_KAFKA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("kafka"));
    let python = std::env::var_os("KCP_TESTBED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("testbed/venv/bin/python"));
    let mut missing = Vec::new();
    for version in [KAFKA_LATEST, KAFKA_3] {
        let jar = kafka_root.join(format!("{version}/libs/kafka_2.13-{version}.jar"));
        if !jar.is_file() {
            missing.push(format!(
                "no Kafka {version} at `{}` (or set KCP_KAFKA_ROOT)",
                jar.display()
            ));
        }
    }
    if !python.is_file() {
        missing.push(format!(
            "no test-bed Python at `{}` (or set KCP_TESTBED_PYTHON)",
            python.display()
        ));
    }
    if missing.is_empty() {
        return Some(Testbed { kafka_root, python });
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

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct KafkaSpec {
    /// A release installed by `testbed/install.sh`.
    pub version: &'static str,
    /// 1 (default) or 3 (replication factor 3, leader failover).
    pub brokers: usize,
}

impl Default for KafkaSpec {
    fn default() -> Self {
        KafkaSpec {
            version: KAFKA_LATEST,
            brokers: 1,
        }
    }
}

/// A running Apache Kafka cluster in KRaft combined mode, laid out by
/// `testbed/kafka.sh` in a temporary folder. Every node has the listeners
/// that script documents: PLAINTEXT (a super user), SASL_PLAINTEXT (PLAIN,
/// SCRAM-SHA-256/512), SSL, MTLS and SASL_SSL; the standard authorizer is on.
/// The nodes are killed on drop; after a failed test the folder (configs and
/// each node's `server.log`) is kept and its path printed.
pub struct KafkaCluster {
    nodes: Vec<Option<Child>>,
    /// The cluster's facts from `cluster.env` (KAFKA_BOOTSTRAP, ...).
    env: HashMap<String, String>,
    /// The Kafka cluster id.
    pub cluster_id: String,
    /// The first node's PLAINTEXT port.
    pub port: u16,
    pub version: &'static str,
    dir: Option<tempfile::TempDir>,
}

impl KafkaCluster {
    /// One broker of the newest release.
    pub fn start(tb: &Testbed) -> Self {
        Self::start_with(tb, "kafka", KafkaSpec::default())
    }

    /// One broker of the newest release; `name` only labels its folder and
    /// logs (each cluster has its own random cluster id).
    pub fn start_named(tb: &Testbed, name: &str) -> Self {
        Self::start_with(tb, name, KafkaSpec::default())
    }

    pub fn start_with(tb: &Testbed, name: &str, spec: KafkaSpec) -> Self {
        let mut last_error = String::new();
        // A port picked as free may be taken before the JVM binds it: retry.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix(&format!("kcp-{name}-"))
                .tempdir()
                .expect("temp dir");
            let out = Command::new("bash")
                .arg(testbed_dir().join("kafka.sh"))
                .arg("init")
                .arg(dir.path())
                .args(["--version", spec.version, "--name", name])
                .args(["--brokers", &spec.brokers.to_string()])
                .env("KCP_KAFKA_ROOT", &tb.kafka_root)
                .output()
                .expect("run testbed/kafka.sh");
            assert!(
                out.status.success(),
                "kafka.sh init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let port = env["KAFKA_BOOTSTRAP"]
                .split(',')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("KAFKA_BOOTSTRAP");
            let mut cluster = KafkaCluster {
                nodes: Vec::new(),
                cluster_id: env["KAFKA_CLUSTER_ID"].clone(),
                env,
                port,
                version: spec.version,
                dir: Some(dir),
            };
            for node in 1..=spec.brokers {
                cluster.nodes.push(Some(cluster.spawn_node(tb, node)));
            }
            match cluster.wait_started(Duration::from_secs(60)) {
                Ok(()) => return cluster,
                Err(e) => last_error = e,
            }
        }
        panic!("Kafka did not start: {last_error}");
    }

    fn spawn_node(&self, tb: &Testbed, node: usize) -> Child {
        let stdout = std::fs::File::create(self.node_dir(node).join("stdout.log")).expect("log");
        Command::new("bash")
            .arg(testbed_dir().join("kafka.sh"))
            .arg("run")
            .arg(self.dir())
            .arg(node.to_string())
            .env("KCP_KAFKA_ROOT", &tb.kafka_root)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("log"))
            .stderr(stdout)
            .spawn()
            .expect("start a Kafka node")
    }

    fn node_dir(&self, node: usize) -> PathBuf {
        self.dir().join(format!("node-{node}"))
    }

    fn node_log(&self, node: usize) -> String {
        std::fs::read_to_string(self.node_dir(node).join("server.log")).unwrap_or_default()
    }

    fn wait_started(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for node in 1..=self.nodes.len() {
            loop {
                if self.node_log(node).contains("Kafka Server started") {
                    break;
                }
                if let Some(Ok(Some(status))) = self.nodes[node - 1].as_mut().map(|c| c.try_wait())
                {
                    return Err(format!(
                        "node {node} exited with {status}; log:\n{}",
                        self.log_text()
                    ));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "node {node} not started after {timeout:?}; log:\n{}",
                        self.log_text()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Kills node `node` (1-based) at once, as a crash would.
    pub fn kill_node(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `node` again after `kill_node` and waits until it serves.
    pub fn restart_node(&mut self, tb: &Testbed, node: usize) {
        assert!(self.nodes[node - 1].is_none(), "node {node} is running");
        let log = self.node_dir(node).join("server.log");
        let _ = std::fs::rename(&log, self.node_dir(node).join("server.log.old"));
        self.nodes[node - 1] = Some(self.spawn_node(tb, node));
        self.wait_started(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("node {node} did not restart: {e}"));
    }

    /// The PLAINTEXT bootstrap servers (a super user's listener).
    pub fn bootstrap(&self) -> String {
        self.env["KAFKA_BOOTSTRAP"].clone()
    }

    /// A listener's bootstrap servers by its `cluster.env` name: `SASL`,
    /// `SSL`, `MTLS` or `SASL_SSL`.
    pub fn listener(&self, name: &str) -> String {
        self.env[&format!("KAFKA_{name}_BOOTSTRAP")].clone()
    }

    /// The CA certificate, client certificate and client key (PEM paths).
    pub fn tls_files(&self) -> (String, String, String) {
        (
            self.env["KAFKA_CA"].clone(),
            self.env["KAFKA_CLIENT_CERT"].clone(),
            self.env["KAFKA_CLIENT_KEY"].clone(),
        )
    }

    /// Every node's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        (1..=self.nodes.len())
            .map(|n| format!("--- node {n} ---\n{}", self.node_log(n)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The folder holding the configs, data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("cluster folder").path()
    }

    /// Runs `testbed/kafka_admin.py` against the PLAINTEXT listener.
    pub fn admin(&self, tb: &Testbed, args: &[&str]) {
        let output = Command::new(&tb.python)
            .arg(testbed_dir().join("kafka_admin.py"))
            .arg(self.bootstrap())
            .args(args)
            .output()
            .expect("kafka_admin.py");
        assert!(
            output.status.success(),
            "kafka_admin.py {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates (or updates) a SCRAM user for SHA-256 and SHA-512 through the
    /// Admin API.
    pub fn create_scram_user(&self, tb: &Testbed, user: &str, password: &str) {
        self.admin(tb, &["scram-user", user, password]);
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for node in 1..=self.nodes.len() {
            self.kill_node(node);
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("Kafka cluster logs kept in {}", kept.display());
        }
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
pub fn write_pair_credentials(dir: &Path, source: &KafkaCluster, target: &KafkaCluster) -> PathBuf {
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

/// A Confluent-compatible Schema Registry (Apicurio Registry's
/// `/apis/ccompat/v7`, from `testbed/install.sh`), in-memory, on a free
/// loopback port; killed on drop. Each one is an empty registry.
pub struct SchemaRegistry {
    child: Child,
    pub port: u16,
}

/// The registry jar `testbed/install.sh` builds, or `KCP_SCHEMA_REGISTRY_JAR`.
/// `None` (skip) only outside CI.
pub fn schema_registry_jar() -> Option<PathBuf> {
    let jar = std::env::var_os("KCP_SCHEMA_REGISTRY_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("schema-registry/schema-registry-1-runner.jar"));
    if jar.is_file() {
        return Some(jar);
    }
    let message = format!(
        "test bed missing: no schema registry at `{}` (or set KCP_SCHEMA_REGISTRY_JAR). Run `bash testbed/install.sh`",
        jar.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{message}");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    None
}

impl SchemaRegistry {
    pub fn start(jar: &Path) -> Self {
        let port = free_port();
        let java = std::env::var_os("KCP_JAVA").unwrap_or_else(|| "java".into());
        let child = Command::new(java)
            .args([
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-Dquarkus.http.host=127.0.0.1",
                &format!("-Dquarkus.http.port={port}"),
                "-Dquarkus.log.level=WARN",
                "-jar",
            ])
            .arg(jar)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the schema registry");
        // Owned from here on: killed on drop, also when this panics.
        let mut registry = SchemaRegistry { child, port };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = registry.child.try_wait() {
                panic!("the schema registry exited with {status}");
            }
            if http(port, "GET", "/subjects", None).0 == 200 {
                return registry;
            }
            assert!(
                Instant::now() < deadline,
                "the schema registry did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The base URL of the Confluent API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/apis/ccompat/v7", self.port)
    }

    /// One HTTP/1.1 call to the Confluent API: (status, body).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http(self.port, method, path, body)
    }

    /// Registers a schema; returns its id.
    pub fn register(&self, subject: &str, body: serde_json::Value) -> u32 {
        let (status, answer) = self.call(
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(&body.to_string()),
        );
        assert_eq!(status, 200, "register {subject}: {answer}");
        let v: serde_json::Value = serde_json::from_str(&answer).expect("register answer");
        v["id"].as_u64().expect("an id") as u32
    }
}

/// One HTTP/1.1 call to the Confluent API on `port`: (status, body).
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_raw(
        port,
        method,
        &format!("/apis/ccompat/v7{path}"),
        body,
        "application/vnd.schemaregistry.v1+json",
        "",
    )
}

/// One HTTP/1.1 call with a JSON body (or none) on a loopback `port`:
/// (status, body).
pub fn http_json(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_raw(port, method, path, body, "application/json", "")
}

/// One HTTP/1.1 call on `port` with `extra` header lines: (status, body).
fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    content_type: &str,
    extra: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {content_type}\r\nAccept: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Kafka Connect distributed worker (`testbed/kafka.sh connect`) against
/// the PLAINTEXT listener of a test-bed cluster, REST API on a free
/// loopback port; killed on drop. Workers started with the same `group`
/// on one Kafka cluster form one Connect cluster.
pub struct ConnectWorker {
    child: Child,
    pub port: u16,
    /// `user:password` when the worker requires basic auth.
    pub basic_auth: Option<String>,
    /// How long the worker took from spawn to `GET /connectors` answering 200.
    pub startup: Duration,
    log: PathBuf,
    /// CA, client certificate and key when the worker serves mutual TLS.
    tls: Option<(String, String, String)>,
}

/// Extra settings of a worker.
#[derive(Debug, Clone, Default)]
pub struct ConnectSpec {
    /// Require HTTP basic auth (Connect's BasicAuthSecurityRestExtension)
    /// with this user and password.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with the cluster's server certificate and require a
    /// client certificate signed by its CA (mutual TLS).
    pub mtls: bool,
}

impl ConnectWorker {
    pub fn start(tb: &Testbed, kafka: &KafkaCluster, group: &str) -> Self {
        Self::start_with(tb, kafka, group, ConnectSpec::default())
    }

    pub fn start_with(tb: &Testbed, kafka: &KafkaCluster, group: &str, spec: ConnectSpec) -> Self {
        let port = free_port();
        let wdir = kafka.dir().join(format!("connect-{group}"));
        std::fs::create_dir_all(&wdir).expect("worker dir");
        let mut props = String::new();
        let mut jvm = String::new();
        if let Some((user, password)) = &spec.basic_auth {
            let users = wdir.join("users.properties");
            std::fs::write(&users, format!("{user}: {password}\n")).expect("users");
            let jaas = wdir.join("jaas.conf");
            std::fs::write(
                &jaas,
                format!(
                    "KafkaConnect {{\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file=\"{}\";\n}};\n",
                    users.display()
                ),
            )
            .expect("jaas");
            props.push_str("rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension\n");
            jvm = format!("-Djava.security.auth.login.config={}", jaas.display());
        }
        if spec.mtls {
            props.push_str(&mtls_props(kafka, &wdir, port));
        }
        let started = Instant::now();
        let stdout = std::fs::File::create(wdir.join("stdout.log")).expect("log");
        let child = Command::new("bash")
            .arg(testbed_dir().join("kafka.sh"))
            .arg("connect")
            .arg(kafka.dir())
            .arg(group)
            .arg(port.to_string())
            .env("KCP_KAFKA_ROOT", &tb.kafka_root)
            .env("KCP_CONNECT_PROPS", props)
            .env("KCP_KAFKA_JVM_OPTS", jvm)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("log"))
            .stderr(stdout)
            .spawn()
            .expect("start a Connect worker");
        let mut worker = ConnectWorker {
            child,
            port,
            basic_auth: spec.basic_auth.map(|(u, p)| format!("{u}:{p}")),
            startup: Duration::ZERO,
            log: wdir.join("server.log"),
            tls: spec.mtls.then(|| kafka.tls_files()),
        };
        // The REST API answers 404 for a few seconds after the port opens.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = worker.child.try_wait() {
                panic!(
                    "the Connect worker exited with {status}; log:\n{}",
                    worker.log_text()
                );
            }
            if worker.call("GET", "/connectors", None).0 == 200 {
                worker.startup = started.elapsed();
                eprintln!(
                    "Connect worker `{group}` answered after {:?}",
                    worker.startup
                );
                return worker;
            }
            assert!(
                Instant::now() < deadline,
                "the Connect worker did not answer on port {port}; log:\n{}",
                worker.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The REST URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One HTTP/1.1 call to the REST API: (status, body).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        if let Some((ca, cert, key)) = &self.tls {
            return curl_mtls(&self.url(), ca, cert, key, method, path, body);
        }
        let auth = self
            .basic_auth
            .as_ref()
            .map(|a| format!("Authorization: Basic {}\r\n", base64(a.as_bytes())))
            .unwrap_or_default();
        http_raw(self.port, method, path, body, "application/json", &auth)
    }

    /// A call that must succeed; its JSON answer. A worker that answers
    /// that its cluster is rebalancing (409, or 500 "a rebalance is
    /// expected") is asked again for up to 60 s, as kcp's own client does.
    pub fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let text = body.map(|b| b.to_string());
        let deadline = Instant::now() + Duration::from_secs(60);
        let (status, answer) = loop {
            let (status, answer) = self.call(method, path, text.as_deref());
            let rebalancing = matches!(status, 409 | 500) && answer.contains("rebalance");
            if !rebalancing || Instant::now() > deadline {
                break (status, answer);
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        if answer.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&answer)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}: {answer}"))
        }
    }

    /// Polls until `check` holds on `GET path` (up to 60 s).
    pub fn wait_for(
        &self,
        path: &str,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.call("GET", path, None);
            if status == 200
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
                && check(&v)
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: last answer to {path}: {status} {body}\nlog:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for ConnectWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker settings of an HTTPS listener requiring client certificates:
/// PKCS#12 stores made from the cluster's PEM files (Jetty reads no PEM).
fn mtls_props(kafka: &KafkaCluster, wdir: &Path, port: u16) -> String {
    let tls = kafka.dir().join("tls");
    let keystore = wdir.join("server.p12");
    let truststore = wdir.join("trust.p12");
    let _ = std::fs::remove_file(&truststore);
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("run openssl/keytool");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:changeit", "-in"])
        .arg(tls.join("server.crt"))
        .arg("-inkey")
        .arg(tls.join("server.key"))
        .arg("-out")
        .arg(&keystore));
    run(Command::new("keytool")
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
            "-file",
        ])
        .arg(tls.join("ca.pem"))
        .arg("-keystore")
        .arg(&truststore));
    format!(
        "listeners=https://127.0.0.1:{port}\nrest.advertised.listener=https\n\
         listeners.https.ssl.keystore.location={}\nlisteners.https.ssl.keystore.type=PKCS12\n\
         listeners.https.ssl.keystore.password=changeit\nlisteners.https.ssl.key.password=changeit\n\
         listeners.https.ssl.truststore.location={}\nlisteners.https.ssl.truststore.type=PKCS12\n\
         listeners.https.ssl.truststore.password=changeit\nlisteners.https.ssl.client.auth=required\n",
        keystore.display(),
        truststore.display()
    )
}

/// One HTTPS call with a client certificate, through curl: (status, body).
fn curl_mtls(
    base: &str,
    ca: &str,
    cert: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s", "-m", "30", "-X", method, "--cacert", ca, "--cert", cert, "--key", key,
    ])
    .args([
        "-H",
        "content-type: application/json",
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(b) = body {
        cmd.args(["--data", b]);
    }
    let Ok(out) = cmd.arg(format!("{base}{path}")).output() else {
        return (0, String::new());
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
