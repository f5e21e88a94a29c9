//! `kcp migrate execute` and `rollback` on two Apache Kafka clusters (the
//! source on 3.x, the target on 4.x) while a real producer and a real
//! consumer (separate librdkafka processes, `testbed/live_clients.py`) keep
//! working; hooks move them. The consumer really leaves and joins its group
//! (kcp waits for DescribeGroups to show no member, never for the
//! quiet-window fallback). The checker proves no record lost, none consumed
//! twice, per-key order kept.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kafka::create_topics;
use crate::proof::{Execute, check_logs, wait_consumed};
use crate::support::{
    KAFKA_3, KafkaCluster, KafkaSpec, Testbed, testbed_dir, write_pair_credentials,
};
use crate::{kcp, run};

pub(crate) struct Live {
    tb: Testbed,
    source: KafkaCluster,
    target: KafkaCluster,
    dir: tempfile::TempDir,
    producer: Option<Child>,
    consumer: Option<Child>,
    pub(crate) plan: PathBuf,
}

impl Drop for Live {
    fn drop(&mut self) {
        for c in [self.producer.as_mut(), self.consumer.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn script() -> PathBuf {
    testbed_dir().join("live_clients.py")
}

impl Live {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn client(&self, role: &str, extra: &[&str]) -> Child {
        std::fs::write(self.path(&format!("{role}.ctl")), "source").unwrap();
        Command::new(&self.tb.python)
            .arg(script())
            .arg(role)
            .arg("--control")
            .arg(self.path(&format!("{role}.ctl")))
            .args(["--source", &self.source.bootstrap()])
            .args(["--target", &self.target.bootstrap()])
            .args(["--topic", "orders", "--log"])
            .arg(self.path(&format!("{role}.log")))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path(&format!("{role}.err"))).unwrap())
            .spawn()
            .unwrap()
    }

    fn lines(&self, role: &str) -> usize {
        std::fs::read_to_string(self.path(&format!("{role}.log")))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Stops a client with SIGTERM (it flushes or commits) and checks it
    /// exited cleanly.
    fn stop(&mut self, role: &str) {
        let child = if role == "produce" {
            self.producer.take()
        } else {
            self.consumer.take()
        };
        let mut child = child.unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        let err = std::fs::read_to_string(self.path(&format!("{role}.err"))).unwrap_or_default();
        assert!(status.success(), "{role} failed: {err}");
    }

    /// Stops both clients (the consumer once it has read everything
    /// produced) and runs the checker.
    pub(crate) fn finish_and_check(&mut self) -> serde_json::Value {
        self.stop("produce");
        let produced = self.lines("produce");
        wait_consumed(produced, || self.lines("consume"));
        self.stop("consume");
        let v = check_logs(
            &self.tb.python,
            "live_clients.py",
            &self.path("produce.log"),
            &self.path("consume.log"),
        );
        eprintln!("live clients: {v}");
        v
    }
}

fn hook(python: &Path, role: &str, dir: &Path, to: &str) -> String {
    format!(
        "'{}' '{}' switch --control '{}' --to {to}",
        python.display(),
        script().display(),
        dir.join(format!("{role}.ctl")).display()
    )
}

/// Two brokers, the producer and the consumer running on the source, and a
/// plan whose hooks move them.
fn live() -> Option<Live> {
    live_with(false)
}

/// [`live`]; `consumer_last`: the wave moves after the producers, its
/// stop hook lets the consumer read on the source for 6 s more first, and
/// the topic is `new.orders` on the target (`rename: { prefix: 'new.' }`).
pub(crate) fn live_with(consumer_last: bool) -> Option<Live> {
    let tb = crate::support::testbed()?;
    let source = KafkaCluster::start_with(
        &tb,
        "source_cluster",
        KafkaSpec {
            version: KAFKA_3,
            brokers: 1,
        },
    );
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 3, &[])]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let d = dir.path();
    let plan = d.join("plan.yaml");
    let start_on = "\"$KCP_START_ON\"";
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: live\ncredentials_file: {creds}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$'{rename} }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  lag_threshold_records: 200\n  lag_sustain_secs: 2\n  producer_quiet_secs: 2\n  group_quiet_secs: 2\n  hook_timeout_secs: 60\n\
             \x20 stop_producers: {sp:?}\n  start_producers: {stp:?}\n\
             \x20 waves:\n    - name: wave-1\n      groups: [billing]\n      topics: [orders]\n      stop_consumers: {sc:?}\n      start_consumers: {stc:?}\n{last}",
            creds = creds.display(),
            last = if consumer_last { "      after_producers: true\n" } else { "" },
            rename = if consumer_last { ", rename: { prefix: 'new.' }" } else { "" },
            sp = hook(&tb.python, "produce", d, "paused"),
            stp = hook(&tb.python, "produce", d, start_on),
            // Consumer-last: the consumer reads on the source for 15 s
            // more, while the copy back runs; a copy back started again
            // after a kill first waits out the killed copier's lease
            // (up to 9 s), so 6 s left nothing to read on a loaded machine.
            sc = if consumer_last {
                format!("sleep 15 && {}", hook(&tb.python, "consume", d, "paused"))
            } else {
                hook(&tb.python, "consume", d, "paused")
            },
            stc = hook(&tb.python, "consume", d, start_on),
        ),
    )
    .unwrap();
    let mut live = Live {
        tb,
        source,
        target,
        dir,
        producer: None,
        consumer: None,
        plan,
    };
    let renamed: &[&str] = if consumer_last {
        &["--target-topic", "new.orders"]
    } else {
        &[]
    };
    live.producer = Some(live.client(
        "produce",
        &[&["--rate", "300", "--keys", "20"], renamed].concat(),
    ));
    live.consumer = Some(live.client("consume", &[&["--group", "billing"], renamed].concat()));
    // History to backfill, and committed offsets for the group.
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.lines("consume") < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        live.lines("consume") >= 300,
        "the live consumer does not read"
    );
    Some(live)
}

