//! A consumer-last cutover (`after_producers: true`) on two Apache Kafka
//! clusters with a live producer and a live consumer
//! (`testbed/live_clients.py`): the producer moves first; the consumer
//! keeps reading on the source, where kcp copies the producer's new records
//! back from the target (`new.orders` there, renamed by the plan, comes
//! back to `orders`), then moves last. kcp is killed (SIGKILL) while the
//! copy back runs and started again. The checker proves no record lost,
//! none consumed twice, per-key order kept; the consumer read on the source
//! records that were produced to the target, and its offsets moved from
//! past the drain (records that came back) exactly.

use std::collections::HashSet;
use std::time::Duration;

use crate::cutover::{assert_exactly_once, done_ids, live_with, migration_state};
use crate::kafka::{commit, create_topics, produce};
use crate::proof::Execute;
use crate::support::{KafkaCluster, write_pair_credentials};
use crate::{kcp, run};

/// `(key, sequence)` of the live clients' log lines whose cluster is `on`.
fn logged(path: &std::path::Path, on: &str) -> HashSet<(String, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["c"] == on)
        .map(|v| {
            (
                v["k"].as_str().unwrap().to_owned(),
                v["s"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Runs `migrate execute` until it announces `step`, then kills it.
fn kill_execute_in(plan: &std::path::Path, step: &str) {
    let announced = format!("{step}: ");
    if let Err(seen) = Execute::start(plan).kill_at(|line| line.starts_with(&announced)) {
        panic!("execute never reached {step}:\n{}", seen.join("\n"));
    }
}

#[test]
fn the_producer_moves_first_and_the_consumer_last_reading_records_copied_back() {
    let _ = crate::require_testbed!();
    let mut l = live_with(true).unwrap();
    // The dry run lists the copy back around the consumer-last wave.
    let r = run(kcp()
        .args([
            "--output",
            "json",
            "migrate",
            "execute",
            "--dry-run",
            "--plan",
        ])
        .arg(&l.plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<String> = serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.stdout))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let at = |id: &str| ids.iter().position(|s| s == id).unwrap();
    assert!(
        at("producers/drain") < at("reverse/start")
            && at("reverse/start") < at("producers/start")
            && at("producers/start") < at("consumers/wave-1/stop")
            && at("consumers/wave-1/start") < at("reverse/stop")
            && at("reverse/stop") < at("verify"),
        "{ids:?}"
    );

    // Killed while the consumer still reads on the source (its stop hook
    // waits 15 s) and the copy back runs; started again, it goes on.
    kill_execute_in(&l.plan, "consumers/wave-1/stop");
    let state = migration_state(&l.plan).unwrap();
    assert!(done_ids(&state).contains(&"producers/start"), "{state}");
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&l.plan)
        .timeout(Duration::from_secs(180)));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("copying the producers' new records back"),
        "{}",
        r.stderr
    );
    // The producer writes to the target for a while before stopping.
    std::thread::sleep(Duration::from_secs(2));
    let v = l.finish_and_check();
    assert_exactly_once(&v);

    // The consumer read, on the source, records produced to the target.
    let produced_on_target = logged(&l.path("produce.log"), "target");
    let consumed_on_source = logged(&l.path("consume.log"), "source");
    let came_back = produced_on_target.intersection(&consumed_on_source).count();
    assert!(came_back > 50, "{came_back} record(s) came back: {v}");

    // Its committed offsets were past the drain on some partition: they
    // translated through the copy back.
    let state = migration_state(&l.plan).unwrap();
    let detail = |id: &str| {
        state["done"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("{id} not done: {state}"))["detail"]
            .clone()
    };
    let boundaries = detail("reverse/start")["boundaries"].clone();
    let moved = detail("consumers/wave-1/offsets")["billing"].clone();
    let past_drain = moved
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            boundaries.as_array().unwrap().iter().any(|b| {
                b["partition"] == m["partition"]
                    && m["source_offset"].as_i64() > b["source_end"].as_i64()
                    && m["target_offset"].as_i64() > b["target_start"].as_i64()
            })
        })
        .count();
    assert!(past_drain > 0, "boundaries {boundaries}, moved {moved}");
    assert!(state["runs"].as_u64().unwrap() >= 2, "{state}");
    assert_eq!(state["outcome"], "finished");
    // `migrate status` counts no copy back as lag, and the group's source
    // offsets past the drain as translatable.
    let r = run(kcp()
        .args(["--output", "json", "migrate", "status", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let status: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let s = &status["status"];
    assert_eq!(s["lag"], 0, "{status}");
    let g = &s["groups"][0];
    assert!(
        g["committed_partitions"].as_u64() > Some(0)
            && g["translatable"] == g["committed_partitions"]
            && g["on_target"] == true,
        "{status}"
    );
    // Past `producers/start`, rollback refuses, as in every plan.
    let r = run(kcp()
        .args(["migrate", "rollback", "--yes", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("point of no return"), "{}", r.stderr);
    eprintln!("consumer-last: {came_back} record(s) came back; checker {v}");
}

/// A write to the source after the drain (here while kcp was down between
/// the drain and `reverse/start`) breaks what the copy back's exactness
/// rests on: `reverse/start` refuses, naming the partition, and the next
/// run drains again.
#[test]
fn a_write_to_the_source_after_the_drain_stops_the_copy_back_before_it_starts() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 2, &[])]);
    produce(&source.bootstrap(), "orders", &[20, 20]);
    commit(
        &source.bootstrap(),
        "billing",
        &[("orders", 0, 5), ("orders", 1, 5)],
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    // The producers' start hook fails until this file exists.
    let go = dir.path().join("go");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: cl\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 1\n\
             \x20 start_producers: \"test -f '{go}'\"\n\
             \x20 waves:\n    - {{ name: late, groups: [billing], after_producers: true }}\n",
            creds.display(),
            go = go.display()
        ),
    )
    .unwrap();
    // It stops at `producers/start` (its hook fails), `reverse/start` done.
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(120)));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("test -f"), "{}", r.stderr);
    let state_path = plan.with_file_name("plan.migration-state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap_or_else(|e| {
            let files: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            panic!("{e}: {files:?}\n{}", r.stderr)
        }))
        .unwrap();
    // As if kcp had crashed inside `reverse/start`.
    let done = state["done"].as_array_mut().unwrap();
    let at = done
        .iter()
        .position(|d| d["id"] == "reverse/start")
        .unwrap();
    let started_at = done.remove(at)["started_at"].clone();
    state["current"] = serde_json::json!({ "id": "reverse/start", "started_at": started_at });
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    produce(&source.bootstrap(), "orders", &[0, 3]);

    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(120)));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("records were written to the source after the drain began")
            && r.stderr.contains("orders[1]: end 20, now 23"),
        "{}",
        r.stderr
    );
    let state = migration_state(&plan).unwrap();
    assert_eq!(state["current"]["id"], "reverse/start", "{state}");
    let done = |state: &serde_json::Value, id: &str| done_ids(state).contains(&id);
    assert!(
        !done(&state, "producers/drain"),
        "the drain is to do again: {state}"
    );

    // The writer stopped, the next run drains again (copying the three
    // records), starts the copy back and moves the wave.
    std::fs::write(&go, "").unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(120)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let state = migration_state(&plan).unwrap();
    assert_eq!(state["outcome"], "finished", "{state}");
    let boundaries = state["done"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "reverse/start")
        .unwrap()["detail"]["boundaries"]
        .clone();
    assert!(
        boundaries
            .as_array()
            .unwrap()
            .iter()
            // The three records are copied; the target's end counts the
            // markers of the copy's transactions too.
            .any(|b| b["partition"] == 1
                && b["source_end"] == 23
                && b["target_start"].as_i64() >= Some(23)),
        "{boundaries}"
    );
}
