//! The state file: round trips, atomic saves under a simulated crash, the
//! lock, schema-version refusal, upgrades and error locations.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use kcp::state::{self, Access, Partition, State, StateError, StateFile, Topic, TopicConfig};

use crate::{fixture, kcp, repo, run};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn sample() -> State {
    let mut state = State::new(at("2026-11-25T10:00:00Z"));
    let mut cluster = kcp::state::KafkaCluster {
        bootstrap_servers: vec!["k1:9092".into(), "k2:9092".into()],
        auth_method: "plaintext".into(),
        cluster_id: Some("abc".into()),
        ..Default::default()
    };
    let mut configs = BTreeMap::new();
    configs.insert(
        "cleanup.policy".to_owned(),
        TopicConfig {
            value: Some("compact".into()),
            source: state::ConfigSource::DynamicTopic,
            sensitive: false,
        },
    );
    // Deliberately unsorted: saving normalizes.
    let partitions = [2, 0, 1]
        .into_iter()
        .map(|id| Partition {
            id,
            leader: Some(1),
            replicas: vec![3, 1, 2],
            isr: vec![2, 3, 1],
            earliest_offset: Some(0),
            latest_offset: Some(10 * i64::from(id)),
            size_bytes: None,
        })
        .collect();
    cluster.topics.insert(
        "orders/v1 ~ é".to_owned(),
        Topic {
            replication_factor: 3,
            partitions,
            configs,
            ..Default::default()
        },
    );
    state.clusters.insert("prod".into(), cluster);
    state
}

fn save_new(path: &Path, state: &mut State, now: &str) {
    let file = StateFile::open(path, Access::Exclusive).unwrap();
    file.save(state, at(now)).unwrap();
}

#[test]
fn round_trip_is_lossless_and_byte_stable() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let mut state = sample();
    save_new(&a, &mut state, "2026-11-25T11:00:00Z");
    let loaded = StateFile::open(&a, Access::Shared)
        .unwrap()
        .load(Utc::now())
        .unwrap();
    assert_eq!(loaded.upgraded_from, None);
    assert_eq!(
        loaded.state, state,
        "normalized state survives a round trip"
    );
    let topic = &loaded.state.clusters["prod"].topics["orders/v1 ~ é"];
    assert_eq!(
        topic.partitions.iter().map(|p| p.id).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        topic.partitions[0].replicas,
        [3, 1, 2],
        "replica order is kept"
    );
    assert_eq!(topic.partitions[0].isr, [1, 2, 3]);

    let mut again = loaded.state;
    save_new(&b, &mut again, "2026-11-25T11:00:00Z");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(loaded_updated(&b), at("2026-11-25T11:00:00Z"));
}

fn loaded_updated(path: &Path) -> DateTime<Utc> {
    StateFile::open(path, Access::Shared)
        .unwrap()
        .load(Utc::now())
        .unwrap()
        .state
        .updated_at
}

#[test]
fn saved_file_is_private_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let creds = kcp::connect::CredentialsFile::parse(
        Path::new("creds.yaml"),
        "clusters:\n  - name: prod\n    bootstrap_servers: [\"k:9096\"]\n    auth: { method: sasl_scram, mechanism: SCRAM-SHA-512, username: svc, password: \"${PW}\" }\n",
        |_| Some("Sup3r-Secret!".to_owned()),
    )
    .unwrap();
    let mut state = State::new(Utc::now());
    state
        .clusters
        .insert("prod".into(), creds.clusters[0].state_entry());
    let path = dir.path().join("kcp-state.json");
    save_new(&path, &mut state, "2026-11-25T11:00:00Z");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("Sup3r-Secret!"));
    assert!(text.contains("\"auth_method\": \"sasl_scram\""));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn crash_between_write_and_rename_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kcp-state.json");
    let mut state = sample();
    save_new(&path, &mut state, "2026-11-25T11:00:00Z");
    let before = std::fs::read(&path).unwrap();

    // A writer dies after writing its temp file and before renaming it.
    {
        let file = StateFile::open(&path, Access::Exclusive).unwrap();
        let temp = file.write_temp(b"{\"schema_version\": 1, \"half").unwrap();
        temp.into_temp_path().keep().unwrap();
    }
    let leftovers = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .count()
    };
    assert_eq!(leftovers(), 1);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the state file is untouched"
    );
    // Readers ignore the temp file.
    let out = run(kcp().args(["state", "validate", "--state-file"]).arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(leftovers(), 1, "readers do not clean up");
    // The next writer removes it.
    let _writer = StateFile::open(&path, Access::Exclusive).unwrap();
    assert_eq!(leftovers(), 0);
}