pub(crate) fn assert_exactly_once(v: &serde_json::Value) {
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["duplicates"], 0, "{v}");
    assert_eq!(v["out_of_order"], 0, "{v}");
    assert_eq!(v["unknown"], 0, "{v}");
    assert!(v["produced_to"]["source"].as_u64().unwrap() > 0, "{v}");
    assert!(v["produced_to"]["target"].as_u64().unwrap() > 0, "{v}");
    assert!(v["consumed_from"]["source"].as_u64().unwrap() > 0, "{v}");
    assert!(v["consumed_from"]["target"].as_u64().unwrap() > 0, "{v}");
}

pub(crate) fn migration_state(plan: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(plan.with_file_name("plan.migration-state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The ids of the steps a migration-state file records as done.
pub(crate) fn done_ids(state: &serde_json::Value) -> Vec<&str> {
    state["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

#[test]
fn live_clients_move_with_no_loss_duplicate_or_reordering() {
    let _ = crate::require_testbed!();
    let mut l = live().unwrap();
    // The cutover's metrics, read every 200 ms while it runs.
    let metrics = format!("127.0.0.1:{}", crate::support::free_port());
    let done = std::sync::atomic::AtomicBool::new(false);
    let (r, scrapes) = std::thread::scope(|s| {
        let scraper = s.spawn(|| {
            let mut seen: Vec<(u16, String)> = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((_, body)) = crate::telemetry::http_get(&metrics, "/metrics") {
                    let ready = crate::telemetry::http_get(&metrics, "/readyz")
                        .map_or(0, |(status, _)| status);
                    seen.push((ready, body));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            seen
        });
        let r = run(kcp()
            .args([
                "--log-format",
                "json",
                "migrate",
                "execute",
                "--yes",
                "--plan",
            ])
            .arg(&l.plan)
            .args(["--metrics-addr", &metrics])
            .timeout(Duration::from_secs(240)));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (r, scraper.join().unwrap())
    });
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_cutover_metrics(&scrapes);
    // JSON logs: kcp's lines parse and carry the step (the hooks' own
    // output is passed through as it comes).
    let logs: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter()
            .any(|v| v["fields"]["step"] == "consumers/wave-1/stop"
                && v["fields"]["phase"] == "consumer-cutover"
                && v["fields"]["wave"] == "wave-1"
                && v["level"] == "info"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("producers paused for"), "{}", r.stdout);
    assert!(
        !r.stderr.contains("cannot list group members"),
        "Kafka describes groups: no fallback expected\n{}",
        r.stderr
    );
    // The producer writes to the target for a while before stopping.
    std::thread::sleep(Duration::from_secs(2));
    let v = l.finish_and_check();
    assert_exactly_once(&v);

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(l.plan.with_file_name("plan.report.json")).unwrap(),
    )
    .unwrap();
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "preflight",
            "prepare-target",
            "backfill",
            "catch-up",
            "consumer-cutover",
            "producer-cutover",
            "verify",
            "finish"
        ]
    );
    assert_eq!(report["runs"], 1);
    assert!(report["records_verified"].as_u64().unwrap() >= 300);
    eprintln!(
        "kcp pauses: producers {} s, consumers {} s; client-measured: producer {} s, consumer {} s",
        report["producer_pause_secs"],
        report["consumer_pauses"]["wave-1"],
        v["producer_pause_secs"],
        v["consumer_pause_secs"]
    );

    // Finished: a second run refuses and changes nothing; status says so.
    let before = std::fs::read(l.plan.with_file_name("plan.migration-state.json")).unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("this migration is finished"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(l.plan.with_file_name("plan.migration-state.json")).unwrap(),
        before
    );
    let r = run(kcp()
        .args(["--output", "json", "migrate", "status", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"]["phase"], "finished");
    let r = run(kcp()
        .args(["migrate", "rollback", "--yes", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("point of no return"), "{}", r.stderr);
}

/// Kills `kcp migrate execute` with SIGKILL inside each phase in turn and
/// runs it again; the live clients see the same guarantees.
#[test]
fn survives_sigkill_in_every_phase() {
    let _ = crate::require_testbed!();
    let mut l = live().unwrap();
    let targets = [
        "preflight",
        "prepare-target",
        "backfill",
        "catch-up",
        "consumers/wave-1/stop",
        "consumers/wave-1/offsets",
        "consumers/wave-1/start",
        "producers/stop",
        "producers/drain",
        "producers/start",
        "verify",
        "finish",
    ];
    let mut killed_in: Vec<String> = Vec::new();
    for target in targets {
        // kcp announces a step on stderr right after recording it as
        // current (a new migration's preflight is recorded nowhere: it
        // writes nothing until it passes). A run that ends (or hangs)
        // before reaching the step is not killed in it.
        let (started, resumed) = (format!("{target}: "), format!("{target} (resumed): "));
        let announced = |line: &str| line.starts_with(&started) || line.starts_with(&resumed);
        if Execute::start(&l.plan).kill_at(announced).is_ok() {
            killed_in.push(target.to_owned());
        }
        let state = migration_state(&l.plan);
        let done = state
            .as_ref()
            .is_some_and(|s| done_ids(s).contains(&target));
        if done {
            // It finished between the announcement and the kill.
            killed_in.retain(|k| k != target);
        }
    }
    // The last kill may land after `finish` completed.
    if migration_state(&l.plan).unwrap()["outcome"] != "finished" {
        let r = run(kcp()
            .args(["migrate", "execute", "--yes", "--plan"])
            .arg(&l.plan)
            .timeout(Duration::from_secs(240)));
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    assert!(l.plan.with_file_name("plan.report.json").is_file());
    eprintln!("killed inside: {killed_in:?}");
    let phases: std::collections::BTreeSet<&str> = killed_in
        .iter()
        .map(|s| s.split('/').next().unwrap())
        .collect();
    // Every phase but the instant `finish` must have been hit.
    for phase in [
        "preflight",
        "prepare-target",
        "backfill",
        "catch-up",
        "consumers",
        "producers",
        "verify",
    ] {
        assert!(
            phases.contains(phase),
            "never killed inside {phase}: {killed_in:?}"
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let v = l.finish_and_check();
    assert_exactly_once(&v);
    let state = migration_state(&l.plan).unwrap();
    assert!(state["runs"].as_u64().unwrap() >= 8, "{state}");
}

/// Runs `migrate execute` on `plan` and interrupts it with SIGTERM once its
/// migration state says it is in `step`; it must exit with 130.
fn interrupt_execute_at(plan: &Path, step: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
        .arg(plan)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while migration_state(plan).is_none_or(|s| s["current"]["id"] != step) {
        assert!(Instant::now() < deadline, "execute never reached {step}");
        assert!(child.try_wait().unwrap().is_none(), "execute ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

/// Interrupted (SIGTERM) while producers stop, then rolled back: the
/// producer goes back to the source, the consumer's progress on the target
/// comes back to the source exactly.
#[test]
fn rollback_before_the_point_of_no_return_brings_clients_back() {
    let _ = crate::require_testbed!();
    let mut l = live().unwrap();
    interrupt_execute_at(&l.plan, "producers/stop");
    // The consumer has been reading from the target meanwhile.
    std::thread::sleep(Duration::from_secs(1));

    let r = run(kcp()
        .args(["--output", "json", "migrate", "rollback", "--yes", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // JSON lines: one event per step, then the outcome.
    let v: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["event"], "rolled-back");
    assert_eq!(
        v["undone"],
        serde_json::json!([
            "producers/stop",
            "consumers/wave-1/start",
            "consumers/wave-1/stop"
        ]),
        "{v}"
    );
    assert!(
        v["groups_moved_back"]["billing"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(l.path("produce.ctl")).unwrap(),
        "source"
    );
    assert_eq!(
        std::fs::read_to_string(l.path("consume.ctl")).unwrap(),
        "source"
    );
    std::thread::sleep(Duration::from_secs(2));
    let v = l.finish_and_check();
    for key in ["lost", "duplicates", "out_of_order", "unknown"] {
        assert_eq!(v[key], 0, "{key}: {v}");
    }
    assert_eq!(v["produced_to"]["target"], 0, "{v}");
    assert!(v["consumed_from"]["target"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(migration_state(&l.plan).unwrap()["outcome"], "rolled-back");
    // Execute refuses a rolled-back migration.
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("rolled back"), "{}", r.stderr);
}

/// The fault suite's rehearsal case: a cutover interrupted before the
/// point of no return and rolled back, its target topic deleted and created
/// again, then run again from the start (the migration-state file moved
/// away, as the hint says): the old offset maps are not trusted, the copy
/// starts over, and the live clients move exactly once.
#[test]
fn a_rehearsal_rolled_back_then_run_again_on_a_recreated_target_is_exact() {
    let _ = crate::require_testbed!();
    let mut l = live().unwrap();
    interrupt_execute_at(&l.plan, "producers/stop");
    let r = run(kcp()
        .args(["migrate", "rollback", "--yes", "--plan"])
        .arg(&l.plan));
    assert_eq!(r.code, 0, "{}", r.stderr);

    crate::map_identity::recreate(&l.target.bootstrap(), "orders", 3);
    let state = l.plan.with_file_name("plan.migration-state.json");
    std::fs::rename(&state, state.with_extension("rehearsal")).unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&l.plan)
        .timeout(Duration::from_secs(240)));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("rebuilding it from the target"),
        "the rehearsal's maps were dropped: {}",
        r.stderr
    );
    std::thread::sleep(Duration::from_secs(2));
    let v = l.finish_and_check();
    assert_exactly_once(&v);
}

/// Target topic names of a cluster.
fn topics(bootstrap: &str) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    let mut names: Vec<String> = md.topics().iter().map(|t| t.name().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 3, &[])]);
    crate::kafka::produce(&source.bootstrap(), "orders", &[5, 5, 5]);
    crate::kafka::commit(&source.bootstrap(), "billing", &[("orders", 0, 2)]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    let write_plan = |target: &str, group: &str| {
        std::fs::write(
            &plan,
            format!(
                "version: 1\nname: p\ncredentials_file: {}\nsource: src\ntarget: {target}\ncutover:\n  waves:\n    - {{ name: w1, groups: [{group}] }}\n",
                creds.display()
            ),
        )
        .unwrap();
    };
    let state = dir.path().join("plan.migration-state.json");
    let execute = || {
        run(kcp()
            .args(["migrate", "execute", "--yes", "--plan"])
            .arg(&plan))
    };
    let before = topics(&target.bootstrap());

    // A group the source does not know.
    write_plan("dst", "nope");
    let r = execute();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("names consumer group `nope` (wave `w1`)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!state.exists(), "a failed preflight leaves no state file");

    // A cluster missing from the credentials file.
    write_plan("elsewhere", "billing");
    let r = execute();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("elsewhere"), "{}", r.stderr);

    // An unreachable cluster.
    let dead = dir.path().join("dead.yaml");
    std::fs::write(
        &dead,
        format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n  - name: dst\n    bootstrap_servers: [\"127.0.0.1:{}\"]\n    auth: {{ method: plaintext }}\n",
            source.bootstrap(),
            crate::support::free_port()
        ),
    )
    .unwrap();
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: p\ncredentials_file: {}\nsource: src\ntarget: dst\n",
            dead.display()
        ),
    )
    .unwrap();
    let r = execute();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("`dst`"), "{}", r.stderr);
    assert!(!state.exists());

    // A target topic with fewer partitions.
    create_topics(&target.bootstrap(), &[("orders", 1, &[])]);
    let before_fewer = topics(&target.bootstrap());
    write_plan("dst", "billing");
    let r = execute();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("target topic `orders` has 1 partitions but the source has 3"),
        "{}",
        r.stderr
    );
    assert_eq!(topics(&target.bootstrap()), before_fewer);
    assert!(!state.exists());
    assert_eq!(before.len() + 1, before_fewer.len());

    // A corrupt migration-state file.
    std::fs::write(&state, "{\"version\": 1, \"plan\": ").unwrap();
    for args in [&["execute", "--yes"][..], &["rollback"], &["status"]] {
        let r = run(kcp().arg("migrate").args(args).arg("--plan").arg(&plan));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("migration-state file") && r.stderr.contains("is not valid"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("kcp did not change it"), "{}", r.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{\"version\": 1, \"plan\": "
    );
    assert_eq!(topics(&target.bootstrap()), before_fewer);

    // Without --yes and without a terminal, nothing starts.
    std::fs::remove_file(&state).unwrap();
    let r = run(kcp().args(["migrate", "execute", "--plan"]).arg(&plan));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    assert!(!state.exists());
}

/// A producer nobody stopped writes to the source while the drain runs
/// (after the end offsets it drains to were read): the cutover stops at
/// the drain, before producers move to the target, naming the partition;
/// it used to drain to the old ends, pass verify (which checks the copied
/// range only) and finish, leaving the straggler's records on the source
/// alone. Run again once the straggler is stopped, it copies them and
/// finishes.
#[test]
fn a_write_to_the_source_during_the_drain_stops_the_cutover_before_producers_move() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 2, &[])]);
    crate::kafka::produce(&source.bootstrap(), "orders", &[15_000, 15_000]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    // Throttled, so that the drain copies for a few seconds; catch-up is
    // done at once (any lag is under the threshold).
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: straggler\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$' }}\n\
             replication: {{ checkpoint_interval_ms: 500, max_bytes_per_sec: 200000 }}\n\
             cutover:\n  lag_threshold_records: 1000000\n  lag_sustain_secs: 1\n  producer_quiet_secs: 1\n\
             \x20 stop_producers: 'true'\n  start_producers: 'true'\n",
            creds.display()
        ),
    )
    .unwrap();
    let mut execute = Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("execute.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while migration_state(&plan).is_none_or(|s| s["current"]["id"] != "producers/drain") {
        assert!(
            Instant::now() < deadline && execute.try_wait().unwrap().is_none(),
            "never reached the drain: {}",
            std::fs::read_to_string(dir.path().join("execute.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    crate::kafka::produce(&source.bootstrap(), "orders", &[0, 1]);
    let status = execute.wait().unwrap();
    let err = std::fs::read_to_string(dir.path().join("execute.err")).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("written to the source after the drain") && err.contains("orders[1]"),
        "{err}"
    );
    let state = migration_state(&plan).unwrap();
    let done = done_ids(&state);
    assert!(!done.contains(&"producers/start"), "{done:?}");

    // The straggler is gone now: a second run copies its record and ends.
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(180)));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let copied = crate::kafka::read_partition(&target.bootstrap(), "orders", 1, 0);
    assert_eq!(copied.len(), 15_001);
}

/// With `scale_out`, `execute`'s replicator shares the partitions with
/// another `kcp migrate replicate` of the plan: the drain waits for every
/// partition, its own from its stats and the other process's from the
/// offset maps that process checkpoints on the target. It used to wait
/// for positions it could not see and hang.
#[test]
fn the_drain_with_scale_out_sees_the_partitions_of_the_other_replicators() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 4, &[])]);
    crate::kafka::produce(&source.bootstrap(), "orders", &[500, 500, 500, 500]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: shared\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$' }}\n\
             replication: {{ checkpoint_interval_ms: 500, scale_out: true }}\n\
             cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 1\n\
             \x20 stop_producers: 'true'\n  start_producers: 'true'\n",
            creds.display()
        ),
    )
    .unwrap();
    let mut other = Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["--no-progress", "migrate", "replicate", "--plan"])
        .arg(&plan)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("other.err")).unwrap())
        .spawn()
        .unwrap();
    let r = run(kcp()
        .args(["migrate", "execute", "--yes", "--plan"])
        .arg(&plan)
        .timeout(Duration::from_secs(150)));
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(
        r.code,
        0,
        "{}\n{}\nthe other replicator:\n{}",
        r.stdout,
        r.stderr,
        std::fs::read_to_string(dir.path().join("other.err")).unwrap_or_default()
    );
    for partition in 0..4 {
        let copied = crate::kafka::read_partition(&target.bootstrap(), "orders", partition, 0);
        assert_eq!(copied.len(), 500, "orders[{partition}]");
    }
}

