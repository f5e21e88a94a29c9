//! Fan-in: several plans, one per source cluster, copying into one target
//! cluster. Two sources writing one target topic are refused before
//! anything is copied unless both plans ask to merge it; merged, each
//! source's offsets translate exactly through its own maps, whatever the
//! other source's copies interleaved with them. Cycle skipping with three
//! clusters in a ring. Real Apache Kafka clusters (separate cluster ids).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kcp::replicator::Translation;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use crate::kafka::{
    commit, committed, create_topics, flush, produce, producer, read_partition, send,
};
use crate::replicate::{Api, provenance, replicate};
use crate::support::{KafkaCluster, Testbed, write_credentials};
use crate::{Run, require_testbed};

/// Clusters by name, a credentials file naming them, and plans beside it.
struct Clusters {
    clusters: BTreeMap<&'static str, KafkaCluster>,
    dir: tempfile::TempDir,
}

impl Clusters {
    fn start(tb: &Testbed, names: &[&'static str]) -> Self {
        let clusters: BTreeMap<&'static str, KafkaCluster> = names
            .iter()
            .map(|n| (*n, KafkaCluster::start_named(tb, n)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let yaml: String = clusters
            .iter()
            .map(|(name, c)| {
                format!(
                    "  - name: {name}\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
                    c.bootstrap()
                )
            })
            .collect();
        write_credentials(dir.path(), &format!("clusters:\n{yaml}"));
        Clusters { clusters, dir }
    }

    fn bootstrap(&self, name: &str) -> String {
        self.clusters[name].bootstrap()
    }

    fn id(&self, name: &str) -> &str {
        &self.clusters[name].cluster_id
    }

    /// Writes plan `name` copying from `source` to `target`, `topics`
    /// being its `topics:` section's lines.
    fn plan(&self, name: &str, source: &str, target: &str, topics: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "version: 1\nname: {name}\ncredentials_file: credentials.yaml\nsource: {source}\ntarget: {target}\ntopics:\n{topics}replication:\n  checkpoint_interval_ms: 300\n"
            ),
        )
        .unwrap();
        path
    }
}

fn copied(plan: &Path) -> Run {
    let out = replicate(plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

/// The (source offset, target offset) of every copy from cluster
/// `source_id` in `topic-partition` on the target, in target order.
fn copies(bootstrap: &str, topic: &str, partition: i32, source_id: &str) -> Vec<(i64, i64)> {
    read_partition(bootstrap, topic, partition, 0)
        .iter()
        .filter_map(|r| {
            let p = provenance(r)?;
            let parts: Vec<&str> = p.split(';').collect();
            (parts.get(1) == Some(&source_id)).then_some((parts.last()?.parse().ok()?, r.offset))
        })
        .collect()
}

/// Checks that target offset `at` is where a group committed at source
/// offset `committed` resumes, among `copies` of its source: every copy
/// before it is of an earlier source offset, every copy from it on of a
/// later one, and it is the first such copy when there is one.
fn assert_exact(copies: &[(i64, i64)], committed: i64, at: i64, what: &str) {
    for &(src, dst) in copies {
        assert_eq!(
            dst < at,
            src < committed,
            "{what}: committed at {committed}, moved to {at}, but the copy of {src} is at {dst}"
        );
    }
    if let Some(&(_, first)) = copies.iter().find(|(src, _)| *src >= committed) {
        assert_eq!(at, first, "{what}: the first copy not read yet");
    }
}

/// Two sources (`east`, `west`) each have `orders`; `central` is the
/// target. The second plan to claim `orders` on `central` is refused up
/// front (exit 2) while either plan leaves it unmerged, and nothing of it
/// is copied; with `topics.merge` in both plans the copies interleave in
/// one topic (alternating runs, then both copiers at once), and each
/// plan's `migrate execute` moves a group of its source to the target
/// exactly, through its own maps, and verifies its own copies.
#[test]
fn two_sources_fan_in_refused_unless_both_merge_then_translate_exactly() {
    let tb = require_testbed!();
    let c = Clusters::start(&tb, &["east", "west", "central"]);
    for source in ["east", "west"] {
        create_topics(&c.bootstrap(source), &[("orders", 2, &[])]);
    }
    produce(&c.bootstrap("east"), "orders", &[30, 20]);
    produce(&c.bootstrap("west"), "orders", &[25, 15]);
    // Two plans started at the same moment, neither merging `race`: the
    // claims written before the second read let at most one copy it.
    race(&tb, &c);

    let include = "  include: 'orders'\n";
    let merged = "  include: 'orders'\n  merge: 'orders'\n";
    let east = c.plan("east-to-central", "east", "central", include);
    copied(&east);

    // West without a choice: refused, naming both writers and the fix.
    let west = c.plan("west-to-central", "west", "central", include);
    let out = replicate(&west, &["--until-caught-up"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    for part in [
        "refused before copying anything",
        "target topic `orders` on `central`",
        &format!("`orders` from `west` (cluster id {}", c.id("west")),
        &format!("`orders` from `east` (cluster id {}", c.id("east")),
        "neither plan",
        "topics.rename",
        "topics.merge",
    ] {
        assert!(out.stderr.contains(part), "{part}: {}", out.stderr);
    }
    // `execute --dry-run` makes the same check, read-only.
    let dry = crate::run(
        crate::kcp()
            .args(["migrate", "execute", "--dry-run", "--plan"])
            .arg(&west),
    );
    assert_eq!(dry.code, 2, "{}", dry.stderr);
    assert!(
        dry.stderr.contains("target topic `orders` on `central`"),
        "{}",
        dry.stderr
    );
    // West asks to merge, east did not: still refused.
    let west = c.plan("west-to-central", "west", "central", merged);
    let out = replicate(&west, &["--until-caught-up"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not both plans"), "{}", out.stderr);
    for partition in 0..2 {
        assert!(
            copies(&c.bootstrap("central"), "orders", partition, c.id("west")).is_empty(),
            "nothing of west was copied"
        );
    }

    // Both merge: the copies interleave, run by run, then at once.
    let east = c.plan("east-to-central", "east", "central", merged);
    copied(&east);
    copied(&west);
    produce(&c.bootstrap("east"), "orders", &[40, 10]);
    copied(&east);
    produce(&c.bootstrap("west"), "orders", &[35, 30]);
    copied(&west);
    produce(&c.bootstrap("east"), "orders", &[300, 200]);
    produce(&c.bootstrap("west"), "orders", &[300, 200]);
    let both: Vec<_> = [east.clone(), west.clone()]
        .into_iter()
        .map(|plan| std::thread::spawn(move || replicate(&plan, &["--until-caught-up"])))
        .collect();
    for run in both {
        let out = run.join().unwrap();
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let central = c.bootstrap("central");
    let ends = [("east", [370, 230]), ("west", [360, 245])];
    for (source, end) in ends {
        for (partition, n) in end.into_iter().enumerate() {
            let found = copies(&central, "orders", partition as i32, c.id(source));
            let sources: Vec<i64> = found.iter().map(|(s, _)| *s).collect();
            assert_eq!(
                sources,
                (0..n).collect::<Vec<_>>(),
                "{source} p{partition}: each record once, in order"
            );
        }
    }
    let interleaved = {
        let east_p0 = copies(&central, "orders", 0, c.id("east"));
        let west_p0 = copies(&central, "orders", 0, c.id("west"));
        east_p0
            .iter()
            .any(|(_, e)| west_p0.iter().any(|(_, w)| w < e))
            && west_p0
                .iter()
                .any(|(_, w)| east_p0.iter().any(|(_, e)| e < w))
    };
    assert!(interleaved, "the copies of both sources interleave");

    // One group per source, committed inside each run of copies and at the
    // end; each plan's whole cutover (`migrate execute`) moves its group to
    // the target exactly, through its own maps, and verifies its own
    // copies in the merged topic.
    let groups = [
        ("east", &east, "shipping", [(0, 12), (1, 230)]),
        ("west", &west, "invoicing", [(0, 41), (1, 3)]),
    ];
    for (source, plan, group, offsets) in groups {
        let list: Vec<(&str, i32, i64)> = offsets.iter().map(|(p, o)| ("orders", *p, *o)).collect();
        commit(&c.bootstrap(source), group, &list);
        let text = std::fs::read_to_string(plan).unwrap();
        std::fs::write(
            plan,
            format!(
                "{text}cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 1\n  group_quiet_secs: 1\n\
                 \x20 stop_producers: 'true'\n  start_producers: 'true'\n\
                 \x20 waves:\n    - {{ name: w1, groups: [{group}], stop_consumers: 'true', start_consumers: 'true' }}\n"
            ),
        )
        .unwrap();
        let out = crate::run(
            crate::kcp()
                .args(["--no-progress", "migrate", "execute", "--yes", "--plan"])
                .arg(plan),
        );
        assert_eq!(out.code, 0, "{source}: {}", out.stderr);
        let on_target = committed(&central, group, "orders", 2);
        for (partition, offset) in offsets {
            let found = copies(&central, "orders", partition, c.id(source));
            let at = on_target[partition as usize].expect("committed on the target");
            assert_exact(&found, offset, at, &format!("{group} p{partition}"));
        }
    }
}

/// Whether `topic` exists on the cluster at `bootstrap`.
fn exists(bootstrap: &str, topic: &str) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    md.topics()
        .first()
        .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty())
}

/// East and west copy `race` to central at the same moment, without
/// merging it: at least one is refused, only one source's copies are on
/// the target, and a refused racer left no claim behind (run again one
/// after the other, exactly one plan goes on: the winner, if there was
/// one).
fn race(tb: &Testbed, c: &Clusters) {
    let racers = ["east", "west"];
    for source in racers {
        create_topics(&c.bootstrap(source), &[("race", 1, &[])]);
        produce(&c.bootstrap(source), "race", &[10]);
    }
    let plans: Vec<PathBuf> = racers
        .iter()
        .map(|s| c.plan(&format!("{s}-race"), s, "central", "  include: 'race'\n"))
        .collect();
    let runs: Vec<_> = plans
        .iter()
        .cloned()
        .map(|plan| std::thread::spawn(move || replicate(&plan, &["--until-caught-up"])))
        .collect();
    let codes: Vec<i32> = runs.into_iter().map(|r| r.join().unwrap().code).collect();
    assert!(codes.iter().all(|c| [0, 2].contains(c)), "{codes:?}");
    assert!(
        codes.contains(&2),
        "at least one racer is refused: {codes:?}"
    );
    let central = c.bootstrap("central");
    let writers = |c: &Clusters| -> Vec<&str> {
        racers
            .into_iter()
            .filter(|s| {
                exists(&central, "race") && !copies(&central, "race", 0, c.id(s)).is_empty()
            })
            .collect()
    };
    let winner = writers(c);
    assert!(winner.len() <= 1, "one source's copies at most: {winner:?}");
    let again: Vec<i32> = plans
        .iter()
        .map(|plan| replicate(plan, &["--until-caught-up"]).code)
        .collect();
    let goes_on: Vec<&str> = racers
        .into_iter()
        .zip(&again)
        .filter(|(_, code)| **code == 0)
        .map(|(s, _)| s)
        .collect();
    assert_eq!(goes_on.len(), 1, "{again:?}");
    assert!(again.iter().all(|c| [0, 2].contains(c)), "{again:?}");
    if !winner.is_empty() {
        assert_eq!(goes_on, winner, "the race's winner goes on");
    }
    assert_eq!(writers(c), goes_on);

    // The documented way to release a claim for good (Kafka's console
    // producer, a tombstone): the other plan then goes on.
    let (gone, other) = if goes_on[0] == "east" {
        ("east", 1)
    } else {
        ("west", 0)
    };
    release_claim(tb, &central, &format!("v1;race;{};race", c.id(gone)));
    let out = replicate(&plans[other], &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Tombstones the claim `key` in `_kcp-claims` as docs/replicator.md says,
/// with Kafka's own console producer.
fn release_claim(tb: &Testbed, bootstrap: &str, key: &str) {
    use std::io::Write;
    let java = std::env::var_os("KCP_JAVA").unwrap_or_else(|| "java".into());
    let libs = tb.kafka_root.join(format!(
        "{}/libs/*",
        crate::support::KafkaSpec::default().version
    ));
    let mut child = std::process::Command::new(java)
        .arg("-cp")
        .arg(libs)
        .args([
            "org.apache.kafka.tools.ConsoleProducer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            "_kcp-claims",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
            "--property",
            "null.marker=NULL",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run Kafka's console producer");
    writeln!(child.stdin.take().unwrap(), "{key}|NULL").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "console producer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copier of a merged topic that died after its copies landed and before
/// its checkpoint: its map is rebuilt from the target, where another
/// source's copy sits between its own. Source offset 1 of `east` is a
/// record that came from the target (skipped), so the copies of 0, 2 and 3
/// and the other source's record fill four target offsets, as a dense run
/// of 0..4 would. Taking them for one would send a group committed at 2 to
/// the other source's record, skipping the copy of 2.
#[test]
fn a_merged_topic_rebuilt_from_the_target_skips_the_other_sources_copies() {
    let tb = require_testbed!();
    let c = Clusters::start(&tb, &["east", "central"]);
    create_topics(&c.bootstrap("east"), &[("orders", 1, &[])]);
    create_topics(&c.bootstrap("central"), &[("orders", 1, &[])]);
    let header = |cluster: &str, offset: i64| format!("v1;{cluster};orders;0;{offset}");
    let write = |bootstrap: &str, records: &[(String, String)]| {
        let prod = producer(bootstrap);
        for (value, provenance) in records {
            let headers = OwnedHeaders::new().insert(Header {
                key: "kcp.provenance",
                value: Some(provenance.as_bytes()),
            });
            send(
                &prod,
                BaseRecord::<str, str>::to("orders")
                    .partition(0)
                    .payload(value)
                    .headers(headers),
            );
            flush(&prod);
        }
    };
    let plain = |bootstrap: &str, values: &[&str]| {
        let prod = producer(bootstrap);
        for v in values {
            send(
                &prod,
                BaseRecord::<str, str>::to("orders")
                    .partition(0)
                    .payload(*v),
            );
            flush(&prod);
        }
    };
    plain(&c.bootstrap("east"), &["e0"]);
    write(
        &c.bootstrap("east"),
        &[("from central".into(), header(c.id("central"), 0))],
    );
    plain(&c.bootstrap("east"), &["e2", "e3"]);
    let east_id = c.id("east");
    write(
        &c.bootstrap("central"),
        &[
            ("e0".into(), header(east_id, 0)),
            ("e2".into(), header(east_id, 2)),
            ("w0".into(), header("west-cluster-id", 0)),
            ("e3".into(), header(east_id, 3)),
        ],
    );
    let plan = c.plan(
        "east-to-central",
        "east",
        "central",
        "  include: 'orders'\n  merge: 'orders'\n",
    );
    let api = Api::new(&plan);
    let mut maps = api.offset_maps();
    let map = maps.get_mut(&("orders".to_owned(), 0)).unwrap();
    let placer = api.placer();
    for (committed, at) in [(0, 0), (1, 1), (2, 1), (3, 3), (4, 4)] {
        assert_eq!(
            placer.translate(map, "orders", 0, committed).unwrap(),
            Translation::Exact(at),
            "committed at {committed}: {map:?}"
        );
    }
    // The copier resumes after 3: the skipped record is no hole.
    plain(&c.bootstrap("east"), &["e4"]);
    copied(&plan);
    let sources: Vec<i64> = copies(&c.bootstrap("central"), "orders", 0, east_id)
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(sources, [0, 2, 3, 4]);
}

/// Three clusters in a ring, `a` → `b` → `c` → `a`, each with its own
/// producers on `events`. Every record reaches every cluster exactly once
/// and none is copied back to a cluster it came from: `c`'s records reach
/// `b` via `a`, and `b` → `c` skips them; `a`'s records reach `c` via `b`,
/// and `c` → `a` skips them.
#[test]
fn a_ring_of_three_clusters_copies_each_record_once_to_each_cluster() {
    let tb = require_testbed!();
    let c = Clusters::start(&tb, &["a", "b", "c"]);
    for name in ["a", "b", "c"] {
        create_topics(&c.bootstrap(name), &[("events", 1, &[])]);
        let values: Vec<String> = (0..10).map(|i| format!("{name}-{i}")).collect();
        let prod = producer(&c.bootstrap(name));
        for v in &values {
            send(
                &prod,
                BaseRecord::<str, str>::to("events").partition(0).payload(v),
            );
        }
        flush(&prod);
    }
    let ring = [("a", "b"), ("b", "c"), ("c", "a")];
    let plans: Vec<PathBuf> = ring
        .iter()
        .map(|(from, to)| {
            c.plan(
                &format!("{from}-to-{to}"),
                from,
                to,
                "  include: 'events'\n",
            )
        })
        .collect();
    let mut skipped = Vec::new();
    for plan in plans.iter().chain(&plans) {
        let out = copied(plan);
        let summary: serde_json::Value =
            serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
        skipped.push(summary["summary"]["skipped_cycles"].as_u64().unwrap());
    }
    // c → a skips a's records (via b); a → b then skips b's (via c, a);
    // b → c then skips c's (via a, b).
    assert_eq!(skipped, [0, 0, 10, 10, 10, 0], "records skipped per run");
    let all: Vec<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|n| (0..10).map(move |i| format!("{n}-{i}")))
        .collect();
    for name in ["a", "b", "c"] {
        let mut values: Vec<String> = read_partition(&c.bootstrap(name), "events", 0, 0)
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
            .collect();
        values.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(values, expected, "`events` on {name}: every record once");
    }
    // One more round copies nothing.
    for plan in &plans {
        let out = copied(plan);
        let summary: serde_json::Value =
            serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(summary["summary"]["copied"], 0, "{summary}");
    }
}

/// A source topic created while the copy runs is claimed before its
/// target topic is made: another source's claim on `late` (as another
/// plan would have written it) stops the run with exit 2 at discovery,
/// and `late` is neither created nor copied on the target.
#[test]
fn a_topic_found_while_copying_is_refused_when_another_source_writes_it() {
    let tb = require_testbed!();
    let p = crate::replicate::pair(&tb, "topics:\n  include: 'orders|late'\n");
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(
        &p.plan,
        format!("{text}  topic_discovery_interval_secs: 1\n"),
    )
    .unwrap();
    create_topics(&p.source.bootstrap(), &[("orders", 1, &[])]);
    produce(&p.source.bootstrap(), "orders", &[20]);
    create_topics(
        &p.target.bootstrap(),
        &[("_kcp-claims", 1, &[("cleanup.policy", "compact")])],
    );
    let claim = serde_json::json!({
        "target_topic": "late", "source_cluster_id": "another-cluster", "source_topic": "late",
        "plan": "elsewhere-to-dst", "source": "elsewhere", "merge": false
    })
    .to_string();
    let prod = producer(&p.target.bootstrap());
    send(
        &prod,
        BaseRecord::<str, str>::to("_kcp-claims")
            .key("v1;late;another-cluster;late")
            .payload(&claim),
    );
    flush(&prod);

    let err = p.dir.path().join("replicate.err");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["--no-progress", "migrate", "replicate", "--plan"])
        .arg(&p.plan)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&err).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let copied = || {
        exists(&p.target.bootstrap(), "orders")
            && copies(&p.target.bootstrap(), "orders", 0, &p.source.cluster_id).len() == 20
    };
    while !copied() {
        assert!(
            std::time::Instant::now() < deadline,
            "orders not copied: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    create_topics(&p.source.bootstrap(), &[("late", 1, &[])]);
    produce(&p.source.bootstrap(), "late", &[5]);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still copying after `late` appeared: {}", log());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status.code(), Some(2), "{}", log());
    for part in [
        "target topic `late` on `dst`",
        "`late` from `elsewhere` (cluster id another-cluster, plan `elsewhere-to-dst`)",
        "hint:",
    ] {
        assert!(log().contains(part), "{part}: {}", log());
    }
    assert!(
        !exists(&p.target.bootstrap(), "late"),
        "`late` was not created"
    );
}