#[test]
fn a_second_writer_is_refused_by_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kcp-state.json");
    save_new(&path, &mut sample(), "2026-11-25T11:00:00Z");
    let writer = StateFile::open(&path, Access::Exclusive).unwrap();
    match StateFile::open(&path, Access::Exclusive) {
        Err(StateError::Locked { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(matches!(
        StateFile::open(&path, Access::Shared),
        Err(StateError::Locked { .. })
    ));

    // Another kcp process is refused too, with exit code 4.
    let out = run(kcp().args(["state", "upgrade", "--state-file"]).arg(&path));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "is in use by another kcp process (pid {})",
            std::process::id()
        )),
        "{}",
        out.stderr
    );
    drop(writer);
    // Readers share.
    let r1 = StateFile::open(&path, Access::Shared).unwrap();
    let _r2 = StateFile::open(&path, Access::Shared).unwrap();
    assert!(matches!(
        StateFile::open(&path, Access::Exclusive),
        Err(StateError::Locked { .. })
    ));
    drop(r1);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(
        &path,
        r#"{"schema_version": 7, "written_by": {"name": "kcp", "version": "3.1.0"}}"#,
    )
    .unwrap();
    let out = run(kcp().args(["state", "validate", "--state-file"]).arg(&path));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("has schema version 7, but this kcp"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("written by kcp 3.1.0"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: install a newer kcp"),
        "{}",
        out.stderr
    );

    // `state version` still reports it.
    let out = run(kcp()
        .args(["state", "version", "--output", "json", "--state-file"])
        .arg(&path));
    assert_eq!(out.code, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["status"], "newer");
}

