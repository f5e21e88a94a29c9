//! Running kcp in production: a real Prometheus server (Debian's
//! `prometheus` package) scrapes a running `kcp migrate replicate` on two
//! real Kafka clusters; its HTTP API must show every copied record and the
//! lag going to 0. The health endpoints answer as documented when a cluster
//! goes away and comes back, the JSON log lines parse, and every metric is
//! in docs/metrics.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kafka::create_topics;
use crate::replicate::{load_sequence, pair};
use crate::repo;
use crate::support::free_port;

/// A GET over plain HTTP/1.1: status and body.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// `text` percent-encoded for a URL query.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Debian's Prometheus server, started on a free port with its own config
/// and storage in a temp folder; killed on drop.
pub struct Prometheus {
    child: Child,
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `target` (HOST:PORT) every second as job `kcp`.
    pub fn start(target: &str) -> Self {
        let binary = Path::new("/usr/bin/prometheus");
        assert!(
            binary.is_file(),
            "no Prometheus server at /usr/bin/prometheus: install Debian's `prometheus` package (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kcp\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Prometheus { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&p.addr, "/-/ready").is_none_or(|(s, _)| s != 200) {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not start: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query's single value, if the result has exactly one series.
    pub fn value(&self, query: &str) -> Option<f64> {
        let (status, body) = http_get(
            &self.addr,
            &format!("/api/v1/query?query={}", url_encode(query)),
        )?;
        assert_eq!(status, 200, "query `{query}`: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{body}");
        let result = v["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `query` has the value `want` (within 1e-9).
    pub fn wait_for(&self, query: &str, want: f64, limit: Duration, context: &dyn Fn() -> String) {
        let deadline = Instant::now() + limit;
        let mut last = None;
        loop {
            last = self.value(query).or(last);
            if last.is_some_and(|v| (v - want).abs() < 1e-9) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus: `{query}` is {last:?}, not {want}\n{}",
                context()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `GET path` answers `status`; returns the body.
fn wait_status(
    addr: &str,
    path: &str,
    status: u16,
    limit: Duration,
    log: &dyn Fn() -> String,
) -> String {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Some((s, body)) = http_get(addr, path) {
            if s == status {
                return body;
            }
            last = Some((s, body));
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered {status}; last {last:?}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn spawn_replicate(plan: &Path, metrics: &str, stderr: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["--log-format", "json", "migrate", "replicate", "--plan"])
        .arg(plan)
        .args(["--metrics-addr", metrics, "--timeout", "5"])
        .env_remove("KCP_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

/// SIGTERM, then the exit status (killed after 60 s).
fn terminate(child: &mut Child) -> Option<i32> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn prometheus_scrapes_a_running_replicator_and_the_probes_follow_the_clusters() {
    let tb = crate::require_testbed!();
    let mut p = pair(&tb, "");
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 20_000;
    create_topics(&p.source.bootstrap(), &[("events", PARTITIONS, &[])]);
    load_sequence(&p.source.bootstrap(), "events", PARTITIONS, RECORDS);

    let metrics = format!("127.0.0.1:{}", free_port());
    let stderr: PathBuf = p.dir.path().join("replicator.err");
    let mut child = spawn_replicate(&p.plan, &metrics, &stderr);
    let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
    let prometheus = Prometheus::start(&metrics);
    let context = || format!("kcp:\n{}\nprometheus:\n{}", log(), prometheus.log());

    // Every record copied is counted, once; the lag goes to 0 on every
    // partition.
    let limit = Duration::from_secs(120);
    prometheus.wait_for(r#"up{job="kcp"}"#, 1.0, limit, &context);
    prometheus.wait_for(
        "sum(kcp_replicator_copied_records_total)",
        RECORDS as f64,
        limit,
        &context,
    );
    prometheus.wait_for(
        "count(kcp_replicator_lag_records)",
        f64::from(PARTITIONS),
        limit,
        &context,
    );
    prometheus.wait_for("max(kcp_replicator_lag_records)", 0.0, limit, &context);
    prometheus.wait_for("max(kcp_replicator_lag_seconds)", 0.0, limit, &context);
    prometheus.wait_for(
        "kcp_replicator_partitions",
        f64::from(PARTITIONS),
        limit,
        &context,
    );
    // New records are counted as they are copied.
    load_sequence(&p.source.bootstrap(), "events", PARTITIONS, 1_000);
    prometheus.wait_for(
        "sum(kcp_replicator_copied_records_total)",
        (RECORDS + 1_000) as f64,
        limit,
        &context,
    );
    prometheus.wait_for(
        "sum(kcp_replicator_copied_bytes_total)",
        // `seq-NNNNNN` as key and value: 20 bytes a record.
        ((RECORDS + 1_000) * 20) as f64,
        limit,
        &context,
    );
    let checkpoint = prometheus
        .value("time() - kcp_replicator_last_checkpoint_timestamp_seconds")
        .unwrap();
    assert!(checkpoint < 10.0, "last checkpoint {checkpoint} s ago");
    assert_eq!(
        prometheus.value(r#"kcp_build_info{command="migrate replicate"}"#),
        Some(1.0)
    );

    // Probes: live and ready while copying.
    let body = wait_status(&metrics, "/readyz", 200, limit, &log);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["partitions"], PARTITIONS, "{body}");
    assert_eq!(http_get(&metrics, "/healthz").unwrap().0, 200);
    let (status, text) = http_get(&metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        text.contains(&format!(
            "kcp_replicator_copied_records_total{{plan=\"test\",topic=\"events\",partition=\"0\"}} {}",
            (RECORDS + 1_000) / PARTITIONS as usize
        )),
        "{text}"
    );

    // The target goes away: not ready (the copy cannot go on), still live
    // (restarting kcp would not help); back: ready again.
    p.target.kill_node(1);
    let body = wait_status(&metrics, "/readyz", 503, Duration::from_secs(90), &log);
    assert!(
        body.contains("the target cluster does not answer"),
        "{body}"
    );
    assert_eq!(http_get(&metrics, "/healthz").unwrap().0, 200, "{}", log());
    prometheus.wait_for(
        r#"kcp_replicator_cluster_up{cluster="target"}"#,
        0.0,
        limit,
        &context,
    );
    p.target.restart_node(&tb, 1);
    wait_status(&metrics, "/readyz", 200, Duration::from_secs(90), &log);

    // The source goes away: not ready either.
    p.source.kill_node(1);
    let body = wait_status(&metrics, "/readyz", 503, Duration::from_secs(90), &log);
    assert!(
        body.contains("the source cluster does not answer"),
        "{body}"
    );
    assert_eq!(http_get(&metrics, "/healthz").unwrap().0, 200, "{}", log());

    let code = terminate(&mut child);
    assert_eq!(code, Some(130), "{}", log());

    // `--log-format json`: every stderr line is one JSON object.
    let text = log();
    let mut serving = false;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}\n{text}"));
        for key in ["time", "level", "target", "message", "fields"] {
            assert!(v.get(key).is_some(), "no `{key}` in {line}");
        }
        serving |= v["message"].as_str().unwrap().contains("/metrics")
            && v["fields"]["addr"] == metrics.as_str();
    }
    assert!(serving, "no line names the listener: {text}");
    assert!(
        text.contains(r#""cluster":"target""#),
        "the target's loss is logged with its cluster: {text}"
    );
}

/// Readiness follows the partitions a scale-out replica holds: of two
/// replicas sharing one partition, the one without it is live but not
/// ready; when the other stops (SIGTERM: it leaves the group), the
/// partition moves over and the idle one becomes ready.
#[test]
fn a_scale_out_replica_is_ready_only_while_it_holds_partitions() {
    let tb = crate::require_testbed!();
    let p = pair(&tb, "");
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{text}  scale_out: true\n")).unwrap();
    create_topics(&p.source.bootstrap(), &[("events", 1, &[])]);
    load_sequence(&p.source.bootstrap(), "events", 1, 1_000);

    let addr = |_| format!("127.0.0.1:{}", free_port());
    let metrics: Vec<String> = (0..2).map(addr).collect();
    let stderr: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|n| p.dir.path().join(format!("{n}.err")))
        .collect();
    let logs = || {
        stderr
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let limit = Duration::from_secs(120);
    let mut children = vec![spawn_replicate(&p.plan, &metrics[0], &stderr[0])];
    let body = wait_status(&metrics[0], "/readyz", 200, limit, &logs);
    assert!(body.contains(r#""partitions":1"#), "{body}");

    // A second replica joins: the group gives the partition to one of them.
    children.push(spawn_replicate(&p.plan, &metrics[1], &stderr[1]));
    let deadline = Instant::now() + limit;
    let holder = loop {
        let answers: Vec<_> = metrics.iter().map(|m| http_get(m, "/readyz")).collect();
        if let [Some((a, body_a)), Some((b, body_b))] = answers.as_slice() {
            let idle = |body: &str| {
                body.contains("no partition is assigned to this process")
                    && body.contains(r#""copying":true"#)
            };
            match (a, b) {
                (200, 503) if idle(body_b) => break 0,
                (503, 200) if idle(body_a) => break 1,
                _ => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "never one ready replica and one idle: {answers:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let idle = 1 - holder;
    assert_eq!(
        http_get(&metrics[idle], "/healthz").unwrap().0,
        200,
        "an idle replica is alive: {}",
        logs()
    );

    // The holder stops: the partition moves to the idle replica.
    assert_eq!(terminate(&mut children[holder]), Some(130), "{}", logs());
    let body = wait_status(&metrics[idle], "/readyz", 200, limit, &logs);
    assert!(body.contains(r#""partitions":1"#), "{body}");
    assert_eq!(terminate(&mut children[idle]), Some(130), "{}", logs());
}

/// A failed `execute` keeps `/metrics` up until it is scraped once more,
/// so that Prometheus sees the failed step; then it exits with the error.
#[test]
fn a_failed_execute_waits_for_one_scrape_of_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    write_unreachable_plan(dir.path());
    let metrics = format!("127.0.0.1:{}", free_port());
    let stderr = dir.path().join("execute.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["migrate", "execute", "--yes", "--timeout", "1", "--plan"])
        .arg(dir.path().join("plan.yaml"))
        .args(["--metrics-addr", &metrics])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log().contains("keeping /metrics up") {
        assert!(Instant::now() < deadline, "{}", log());
        assert!(child.try_wait().unwrap().is_none(), "it exited: {}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it did not wait: {}",
        log()
    );
    let (_, text) = http_get(&metrics, "/metrics").unwrap();
    assert!(
        text.contains(
            r#"kcp_migration_step_failures_total{plan="t",step="preflight",phase="preflight"} 1"#
        ),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after the scrape");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "{}", log());
    assert!(log().contains("error:"), "{}", log());
}

/// A plan on two clusters that do not answer (port 1).
fn write_unreachable_plan(dir: &Path) {
    crate::support::write_credentials(
        dir,
        "clusters:\n  - name: a\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n  - name: b\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n",
    );
    std::fs::write(
        dir.join("plan.yaml"),
        "version: 1\nname: t\ncredentials_file: credentials.yaml\nsource: a\ntarget: b\n",
    )
    .unwrap();
}

/// `--metrics-addr` that cannot be used fails before anything else.
#[test]
fn a_metrics_address_in_use_or_malformed_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    write_unreachable_plan(dir.path());
    let plan = dir.path().join("plan.yaml");
    for (addr, code, text) in [
        (busy_addr.as_str(), 1, "cannot listen on"),
        ("nohost", 2, "is not an address to listen on"),
    ] {
        let r = crate::run(
            crate::kcp()
                .args(["migrate", "replicate", "--plan"])
                .arg(&plan)
                .args(["--metrics-addr", addr]),
        );
        assert_eq!(r.code, code, "{addr}: {}", r.stderr);
        assert!(r.stderr.contains(text), "{addr}: {}", r.stderr);
    }
}

/// Every metric kcp registers is listed in docs/metrics.md, and every
/// metric listed there exists.
#[test]
fn every_metric_is_documented() {
    use kcp::telemetry::{Command, HookOutcome, PartitionSample, Progress, Telemetry};
    let t = Telemetry::new(Command::Execute, "p", Duration::from_secs(60));
    // A series in every family: empty ones are not encoded.
    let r = t.replicator();
    let mut handle = r.partition("orders", 0);
    r.publish(
        &mut handle,
        &PartitionSample {
            skipped_cycles: 1,
            skipped_deleted: 1,
            lag_records: Some(0),
            map_runs: Some(1),
            ..PartitionSample::default()
        },
    );
    let m = t.migration().unwrap();
    m.steps(&[("preflight".into(), "preflight".into(), true)]);
    m.step_started("preflight", "preflight", 0.0);
    m.hook("preflight", HookOutcome::ok, 1.0);
    m.progress(&Progress {
        phases: vec![("preflight".into(), 1.0)],
        consumer_pauses: vec![("wave-1".into(), 1.0)],
        ..Progress::default()
    });
    let text = t.encode();
    let registered: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let docs = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let name = regex::Regex::new(r"^\| `([a-z_]+)`").unwrap();
    let documented: std::collections::BTreeSet<String> = docs
        .lines()
        .filter_map(|l| name.captures(l).map(|c| c[1].to_owned()))
        .collect();
    assert!(registered.len() > 20, "{text}");
    // Prometheus' own linter takes the exposition as it is.
    let mut lint = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's `prometheus` package, installed by .ci/run)");
    lint.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = lint.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        registered, documented,
        "docs/metrics.md (right) lists other metrics than kcp registers (left)"
    );
}
