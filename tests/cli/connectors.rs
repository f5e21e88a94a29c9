//! `kcp scan connectors`, `kcp create-asset connectors` and `kcp migrate
//! connectors` against real Kafka Connect distributed workers
//! (`testbed/kafka.sh connect`: Apache Kafka's ConnectDistributed from the
//! test bed's jars) running real connectors: the FileStream source and sink
//! (connect-file) and MirrorMaker 2's connectors.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::kcp;
use crate::support::{ConnectSpec, ConnectWorker, KafkaCluster, write_credentials};

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A file source reading `input` into `topic`, with a plain secret and a
/// config-provider reference in its config.
fn file_source(worker: &ConnectWorker, name: &str, input: &Path, topic: &str) {
    worker.json(
        "PUT",
        &format!("/connectors/{name}/config"),
        Some(json!({
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "tasks.max": "1",
            "file": input.display().to_string(),
            "topic": topic,
            "db.password": "hunter2",
            "api.key": "${env:KCP_TEST_API_KEY}",
            "connection.url": "jdbc:postgresql://kcp:hunter2@db:5432/x",
        })),
    );
}

/// A file sink writing `topic` into `output`.
fn file_sink(worker: &ConnectWorker, name: &str, output: &Path, topic: &str) {
    worker.json(
        "PUT",
        &format!("/connectors/{name}/config"),
        Some(json!({
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1",
            "file": output.display().to_string(),
            "topics": topic,
        })),
    );
}

/// Waits until source connector `name` has committed offset `position`.
fn wait_for_position(worker: &ConnectWorker, name: &str, position: u64) -> Value {
    worker.wait_for(
        &format!("/connectors/{name}/offsets"),
        "source offsets committed",
        |v| v["offsets"][0]["offset"]["position"].as_u64() == Some(position),
    )
}