#[test]
fn upgrade_from_v0_keeps_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kcp-state.json");
    let original = std::fs::read(fixture("state/v0.json")).unwrap();
    std::fs::write(&path, &original).unwrap();

    let out = run(kcp().args(["state", "version", "--state-file"]).arg(&path));
    assert!(
        out.stdout.contains("schema version  0 (older"),
        "{}",
        out.stdout
    );

    let out = run(kcp()
        .args(["state", "upgrade", "--dry-run", "--state-file"])
        .arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("would upgrade"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        original,
        "dry run writes nothing"
    );

    let out = run(kcp().args(["state", "upgrade", "--state-file"]).arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("from schema version 0 to 5"),
        "{}",
        out.stdout
    );
    let backup = dir.path().join("kcp-state.json.v0.bak");
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        original,
        "backup is the original"
    );

    let state = StateFile::open(&path, Access::Shared)
        .unwrap()
        .load(Utc::now())
        .unwrap();
    assert_eq!(state.upgraded_from, None);
    let s = state.state;
    assert_eq!(s.created_at, at("2026-06-02T08:30:00Z"));
    assert_eq!(s.upgrades.len(), 5);
    assert_eq!((s.upgrades[0].from, s.upgrades[0].to), (0, 1));
    assert_eq!((s.upgrades[1].from, s.upgrades[1].to), (1, 2));
    assert_eq!((s.upgrades[2].from, s.upgrades[2].to), (2, 3));
    assert_eq!((s.upgrades[3].from, s.upgrades[3].to), (3, 4));
    assert_eq!((s.upgrades[4].from, s.upgrades[4].to), (4, 5));
    let region = &s.msk_regions["eu-west-1"];
    assert_eq!(region.clusters.len(), 2);
    let serverless = region
        .clusters
        .values()
        .find(|c| c.name == "clickstream")
        .unwrap();
    assert_eq!(serverless.cluster_type, state::MskClusterType::Serverless);
    let legacy = &s.clusters["legacy-dc"];
    assert_eq!(
        legacy.bootstrap_servers,
        [
            "kafka-a.dc.example.internal:9092",
            "kafka-b.dc.example.internal:9092"
        ]
    );
    assert_eq!(legacy.auth_method, "sasl_plain");
    let topic = &legacy.topics["payments.settled"];
    assert_eq!(topic.partitions.len(), 6);
    assert_eq!(
        topic.configs["retention.ms"].value.as_deref(),
        Some("604800000")
    );
    assert_eq!(
        topic.configs["retention.ms"].source,
        state::ConfigSource::Unknown
    );
    assert_eq!(
        legacy.topics["__consumer_offsets"].kind,
        state::TopicKind::Internal
    );

    let text = std::fs::read_to_string(&path).unwrap();
    insta::with_settings!({filters => vec![(r#""at": "[^"]+""#, r#""at": "[NOW]""#), (r#""updated_at": "[^"]+""#, r#""updated_at": "[NOW]""#)]}, {
        insta::assert_snapshot!("v0_upgraded", text);
    });

    let out = run(kcp().args(["state", "upgrade", "--state-file"]).arg(&path));
    assert!(out.stdout.contains("nothing to do"), "{}", out.stdout);
}

#[test]
fn reading_an_old_file_upgrades_in_memory_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    std::fs::copy(fixture("state/v0.json"), &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let out = run(kcp().args(["state", "validate", "--state-file"]).arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("kcp state upgrade"), "{}", out.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn every_historical_version_has_an_upgradable_fixture() {
    for version in 0..state::CURRENT_SCHEMA_VERSION {
        let path = fixture(&format!("state/v{version}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
        let loaded = state::parse(&path, &text, Utc::now()).unwrap();
        assert_eq!(loaded.upgraded_from, Some(version));
    }
}

fn validate_text(text: &str) -> crate::Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(&path, text).unwrap();
    run(kcp().args(["state", "validate", "--state-file"]).arg(&path))
}

const HEADER: &str = r#""schema_version": 5, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z", "written_by": {"name": "kcp", "version": "0.1.0"}"#;

#[test]
fn corrupt_json_is_reported_with_its_location() {
    let out = validate_text("{\n  \"schema_version\": 1,\n  \"clusters\": {,}\n}");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not valid JSON"), "{}", out.stderr);
    assert!(out.stderr.contains("(line 3, column 16)"), "{}", out.stderr);

    let out = validate_text(&format!(
        "{{{HEADER},\n \"clusters\": {{\"x\": {{\"bootstrap_servers\": [\"k:1\"], \"auth_method\": \"plaintext\", \"cluster_id\": null, \"controller_id\": null, \"kafka_version\": null, \"scanned_at\": null,\n \"topics\": {{\"t/1\": {{\"replication_factor\": 1, \"partitions\": [{{\"id\": 0, \"leader\": \"one\", \"earliest_offset\": 0, \"latest_offset\": 0}}]}}}}}}}}}}"
    ));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("at /clusters/x/topics/t~11/partitions/0/leader: invalid type: string \"one\", expected i32"), "{}", out.stderr);
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);

    let out = validate_text(&format!("{{{HEADER}, \"clusterz\": {{}}}}"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown field `clusterz`"),
        "{}",
        out.stderr
    );

    let out = validate_text(r#"{"hello": "world"}"#);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("does not look like a kcp state file"),
        "{}",
        out.stderr
    );
}

#[test]
fn semantic_problems_are_all_listed() {
    let out = validate_text(&format!(
        "{{{HEADER}, \"clusters\": {{\"x\": {{\"bootstrap_servers\": [], \"auth_method\": \"plaintext\", \"cluster_id\": null, \"controller_id\": null, \"kafka_version\": null, \"scanned_at\": null,
          \"topics\": {{\"t\": {{\"replication_factor\": 1, \"partitions\": [{{\"id\": 1, \"leader\": 0, \"earliest_offset\": 9, \"latest_offset\": 3}}]}}}}}}}}}}"
    ));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("at /clusters/x/bootstrap_servers: must list at least one host:port"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "at /clusters/x/topics/t/partitions/0/id: expected partition ids 0..1 in order, found 1"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("earliest_offset 9 is after latest_offset 3"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_examples_are_valid_states() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("state-examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let out = run(kcp().args(["state", "validate", "--state-file"]).arg(&path));
            assert_eq!(out.code, 0, "{}: {}", path.display(), out.stderr);
            // Saving an example changes nothing but `updated_at`: they are normalized.
            let text = std::fs::read_to_string(&path).unwrap();
            let mut loaded = state::parse(&path, &text, Utc::now()).unwrap().state;
            let updated = loaded.updated_at;
            let dir = tempfile::tempdir().unwrap();
            let copy = dir.path().join("copy.json");
            save_new(&copy, &mut loaded, &updated.to_rfc3339());
            assert_eq!(
                std::fs::read_to_string(&copy).unwrap(),
                text,
                "{} is not in normalized form",
                path.display()
            );
            count += 1;
        }
    }
    assert!(count >= 2, "expected at least two example states");
}

/// A state file reached through a symlink (kept in a shared folder, say):
/// a save writes the file the link points to and keeps the link, and the
/// lock is the real file's, so a writer through the link and one through
/// the real path exclude each other.
#[test]
fn a_symlinked_state_file_is_written_through_and_locked_where_it_lives() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("shared");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("kcp-state.json");
    std::fs::write(&real, std::fs::read(fixture("state/v0.json")).unwrap()).unwrap();
    let link = dir.path().join("kcp-state.json");
    std::os::unix::fs::symlink("shared/kcp-state.json", &link).unwrap();

    let held = StateFile::open(&real, Access::Exclusive).unwrap();
    let out = run(kcp().args(["state", "upgrade", "--state-file"]).arg(&link));
    assert_eq!(out.code, 4, "the real file's lock applies: {}", out.stderr);
    drop(held);

    let out = run(kcp().args(["state", "upgrade", "--state-file"]).arg(&link));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a regular file"
    );
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(
        text.contains(&format!(
            "\"schema_version\": {}",
            kcp::state::CURRENT_SCHEMA_VERSION
        )),
        "the real file was upgraded"
    );
    assert!(real_dir.join(".kcp-state.json.lock").exists());
    assert!(!dir.path().join(".kcp-state.json.lock").exists());
}
