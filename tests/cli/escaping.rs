//! Names from outside kcp reach the terminal escaped. Apache Kafka allows
//! only `[a-zA-Z0-9._-]` in topic names, but consumer group ids (and client
//! ids, principals, config values) may hold any character, and a state file
//! may be edited by hand: control characters must not change the terminal's
//! title or colours nor split lines, CSV cells must not become formulas,
//! JSON stays exact, and the plan flags topic names the target refuses.

use serde_json::{Value, json};

use crate::kafka::{commit, create_topics, produce};
use crate::support::{KafkaCluster, write_credentials};
use crate::{kcp, kcp_snapshot, require_testbed, run};

/// Sets the terminal's title, then red text, then a second line.
const HOSTILE_TOPIC: &str = "\x1b]0;pwned\x07evil\x1b[31m\nsecond-line";
/// Clears the screen, then a second line.
const HOSTILE_GROUP: &str = "\x1b[2Jgroup\nsecond";
const FORMULA_TOPIC: &str = "=HYPERLINK(\"http://x\")";

fn partition(hi: i64) -> Value {
    json!({"id": 0, "leader": 1, "replicas": [1], "isr": [1], "earliest_offset": 0, "latest_offset": hi})
}

fn topic(hi: i64) -> Value {
    json!({"kind": "user", "replication_factor": 1, "partitions": [partition(hi)]})
}

/// A hand-written state: a cluster with hostile topic and group names, a
/// name a spreadsheet would run as a formula and one too long for Kafka.
fn hostile_state(dir: &std::path::Path) -> std::path::PathBuf {
    let mut topics = serde_json::Map::new();
    topics.insert("orders".into(), topic(100));
    topics.insert(HOSTILE_TOPIC.into(), topic(5));
    topics.insert(FORMULA_TOPIC.into(), topic(5));
    topics.insert("a".repeat(250), topic(5));
    topics.insert("..".into(), topic(5));
    let state = json!({
        "schema_version": 1,
        "created_at": "2026-11-20T08:30:02Z",
        "updated_at": "2026-11-20T08:30:02Z",
        "written_by": {"name": "kcp", "version": "0.1.0"},
        "clusters": {"lab": {
            "bootstrap_servers": ["kafka-1:9092"],
            "auth_method": "plaintext",
            "cluster_id": "abc",
            "controller_id": 1,
            "brokers": [{"id": 1, "host": "kafka-1", "port": 9092}],
            "kafka_version": "4.1.1",
            "scanned_at": "2026-11-20T08:30:00Z",
            "topics": topics,
            "acls": [],
            "consumer_groups": {HOSTILE_GROUP: {
                "state": "Stable", "protocol_type": "consumer", "protocol": "range",
                "members": [],
                "offsets": [{"topic": "orders", "partition": 0, "committed": 90, "lag": 10}]
            }}
        }}
    });
    let path = dir.join("kcp-state.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    path
}

fn assert_no_controls(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r'))
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{text}");
}

#[test]
fn a_plan_from_a_hand_edited_state_escapes_names_and_flags_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let state = hostile_state(dir.path());
    let plan = |format: &str| {
        let mut cmd = kcp();
        cmd.arg("--state-file")
            .arg(&state)
            .args(["report", "plan", "--source", "lab", "--target", "kafka"])
            .args(["--format", format]);
        cmd
    };
    for format in ["md", "csv"] {
        let r = kcp_snapshot!(
            format!("hostile_plan_{format}"),
            dir.path(),
            &mut plan(format)
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_no_controls(&r.stdout);
    }
    let csv = run(&mut plan("csv")).stdout;
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");

    let html = run(&mut plan("html"));
    assert_eq!(html.code, 0, "{}", html.stderr);
    assert_no_controls(&html.stdout);
    assert!(html.stdout.contains("\\u{1b}]0;pwned"), "{}", html.stdout);

    // JSON is exact: the names parse back as they were.
    let r = run(&mut plan("json"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let text = report.to_string();
    assert!(text.contains(&serde_json::to_string(HOSTILE_TOPIC).unwrap()));
    assert!(text.contains(&serde_json::to_string(HOSTILE_GROUP).unwrap()));
    let invalid: Vec<&str> = report["risks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "invalid-topic-name")
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(invalid.len(), 4, "{invalid:?}");
    assert!(!invalid.contains(&"orders"));
}

/// An error naming a cluster the user typed (or a hand-edited name) is
/// escaped on stderr too.
#[test]
fn an_error_naming_a_hostile_name_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let state = hostile_state(dir.path());
    let r = kcp_snapshot!(
        "hostile_unknown_cluster",
        dir.path(),
        kcp()
            .arg("--state-file")
            .arg(&state)
            .args(["report", "plan", "--target", "kafka", "--source"])
            .arg("\x1b]0;x\x07lab")
    );
    assert_eq!(r.code, 2);
    assert_no_controls(&r.stderr);
}

/// A consumer group id with ESC and a newline, committed on a real broker,
/// scanned, then reported: the terminal sees it escaped, the state keeps it
/// exactly.
#[test]
fn a_hostile_group_id_from_a_broker_is_escaped_and_kept_exactly() {
    let tb = require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let bootstrap = broker.bootstrap();
    create_topics(&bootstrap, &[("orders", 1, &[])]);
    produce(&bootstrap, "orders", &[10]);
    commit(&bootstrap, HOSTILE_GROUP, &[("orders", 0, 4)]);

    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: lab\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {{ method: plaintext }}\n"
        ),
    );
    let state = dir.path().join("kcp-state.json");
    let r = run(kcp()
        .args([
            "scan",
            "clusters",
            "--rate-window",
            "0",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved["clusters"]["lab"]["consumer_groups"]
            .get(HOSTILE_GROUP)
            .is_some(),
        "the state keeps the id exactly: {}",
        saved["clusters"]["lab"]["consumer_groups"]
    );

    let r = run(kcp()
        .arg("--state-file")
        .arg(&state)
        .args(["report", "plan", "--source", "lab", "--target", "kafka"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_controls(&r.stdout);
    // Escaped, then (Markdown) its backslashes escaped.
    assert!(
        r.stdout.contains("| \\\\u{1b}[2Jgroup\\\\nsecond |"),
        "{}",
        r.stdout
    );
}
