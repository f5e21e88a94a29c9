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
    assert_eq!(st["schema_version"], 3);
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