/// What the scrapes of a whole cutover showed: each step as the current
/// one in turn, the replicator copying (and ready) during the copying
/// steps, hooks that ran fine, the point of no return passed, progress.
fn assert_cutover_metrics(scrapes: &[(u16, String)]) {
    assert!(scrapes.len() > 10, "{} scrapes", scrapes.len());
    let all: String = scrapes.iter().map(|(_, b)| b.as_str()).collect();
    for step in [
        "backfill",
        "catch-up",
        "consumers/wave-1/offsets",
        "producers/stop",
        "verify",
    ] {
        assert!(
            all.contains(&format!(
                r#"kcp_migration_current_step{{plan="live",step="{step}""#
            )),
            "`{step}` never seen as the current step"
        );
    }
    let value = |body: &str, series: &str| -> Option<f64> {
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    let during = |step: &'static str| {
        scrapes.iter().filter(move |(_, b)| {
            b.contains(&format!(
                r#"kcp_migration_current_step{{plan="live",step="{step}""#
            ))
        })
    };
    // The replicator copies during backfill and reports the partitions.
    assert!(
        during("catch-up").any(|(ready, b)| *ready == 200
            && value(b, r#"kcp_replicator_partitions{plan="live"}"#) == Some(3.0)
            && value(
                b,
                r#"kcp_replicator_copied_records_total{plan="live",topic="orders",partition="0"}"#
            )
            .is_some_and(|n| n > 0.0)),
        "catch-up: not ready with 3 partitions and copies"
    );
    let last = &scrapes.last().unwrap().1;
    assert_eq!(
        value(last, r#"kcp_migration_steps{plan="live"}"#),
        Some(12.0),
        "{last}"
    );
    assert!(
        value(last, r#"kcp_migration_steps_done{plan="live"}"#).is_some_and(|n| n >= 10.0),
        "{last}"
    );
    assert!(
        all.contains(r#"kcp_migration_point_of_no_return{plan="live"} 1"#),
        "the point of no return was never seen passed"
    );
    assert_eq!(
        value(
            last,
            r#"kcp_migration_hook_runs_total{plan="live",step="producers/stop",outcome="ok"}"#
        ),
        Some(1.0),
        "{last}"
    );
    assert_eq!(
        value(
            last,
            r#"kcp_migration_hook_runs_total{plan="live",step="producers/stop",outcome="failed"}"#
        ),
        Some(0.0),
        "{last}"
    );
    assert!(
        value(
            last,
            r#"kcp_migration_phase_seconds{plan="live",phase="backfill"}"#
        )
        .is_some(),
        "{last}"
    );
    assert!(
        value(
            last,
            r#"kcp_migration_consumer_pause_seconds{plan="live",wave="wave-1"}"#
        )
        .is_some_and(|s| s > 0.0),
        "{last}"
    );
    assert!(
        last.contains(
            r#"kcp_migration_step_failures_total{plan="live",step="verify",phase="verify"} 0"#
        ),
        "{last}"
    );
    assert_eq!(
        value(last, r#"kcp_migration_runs{plan="live"}"#),
        Some(1.0),
        "{last}"
    );
}

/// A wave whose groups look gone but are not: `billing` has a static
/// member (`group.instance.id`), which stays in the group for its session
/// after its consumer closes, and `reporting` is a consumer that uses
/// `assign()` and commits, with no membership at all. kcp names the static
/// member while it waits, and holds the wave's offsets until `reporting`'s
/// commits stop, then moves its last commit. It used to say only "waiting
/// for billing (1 member(s)) to leave", and moved `reporting`'s offsets at
/// once while its consumer still committed (a stale position on the
/// target).
#[test]
fn a_wave_waits_for_static_members_and_assign_consumers_and_says_why() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 1, &[])]);
    crate::kafka::produce(&source.bootstrap(), "orders", &[1000]);
    // A static member joins billing, commits, and closes without leaving.
    {
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", source.bootstrap())
            .set("group.id", "billing")
            .set("group.instance.id", "billing-1")
            // Long enough to outlast execute's start-up and backfill on a
            // loaded machine: the stop step must still see the member.
            .set("session.timeout.ms", "30000")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        c.subscribe(&["orders"]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.assignment().unwrap().count() == 0 {
            assert!(Instant::now() < deadline, "billing never joined");
            let _ = c.poll(Duration::from_millis(100));
        }
        let mut list = rdkafka::TopicPartitionList::new();
        list.add_partition_offset("orders", 0, rdkafka::Offset::Offset(50))
            .unwrap();
        c.commit(&list, rdkafka::consumer::CommitMode::Sync)
            .unwrap();
    }
    crate::kafka::commit(&source.bootstrap(), "reporting", &[("orders", 0, 10)]);
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: hidden\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 1\n  group_quiet_secs: 2\n\
             \x20 stop_producers: 'true'\n  start_producers: 'true'\n\
             \x20 waves:\n    - {{ name: w1, groups: [billing, reporting], stop_consumers: 'true', start_consumers: 'true' }}\n",
            creds.display()
        ),
    )
    .unwrap();
    // reporting's consumer keeps committing (assign(), no membership).
    let stop = AtomicBool::new(false);
    let last = AtomicI64::new(10);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut at = 10;
            while !stop.load(Ordering::SeqCst) {
                at += 1;
                crate::kafka::commit(&source.bootstrap(), "reporting", &[("orders", 0, at)]);
                last.store(at, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        // Stops the committer however this thread ends (a failed
        // assertion too: the scope waits for it).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let _stop = Stop(&stop);
        let mut execute = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
            .arg(&plan)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("execute.err")).unwrap())
            .spawn()
            .unwrap();
        let err = || std::fs::read_to_string(dir.path().join("execute.err")).unwrap_or_default();
        // The static member's session ends, reporting still commits: the
        // wave's offsets must not move until kcp has named the assign()
        // consumer, nor for 3 s after.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut until = deadline;
        while Instant::now() < until {
            if until == deadline && err().contains("committed offsets moved") {
                until = Instant::now() + Duration::from_secs(3);
            }
            assert!(
                Instant::now() < deadline,
                "kcp never named the assign() consumer: {}",
                err()
            );
            let done = migration_state(&plan).map(|s| s["done"].to_string());
            assert!(
                done.is_none_or(|d| !d.contains("consumers/w1/offsets")),
                "offsets moved while reporting still commits: {}",
                err()
            );
            assert!(execute.try_wait().unwrap().is_none(), "{}", err());
            std::thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = execute.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "execute hangs: {}", err());
            std::thread::sleep(Duration::from_millis(200));
        };
        let err = err();
        assert!(status.success(), "{err}");
        assert!(
            err.contains("static member(s) billing (group.instance.id billing-1)")
                && err.contains("session.timeout.ms"),
            "{err}"
        );
        assert!(
            err.contains("reporting have no members but their committed offsets moved")
                && err.contains("assign()"),
            "{err}"
        );
    });
    let last = last.load(Ordering::SeqCst);
    assert!(last > 20, "the committer committed {last}");
    // Each group resumes at the copy of its source offset (transaction
    // markers make target offsets differ from the source's).
    let copy_at = |src: i64| {
        crate::kafka::read_partition(&target.bootstrap(), "orders", 0, 0)
            .iter()
            .find(|r| {
                crate::replicate::provenance(r)
                    .is_some_and(|v| v.ends_with(&format!(";orders;0;{src}")))
            })
            .map(|r| r.offset)
            .expect("a copy of the committed offset")
    };
    assert_eq!(
        crate::kafka::committed(&target.bootstrap(), "reporting", "orders", 1),
        [Some(copy_at(last))]
    );
    assert_eq!(
        crate::kafka::committed(&target.bootstrap(), "billing", "orders", 1),
        [Some(copy_at(50))]
    );
}

