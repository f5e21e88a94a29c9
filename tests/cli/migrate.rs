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
    let moved = kcp::migrate::offsets::move_group(&plan, src, dst, "billing", timeout).unwrap();
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
    let e = kcp::migrate::offsets::move_group(&plan, src, dst, "ops", timeout).unwrap_err();
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
    kcp::migrate::offsets::move_group(&plan, src, dst, "billing", timeout).unwrap();
    let on_target = crate::kafka::committed(&s.target.bootstrap(), "billing", "orders", 3);
    assert_eq!(on_target, [Some(10), None, None], "orders[2] is cleared");

    // ops is committed at logs[49]; the target deleted logs below 50.
    crate::kafka::delete_records(&s.target.bootstrap(), "logs", 0, 50);
    let e = kcp::migrate::offsets::move_group(&plan, src, dst, "ops", timeout).unwrap_err();
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