fn scan(creds: &Path, state: &Path, extra: &[&str]) -> std::process::Output {
    kcp()
        .args([
            "scan",
            "connectors",
            "--output",
            "json",
            "--credentials-file",
        ])
        .arg(creds)
        .arg("--state-file")
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

fn creds_yaml(entries: &[(&str, String)]) -> String {
    let mut yaml = "connect_clusters:\n".to_owned();
    for (name, rest) in entries {
        yaml.push_str(&format!("  - name: {name}\n{rest}"));
    }
    yaml
}

fn url_entry(url: &str) -> String {
    format!("    url: {url}\n")
}

#[test]
fn scan_reads_connectors_configs_without_secrets_status_plugins_and_offsets() {
    let tb = crate::require_testbed!();
    let kafka = KafkaCluster::start_named(&tb, "connect-scan");
    let worker = ConnectWorker::start(&tb, &kafka, "scan");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    file_source(&worker, "lines-in", &input, "lines");
    file_sink(&worker, "lines-out", &dir.path().join("out.txt"), "lines");
    wait_for_position(&worker, "lines-in", 14);

    let creds = write_credentials(
        dir.path(),
        &creds_yaml(&[
            ("src", url_entry(&worker.url())),
            ("down", url_entry("http://127.0.0.1:1")),
            ("not-connect", url_entry(&format!("{}/v1", worker.url()))),
        ]),
    );
    let state = dir.path().join("kcp-state.json");
    let out = scan(&creds, &state, &["--connect-cluster", "src"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = json_out(&out);
    let s = &summary["connect_clusters"][0];
    assert_eq!(s["connectors"], 2, "{summary}");
    assert_eq!(s["sources"], 1);
    assert_eq!(s["sinks"], 1);
    assert_eq!(s["version"], "4.1.1");
    assert_eq!(s["offsets_api"], true);
    assert_eq!(s["secret_keys"], 2, "db.password and connection.url");

    let raw = std::fs::read_to_string(&state).unwrap();
    assert!(
        !raw.contains("hunter2"),
        "a secret reached the state:\n{raw}"
    );
    assert!(!text(&out).contains("hunter2"));
    let st: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(st["schema_version"], kcp::state::CURRENT_SCHEMA_VERSION);
    let cluster = &st["connect_clusters"]["src"];
    assert_eq!(cluster["url"], worker.url());
    assert_eq!(cluster["kafka_cluster_id"], kafka.cluster_id);
    let plugins: Vec<&str> = cluster["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_str().unwrap())
        .collect();
    assert!(plugins.contains(&"org.apache.kafka.connect.file.FileStreamSourceConnector"));
    assert!(plugins.contains(&"org.apache.kafka.connect.mirror.MirrorSourceConnector"));
    let src = &cluster["connectors"]["lines-in"];
    assert_eq!(src["type"], "source");
    assert_eq!(src["state"], "RUNNING");
    assert_eq!(
        src["class"],
        "org.apache.kafka.connect.file.FileStreamSourceConnector"
    );
    assert_eq!(src["tasks"][0]["state"], "RUNNING");
    assert_eq!(src["config"]["topic"], "lines");
    assert_eq!(src["config"]["api.key"], "${env:KCP_TEST_API_KEY}");
    assert!(src["config"].get("db.password").is_none());
    assert_eq!(src["secret_keys"], json!(["connection.url", "db.password"]));
    assert_eq!(src["topics"], json!(["lines"]));
    assert_eq!(
        src["offsets"],
        json!([{"partition": {"filename": input.display().to_string()}, "offset": {"position": 14}}])
    );
    let sink = &cluster["connectors"]["lines-out"];
    assert_eq!(sink["type"], "sink");
    assert_eq!(sink["config"]["topics"], "lines");

    // All three: one scanned, one down, one no Connect API: partial (3),
    // the good one saved, each failure with its own message.
    let out = scan(&creds, &state, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let summary = json_out(&out);
    let errors: Vec<String> = summary["connect_clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["error"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(errors[0], "", "{summary}");
    assert!(errors[1].contains("cannot be reached"), "{}", errors[1]);
    assert!(
        errors[2].contains("does not answer as a Kafka Connect REST API"),
        "{}",
        errors[2]
    );
    let all = text(&out);
    assert!(
        all.contains("point `url` at a Connect worker's REST listener"),
        "{all}"
    );
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        st["connect_clusters"]["src"]["connectors"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    assert!(st["connect_clusters"]["down"]["last_error"].is_string());

    // Only the down one: nothing saved, exit 1.
    let before = std::fs::read(&state).unwrap();
    let out = scan(&creds, &state, &["--connect-cluster", "down"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    // An unknown name: bad input (2).
    let out = scan(&creds, &state, &["--connect-cluster", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("names no Connect cluster `nope`"),
        "{}",
        text(&out)
    );
}

#[test]
fn scan_authenticates_with_basic_auth_and_reports_a_refused_password() {
    let tb = crate::require_testbed!();
    let kafka = KafkaCluster::start_named(&tb, "connect-auth");
    let worker = ConnectWorker::start_with(
        &tb,
        &kafka,
        "auth",
        ConnectSpec {
            basic_auth: Some(("kcp".into(), "s3cr3t-pw".into())),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &creds_yaml(&[
            (
                "good",
                format!(
                    "{}    auth: {{ method: basic, username: kcp, password: \"${{KCP_TEST_CONNECT_PW}}\" }}\n",
                    url_entry(&worker.url())
                ),
            ),
            (
                "bad",
                format!(
                    "{}    auth: {{ method: basic, username: kcp, password: wrong-pw-123 }}\n",
                    url_entry(&worker.url())
                ),
            ),
            ("none", url_entry(&worker.url())),
        ]),
    );
    let state: PathBuf = dir.path().join("kcp-state.json");
    let out = kcp()
        .env("KCP_TEST_CONNECT_PW", "s3cr3t-pw")
        .args([
            "scan",
            "connectors",
            "--connect-cluster",
            "good",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let raw = std::fs::read_to_string(&state).unwrap();
    assert!(raw.contains("\"auth_method\": \"basic\""), "{raw}");
    assert!(!raw.contains("s3cr3t-pw"));
    for name in ["bad", "none"] {
        let out = kcp()
            .env("KCP_TEST_CONNECT_PW", "s3cr3t-pw")
            .args([
                "scan",
                "connectors",
                "--connect-cluster",
                name,
                "--credentials-file",
            ])
            .arg(&creds)
            .arg("--state-file")
            .arg(&state)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let all = text(&out);
        assert!(all.contains("refused the credentials (401"), "{all}");
        assert!(all.contains("check the Connect cluster's `auth`"), "{all}");
        assert!(!all.contains("wrong-pw-123"), "{all}");
    }
}

fn run_kcp(args: &[&str], creds: &Path, state: &Path) -> std::process::Output {
    kcp()
        .args(args)
        .arg("--credentials-file")
        .arg(creds)
        .arg("--state-file")
        .arg(state)
        .output()
        .unwrap()
}

fn connector_names(worker: &ConnectWorker) -> Vec<String> {
    let mut names: Vec<String> =
        serde_json::from_value(worker.json("GET", "/connectors", None)).unwrap();
    names.sort();
    names
}

/// A 3.9.1 source (Kafka and Connect, what most MSK estates run) and a
/// 4.1.1 target: scan, plan, assets, then the migration. The target's file
/// source resumes at the source's position, so a line appended to the
/// input reaches the output file once, after the three the source copied:
/// no line is read twice and none is lost.
#[test]
fn plan_assets_and_migration_carry_source_offsets_to_a_newer_connect_cluster() {
    use crate::support::{KAFKA_3, KafkaSpec, write_pair_credentials};
    let tb = crate::require_testbed!();
    let src_kafka = KafkaCluster::start_with(
        &tb,
        "connect-src",
        KafkaSpec {
            version: KAFKA_3,
            brokers: 1,
        },
    );
    let dst_kafka = KafkaCluster::start_named(&tb, "connect-dst");
    let src = ConnectWorker::start(&tb, &src_kafka, "src");
    let dst = ConnectWorker::start(&tb, &dst_kafka, "dst");
    eprintln!(
        "worker startup: Kafka 3.9.1 {:?}, 4.1.1 {:?}",
        src.startup, dst.startup
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    let more = dir.path().join("more.txt");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    std::fs::write(&more, "x\n").unwrap();
    file_source(&src, "lines-in", &input, "lines");
    // A cluster-specific setting: the sink's consumer names the source
    // cluster; on the target it must name the target's.
    src.json(
        "PUT",
        "/connectors/lines-out/config",
        Some(json!({
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1",
            "file": output.display().to_string(),
            "topics": "lines",
            "consumer.override.bootstrap.servers": src_kafka.bootstrap(),
        })),
    );
    file_source(&src, "more-in", &more, "more");
    wait_for_position(&src, "lines-in", 14);
    wait_for_position(&src, "more-in", 2);
    src.wait_for("/connectors/lines-out/offsets", "the sink consumed", |v| {
        v["offsets"][0]["offset"]["kafka_offset"].as_u64() == Some(3)
    });
    // The sink moves with the cutover (its consumer group); stop it here so
    // the two sinks never write the output file at once.
    src.json("PUT", "/connectors/lines-out/stop", None);
    src.json("PUT", "/connectors/more-in/stop", None);

    let creds = write_pair_credentials(dir.path(), &src_kafka, &dst_kafka);
    let mut yaml = std::fs::read_to_string(&creds).unwrap();
    yaml.push_str(&format!(
        "connect_clusters:\n  - name: src-connect\n    url: {}\n  - name: dst-connect\n    url: {}\n",
        src.url(),
        dst.url()
    ));
    std::fs::write(&creds, yaml).unwrap();
    let state = dir.path().join("kcp-state.json");
    let out = run_kcp(&["scan", "clusters", "--rate-window", "1"], &creds, &state);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_kcp(&["scan", "connectors"], &creds, &state);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["connect_clusters"]["src-connect"]["version"], "3.9.1");
    assert_eq!(st["connect_clusters"]["src-connect"]["offsets_api"], true);

    // The plan finds the source's Connect cluster by its Kafka cluster id.
    let plan = kcp()
        .args(["report", "plan", "--source", "src", "--target", "dst"])
        .args([
            "--target-connect",
            "dst-connect",
            "--format",
            "json",
            "--state-file",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let c = &plan["connectors"];
    assert_eq!(c["source_connect"], json!(["src-connect"]), "{plan}");
    assert_eq!(
        (
            c["connectors"].as_u64(),
            c["sources"].as_u64(),
            c["sinks"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(c["offsets_to_carry"], 2);
    let rows = c["rows"].as_array().unwrap();
    let row = |n: &str| rows.iter().find(|r| r["connector"] == n).unwrap().clone();
    assert_eq!(row("lines-in")["action"], "re-create");
    assert_eq!(row("lines-in")["offsets_to_carry"], 1);
    assert_eq!(row("lines-in")["topics"], json!(["lines"]));
    assert_eq!(row("lines-out")["consumer_group"], "connect-lines-out");
    let kinds: Vec<&str> = plan["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"connector_secrets"), "{kinds:?}");
    let md = kcp()
        .args([
            "report",
            "plan",
            "--source",
            "src",
            "--target",
            "dst",
            "--state-file",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("## Connectors"), "{md}");
    assert!(md.contains("| src-connect | lines-in | source |"), "{md}");
    assert!(!md.contains("hunter2"));
    let html = kcp()
        .args([
            "report",
            "plan",
            "--source",
            "src",
            "--target",
            "dst",
            "--format",
            "html",
            "--state-file",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let html = String::from_utf8_lossy(&html.stdout);
    assert!(
        html.contains("Connectors") && html.contains("connect-lines-out"),
        "{html}"
    );

    // Assets: REST JSON per connector, offsets for the source connectors,
    // placeholders for secrets, renames applied.
    let assets = dir.path().join("assets");
    let out = kcp()
        .args([
            "create-asset",
            "connectors",
            "--source",
            "src",
            "--target-type",
            "kafka",
        ])
        .args(["--target", "dst", "--topic-prefix", "dc1.", "--out"])
        .arg(&assets)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(assets.join("src-connect/lines-in.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file["name"], "lines-in");
    assert_eq!(file["config"]["topic"], "dc1.lines");
    assert_eq!(
        file["config"]["db.password"],
        "${env:KCP_LINES_IN_DB_PASSWORD}"
    );
    assert_eq!(
        file["config"]["connection.url"],
        "${env:KCP_LINES_IN_CONNECTION_URL}"
    );
    assert_eq!(file["config"]["api.key"], "${env:KCP_TEST_API_KEY}");
    let offsets: Value = serde_json::from_str(
        &std::fs::read_to_string(assets.join("src-connect/offsets/lines-in.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(offsets["offsets"][0]["offset"]["position"], 14);
    assert!(!assets.join("src-connect/offsets/lines-out.json").exists());
    for entry in std::fs::read_dir(assets.join("src-connect")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            assert!(
                !std::fs::read_to_string(&p).unwrap().contains("hunter2"),
                "{}",
                p.display()
            );
        }
    }
    let readme = std::fs::read_to_string(assets.join("README.md")).unwrap();
    assert!(
        readme.contains("consumer group `connect-lines-out`"),
        "{readme}"
    );

    // An interrupted earlier run left more-in created STOPPED on the target.
    let live = src.json("GET", "/connectors/more-in/config", None);
    dst.json(
        "POST",
        "/connectors",
        Some(json!({"name": "more-in", "config": live, "initial_state": "STOPPED"})),
    );

    let migrate = |extra: &[&str]| {
        kcp()
            .env("KCP_CREDENTIALS_FILE", &creds)
            .args([
                "migrate",
                "connectors",
                "--source",
                "src-connect",
                "--target",
                "dst-connect",
                "--source-cluster",
                "src",
                "--target-cluster",
                "dst",
                "--output",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    // lines-in still runs on the source: refused, nothing written.
    let out = migrate(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("still running on `src-connect`"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--stop-source"));
    assert_eq!(connector_names(&dst), ["more-in"]);
    let out = migrate(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = json_out(&out);
    let outcome = |r: &Value, n: &str| {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["connector"] == n)
            .unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(outcome(&report, "lines-in"), "would_create_with_offsets");
    assert!(
        text(&out).contains("still running on `src-connect`: lines-in"),
        "{}",
        text(&out)
    );
    assert_eq!(outcome(&report, "lines-out"), "would_create");
    assert_eq!(connector_names(&dst), ["more-in"]);

    let out = migrate(&["--stop-source"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
    let report = json_out(&out);
    assert_eq!(report["target_version"], "4.1.1");
    assert_eq!(outcome(&report, "lines-in"), "created_with_offsets");
    assert_eq!(outcome(&report, "lines-out"), "created");
    assert_eq!(outcome(&report, "more-in"), "finished");
    let rewritten = |r: &Value, n: &str| {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["connector"] == n)
            .unwrap()["rewritten"]
            .clone()
    };
    assert_eq!(
        rewritten(&report, "lines-out"),
        json!(["consumer.override.bootstrap.servers"])
    );
    assert_eq!(
        dst.json("GET", "/connectors/lines-out/config", None)["consumer.override.bootstrap.servers"],
        dst_kafka.bootstrap().as_str()
    );
    assert_eq!(connector_names(&dst), ["lines-in", "lines-out", "more-in"]);
    let st = src.json("GET", "/connectors/lines-in/status", None);
    assert_eq!(st["connector"]["state"], "STOPPED");
    // The secret travelled from worker to worker, not through kcp's output.
    let cfg = dst.json("GET", "/connectors/lines-in/config", None);
    assert_eq!(cfg["db.password"], "hunter2");
    assert_eq!(
        dst.json("GET", "/connectors/more-in/offsets", None)["offsets"][0]["offset"]["position"],
        2
    );
    dst.wait_for(
        "/connectors/lines-in/status",
        "lines-in runs on the target",
        |v| v["connector"]["state"] == "RUNNING" && v["tasks"][0]["state"] == "RUNNING",
    );

    // One more line: read once, by the target, after the three the source read.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"four\n"))
        .unwrap();
    wait_for_position(&dst, "lines-in", 19);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = std::fs::read_to_string(&output).unwrap_or_default();
        if got.lines().count() >= 4 {
            std::thread::sleep(std::time::Duration::from_secs(2));
            let got = std::fs::read_to_string(&output).unwrap();
            assert_eq!(got, "one\ntwo\nthree\nfour\n");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "output: {got:?}\n{}",
            dst.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }

    // Again: nothing to do.
    let out = migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = json_out(&out);
    for n in ["lines-in", "lines-out", "more-in"] {
        assert_eq!(outcome(&report, n), "already_there", "{report}");
    }
    // A target connector with another config under the same name: refused.
    let mut other = dst.json("GET", "/connectors/lines-out/config", None);
    other["file"] = json!(dir.path().join("elsewhere.txt").display().to_string());
    dst.json("PUT", "/connectors/lines-out/config", Some(other));
    let out = migrate(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("already runs connectors with other configs"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("  - lines-out"), "{}", text(&out));
}

/// An HTTPS worker that requires a client certificate: scanned with the CA
/// and client certificate from the credentials file; without the client
/// certificate the handshake fails and says so.
#[test]
fn scan_over_mutual_tls() {
    let tb = crate::require_testbed!();
    let kafka = KafkaCluster::start_named(&tb, "connect-mtls");
    let worker = ConnectWorker::start_with(
        &tb,
        &kafka,
        "mtls",
        ConnectSpec {
            mtls: true,
            ..Default::default()
        },
    );
    let (ca, cert, _) = kafka.tls_files();
    let key = kafka.dir().join("tls/client.key");
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &creds_yaml(&[
            (
                "mtls",
                format!(
                    "{}    tls: {{ ca_cert: {ca}, client_cert: {cert}, client_key: {} }}\n",
                    url_entry(&worker.url()),
                    key.display()
                ),
            ),
            (
                "no-cert",
                format!("{}    tls: {{ ca_cert: {ca} }}\n", url_entry(&worker.url())),
            ),
        ]),
    );
    let state = dir.path().join("kcp-state.json");
    let out = scan(&creds, &state, &["--connect-cluster", "mtls"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json_out(&out)["connect_clusters"][0]["version"], "4.1.1");
    let out = scan(&creds, &state, &["--connect-cluster", "no-cert"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("cannot be reached"), "{}", text(&out));
}
