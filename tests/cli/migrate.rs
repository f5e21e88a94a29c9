//! `kcp migrate init` on two Apache Kafka clusters: the plan's waves come from the
//! scanned state, the target is checked live, and bad input changes nothing.

use std::path::{Path, PathBuf};

use crate::kafka::{commit, create_topics, produce};
use crate::support::{KafkaCluster, write_pair_credentials};
use crate::{kcp, require_testbed, run};

struct Setup {
    source: KafkaCluster,
    target: KafkaCluster,
    dir: tempfile::TempDir,
    creds: PathBuf,
}

/// A scanned source with three groups: billing and audit share `orders`,
/// ops reads `logs` alone.
fn setup() -> Option<Setup> {
    let tb = crate::support::testbed()?;
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let bootstrap = source.bootstrap();
    create_topics(
        &bootstrap,
        &[("orders", 3, &[]), ("payments", 2, &[]), ("logs", 1, &[])],
    );
    produce(&bootstrap, "orders", &[10, 10, 10]);
    produce(&bootstrap, "payments", &[5, 5]);
    produce(&bootstrap, "logs", &[50]);
    commit(
        &bootstrap,
        "billing",
        &[("orders", 0, 10), ("payments", 0, 1)],
    );
    commit(&bootstrap, "audit", &[("orders", 1, 2)]);
    commit(&bootstrap, "ops", &[("logs", 0, 49)]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let r = run(kcp()
        .arg("--state-file")
        .arg(dir.path().join("state.json"))
        .args([
            "scan",
            "clusters",
            "--cluster",
            "src",
            "--rate-window",
            "0",
            "--credentials-file",
        ])
        .arg(&creds));
    assert_eq!(r.code, 0, "{}", r.stderr);
    Some(Setup {
        source,
        target,
        dir,
        creds,
    })
}

fn init(s: &Setup, plan: &Path, extra: &[&str]) -> crate::Run {
    init_with(s, &s.creds, "dst", plan, extra)
}

fn init_with(s: &Setup, creds: &Path, target: &str, plan: &Path, extra: &[&str]) -> crate::Run {
    run(kcp()
        .arg("--state-file")
        .arg(s.dir.path().join("state.json"))
        .args(["migrate", "init", "--source", "src", "--target", target])
        .arg("--credentials-file")
        .arg(creds)
        .arg("--plan-out")
        .arg(plan)
        .args(extra))
}

/// Copies every topic of the plan to the target, until caught up.
fn replicate_all(plan: &Path) {
    let r = run(kcp()
        .args(["migrate", "replicate", "--until-caught-up", "--plan"])
        .arg(plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The plan and the credentials file, as the library takes them.
fn load(s: &Setup, plan: &Path) -> (kcp::replicator::LoadedPlan, kcp::connect::CredentialsFile) {
    (
        kcp::replicator::LoadedPlan::load(plan).unwrap(),
        kcp::connect::CredentialsFile::load(&s.creds).unwrap(),
    )
}

#[test]
fn writes_a_plan_with_waves_that_the_replicator_reads() {
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan = s.dir.path().join("plan.yaml");
    let r = init(&s, &plan, &["--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["topics"], 3);
    assert_eq!(summary["partitions"], 6);

    let loaded = kcp::replicator::LoadedPlan::load(&plan).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.credentials_path(), s.creds);
    let cutover = loaded.plan.cutover.clone().expect("a cutover section");
    let waves: Vec<(Vec<String>, Vec<String>)> = cutover
        .waves
        .iter()
        .map(|w| (w.groups.clone(), w.topics.clone()))
        .collect();
    // ops (lag 1) before billing+audit, who share orders (lag 0+20+8+...).
    assert_eq!(waves.len(), 2, "{waves:?}");
    assert_eq!(waves[0], (vec!["ops".to_owned()], vec!["logs".to_owned()]));
    assert_eq!(waves[1].0, ["audit", "billing"]);
    assert_eq!(waves[1].1, ["orders", "payments"]);
    assert!(cutover.waves.iter().all(|w| w.stop_consumers.is_none()));
    assert_eq!(cutover.lag_threshold_records, 1000);
    assert!(loaded.selects("orders") && loaded.selects("logs"));

    // --groups-include narrows the waves; the plan says what was left out.
    let narrow = s.dir.path().join("narrow.yaml");
    let r = init(&s, &narrow, &["--groups-include", "ops"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&narrow).unwrap();
    assert!(
        text.contains("Left out by --groups-include: audit, billing"),
        "{text}"
    );
    let loaded = kcp::replicator::LoadedPlan::load(&narrow).unwrap();
    assert_eq!(loaded.plan.cutover.unwrap().waves.len(), 1);

    // No group at all: a sentence, not an empty table.
    let none = s.dir.path().join("none.yaml");
    let r = init(&s, &none, &["--groups-include", "^nobody$"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains('│'), "an empty table: {}", r.stdout);
    assert!(r.stdout.contains("no consumer group"), "{}", r.stdout);
    drop((s.source, s.target));
}

#[test]
fn bad_input_changes_nothing() {
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan = s.dir.path().join("plan.yaml");

    // A target topic with fewer partitions than the source's.
    create_topics(&s.target.bootstrap(), &[("orders", 1, &[])]);
    let r = init(&s, &plan, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("target topic `orders` has 1 partition(s), fewer than the source's 3"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"));
    assert!(!plan.exists());
    // ... unless that topic is not part of the plan.
    let r = init(&s, &plan, &["--topics-include", "logs|payments"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // An existing plan is never overwritten.
    let before = std::fs::read_to_string(&plan).unwrap();
    let r = init(&s, &plan, &["--topics-include", "logs"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), before);

    let other = s.dir.path().join("other.yaml");
    // A cluster missing from the credentials file.
    let r = init_with(&s, &s.creds, "nope", &other, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    // An unreachable target.
    let creds = s.dir.path().join("down.yaml");
    std::fs::write(
        &creds,
        format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n  - name: dst\n    bootstrap_servers: [\"127.0.0.1:{}\"]\n    auth: {{ method: plaintext }}\n",
            s.source.bootstrap(),
            crate::support::free_port()
        ),
    )
    .unwrap();
    let r = init_with(&s, &creds, "dst", &other, &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("`dst`"), "{}", r.stderr);
    assert!(!other.exists());
}

#[test]
fn status_shows_copy_lag_and_which_groups_can_move() {
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan = s.dir.path().join("plan.yaml");
    assert_eq!(init(&s, &plan, &[]).code, 0);
    let status = |plan: &Path| {
        let r = run(kcp()
            .args(["--output", "json", "migrate", "status", "--plan"])
            .arg(plan));
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["status"].clone()
    };
    let before = status(&plan);
    assert_eq!(before["phase"], "not started");
    assert_eq!(before["lag"], 90, "{before}");
    assert_eq!(before["copied"], 0);
    let groups = before["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert!(
        groups
            .iter()
            .all(|g| g["on_target"] == false && g["translatable"] == 0)
    );

    replicate_all(&plan);
    let after = status(&plan);
    // The replicator has exited: nothing claims it runs.
    assert_eq!(after["phase"], "copied");
    assert_eq!(after["lag"], 0, "{after}");
    assert_eq!(after["copied"], 90);
    let orders = after["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "orders")
        .unwrap();
    assert_eq!(
        (orders["partitions"].as_u64(), orders["copied"].as_u64()),
        (Some(3), Some(30))
    );
    for g in after["groups"].as_array().unwrap() {
        assert_eq!(g["translatable"], g["committed_partitions"], "{g}");
        assert_eq!(g["on_target"], false);
    }
    // The table form says the same for people.
    let r = run(kcp().args(["migrate", "status", "--plan"]).arg(&plan));
    assert!(
        r.stdout.contains(": copied, 90 record(s) copied, lag 0"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_group_moves_to_exactly_where_it_stopped_on_the_source() {
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan_path = s.dir.path().join("plan.yaml");
    assert_eq!(init(&s, &plan_path, &[]).code, 0);
    replicate_all(&plan_path);

    let (plan, creds) = load(&s, &plan_path);
    let (src, dst) = (creds.cluster("src").unwrap(), creds.cluster("dst").unwrap());
    let timeout = std::time::Duration::from_secs(10);
    let moved =
        kcp::migrate::offsets::move_group(&plan, src, dst, "billing", timeout, None).unwrap();
    let mut got: Vec<(String, i32, i64, i64)> = moved
        .iter()
        .map(|m| {
            (
                m.target_topic.clone(),
                m.partition,
                m.source_offset,
                m.target_offset,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("orders".to_owned(), 0, 10, 10),
            ("payments".to_owned(), 0, 1, 1)
        ]
    );
    // The next record the group reads on the target is the one it would
    // have read on the source.
    let next = crate::kafka::read_partition(&s.target.bootstrap(), "payments", 0, 1);
    let provenance = next[0]
        .headers
        .iter()
        .find(|(k, _)| k == "kcp.provenance")
        .and_then(|(_, v)| v.clone())
        .unwrap();
    assert!(
        String::from_utf8(provenance)
            .unwrap()
            .ends_with(";payments;0;1")
    );
    let r = run(kcp()
        .args(["--output", "json", "migrate", "status", "--plan"])
        .arg(&plan_path));
    let status: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let billing = status["status"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "billing")
        .unwrap()
        .clone();
    assert_eq!(billing["on_target"], true, "{billing}");

    // A group committed past what is copied cannot move yet.
    produce(&s.source.bootstrap(), "logs", &[5]);
    commit(&s.source.bootstrap(), "ops", &[("logs", 0, 54)]);
    let e = kcp::migrate::offsets::move_group(&plan, src, dst, "ops", timeout, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("only offsets below 50 are copied yet"),
        "{e}"
    );
}

/// The dry run checks what preflight checks (live, so it needs both
/// clusters), lists the steps and runs nothing.
#[test]
fn execute_dry_run_lists_the_steps_and_runs_nothing() {
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan = s.dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: p\ncredentials_file: {}\nsource: src\ntarget: dst\ncutover:\n  start_producers: ./switch-producers.sh\n  waves:\n    - {{ name: w1, groups: [billing], stop_consumers: ./stop.sh, start_consumers: ./start.sh }}\n",
            s.creds.display()
        ),
    )
    .unwrap();
    let r = run(kcp()
        .args([
            "--output",
            "json",
            "migrate",
            "execute",
            "--dry-run",
            "--plan",
        ])
        .arg(&plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12);
    assert_eq!(steps[4]["id"], "consumers/w1/stop");
    assert_eq!(steps[4]["phase"], "consumer-cutover");
    assert_eq!(steps[4]["hook"], "./stop.sh");
    assert_eq!(steps[6]["hook"], "./start.sh");
    assert_eq!(steps[11]["id"], "finish");
    assert!(steps.iter().all(|s| s["status"] == "to do"));
    let no_return: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| s["point_of_no_return"] == true)
        .map(|s| &s["id"])
        .collect();
    assert_eq!(no_return, ["producers/start"]);
    assert!(
        !s.dir.path().join("plan.migration-state.json").exists(),
        "a dry run writes nothing"
    );
    let r = run(kcp()
        .args(["migrate", "execute", "--dry-run", "--plan"])
        .arg(&plan));
    assert!(
        r.stderr.contains("the preflight checks pass"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("point of no return"), "{}", r.stdout);
    assert!(
        r.stdout.contains("hook: ./switch-producers.sh"),
        "{}",
        r.stdout
    );
    // A group with no committed offsets is refused, as preflight refuses it.
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, text.replace("[billing]", "[nobody]")).unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--dry-run", "--plan"])
        .arg(&plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nobody"), "{}", r.stderr);
    // A broken plan is bad input.
    std::fs::write(&plan, "version: 1\nname: p\n").unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--dry-run", "--plan"])
        .arg(&plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn verify_agrees_after_a_copy_and_catches_a_tampered_target() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::BaseRecord;
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan_path = s.dir.path().join("plan.yaml");
    assert_eq!(init(&s, &plan_path, &[]).code, 0);
    replicate_all(&plan_path);
    let (plan, creds) = load(&s, &plan_path);
    let (src, dst) = (creds.cluster("src").unwrap(), creds.cluster("dst").unwrap());
    let timeout = std::time::Duration::from_secs(10);

    // Producers already moved to the target do not disturb the check.
    produce(&s.target.bootstrap(), "logs", &[3]);
    let v = kcp::migrate::verify::verify(&plan, src, dst, timeout).unwrap();
    assert!(v.ok, "{v:#?}");
    assert_eq!(v.records, 90);
    assert_eq!(v.partitions.len(), 6);
    assert!(v.partitions.iter().all(|p| p.source_records == p.target_records && p.source_checksum == p.target_checksum));

    // A record on the target that claims to be a copy but differs is caught.
    let p = crate::kafka::producer(&s.target.bootstrap());
    let forged = format!("v1;{};payments;1;0", s.source.cluster_id);
    crate::kafka::send(
        &p,
        BaseRecord::<str, str>::to("payments")
            .partition(1)
            .payload("forged")
            .headers(OwnedHeaders::new().insert(Header {
                key: "kcp.provenance",
                value: Some(&forged),
            })),
    );
    crate::kafka::flush(&p);
    let v = kcp::migrate::verify::verify(&plan, src, dst, timeout).unwrap();
    assert!(!v.ok);
    let bad: Vec<_> = v
        .partitions
        .iter()
        .filter(|p| !p.ok)
        .map(|p| (p.topic.as_str(), p.partition))
        .collect();
    assert_eq!(bad, [("payments", 1)]);
}

/// A group's target offsets left by a rehearsal, on partitions the group
/// has not committed on the source, are cleared when it moves: its
/// consumers there start as they would on the source (their reset policy),
/// not at a stale position. A translated offset below the target
/// partition's log start (the target already deleted those records) is
/// refused: committing it would make the consumers skip or re-read silently
/// through their reset policy.
#[test]
fn moving_a_group_clears_stale_target_offsets_and_refuses_deleted_positions() {
    let _ = require_testbed!();
    let s = setup().unwrap();
    let plan_path = s.dir.path().join("plan.yaml");
    assert_eq!(init(&s, &plan_path, &[]).code, 0);
    replicate_all(&plan_path);
    let (plan, creds) = load(&s, &plan_path);
    let (src, dst) = (creds.cluster("src").unwrap(), creds.cluster("dst").unwrap());
    let timeout = std::time::Duration::from_secs(10);

    // A rehearsal left billing at orders[2] on the target; on the source
    // billing has committed orders[0] and payments[0] only.
    commit(&s.target.bootstrap(), "billing", &[("orders", 2, 7)]);
    kcp::migrate::offsets::move_group(&plan, src, dst, "billing", timeout, None).unwrap();
    let on_target = crate::kafka::committed(&s.target.bootstrap(), "billing", "orders", 3);
    assert_eq!(on_target, [Some(10), None, None], "orders[2] is cleared");

    // ops is committed at logs[49]; the target deleted logs below 50.
    crate::kafka::delete_records(&s.target.bootstrap(), "logs", 0, 50);
    let e = kcp::migrate::offsets::move_group(&plan, src, dst, "ops", timeout, None).unwrap_err();
    assert!(
        e.to_string().contains("logs[0]") && e.to_string().contains("log start 50"),
        "{e}"
    );
    assert_eq!(
        crate::kafka::committed(&s.target.bootstrap(), "ops", "logs", 1),
        [None],
        "nothing committed"
    );
}

/// Verify under retention and compaction: the source's retention moved a
/// partition's log start past where the copy began, the target's retention
/// did the same to another, and the target's log cleaner compacted a
/// compacted topic's copies away. Verify compares what both sides still
/// hold and passes; a copy that differs from its source record still
/// fails it. It used to stop with an out-of-range read on the source,
/// and to fail the compacted topic on its counts.
#[test]
fn verify_stays_right_under_retention_and_compaction() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::BaseRecord;
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let compact: &[(&str, &str)] = &[("cleanup.policy", "compact")];
    create_topics(
        &source.bootstrap(),
        &[("orders", 2, &[]), ("profiles", 1, compact)],
    );
    // The target's copy of profiles compacts as soon as it can.
    create_topics(
        &target.bootstrap(),
        &[(
            "profiles",
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.ms", "100"),
                ("min.cleanable.dirty.ratio", "0.001"),
                ("min.compaction.lag.ms", "0"),
            ],
        )],
    );
    produce(&source.bootstrap(), "orders", &[60, 60]);
    // Ten keys, each written ten times.
    let p = crate::kafka::producer(&source.bootstrap());
    for round in 0..10 {
        for key in 0..10 {
            crate::kafka::send(
                &p,
                BaseRecord::to("profiles")
                    .partition(0)
                    .key(&format!("user-{key}"))
                    .payload(&format!("version {round}")),
            );
        }
    }
    crate::kafka::flush(&p);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan_path = dir.path().join("plan.yaml");
    std::fs::write(
        &plan_path,
        format!(
            "version: 1\nname: kept\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^(orders|profiles)$' }}\n",
            creds.display()
        ),
    )
    .unwrap();
    replicate_all(&plan_path);
    let plan = kcp::replicator::LoadedPlan::load(&plan_path).unwrap();
    let creds = kcp::connect::CredentialsFile::load(&creds).unwrap();
    let (src, dst) = (creds.cluster("src").unwrap(), creds.cluster("dst").unwrap());
    let timeout = std::time::Duration::from_secs(10);
    // As JSON (what `--output json` shows of a verify step).
    let check = |topic: &str, partition: i32| {
        let v = kcp::migrate::verify::verify(&plan, src, dst, timeout).unwrap();
        let v = serde_json::to_value(&v).unwrap();
        let p = v["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["topic"] == topic && p["partition"] == partition)
            .unwrap()
            .clone();
        (v, p)
    };

    // Retention on the source: orders[0] below 20 is gone there.
    crate::kafka::delete_records(&source.bootstrap(), "orders", 0, 20);
    // Retention on the target: the copies of orders[1] below 15.
    crate::kafka::delete_records(&target.bootstrap(), "orders", 1, 15);
    let (v, p0) = check("orders", 0);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(
        (&p0["compared_from"], &p0["source_records"]),
        (&20.into(), &40.into()),
        "{p0}"
    );
    let (_, p1) = check("orders", 1);
    assert_eq!(
        (&p1["compared_from"], &p1["target_records"]),
        (&15.into(), &45.into()),
        "{p1}"
    );

    // The target's cleaner compacts profiles: a record written after the
    // copies rolls the segment that holds them (a producer already on the
    // target, with a key of its own); the cleaner wakes every second.
    crate::kafka::alter_broker_config(&target.bootstrap(), "log.cleaner.backoff.ms", "500");
    std::thread::sleep(std::time::Duration::from_millis(300));
    produce(&target.bootstrap(), "profiles", &[1]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while crate::kafka::read_partition(&target.bootstrap(), "profiles", 0, 0).len() > 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the target never compacted profiles"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let (v, profiles) = check("profiles", 0);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(profiles["source_records"], 100, "{profiles}");
    let held = profiles["target_records"].as_u64().unwrap();
    assert!(held < 100, "{profiles}");
    assert_eq!(profiles["compacted"], 100 - held, "{profiles}");

    // A copy that differs from its source record (user-9's last version,
    // source offset 99) is still caught.
    let forged = format!("v1;{};profiles;0;99", source.cluster_id);
    let p = crate::kafka::producer(&target.bootstrap());
    crate::kafka::send(
        &p,
        BaseRecord::<str, str>::to("profiles")
            .partition(0)
            .key("user-9")
            .payload("forged")
            .headers(OwnedHeaders::new().insert(Header {
                key: "kcp.provenance",
                value: Some(&forged),
            })),
    );
    crate::kafka::flush(&p);
    let (v, profiles) = check("profiles", 0);
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(
        profiles["differing_offsets"],
        serde_json::json!([99]),
        "{profiles}"
    );
}

/// A consumer group that is a Kafka Streams application (the source holds
/// its internal `<application.id>-...-changelog` topic) also produces:
/// init says so and marks its wave `also_produces`, the dry run lists the
/// wave's start as a point of no return, and once it has run, rollback
/// refuses and explains why. Before, the wave looked like any other and
/// rollback moved the application back as if it had only read.
#[test]
fn a_streams_application_makes_its_wave_a_point_of_no_return() {
    let tb = require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    let changelog = "wordcount-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog";
    create_topics(
        &source.bootstrap(),
        &[("orders", 1, &[]), ("logs", 1, &[]), (changelog, 1, &[])],
    );
    produce(&source.bootstrap(), "orders", &[20]);
    produce(&source.bootstrap(), "logs", &[20]);
    commit(&source.bootstrap(), "wordcount", &[("orders", 0, 15)]);
    commit(&source.bootstrap(), "ops", &[("logs", 0, 5)]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let state = dir.path().join("state.json");
    let r = run(kcp()
        .arg("--state-file")
        .arg(&state)
        .args([
            "scan",
            "clusters",
            "--cluster",
            "src",
            "--rate-window",
            "0",
            "--credentials-file",
        ])
        .arg(&creds));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = dir.path().join("plan.yaml");
    let r = run(kcp()
        .arg("--state-file")
        .arg(&state)
        .args([
            "migrate",
            "init",
            "--source",
            "src",
            "--target",
            "dst",
            "--topics-include",
            "orders|logs",
        ])
        .arg("--credentials-file")
        .arg(&creds)
        .arg("--plan-out")
        .arg(&plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("group `wordcount` is a Kafka Streams application")
            && r.stderr.contains(changelog),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    let loaded = kcp::replicator::LoadedPlan::parse(&plan, &text).unwrap();
    let waves = loaded.plan.cutover.as_ref().unwrap().waves.clone();
    let streams = waves.iter().find(|w| w.groups == ["wordcount"]).unwrap();
    assert!(streams.also_produces, "{text}");
    assert!(
        waves.iter().filter(|w| w.also_produces).count() == 1,
        "{text}"
    );
    let r = run(kcp()
        .args([
            "--output",
            "json",
            "migrate",
            "execute",
            "--dry-run",
            "--plan",
        ])
        .arg(&plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let no_return: Vec<String> = serde_json::from_str::<serde_json::Value>(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", r.stdout))["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["point_of_no_return"] == true)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        no_return,
        [
            format!("consumers/{}/start", streams.name),
            "producers/start".to_owned()
        ]
    );

    // Run past the wave's start: the producers' stop hook fails.
    let text = text
        .replace("lag_sustain_secs: 30", "lag_sustain_secs: 1")
        .replace("group_quiet_secs: 5", "group_quiet_secs: 1")
        .replace("stop_producers: null", "stop_producers: 'false'");
    std::fs::write(&plan, text).unwrap();
    let r = run(kcp()
        .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(std::time::Duration::from_secs(120)));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("producers/stop"), "{}", r.stderr);
    let r = run(kcp()
        .args(["migrate", "rollback", "--yes", "--plan"])
        .arg(&plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "wave `{}` runs applications that also produce",
            streams.name
        )) && r.stderr.contains("Kafka Streams"),
        "{}",
        r.stderr
    );
}