/// A child process killed and reaped however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes one record to `orders` as `alice` (SASL/PLAIN): the producer
/// whose principal the fence denies.
fn alice_writes(source: &KafkaCluster) -> Result<(), String> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let p: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", source.listener("SASL"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-secret")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap();
    let record = FutureRecord::to("orders")
        .partition(0)
        .key("a")
        .payload("from alice");
    crate::kafka::block(p.send(record, Duration::from_secs(20)))
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

/// The ACL bindings on `orders`, as `PERMISSION principal OPERATION`.
fn orders_acls(source: &KafkaCluster, dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let creds = write_pair_credentials(dir, source, source);
    let creds = kcp::connect::CredentialsFile::load(&creds).unwrap();
    let conn = kcp::connect::connect(
        creds.cluster("src").unwrap(),
        kcp::connect::ConnectOptions {
            timeout: Duration::from_secs(10),
        },
    )
    .unwrap();
    let mut out: Vec<String> = kcp::connect::admin::describe_acls(&conn)
        .unwrap()
        .into_iter()
        .filter(|a| a.resource_name == "orders")
        .map(|a| format!("{} {} {}", a.permission, a.principal, a.operation))
        .collect();
    out.sort();
    out
}

/// `fence_producers` in the plan: at `producers/stop` kcp denies Write on
/// the plan's topics to the principals the source's ACLs let write to them
/// (alice), so alice's straggling producer is refused; the binding is
/// recorded in the migration state, and rollback deletes exactly it (a
/// deny binding someone else made for bob stays), after which alice writes
/// again. Before, the plan key did not exist (the plan was refused) and a
/// straggler could only be caught after the fact.
#[test]
fn producers_are_fenced_at_stop_and_rollback_lifts_exactly_that_fence() {
    let tb = crate::require_testbed!();
    let source = KafkaCluster::start_named(&tb, "source_cluster");
    let target = KafkaCluster::start_named(&tb, "target_cluster");
    create_topics(&source.bootstrap(), &[("orders", 1, &[])]);
    crate::kafka::produce(&source.bootstrap(), "orders", &[20]);
    source.admin(&tb, &["acl", "User:alice", "WRITE", "TOPIC", "orders"]);
    source.admin(
        &tb,
        &["acl", "User:bob", "WRITE", "TOPIC", "orders", "--deny"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = alice_writes(&source) {
        assert!(Instant::now() < deadline, "alice cannot write before: {e}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let dir = tempfile::tempdir().unwrap();
    let creds = write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: fenced\ncredentials_file: {}\nsource: src\ntarget: dst\n\
             topics: {{ include: '^orders$' }}\n\
             replication: {{ checkpoint_interval_ms: 500 }}\n\
             cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 60\n\
             \x20 fence_producers: {{}}\n  stop_producers: 'true'\n  start_producers: 'true'\n",
            creds.display()
        ),
    )
    .unwrap();
    // Producers count as stopped after 60 s of quiet: the run stays in
    // producers/stop, fenced, until it is interrupted.
    let mut execute = Reaped(
        Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
            .arg(&plan)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("execute.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let err = || std::fs::read_to_string(dir.path().join("execute.err")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !err().contains("fenced the producers") {
        assert!(
            Instant::now() < deadline && execute.0.try_wait().unwrap().is_none(),
            "never fenced: {}",
            err()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        err().contains("fenced the producers on `src`: User:alice denied Write on 1 topic(s)"),
        "{}",
        err()
    );
    let state = migration_state(&plan).unwrap();
    assert_eq!(state["current"]["id"], "producers/stop", "{state:#}");
    assert_eq!(
        state["fenced"],
        serde_json::json!([{ "topic": "orders", "principal": "User:alice", "host": "*", "deny": true }]),
        "{state:#}"
    );
    let e = alice_writes(&source).unwrap_err();
    assert!(e.contains("Authorization"), "{e}");
    assert_eq!(
        orders_acls(&source, &dir.path().join("check")),
        [
            "ALLOW User:alice WRITE",
            "DENY User:alice WRITE",
            "DENY User:bob WRITE"
        ]
    );
    // Interrupted: the fence stays, recorded, until rollback lifts it.
    let _ = Command::new("kill")
        .args(["-TERM", &execute.0.id().to_string()])
        .status();
    assert_eq!(execute.0.wait().unwrap().code(), Some(130), "{}", err());
    assert_eq!(
        migration_state(&plan).unwrap()["fenced"][0]["principal"],
        "User:alice"
    );
    let e = alice_writes(&source).unwrap_err();
    assert!(e.contains("Authorization"), "{e}");

    let r = run(kcp()
        .args(["--no-progress", "migrate", "rollback", "--yes", "--plan"])
        .arg(&plan));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("lifted the producer fence on `src`: 1 deny-Write binding(s) deleted"),
        "{}",
        r.stderr
    );
    assert_eq!(
        orders_acls(&source, &dir.path().join("check")),
        ["ALLOW User:alice WRITE", "DENY User:bob WRITE"]
    );
    assert!(migration_state(&plan).unwrap().get("fenced").is_none());
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = alice_writes(&source) {
        assert!(
            Instant::now() < deadline,
            "alice cannot write after rollback: {e}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
