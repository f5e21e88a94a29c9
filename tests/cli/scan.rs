//! `kcp scan clusters` against a real Apache Kafka broker: topics with
//! configs and their sources, keyed records with headers, committed offsets
//! of several groups (described: state, protocol), exact counts and lag,
//! rate sampling and deletion of topics between scans.

use std::time::Duration;

use rdkafka::admin::AdminOptions;
use serde_json::Value;

use crate::kafka::{admin, block, commit, create_topics, produce};

use crate::support::{KafkaCluster, write_credentials};
use crate::{kcp, require_testbed, run};

fn scan(dir: &std::path::Path, bootstrap: &str, extra: &[&str]) -> (crate::Run, Value) {
    let creds = write_credentials(
        dir,
        &format!(
            "clusters:\n  - name: source\n    bootstrap_servers: [\"{bootstrap}\"]\n    auth: {{ method: plaintext }}\n"
        ),
    );
    let state = dir.join("kcp-state.json");
    let out = run(kcp()
        .args([
            "scan",
            "clusters",
            "--output",
            "json",
            "--timeout",
            "5",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .args(extra));
    let saved = std::fs::read_to_string(&state)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (out, saved)
}

fn offsets(state: &Value, topic: &str) -> Vec<(i64, i64)> {
    state["clusters"]["source"]["topics"][topic]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["earliest_offset"].as_i64().unwrap(),
                p["latest_offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn scan_records_topics_offsets_configs_and_group_lag() {
    let tb = require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let bootstrap = broker.bootstrap();
    create_topics(
        &bootstrap,
        &[
            (
                "orders",
                3,
                &[("retention.ms", "86400000"), ("cleanup.policy", "delete")],
            ),
            ("customers", 2, &[("cleanup.policy", "compact")]),
            (
                "billing-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog",
                1,
                &[],
            ),
            ("mm2-offset-syncs.dc2.internal", 1, &[]),
            ("connect-offsets", 1, &[]),
        ],
    );
    produce(&bootstrap, "orders", &[10, 20, 5]);
    produce(&bootstrap, "customers", &[3, 4]);
    commit(
        &bootstrap,
        "billing",
        &[("orders", 0, 4), ("orders", 1, 20)],
    );
    commit(
        &bootstrap,
        "audit",
        &[("orders", 2, 1), ("customers", 0, 3)],
    );

    let dir = tempfile::tempdir().unwrap();
    let (out, state) = scan(dir.path(), &bootstrap, &["--rate-window", "0"]);
    assert_eq!(
        out.code,
        0,
        "stderr: {}\nbroker log: {}",
        out.stderr,
        broker.log_text()
    );
    let cluster = &state["clusters"]["source"];
    assert_eq!(cluster["cluster_id"], broker.cluster_id);
    assert_eq!(cluster["brokers"].as_array().unwrap().len(), 1);
    assert_eq!(cluster["auth_method"], "plaintext");

    let topics = cluster["topics"].as_object().unwrap();
    // The five created, and `__consumer_offsets` made by the commits.
    assert_eq!(topics.len(), 6, "{:?}", topics.keys().collect::<Vec<_>>());
    assert_eq!(topics["__consumer_offsets"]["kind"], "internal");
    assert_eq!(topics["orders"]["kind"], "user");
    assert_eq!(topics["customers"]["kind"], "user");
    assert_eq!(
        topics["billing-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog"]["kind"],
        "kafka_streams"
    );
    assert_eq!(
        topics["mm2-offset-syncs.dc2.internal"]["kind"],
        "mirror_maker2"
    );
    assert_eq!(topics["connect-offsets"]["kind"], "connect");
    assert_eq!(offsets(&state, "orders"), [(0, 10), (0, 20), (0, 5)]);
    assert_eq!(offsets(&state, "customers"), [(0, 3), (0, 4)]);
    assert_eq!(
        topics["orders"]["configs"]["retention.ms"]["value"],
        "86400000"
    );
    assert_eq!(
        topics["orders"]["configs"]["retention.ms"]["source"],
        "dynamic_topic"
    );
    assert_eq!(
        topics["customers"]["configs"]["cleanup.policy"]["value"],
        "compact"
    );
    // Every config is described, with where its value comes from.
    assert_eq!(
        topics["customers"]["configs"]["segment.bytes"]["source"],
        "default"
    );
    assert_eq!(
        topics["orders"]["partitions"][1]["leader"],
        cluster["brokers"][0]["id"]
    );

    let groups = cluster["consumer_groups"].as_object().unwrap();
    let group_offsets = |g: &str| -> Vec<(String, i64, i64, i64)> {
        groups[g]["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["topic"].as_str().unwrap().to_owned(),
                    o["partition"].as_i64().unwrap(),
                    o["committed"].as_i64().unwrap(),
                    o["lag"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        group_offsets("billing"),
        [("orders".into(), 0, 4, 6), ("orders".into(), 1, 20, 0)]
    );
    assert_eq!(
        group_offsets("audit"),
        [("customers".into(), 0, 3, 0), ("orders".into(), 2, 1, 4)]
    );

    // The summary on stdout.
    let summary: Value = serde_json::from_str(&out.stdout).unwrap();
    let s = &summary["clusters"][0];
    assert_eq!(s["cluster"], "source");
    let offsets_partitions = topics["__consumer_offsets"]["partitions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(s["topics"], 6);
    assert_eq!(s["internal_topics"], 4);
    assert_eq!(s["partitions"], 8 + offsets_partitions);
    assert_eq!(s["consumer_groups"], 2);
    // The records produced, and the commits in `__consumer_offsets`.
    let commits: i64 = topics["__consumer_offsets"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some(p["latest_offset"].as_i64()? - p["earliest_offset"].as_i64()?))
        .sum();
    assert!(commits >= 4, "{commits}");
    assert_eq!(s["messages"], 42 + commits);

    // Both groups are described: empty (their offsets were committed by a
    // client that left), no members, no warning.
    assert_eq!(
        cluster["warnings"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        cluster["warnings"]
    );
    for g in ["billing", "audit"] {
        assert_eq!(groups[g]["state"], "Empty", "{g}: {}", groups[g]);
        assert_eq!(groups[g]["members"].as_array().unwrap().len(), 0);
    }

    // A deleted topic disappears on the next scan; the others stay.
    for r in block(admin(&bootstrap).delete_topics(&["customers"], &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
    let (out, state) = scan(dir.path(), &bootstrap, &["--rate-window", "0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let topics = state["clusters"]["source"]["topics"].as_object().unwrap();
    assert!(!topics.contains_key("customers"));
    assert!(topics.contains_key("orders"));
}

#[test]
fn rate_sample_marks_busy_and_idle_topics() {
    let tb = require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let bootstrap = broker.bootstrap();
    create_topics(&bootstrap, &[("busy", 2, &[]), ("quiet", 1, &[])]);
    produce(&bootstrap, "quiet", &[5]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, bootstrap) = (stop.clone(), bootstrap.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                produce(&bootstrap, "busy", &[5, 5]);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = scan(dir.path(), &bootstrap, &["--rate-window", "2"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let topics = &state["clusters"]["source"]["topics"];
    let busy = &topics["busy"]["rate"];
    assert_eq!(busy["idle"], false, "{busy}");
    assert!(busy["messages_per_sec"].as_f64().unwrap() > 1.0, "{busy}");
    assert!(busy["window_secs"].as_f64().unwrap() >= 2.0, "{busy}");
    assert_eq!(topics["quiet"]["rate"]["idle"], true);
    assert_eq!(topics["quiet"]["rate"]["messages_per_sec"], 0.0);
}

#[test]
fn an_unreachable_cluster_is_recorded_and_others_continue() {
    let tb = require_testbed!();
    let broker = KafkaCluster::start(&tb);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: good\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n  - name: gone\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: {{ method: plaintext }}\n",
            broker.bootstrap()
        ),
    );
    let state = dir.path().join("s.json");
    let out = run(kcp()
        .args([
            "scan",
            "clusters",
            "--rate-window",
            "0",
            "--timeout",
            "5",
            "--credentials-file",
        ])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cluster `gone`: no bootstrap server answered"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("failed"), "{}", out.stdout);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved["clusters"]["gone"]["scan_error"]
            .as_str()
            .unwrap()
            .contains("no bootstrap server answered")
    );
    assert_eq!(
        saved["clusters"]["good"]["cluster_id"],
        broker.cluster_id.as_str()
    );
}

#[test]
fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    let creds = write_credentials(
        dir.path(),
        "clusters:\n  - name: a\n    bootstrap_servers: [\"h:1\"]\n    auth: { method: plaintext }\n",
    );
    let out = run(kcp()
        .args(["scan", "clusters", "--cluster", "b", "--credentials-file"])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("names no cluster `b` (it has: a)"),
        "{}",
        out.stderr
    );
    assert!(!state.exists());

    let missing = run(kcp()
        .args([
            "scan",
            "clusters",
            "--credentials-file",
            "/nonexistent.yaml",
            "--state-file",
        ])
        .arg(&state));
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("cannot read credentials file `/nonexistent.yaml`"),
        "{}",
        missing.stderr
    );
}

/// Every ACL resource type the authorizer stores, literal and prefixed
/// patterns, ALLOW and DENY, a host-bound binding: the state holds exactly
/// what the broker holds.
#[test]
fn acl_bindings_of_every_kind_are_recorded() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start(&tb);
    let bindings: &[&[&str]] = &[
        &["User:alice", "READ", "TOPIC", "orders"],
        &[
            "User:alice",
            "WRITE",
            "TOPIC",
            "orders-",
            "--pattern",
            "prefixed",
        ],
        &[
            "User:mallory",
            "READ",
            "TOPIC",
            "orders",
            "--deny",
            "--host",
            "10.0.0.7",
        ],
        &["User:alice", "READ", "GROUP", "billing"],
        &[
            "User:alice",
            "DESCRIBE",
            "GROUP",
            "team-",
            "--pattern",
            "prefixed",
        ],
        &["User:ops", "ALTER_CONFIGS", "BROKER", "kafka-cluster"],
        &["User:alice", "IDEMPOTENT_WRITE", "BROKER", "kafka-cluster"],
        &["User:alice", "WRITE", "TRANSACTIONAL_ID", "tx-1"],
    ];
    for b in bindings {
        let mut args = vec!["acl"];
        args.extend_from_slice(b);
        kafka.admin(&tb, &args);
    }
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = scan(dir.path(), &kafka.bootstrap(), &["--rate-window", "0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut acls: Vec<String> = state["clusters"]["source"]["acls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {} {} {}",
                a["principal"].as_str().unwrap(),
                a["operation"].as_str().unwrap(),
                a["resource_type"].as_str().unwrap(),
                a["resource_name"].as_str().unwrap(),
                a["pattern_type"].as_str().unwrap(),
                a["permission"].as_str().unwrap(),
                a["host"].as_str().unwrap(),
            )
        })
        .collect();
    acls.sort();
    assert_eq!(
        acls,
        [
            "User:alice describe group team- prefixed allow *",
            "User:alice idempotent_write cluster kafka-cluster literal allow *",
            "User:alice read group billing literal allow *",
            "User:alice read topic orders literal allow *",
            "User:alice write topic orders- prefixed allow *",
            "User:alice write transactional_id tx-1 literal allow *",
            "User:mallory read topic orders literal deny 10.0.0.7",
            "User:ops alter_configs cluster kafka-cluster literal allow *",
        ]
    );
    let summary: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["clusters"][0]["acls"], 8, "{summary}");
}

/// A consumer that joined `group` with `protocol` (`classic` or
/// `consumer`, KIP-848) and polls until it owns every partition of `topic`.
fn member(
    bootstrap: &str,
    group: &str,
    protocol: &str,
    topic: &str,
) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::consumer::Consumer;
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", protocol)
        .set("client.id", format!("{group}-client"))
        .set("auto.offset.reset", "earliest");
    if protocol == "classic" {
        config.set("session.timeout.ms", "6000");
    }
    let consumer: rdkafka::consumer::BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while consumer.assignment().map_or(0, |a| a.count()) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{group} ({protocol}) was never assigned {topic}"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }
    consumer
}

/// Groups with live members are described with their state, members and
/// assignments: a classic group and a KIP-848 `consumer` protocol group
/// (Kafka 4.x), beside a group that only has committed offsets (Empty).
#[test]
fn live_groups_of_both_protocols_are_described_with_members() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start(&tb);
    let bootstrap = kafka.bootstrap();
    create_topics(&bootstrap, &[("events", 2, &[]), ("audit", 1, &[])]);
    produce(&bootstrap, "events", &[3, 3]);
    commit(&bootstrap, "idle", &[("audit", 0, 0)]);
    let classic = member(&bootstrap, "classic-app", "classic", "events");
    let next = member(&bootstrap, "next-app", "consumer", "events");
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = scan(dir.path(), &bootstrap, &["--rate-window", "0"]);
    drop((classic, next));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let groups = &state["clusters"]["source"]["consumer_groups"];
    for group in ["classic-app", "next-app"] {
        let g = &groups[group];
        assert_eq!(g["state"], "Stable", "{group}: {g}");
        let members = g["members"].as_array().unwrap();
        assert_eq!(members.len(), 1, "{group}: {g}");
        assert_eq!(members[0]["client_id"], format!("{group}-client"), "{g}");
        let mut owned: Vec<(String, i64)> = members[0]["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["topic"].as_str().unwrap().to_owned(),
                    a["partition"].as_i64().unwrap(),
                )
            })
            .collect();
        owned.sort();
        assert_eq!(
            owned,
            [("events".to_owned(), 0), ("events".to_owned(), 1)],
            "{group}: {g}"
        );
    }
    assert_eq!(groups["idle"]["state"], "Empty", "{}", groups["idle"]);
    assert_eq!(groups["idle"]["members"].as_array().unwrap().len(), 0);
    let warnings = state["clusters"]["source"]["warnings"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(warnings, 0, "{}", state["clusters"]["source"]["warnings"]);
}

/// A three-broker cluster: every broker, replication factor 3, the in-sync
/// replicas and `min.insync.replicas` set on the topic.
#[test]
fn a_three_broker_cluster_shows_replicas_and_min_insync() {
    let tb = require_testbed!();
    let kafka = KafkaCluster::start_with(
        &tb,
        "three",
        crate::support::KafkaSpec {
            brokers: 3,
            ..Default::default()
        },
    );
    let bootstrap = kafka.bootstrap();
    crate::kafka::create_replicated_topic(
        &bootstrap,
        "payments",
        3,
        3,
        &[("min.insync.replicas", "2")],
    );
    produce(&bootstrap, "payments", &[2, 2, 2]);
    let dir = tempfile::tempdir().unwrap();
    let (out, state) = scan(dir.path(), &bootstrap, &["--rate-window", "0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cluster = &state["clusters"]["source"];
    assert_eq!(
        cluster["brokers"].as_array().unwrap().len(),
        3,
        "{}",
        cluster["brokers"]
    );
    let topic = &cluster["topics"]["payments"];
    assert_eq!(
        topic["configs"]["min.insync.replicas"]["value"], "2",
        "{}",
        topic["configs"]["min.insync.replicas"]
    );
    assert_eq!(
        topic["configs"]["min.insync.replicas"]["source"],
        "dynamic_topic"
    );
    for p in topic["partitions"].as_array().unwrap() {
        let mut replicas: Vec<i64> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_i64().unwrap())
            .collect();
        replicas.sort();
        assert_eq!(replicas, [1, 2, 3], "{p}");
        assert_eq!(p["isr"].as_array().unwrap().len(), 3, "{p}");
        assert_eq!(p["latest_offset"], 2, "{p}");
    }
}

/// When every cluster fails, nothing was scanned: exit 1 (not 3, partial),
/// the state keeps what it had (here: it is not created), the table shows
/// no counts for the failed cluster, and the error keeps its hint.
#[test]
fn a_scan_in_which_every_cluster_fails_saves_nothing_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let creds = write_credentials(
        dir.path(),
        "clusters:\n  - name: gone\n    bootstrap_servers: [\"127.0.0.1:1\"]\n    auth: { method: plaintext }\n",
    );
    let state = dir.path().join("s.json");
    let out = crate::kcp_snapshot!(
        "every_cluster_fails",
        dir.path(),
        kcp()
            .args([
                "scan",
                "clusters",
                "--rate-window",
                "0",
                "--timeout",
                "2",
                "--credentials-file",
            ])
            .arg(&creds)
            .arg("--state-file")
            .arg(&state)
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        !state.exists(),
        "a state holding only the failure was written"
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

/// SIGTERM during a scan ends it with the documented status 130
/// (interrupted), not 143, and saves nothing.
#[test]
fn sigterm_during_a_scan_exits_130_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A listener that accepts connections and never answers: the scan
    // waits out its timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let creds = write_credentials(
        dir.path(),
        &format!(
            "clusters:\n  - name: silent\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            silent.local_addr().unwrap()
        ),
    );
    let state = dir.path().join("s.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["scan", "clusters", "--timeout", "30", "--credentials-file"])
        .arg(&creds)
        .arg("--state-file")
        .arg(&state)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(!state.exists());
}
