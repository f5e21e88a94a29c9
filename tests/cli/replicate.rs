//! The embedded replicator on two real Apache Kafka clusters (separate
//! cluster ids): record-by-record fidelity, SIGKILL crash/resume with
//! exactly-once results, exact offset translation (including source gaps
//! made by skipped cycle records), refusal of an unsafe target, and
//! scale-out hand-overs on SIGTERM and SIGKILL. Gaps in source offsets are
//! produced with records that carry the target's provenance, which the
//! replicator must skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kcp::connect::CredentialsFile;
use kcp::replicator::{LoadedPlan, Translation};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use crate::kafka::{create_topics, producer, read_partition, send};
use crate::support::{KafkaCluster, Testbed, write_pair_credentials};
use crate::{kcp, require_testbed, run};

pub(crate) struct Pair {
    pub(crate) source: KafkaCluster,
    pub(crate) target: KafkaCluster,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) plan: PathBuf,
}

pub(crate) fn pair(tb: &Testbed, topics_yaml: &str) -> Pair {
    pair_with(tb, topics_yaml, crate::support::KafkaSpec::default())
}

/// A pair whose target cluster is started with `target`.
fn pair_with(tb: &Testbed, topics_yaml: &str, target: crate::support::KafkaSpec) -> Pair {
    let source = KafkaCluster::start_named(tb, "source_cluster");
    let target = KafkaCluster::start_with(tb, "target_cluster", target);
    let dir = tempfile::tempdir().unwrap();
    write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!("version: 1\nname: test\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\n{topics_yaml}replication:\n  checkpoint_interval_ms: 300\n"),
    )
    .unwrap();
    Pair {
        source,
        target,
        dir,
        plan,
    }
}

/// Sets `transactions: false` in the pair's plan: tests that count target
/// offsets (high watermarks) or expect dense maps, which transaction
/// markers would shift.
pub(crate) fn without_transactions(p: &Pair) {
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{text}  transactions: false\n")).unwrap();
}

pub(crate) fn replicate(plan: &Path, extra: &[&str]) -> crate::Run {
    run(kcp()
        .args([
            "migrate",
            "replicate",
            "--output",
            "json",
            "--stats-interval-ms",
            "200",
            "--plan",
        ])
        .arg(plan)
        .args(extra))
}

/// kcp's provenance of a copied record: its last `kcp.provenance` header
/// (earlier ones come from earlier hops of a chained migration).
pub(crate) fn provenance(r: &crate::kafka::Record) -> Option<String> {
    r.headers
        .iter()
        .rfind(|(k, _)| k == "kcp.provenance")
        .and_then(|(_, v)| v.as_ref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// A copied record's headers without the provenance this copy added.
fn without_provenance(r: &crate::kafka::Record) -> Vec<(String, Option<Vec<u8>>)> {
    let mut headers = r.headers.clone();
    if let Some(last) = headers.iter().rposition(|(k, _)| k == "kcp.provenance") {
        headers.remove(last);
    }
    headers
}

#[test]
fn copies_every_record_exactly_with_keys_values_headers_and_timestamps() {
    let tb = require_testbed!();
    let p = pair(&tb, "topics:\n  include: 'events|ledger'\n");
    create_topics(
        &p.source.bootstrap(),
        &[
            // Kept forever: the records' timestamps are from 2023, which
            // time retention (7 days) deletes at its next check (every 5 s
            // on the test bed), sometimes before they are copied or read.
            ("events", 3, &[("retention.ms", "-1")]),
            ("ledger", 2, &[("cleanup.policy", "compact")]),
            ("ignored", 1, &[]),
        ],
    );
    let prod = producer(&p.source.bootstrap());
    let mut expected = 0;
    for i in 0..600i64 {
        let topic = if i % 3 == 0 { "ledger" } else { "events" };
        let partitions = if topic == "ledger" { 2 } else { 3 };
        let key = format!("k{}", i % 11);
        let value = format!("payload-{i}");
        let mut headers = OwnedHeaders::new();
        for h in 0..(i % 3) {
            headers = headers.insert(Header {
                key: &format!("h{h}"),
                value: Some(&format!("v{i}-{h}")),
            });
        }
        if i % 17 == 0 {
            headers = headers.insert(Header {
                key: "null-header",
                value: None::<&str>,
            });
        }
        // Records that an earlier migration copied here (a chained
        // migration): their provenance is kept, not taken for a cycle.
        if i % 50 == 0 {
            headers = headers.insert(Header {
                key: "kcp.provenance",
                value: Some(&format!("v1;an-older-cluster;{topic};0;{i}")),
            });
        }
        let mut record = BaseRecord::to(topic)
            .partition((i % partitions) as i32)
            .timestamp(1_700_000_000_000 + i * 1000)
            .headers(headers);
        // Null keys only where Kafka takes them: not on a compacted topic.
        if i % 5 != 0 || topic == "ledger" {
            record = record.key(&key);
        }
        if i % 7 != 0 {
            record = record.payload(&value);
        }
        send(&prod, record);
        expected += 1;
    }
    crate::kafka::flush(&prod);

    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, p.source.log_text());
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["copied"], expected, "{}", out.stderr);
    assert_eq!(summary["summary"]["lag_at_end"], 0, "{summary}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("\"records_per_sec\"")),
        "stats lines on stdout: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("created topic `events` on the target"),
        "{}",
        out.stderr
    );

    for (topic, partitions) in [("events", 3), ("ledger", 2)] {
        for partition in 0..partitions {
            let src = read_partition(&p.source.bootstrap(), topic, partition, 0);
            let dst = read_partition(&p.target.bootstrap(), topic, partition, 0);
            assert_eq!(src.len(), dst.len(), "{topic}-{partition}");
            for (s, d) in src.iter().zip(&dst) {
                assert_eq!(
                    (&d.key, &d.value, d.timestamp),
                    (&s.key, &s.value, s.timestamp),
                    "{topic}-{partition} offset {}",
                    s.offset
                );
                assert_eq!(
                    without_provenance(d),
                    s.headers,
                    "{topic}-{partition} offset {}",
                    s.offset
                );
                assert_eq!(
                    provenance(d),
                    Some(format!(
                        "v1;{};{topic};{partition};{}",
                        p.source.cluster_id, s.offset
                    ))
                );
            }
        }
    }
    // Unselected topics are not copied; the compacted topic kept its policy.
    let topics = crate::kafka::block(crate::kafka::admin(&p.target.bootstrap()).describe_configs(
        &[rdkafka::admin::ResourceSpecifier::Topic("ledger")],
        &rdkafka::admin::AdminOptions::new(),
    ))
    .unwrap();
    let ledger = topics[0].as_ref().unwrap();
    assert_eq!(
        ledger
            .get("cleanup.policy")
            .and_then(|e| e.value.as_deref()),
        Some("compact")
    );
    let out = run(kcp()
        .args(["migrate", "replicate", "--until-caught-up", "--plan"])
        .arg(&p.plan));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("copied 0 records"),
        "a second run copies nothing: {}",
        out.stderr
    );
}

/// The pair's offset maps, loaded and repaired as any process would.
pub(crate) fn offset_maps(
    p: &Pair,
) -> std::collections::HashMap<(String, i32), kcp::replicator::OffsetMap> {
    offset_maps_of(&p.plan)
}

/// A plan with its connections, for kcp's own translation API.
pub(crate) struct Api {
    pub(crate) plan: LoadedPlan,
    src: kcp::connect::Connection,
    dst: kcp::connect::Connection,
}

impl Api {
    pub(crate) fn new(plan: &Path) -> Self {
        let plan = LoadedPlan::load(plan).unwrap();
        let creds = CredentialsFile::load(&plan.credentials_path()).unwrap();
        let options = kcp::connect::ConnectOptions {
            timeout: Duration::from_secs(30),
        };
        let cluster = |name: &str| creds.cluster(name).unwrap();
        let src = kcp::connect::connect(cluster(&plan.plan.source), options).unwrap();
        let dst = kcp::connect::connect(cluster(&plan.plan.target), options).unwrap();
        Api { plan, src, dst }
    }

    pub(crate) fn offset_maps(
        &self,
    ) -> std::collections::HashMap<(String, i32), kcp::replicator::OffsetMap> {
        kcp::replicator::offset_maps(&self.plan, &self.src, &self.dst).unwrap()
    }

    /// Places offsets inside loose runs, as `migrate` does.
    pub(crate) fn placer(&self) -> kcp::replicator::Placer<'_> {
        kcp::replicator::Placer::new(&self.plan, &self.src, &self.dst).unwrap()
    }
}

/// The offset maps of the plan at `plan`, as [`offset_maps`] loads them.
pub(crate) fn offset_maps_of(
    plan: &Path,
) -> std::collections::HashMap<(String, i32), kcp::replicator::OffsetMap> {
    Api::new(plan).offset_maps()
}

/// Starts a replicator whose stderr goes to `replicator.log` beside the
/// plan (appended, one run after another), for failure messages.
fn spawn_replicator(plan: &Path, extra: &[&str]) -> Child {
    spawn_with_stdout(plan, extra, Stdio::null())
}

/// Like [`spawn_replicator`], with stdout in `replicator.out` beside the plan.
fn spawn_replicator_out(plan: &Path, extra: &[&str]) -> Child {
    let out = std::fs::File::create(plan.with_file_name("replicator.out")).unwrap();
    spawn_with_stdout(plan, extra, Stdio::from(out))
}

fn spawn_with_stdout(plan: &Path, extra: &[&str], stdout: Stdio) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(plan.with_file_name("replicator.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args(["migrate", "replicate", "--no-progress", "--plan"])
        .arg(plan)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .spawn()
        .unwrap()
}

fn replicator_log(plan: &Path) -> String {
    std::fs::read_to_string(plan.with_file_name("replicator.log")).unwrap_or_default()
}

/// Records on the target topic: the sum of its partitions' high watermarks,
/// in one batched ListOffsets through kcp's own admin wrapper. `None` when
/// the broker does not answer in time or the topic does not exist yet.
pub(crate) fn target_count(p: &Pair, topic: &str, partitions: i32) -> Option<i64> {
    target_count_of(&p.dir.path().join("credentials.yaml"), topic, partitions)
}

/// [`target_count`] on the `dst` cluster of a credentials file.
pub(crate) fn target_count_of(credentials: &Path, topic: &str, partitions: i32) -> Option<i64> {
    let creds = kcp::connect::CredentialsFile::load(credentials).unwrap();
    let options = kcp::connect::ConnectOptions {
        timeout: Duration::from_secs(30),
    };
    let conn = kcp::connect::connect(creds.cluster("dst").unwrap(), options).ok()?;
    let wanted: Vec<(String, i32)> = (0..partitions)
        .map(|partition| (topic.to_owned(), partition))
        .collect();
    let offsets =
        kcp::connect::admin::list_offsets(&conn, &wanted, kcp::connect::admin::OffsetSpec::Latest)
            .ok()?;
    // A topic that does not exist yet has no partitions to count.
    Some(
        offsets
            .iter()
            .map(|o| *o.offset.as_ref().unwrap_or(&0))
            .sum(),
    )
}

/// 200,000 records, 5 SIGKILLs at pseudo-random moments, then a final run.
///
/// The records are spread over 100 partitions, and exactly-once is checked with:
/// the count of every target partition; every partition's offset map being
/// one dense run (a lost record splits it, a duplicate shifts it); and a
/// record-by-record read of a sample of partitions. Without transactions
/// (their markers would shift the counts): the lease and the idempotent
/// producer are what this run relies on.
#[test]
fn survives_sigkill_at_random_moments_with_every_record_exactly_once() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    without_transactions(&p);
    const PARTITIONS: i32 = 100;
    const RECORDS: usize = 200_000;
    const PER_PARTITION: i64 = (RECORDS / PARTITIONS as usize) as i64;
    create_topics(&p.source.bootstrap(), &[("load", PARTITIONS, &[])]);
    load_sequence(&p.source.bootstrap(), "load", PARTITIONS, RECORDS);

    // Kill -9 at pseudo-random moments while the copy runs: each run is
    // killed once it has copied something, after a random extra delay. The
    // runs are throttled (~16 MB in all, at 600 kB/s) so that every kill
    // lands mid-copy: unthrottled, Kafka takes the whole load in ~2 s.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = Vec::new();
    let mut before = 0;
    for _ in 0..5 {
        let mut child = spawn_replicator(&p.plan, &["--max-bytes-per-sec", "600000"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while target_count(&p, "load", PARTITIONS).is_none_or(|count| count <= before) {
            assert!(
                std::time::Instant::now() < deadline,
                "the replicator copied nothing in 60 s (target holds {:?}, kills at {kills:?}); its log:\n{}",
                target_count(&p, "load", PARTITIONS),
                replicator_log(&p.plan)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 800));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        before = loop {
            if let Some(count) = target_count(&p, "load", PARTITIONS) {
                break count;
            }
        };
        kills.push(before);
    }
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    eprintln!("records on the target at each SIGKILL: {kills:?}");
    assert!(
        kills.iter().all(|k| *k < RECORDS as i64),
        "every kill must interrupt the copy: {kills:?}"
    );
    assert!(
        kills.windows(2).any(|w| w[0] < w[1]),
        "copying made progress between kills: {kills:?}"
    );

    // Every partition holds exactly its records, mapped as one dense run.
    let maps = offset_maps(&p);
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", p.target.bootstrap())
        .create()
        .unwrap();
    for partition in 0..PARTITIONS {
        use rdkafka::consumer::Consumer;
        let (_, high) = consumer
            .fetch_watermarks("load", partition, Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            high, PER_PARTITION,
            "partition {partition}: duplicates or losses"
        );
        let map = &maps[&("load".to_owned(), partition)];
        assert_eq!(
            map.runs,
            [kcp::replicator::offset_map::Run::dense(0, 0, PER_PARTITION)],
            "partition {partition}"
        );
        assert_eq!((map.src_end, map.dst_end), (PER_PARTITION, PER_PARTITION));
    }
    // Record by record, in order, on a sample of partitions.
    for partition in [0, 37, PARTITIONS - 1] {
        let dst = read_partition(&p.target.bootstrap(), "load", partition, 0);
        assert_eq!(dst.len() as i64, PER_PARTITION);
        for (i, r) in dst.iter().enumerate() {
            assert_eq!(
                provenance(r),
                Some(format!("v1;{};load;{partition};{i}", p.source.cluster_id)),
                "partition {partition} position {i}"
            );
            let seq = i * PARTITIONS as usize + partition as usize;
            assert_eq!(r.value.as_deref(), Some(format!("seq-{seq:06}").as_bytes()));
        }
    }
}

#[test]
fn translated_offsets_resume_exactly_where_the_source_consumer_would() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("orders", 2, &[])]);
    // Records that came from the target (another replicator running the other
    // way) are skipped, which leaves gaps in the mapping of source offsets.
    let prod = producer(&p.source.bootstrap());
    let mut copied_sources: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut offsets = [0i64; 2];
    let from_target = format!("v1;{};orders;0;1", p.target.cluster_id);
    for i in 0..400 {
        let partition = i % 2;
        let value = format!("r{i}");
        let cycle = i % 13 == 5 || (100..110).contains(&i);
        let headers = if cycle {
            OwnedHeaders::new().insert(Header {
                key: "kcp.provenance",
                value: Some(&from_target),
            })
        } else {
            copied_sources
                .entry(partition)
                .or_default()
                .push(offsets[partition as usize]);
            OwnedHeaders::new()
        };
        send(
            &prod,
            BaseRecord::<str, str>::to("orders")
                .partition(partition)
                .payload(&value)
                .headers(headers),
        );
        offsets[partition as usize] += 1;
    }
    crate::kafka::flush(&prod);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    let skipped = 400 - copied_sources.values().map(Vec::len).sum::<usize>();
    assert_eq!(summary["summary"]["skipped_cycles"], skipped);

    let api = Api::new(&p.plan);
    // Placed by reading forward (the default span covers these runs), by
    // bisecting all the way, and by both: fresh maps each time, since a
    // placed offset is pinned in its map.
    for span in [None, Some(0), Some(7)] {
        let placer = match span {
            None => api.placer(),
            Some(span) => api.placer().with_scan_span(span),
        };
        check_translations(
            &p,
            &mut api.offset_maps(),
            &placer,
            &copied_sources,
            offsets,
        );
    }
}

/// Translates 40 random committed offsets of each `orders` partition with
/// `placer` and checks that a target consumer starting there reads exactly
/// the copies of what a source consumer would read next.
fn check_translations(
    p: &Pair,
    maps: &mut std::collections::HashMap<(String, i32), kcp::replicator::OffsetMap>,
    placer: &kcp::replicator::Placer<'_>,
    copied_sources: &BTreeMap<i32, Vec<i64>>,
    offsets: [i64; 2],
) {
    let mut seed = 42u64;
    for partition in 0..2 {
        let map = maps.get_mut(&("orders".to_owned(), partition)).unwrap();
        let source_end = offsets[partition as usize];
        assert_eq!(
            map.src_end, source_end,
            "the map covers everything processed, skipped records included"
        );
        let target = read_partition(&p.target.bootstrap(), "orders", partition, 0);
        let copied = &copied_sources[&partition];
        for _ in 0..40 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let committed = (seed >> 33) as i64 % (source_end + 1);
            let translated = placer
                .translate(map, "orders", partition, committed)
                .unwrap();
            let Translation::Exact(at) = translated else {
                panic!(
                    "offset {committed} of partition {partition} not translated: {translated:?}"
                );
            };
            // The records a source consumer reads next, minus the skipped ones.
            let wanted: Vec<i64> = copied.iter().copied().filter(|o| *o >= committed).collect();
            // Target offsets, not positions: transaction markers take
            // offsets too.
            let got: Vec<i64> = target
                .iter()
                .filter(|r| r.offset >= at)
                .map(|r| {
                    provenance(r)
                        .unwrap()
                        .rsplit(';')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect();
            assert_eq!(
                got, wanted,
                "partition {partition}, committed {committed}, translated {at}"
            );
        }
        assert_eq!(
            map.translate(source_end + 1),
            Translation::NotYetCopied {
                copied_up_to: source_end
            }
        );
    }
}

#[test]
fn refuses_a_target_topic_with_another_partition_count() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("wide", 4, &[])]);
    create_topics(&p.target.bootstrap(), &[("wide", 2, &[])]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("target topic `wide` has 2 partitions but the source has 4"),
        "{}",
        out.stderr
    );
    // More partitions on the target: the copy itself would fit, but keys
    // of the producers moved there would land in other partitions than
    // their history.
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("narrow", 2, &[])]);
    create_topics(&p.target.bootstrap(), &[("narrow", 3, &[])]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("target topic `narrow` has 3 partitions but the source has 2; producers moved to the target would hash keys"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("partitions cannot be removed"),
        "{}",
        out.stderr
    );
}

#[test]
fn reports_a_target_topic_that_overwrites_timestamps() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("clicks", 1, &[])]);
    create_topics(
        &p.target.bootstrap(),
        &[("clicks", 1, &[("message.timestamp.type", "LogAppendTime")])],
    );
    crate::kafka::produce(&p.source.bootstrap(), "clicks", &[3]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("target topic `clicks` uses message.timestamp.type=LogAppendTime"),
        "{}",
        out.stderr
    );
}

#[test]
fn max_bytes_per_sec_holds_the_rate() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("metered", 2, &[])]);
    let prod = producer(&p.source.bootstrap());
    // 20,000 records of 20 bytes (key + value): 400 kB.
    for i in 0..20_000 {
        let key = format!("k{:09}", i);
        send(
            &prod,
            BaseRecord::to("metered")
                .partition(i % 2)
                .key(&key)
                .payload(&key),
        );
    }
    crate::kafka::flush(&prod);
    let out = replicate(
        &p.plan,
        &["--until-caught-up", "--max-bytes-per-sec", "100000"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let samples: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("{\"elapsed"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let copying: Vec<&serde_json::Value> = samples
        .iter()
        .filter(|s| s["copied"].as_u64() > Some(0))
        .collect();
    let first = copying.first().unwrap()["elapsed_secs"].as_f64().unwrap();
    let last = copying.last().unwrap()["elapsed_secs"].as_f64().unwrap();
    // One second of burst at most: 400 kB at 100 kB/s takes at least 3 s.
    assert!(
        last - first >= 2.5,
        "copied 400 kB in {:.1} s at 100 kB/s",
        last - first
    );
    // The contract of a token bucket holding one second of budget: over
    // any span, at most the rate times the span plus one second's worth.
    // (A 200 ms window right after the process was descheduled on a loaded
    // machine may see most of that second's budget at once.)
    let at = |s: &serde_json::Value| {
        (
            s["elapsed_secs"].as_f64().unwrap(),
            s["bytes"].as_f64().unwrap(),
        )
    };
    for (i, a) in copying.iter().enumerate() {
        for b in &copying[i + 1..] {
            let ((t0, b0), (t1, b1)) = (at(a), at(b));
            assert!(
                b1 - b0 <= 100_000.0 * (t1 - t0) + 100_000.0 + 1_000.0,
                "{:.0} bytes in {:.2} s at 100 kB/s: from {a} to {b}",
                b1 - b0,
                t1 - t0
            );
        }
    }
}

/// Writes `records` records `seq-NNNNNN` (key = value) round-robin over the
/// partitions of `topic`.
pub(crate) fn load_sequence(bootstrap: &str, topic: &str, partitions: i32, records: usize) {
    let prod = producer(bootstrap);
    for i in 0..records {
        let value = format!("seq-{i:06}");
        send(
            &prod,
            BaseRecord::to(topic)
                .partition((i % partitions as usize) as i32)
                .key(&value)
                .payload(&value),
        );
        if i % 10_000 == 0 {
            prod.poll(Duration::ZERO);
        }
    }
    crate::kafka::flush(&prod);
}

/// `kcp migrate replicate` processes of one plan, started with the same
/// flags; each writes `<dir>/<name>.out` and `<dir>/<name>.err`.
struct Replicators<'a> {
    dir: &'a Path,
    plan: &'a Path,
    flags: &'a [&'a str],
}

impl Replicators<'_> {
    fn spawn(&self, name: &str, extra: &[&str]) -> Child {
        let file =
            |ext: &str| std::fs::File::create(self.dir.join(format!("{name}.{ext}"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args(["--no-progress", "migrate", "replicate", "--plan"])
            .arg(self.plan)
            .args(self.flags)
            .args(extra)
            .stdout(file("out"))
            .stderr(file("err"))
            .spawn()
            .unwrap()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.err"))).unwrap_or_default()
    }

    fn wait_for(&self, name: &str, text: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !self.log(name).contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "{name} never said `{text}`: {}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Two processes with a scale-out plan split the partitions through a
/// group on the source; stopping one (SIGTERM: it flushes, checkpoints and
/// leaves the group) hands its partitions to the other. Every record lands
/// once: the per-process copy counts add up to the total.
#[test]
fn two_processes_share_the_partitions_and_hand_them_over() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{text}  scale_out: true\n")).unwrap();
    const PARTITIONS: i32 = 8;
    const RECORDS: usize = 40_000;
    create_topics(&p.source.bootstrap(), &[("load", PARTITIONS, &[])]);
    load_sequence(&p.source.bootstrap(), "load", PARTITIONS, RECORDS);
    let procs = Replicators {
        dir: p.dir.path(),
        plan: &p.plan,
        flags: &["--output", "json", "--max-bytes-per-sec", "60000"],
    };
    let mut a = procs.spawn("a", &[]);
    procs.wait_for("a", "copying 8 partition(s)");
    let mut b = procs.spawn("b", &["--until-caught-up"]);
    procs.wait_for("b", "copying 4 partition(s)");
    procs.wait_for("a", "copying 4 partition(s)");
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status();
    assert_eq!(a.wait().unwrap().code(), Some(130), "{}", procs.log("a"));
    procs.wait_for("b", "copying 8 partition(s)");
    let status = b.wait().unwrap();
    assert!(status.success(), "{}", procs.log("b"));

    // Each process's last stats line says what it copied.
    let copied = |name: &str| -> u64 {
        let out = std::fs::read_to_string(p.dir.path().join(format!("{name}.out"))).unwrap();
        let last = out.lines().rfind(|l| l.contains("\"summary\"")).unwrap();
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        v["summary"]["copied"].as_u64().unwrap()
    };
    let (ca, cb) = (copied("a"), copied("b"));
    eprintln!("process a copied {ca}, process b copied {cb}");
    assert!(ca > 0 && cb > 0, "both processes copied: {ca} + {cb}");
    assert_eq!(ca + cb, RECORDS as u64, "no record copied twice or missed");
    let maps = offset_maps(&p);
    let per = (RECORDS / PARTITIONS as usize) as i64;
    for partition in 0..PARTITIONS {
        let map = &maps[&("load".to_owned(), partition)];
        assert_eq!(
            map.runs,
            [kcp::replicator::offset_map::Run::dense(0, 0, per)],
            "partition {partition}"
        );
    }
}

/// SIGKILL hand-over: two processes share 4 partitions; one is killed with
/// SIGKILL mid-copy (three partitions unfinished, so at least one of its
/// own), without a chance to flush or checkpoint; after the session timeout
/// the other takes its partitions, resumes each from the target's truth (map
/// repaired from provenance headers) and the target holds every source
/// record exactly once, in order.
#[test]
fn a_process_killed_with_sigkill_hands_its_partitions_over() {
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 8_000;
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{text}  scale_out: true\n")).unwrap();
    // The broker's smallest session timeout, so the dead member expires soon.
    crate::support::write_credentials(
        p.dir.path(),
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n    client_properties: {{ session.timeout.ms: \"6000\" }}\n  - name: dst\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            p.source.bootstrap(),
            p.target.bootstrap()
        ),
    );
    create_topics(&p.source.bootstrap(), &[("load", PARTITIONS, &[])]);
    load_sequence(&p.source.bootstrap(), "load", PARTITIONS, RECORDS);
    let (source, target) = (p.source.bootstrap(), p.target.bootstrap());
    let (dir, plan) = (&p.dir, &p.plan);
    let procs = Replicators {
        dir: dir.path(),
        plan,
        flags: &["--timeout", "3", "--max-bytes-per-sec", "8000"],
    };
    let mut a = procs.spawn("a", &[]);
    procs.wait_for("a", "copying 4 partition(s)");
    // b runs until stopped: with `--until-caught-up` it could finish its
    // own partitions and leave before the group hands it a's.
    let mut b = procs.spawn("b", &[]);
    procs.wait_for("b", "copying 2 partition(s)");
    procs.wait_for("a", "copying 2 partition(s)");
    std::thread::sleep(Duration::from_secs(1));
    a.kill().unwrap();
    a.wait().unwrap();
    let on_target = |partition: i32| read_partition(&target, "load", partition, 0).len();
    let at_kill: Vec<usize> = (0..PARTITIONS).map(on_target).collect();
    // Three unfinished partitions out of four: at least one of them is a's
    // (b holds two).
    assert!(
        at_kill
            .iter()
            .filter(|&&n| n < RECORDS / PARTITIONS as usize)
            .count()
            >= 3,
        "the kill must land mid-copy, with at least one of a's partitions unfinished: {at_kill:?}"
    );
    procs.wait_for("b", "copying 4 partition(s)");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while (0..PARTITIONS).map(on_target).sum::<usize>() < RECORDS {
        assert!(
            std::time::Instant::now() < deadline,
            "b never finished the copy: {}",
            procs.log("b")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status();
    assert_eq!(b.wait().unwrap().code(), Some(130), "{}", procs.log("b"));
    eprintln!(
        "{at_kill:?} records per partition on the target when process a was killed\n--- a ---\n{}--- b ---\n{}",
        procs.log("a"),
        procs.log("b")
    );

    for partition in 0..PARTITIONS {
        let from = read_partition(&source, "load", partition, 0);
        let to = read_partition(&target, "load", partition, 0);
        assert_eq!(from.len(), RECORDS / PARTITIONS as usize);
        assert_eq!(
            to.len(),
            from.len(),
            "partition {partition}: a loss or a duplicate"
        );
        for (f, t) in from.iter().zip(&to) {
            assert_eq!(
                (&f.key, &f.value),
                (&t.key, &t.value),
                "partition {partition}"
            );
            assert!(
                provenance(t)
                    .unwrap_or_default()
                    .ends_with(&format!(";load;{partition};{}", f.offset)),
                "partition {partition} offset {}",
                f.offset
            );
        }
    }
}

/// Reads every partition of `topic` on both clusters: the target holds each
/// source record exactly once, in order, with its key, value and exact
/// provenance.
pub(crate) fn assert_exact_copy(p: &Pair, topic: &str, partitions: i32) {
    assert_exact_copy_between(&p.source, &p.target, topic, partitions);
}

/// [`assert_exact_copy`] of any two clusters.
pub(crate) fn assert_exact_copy_between(
    source: &KafkaCluster,
    target: &KafkaCluster,
    topic: &str,
    partitions: i32,
) {
    for partition in 0..partitions {
        let from = read_partition(&source.bootstrap(), topic, partition, 0);
        let to = read_partition(&target.bootstrap(), topic, partition, 0);
        assert_eq!(
            to.len(),
            from.len(),
            "{topic}-{partition}: a loss or a duplicate"
        );
        for (f, t) in from.iter().zip(&to) {
            assert_eq!(
                (&f.key, &f.value),
                (&t.key, &t.value),
                "{topic}-{partition}"
            );
            assert_eq!(
                provenance(t),
                Some(format!(
                    "v1;{};{topic};{partition};{}",
                    source.cluster_id, f.offset
                )),
                "{topic}-{partition}"
            );
        }
    }
}

/// Waits for a child up to `limit`; kills it and returns `None` if it is
/// still running then.
fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Records deleted on the source (retention, DeleteRecords) before they
/// were copied are never skipped silently: the run stops, naming the
/// partition, the offsets and how many records are gone, and the target
/// gets nothing from past the hole. With `on_deleted_records: skip` in the
/// plan it goes on from the new log start and counts what was lost.
#[test]
fn records_deleted_on_the_source_before_their_copy_are_never_skipped_silently() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    without_transactions(&p);
    // A tiny fetch budget, so the replicator has not prefetched the records
    // that are deleted below.
    crate::support::write_credentials(
        p.dir.path(),
        &format!(
            "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n    client_properties: {{ fetch.max.bytes: \"1024\", message.max.bytes: \"1000\", max.partition.fetch.bytes: \"1024\", queued.max.messages.kbytes: \"1\" }}\n  - name: dst\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n",
            p.source.bootstrap(),
            p.target.bootstrap()
        ),
    );
    create_topics(&p.source.bootstrap(), &[("events", 1, &[])]);
    load_sequence(&p.source.bootstrap(), "events", 1, 20_000);
    let mut child = spawn_replicator(
        &p.plan,
        &["--until-caught-up", "--max-bytes-per-sec", "50000"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while target_count(&p, "events", 1).is_none_or(|n| n == 0) {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "nothing copied: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    crate::kafka::delete_records(&p.source.bootstrap(), "events", 0, 15_000);
    let status = wait_or_kill(&mut child, Duration::from_secs(60));
    let log = replicator_log(&p.plan);
    let status = status
        .unwrap_or_else(|| panic!("the replicator neither stopped nor finished in 60 s: {log}"));
    assert!(!status.success(), "it must stop, not finish: {log}");
    assert!(log.contains("`events-0`"), "{log}");
    assert!(log.contains("deleted on the source"), "{log}");
    assert!(
        log.contains("on_deleted_records: skip"),
        "the hint names the plan key: {log}"
    );
    let copied = target_count(&p, "events", 1).unwrap();
    assert!(copied < 15_000, "{copied}");
    // Nothing from past the hole reached the target.
    let records = read_partition(&p.target.bootstrap(), "events", 0, 0);
    assert_eq!(records.len() as i64, copied);
    for (i, r) in records.iter().enumerate() {
        assert!(
            provenance(r).unwrap().ends_with(&format!(";events;0;{i}")),
            "target offset {i}: {:?}",
            provenance(r)
        );
    }

    // Allowed by the plan: the copy goes on after the hole and says how
    // many records it could not copy.
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{text}  on_deleted_records: skip\n")).unwrap();
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    let lost = 15_000 - copied;
    assert_eq!(summary["summary"]["deleted_before_copy"], lost, "{summary}");
    assert_eq!(summary["summary"]["copied"], 5_000, "{summary}");
    assert_eq!(summary["summary"]["lag_at_end"], 0, "{summary}");
    assert!(out.stderr.contains("`events-0`"), "{}", out.stderr);
    let records = read_partition(&p.target.bootstrap(), "events", 0, 0);
    assert_eq!(records.len() as i64, copied + 5_000);
    assert!(
        provenance(&records[copied as usize])
            .unwrap()
            .ends_with(";events;0;15000")
    );
    // A group that had committed inside the hole resumes at the first
    // record after it, as it would on the source.
    let maps = offset_maps(&p);
    assert_eq!(
        maps[&("events".to_owned(), 0)].translate(copied + 10),
        Translation::Exact(copied)
    );
}

/// A three-broker target (replication factor 3, `min.insync.replicas=2`)
/// loses a broker mid-copy and gets it back: partition leaders move, the
/// idempotent producer retries, and the target still holds every source
/// record exactly once, in order.
#[test]
fn a_target_broker_killed_and_restarted_mid_copy_loses_and_duplicates_nothing() {
    let tb = require_testbed!();
    let mut p = pair_with(
        &tb,
        "",
        crate::support::KafkaSpec {
            brokers: 3,
            ..Default::default()
        },
    );
    const PARTITIONS: i32 = 6;
    const RECORDS: usize = 30_000;
    create_topics(&p.source.bootstrap(), &[("orders", PARTITIONS, &[])]);
    crate::kafka::create_replicated_topic(
        &p.target.bootstrap(),
        "orders",
        PARTITIONS,
        3,
        &[("min.insync.replicas", "2")],
    );
    load_sequence(&p.source.bootstrap(), "orders", PARTITIONS, RECORDS);
    let mut child = spawn_replicator(
        &p.plan,
        &["--until-caught-up", "--max-bytes-per-sec", "150000"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while target_count(&p, "orders", PARTITIONS).is_none_or(|n| n < 3_000) {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the copy did not start: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    p.target.kill_node(2);
    let at_kill = target_count(&p, "orders", PARTITIONS);
    std::thread::sleep(Duration::from_secs(3));
    p.target.restart_node(&tb, 2);
    let status = wait_or_kill(&mut child, Duration::from_secs(120));
    let log = replicator_log(&p.plan);
    assert!(status.is_some_and(|s| s.success()), "{log}");
    eprintln!("{at_kill:?} records on the target when broker 2 was killed\n{log}");
    assert_exact_copy(&p, "orders", PARTITIONS);
}

/// The whole target (one broker) goes away mid-copy for longer than three
/// `--timeout`s and comes back: the copy waits for it, as long as
/// librdkafka still retries the records in flight, and ends equal to the
/// source.
#[test]
fn a_target_down_for_longer_than_three_timeouts_is_waited_for() {
    let tb = require_testbed!();
    let mut p = pair(&tb, "");
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 20_000;
    create_topics(&p.source.bootstrap(), &[("orders", PARTITIONS, &[])]);
    load_sequence(&p.source.bootstrap(), "orders", PARTITIONS, RECORDS);
    let mut child = spawn_replicator(
        &p.plan,
        &[
            "--until-caught-up",
            "--max-bytes-per-sec",
            "100000",
            "--timeout",
            "1",
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while target_count(&p, "orders", PARTITIONS).is_none_or(|n| n < 2_000) {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the copy did not start: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    p.target.kill_node(1);
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the copy stopped while the target was away: {}",
        replicator_log(&p.plan)
    );
    p.target.restart_node(&tb, 1);
    let status = wait_or_kill(&mut child, Duration::from_secs(120));
    let log = replicator_log(&p.plan);
    assert!(status.is_some_and(|s| s.success()), "{log}");
    assert_exact_copy(&p, "orders", PARTITIONS);
}

/// A transaction left open on the source holds a `read_committed` copy at
/// its first record (the last stable offset) until it ends. Caught up is
/// measured against that offset: `--until-caught-up` finishes with the
/// committed records copied instead of waiting for the transaction.
#[test]
fn an_open_transaction_on_the_source_does_not_hold_caught_up_forever() {
    use rdkafka::producer::Producer;
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("orders", 2, &[])]);
    crate::kafka::produce(&p.source.bootstrap(), "orders", &[50, 50]);
    let open: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", p.source.bootstrap())
        .set("transactional.id", "left-open")
        .set("transaction.timeout.ms", "300000")
        .create()
        .unwrap();
    open.init_transactions(Duration::from_secs(30)).unwrap();
    open.begin_transaction().unwrap();
    send(
        &open,
        BaseRecord::<str, str>::to("orders")
            .partition(0)
            .key("k")
            .payload("not committed yet"),
    );
    open.flush(Duration::from_secs(30)).unwrap();

    let mut child = spawn_replicator_out(&p.plan, &["--until-caught-up", "--output", "json"]);
    let status = wait_or_kill(&mut child, Duration::from_secs(45));
    let log = replicator_log(&p.plan);
    let status = status
        .unwrap_or_else(|| panic!("still waiting for the open transaction after 45 s: {log}"));
    assert!(status.success(), "{log}");
    let out = std::fs::read_to_string(p.plan.with_file_name("replicator.out")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["copied"], 100, "{summary}");
    assert_eq!(summary["summary"]["lag_at_end"], 0, "{summary}");
    drop(open);
}

/// Topics created on the source while the copy runs are picked up, and
/// adding them does not move the partitions already being copied: not one
/// whose backlog is still being fetched, nor one that has returned no
/// record yet (an empty partition, written to only later). A partition
/// added to a topic being copied is added on the target and copied.
#[test]
fn a_topic_created_mid_copy_does_not_move_the_others() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    without_transactions(&p);
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(
        &p.plan,
        format!("{text}  topic_discovery_interval_secs: 1\n"),
    )
    .unwrap();
    create_topics(&p.source.bootstrap(), &[("early", 4, &[])]);
    crate::kafka::produce(&p.source.bootstrap(), "early", &[3_000, 3_000, 3_000, 0]);
    let mut child = spawn_replicator(&p.plan, &["--max-bytes-per-sec", "100000"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while target_count(&p, "early", 4).is_none_or(|n| n == 0) {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the copy did not start: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    create_topics(&p.source.bootstrap(), &[("late", 2, &[])]);
    crate::kafka::produce(&p.source.bootstrap(), "late", &[100, 100]);
    // The empty partition gets records only after the new topic was added.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while !replicator_log(&p.plan).contains("`late`") {
        assert!(
            std::time::Instant::now() < until && child.try_wait().unwrap().is_none(),
            "the new topic was never picked up: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    crate::kafka::produce(&p.source.bootstrap(), "early", &[0, 0, 0, 50]);
    // A partition added to a topic being copied: the target topic grows
    // (CreatePartitions) and the new partition is copied too.
    let grow = rdkafka::admin::NewPartitions::new("early", 5);
    for r in crate::kafka::block(
        crate::kafka::admin(&p.source.bootstrap())
            .create_partitions(&[grow], &rdkafka::admin::AdminOptions::new()),
    )
    .unwrap()
    {
        r.unwrap();
    }
    crate::kafka::produce(&p.source.bootstrap(), "early", &[0, 0, 0, 0, 20]);
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while target_count(&p, "early", 5) != Some(9_070) || target_count(&p, "late", 2) != Some(200) {
        assert!(
            std::time::Instant::now() < until && child.try_wait().unwrap().is_none(),
            "early: {:?} of 9070, late: {:?} of 200; log: {}",
            target_count(&p, "early", 5),
            target_count(&p, "late", 2),
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = wait_or_kill(&mut child, Duration::from_secs(30));
    assert_exact_copy(&p, "early", 5);
    assert_exact_copy(&p, "late", 2);
}

/// A rehearsal copied everything, then its target topic was deleted (and is
/// created again by the next run): the offset map that claims copies the
/// target no longer holds is rebuilt from the target, and the next run
/// copies everything again instead of resuming past missing history.
#[test]
fn a_map_that_claims_more_than_the_target_holds_is_rebuilt() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("orders", 2, &[])]);
    crate::kafka::produce(&p.source.bootstrap(), "orders", &[100, 100]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for r in crate::kafka::block(
        crate::kafka::admin(&p.target.bootstrap())
            .delete_topics(&["orders"], &rdkafka::admin::AdminOptions::new()),
    )
    .unwrap()
    {
        r.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while target_count(&p, "orders", 2).is_some_and(|n| n > 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the target topic was not deleted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("rebuilding it from the target"),
        "{}",
        out.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["copied"], 200, "{summary}");
    assert_exact_copy(&p, "orders", 2);
}

/// A plan whose selection matches no source topic is bad input (exit 2),
/// with a hint at the selection, and creates nothing on the target.
#[test]
fn a_plan_that_selects_no_topic_is_bad_input() {
    let tb = require_testbed!();
    let p = pair(&tb, "topics:\n  include: 'no-such-.*'\n");
    create_topics(&p.source.bootstrap(), &[("orders", 1, &[])]);
    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("selects no topic on the source `src`")
            && r.stderr.contains("hint: check `topics.include`"),
        "{}",
        r.stderr
    );
}

/// A target topic whose `max.message.bytes` is below what the source
/// accepts is refused before anything is copied, naming the topic and the
/// limit it needs; a record that does not fit could otherwise fail on the
/// target while later records land, a hole that a restart would take for a
/// gap. Once the limit is raised, the copy is exact.
#[test]
fn a_target_limit_too_small_for_the_source_is_refused_before_copying() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let source = p.source.bootstrap();
    create_topics(&source, &[("big", 1, &[("max.message.bytes", "3000")])]);
    create_topics(
        &p.target.bootstrap(),
        &[("big", 1, &[("max.message.bytes", "2500")])],
    );
    // Records the source accepts, one of them close to its limit (one
    // record per batch: the limit is per batch).
    let producer = producer(&source);
    for i in 0..41 {
        let value = if i == 20 {
            incompressible(2800)
        } else {
            format!("value {i}").into_bytes()
        };
        let key = format!("key-{i}");
        send(
            &producer,
            BaseRecord::to("big").partition(0).key(&key).payload(&value),
        );
        crate::kafka::flush(&producer);
    }

    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("`big`") && r.stderr.contains("max.message.bytes"),
        "{}",
        r.stderr
    );
    assert_eq!(
        read_partition(&p.target.bootstrap(), "big", 0, 0).len(),
        0,
        "nothing is copied before the limit is fixed"
    );

    // The hint's fix: raise the target topic's limit.
    crate::kafka::alter_topic_config(&p.target.bootstrap(), "big", "max.message.bytes", "5000");
    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact_copy(&p, "big", 1);
}

/// A topic kcp creates on the target takes the source's record size limit
/// plus room for the provenance header, so a record at the source's limit
/// still fits once copied.
#[test]
fn a_record_at_the_source_limit_fits_on_a_topic_kcp_creates() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let source = p.source.bootstrap();
    create_topics(&source, &[("edge", 1, &[("max.message.bytes", "3000")])]);
    let producer = producer(&source);
    // As large as the source takes (batch and record overhead included),
    // and incompressible (the plan's compression would hide the size).
    let value = incompressible(2880);
    for i in 0..3 {
        let key = format!("key-{i}");
        send(
            &producer,
            BaseRecord::to("edge")
                .partition(0)
                .key(&key)
                .payload(&value),
        );
        crate::kafka::flush(&producer);
    }
    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact_copy(&p, "edge", 1);
}

/// Bytes no compression shrinks (xorshift), the same on every run.
fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A record that does not fit on the target once the provenance header is
/// added (target limit equal to the source's, record at the limit) stops
/// the copy at that record with a clear error, every time, and nothing
/// after it lands: no hole that a restart could take for a gap. Once the
/// limit is raised, the copy resumes there and is exact. With transactions
/// (the default) the refused record's transaction is aborted, and with it
/// whatever landed behind it.
#[test]
fn a_record_that_does_not_fit_on_the_target_stops_the_copy_without_a_hole() {
    record_too_large_stops_the_copy(true);
}

/// As above without transactions: the producer is gapless, and a
/// partition's first copy is acknowledged before the next is sent.
#[test]
fn a_record_that_does_not_fit_stops_a_copy_without_transactions_without_a_hole() {
    record_too_large_stops_the_copy(false);
}

fn record_too_large_stops_the_copy(transactions: bool) {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    if !transactions {
        without_transactions(&p);
    }
    let source = p.source.bootstrap();
    let limit = [("max.message.bytes", "3000")];
    create_topics(&source, &[("edge", 1, &limit)]);
    create_topics(&p.target.bootstrap(), &[("edge", 1, &limit)]);
    let producer = producer(&source);
    for i in 0..201 {
        let value = if i == 100 {
            incompressible(2880)
        } else {
            format!("value {i}").into_bytes()
        };
        let key = format!("key-{i}");
        send(
            &producer,
            BaseRecord::to("edge")
                .partition(0)
                .key(&key)
                .payload(&value),
        );
        if i % 50 == 0 || i == 99 || i == 100 {
            crate::kafka::flush(&producer);
        }
    }
    crate::kafka::flush(&producer);
    for attempt in 0..2 {
        let r = replicate(&p.plan, &["--until-caught-up"]);
        assert_eq!(r.code, 2, "attempt {attempt}: {}", r.stderr);
        assert!(
            r.stderr.contains("edge-0 offset 100 as too large"),
            "attempt {attempt}: {}",
            r.stderr
        );
        // What is visible is a prefix of the source: nothing after the
        // refused record (with transactions, the one holding it is
        // aborted, so the prefix may end earlier).
        let copied = read_partition(&p.target.bootstrap(), "edge", 0, 0);
        assert!(
            copied.len() <= 100,
            "attempt {attempt}: past the refused record"
        );
        for (i, r) in copied.iter().enumerate() {
            assert_eq!(
                r.key.as_deref(),
                Some(format!("key-{i}").as_bytes()),
                "attempt {attempt}: a hole or a skip"
            );
        }
    }
    crate::kafka::alter_topic_config(&p.target.bootstrap(), "edge", "max.message.bytes", "5000");
    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact_copy(&p, "edge", 1);
}

/// A copier frozen mid-copy (SIGSTOP: a paused VM, a long GC, a network
/// partition) whose successor took over writes nothing once it wakes: with
/// `transactions: true` its open transaction was aborted and its producer
/// fenced when the successor started, so none of the records it still had
/// queued or sends afterwards become visible, and it stops saying why.
/// Without transactions the woken copier goes on copying from where it was
/// and duplicates what its successor copied.
#[test]
fn a_frozen_copier_woken_after_its_successor_took_over_writes_nothing() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let plan = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{plan}  transactions: true\n")).unwrap();
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 40_000;
    create_topics(&p.source.bootstrap(), &[("frozen", PARTITIONS, &[])]);
    load_sequence(&p.source.bootstrap(), "frozen", PARTITIONS, RECORDS);

    // The first copier, throttled so that it is mid-copy when frozen.
    let mut first = spawn_replicator(&p.plan, &["--max-bytes-per-sec", "150000"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while target_count(&p, "frozen", PARTITIONS).is_none_or(|c| c < 2_000) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first copier copied nothing: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&first, "STOP");
    // Its successor copies everything, then stops.
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The frozen one wakes up with records fetched and queued.
    signal(&first, "CONT");
    let status = wait_or_kill(&mut first, Duration::from_secs(60));
    let log = replicator_log(&p.plan);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "the woken copier must stop on its own: {log}"
    );
    assert!(
        log.contains("another copier of plan `test` took over"),
        "the woken copier says why it stopped: {log}"
    );
    assert_exact_copy(&p, "frozen", PARTITIONS);
}

/// Sends a signal (`STOP`, `CONT`, ...) to a child process.
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// The fault suite's main case, with `transactions: true`: ten SIGKILLs at
/// pseudo-random moments while a transactional producer keeps writing to
/// the source (every third transaction aborted), then a final run. The
/// target (read committed) holds exactly the source's committed records,
/// in order with their provenance, and every committed source offset
/// translates to the target offset of its own copy.
#[test]
fn ten_sigkills_while_transactions_commit_and_abort_lose_and_duplicate_nothing() {
    use rdkafka::producer::Producer;
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(&p.plan, format!("{text}  transactions: true\n")).unwrap();
    const PARTITIONS: i32 = 3;
    create_topics(&p.source.bootstrap(), &[("txn", PARTITIONS, &[])]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (bootstrap, stop) = (p.source.bootstrap(), stop.clone());
        std::thread::spawn(move || {
            let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("transactional.id", "source-writer")
                .set("linger.ms", "5")
                .create()
                .unwrap();
            producer.init_transactions(Duration::from_secs(30)).unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                producer.begin_transaction().unwrap();
                for i in 0..60 {
                    let value = format!("txn-{n}-{i}");
                    send(
                        &producer,
                        BaseRecord::<str, str>::to("txn")
                            .partition((i % PARTITIONS as u64) as i32)
                            .key(&value)
                            .payload(&value),
                    );
                }
                // Delivered first, so that an abort has records to abort.
                producer.flush(Duration::from_secs(30)).unwrap();
                if n % 3 == 2 {
                    producer.abort_transaction(Duration::from_secs(30)).unwrap();
                } else {
                    producer
                        .commit_transaction(Duration::from_secs(30))
                        .unwrap();
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            n
        })
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for kill in 0..10 {
        let mut child = spawn_replicator(&p.plan, &["--max-bytes-per-sec", "100000"]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A run waits up to a session (6 s) for its killed predecessor's
        // lease to expire, then copies for a while before its own kill.
        std::thread::sleep(Duration::from_millis(8_000 + seed % 2_500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "run {kill} ended on its own: {}",
            replicator_log(&p.plan)
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let transactions = writer.join().unwrap();
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    eprintln!("{transactions} source transactions, 10 SIGKILLs");
    assert!(transactions > 30, "the writer kept writing: {transactions}");
    assert_exact_copy(&p, "txn", PARTITIONS);
    let api = Api::new(&p.plan);
    let (mut maps, placer) = (api.offset_maps(), api.placer());
    for partition in 0..PARTITIONS {
        let map = maps.get_mut(&("txn".to_owned(), partition)).unwrap();
        eprintln!("txn-{partition}: {} runs", map.runs.len());
        let copies = read_partition(&p.target.bootstrap(), "txn", partition, 0);
        // A sample (placing one offset costs up to ~16 short reads), and
        // the last copy.
        for copy in copies.iter().step_by(23).chain(copies.last()) {
            let src: i64 = provenance(copy)
                .unwrap()
                .rsplit(';')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                placer.translate(map, "txn", partition, src).unwrap(),
                Translation::Exact(copy.offset),
                "txn-{partition} source offset {src}"
            );
        }
    }
}

/// The plan says where copying begins: `start_from: latest` copies only
/// what is written once the copy runs, a time starts at the first record at
/// or after it, and explicit offsets start single partitions. Offsets
/// before a partition's start translate as "before the copy started"; the
/// next run resumes from the map, whatever the start says.
#[test]
fn the_copy_starts_where_the_plan_says() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let bootstrap = p.source.bootstrap();
    create_topics(
        &bootstrap,
        &[("old", 2, &[]), ("timed", 1, &[]), ("exact", 2, &[])],
    );
    crate::kafka::produce(&bootstrap, "old", &[20, 20]);
    crate::kafka::produce(&bootstrap, "exact", &[20, 20]);
    // One record a second over the last 100 s.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = now_ms - 100_000;
    let prod = producer(&bootstrap);
    for i in 0..100 {
        let value = format!("t{i}");
        send(
            &prod,
            BaseRecord::to("timed")
                .partition(0)
                .key(&value)
                .payload(&value)
                .timestamp(base + i * 1_000),
        );
    }
    crate::kafka::flush(&prod);
    let from = chrono::DateTime::from_timestamp_millis(base + 60_000)
        .unwrap()
        .to_rfc3339();
    let text = std::fs::read_to_string(&p.plan).unwrap();
    std::fs::write(
        &p.plan,
        format!(
            "{text}  start_from: latest\n  start_overrides:\n    - {{ topics: timed, start_from: '{from}' }}\n    - {{ topics: exact, offsets: {{ 1: 7 }} }}\n"
        ),
    )
    .unwrap();
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    crate::kafka::produce(&bootstrap, "old", &[5, 0]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let sources = |topic: &str, partition: i32| -> Vec<i64> {
        read_partition(&p.target.bootstrap(), topic, partition, 0)
            .iter()
            .map(|r| {
                provenance(r)
                    .unwrap()
                    .rsplit(';')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(sources("old", 0), (20..25).collect::<Vec<_>>());
    assert!(sources("old", 1).is_empty());
    assert_eq!(sources("timed", 0), (60..100).collect::<Vec<_>>());
    assert!(sources("exact", 0).is_empty());
    assert_eq!(sources("exact", 1), (7..20).collect::<Vec<_>>());
    let maps = offset_maps(&p);
    assert_eq!(
        maps[&("old".to_owned(), 0)].translate(3),
        Translation::BeforeStart { first_copied: 20 }
    );
    assert_eq!(
        maps[&("timed".to_owned(), 0)].translate(60),
        Translation::Exact(0)
    );

    // An explicit offset past the end is bad input, named.
    let text = std::fs::read_to_string(&p.plan).unwrap().replace(
        "offsets: { 1: 7 } }",
        "offsets: { 1: 7 } }\n    - { topics: late, offsets: { 0: 99 } }",
    );
    std::fs::write(&p.plan, text).unwrap();
    create_topics(&bootstrap, &[("late", 1, &[])]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("late-0 at offset 99, past its end 0"),
        "{}",
        out.stderr
    );
}

/// A target topic whose `message.timestamp.before.max.ms` is shorter than
/// the age of some source records: kcp warns before copying, and the first
/// record the target refuses stops the copy there, named with the bound to
/// raise (exit 2), with nothing after it landing; raised, the copy resumes
/// at that record and ends exact.
#[test]
fn a_record_older_than_the_target_accepts_stops_the_copy_with_the_bound_named() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    let source = p.source.bootstrap();
    create_topics(&source, &[("aged", 1, &[])]);
    create_topics(
        &p.target.bootstrap(),
        &[("aged", 1, &[("message.timestamp.before.max.ms", "3600000")])],
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let producer = producer(&source);
    for i in 0..100i64 {
        // Records 50 and up are two hours old.
        let ts = if i < 50 {
            now_ms - 60_000
        } else {
            now_ms - 7_200_000
        };
        let value = format!("value {i}");
        send(
            &producer,
            BaseRecord::to("aged")
                .partition(0)
                .key(&value)
                .payload(&value)
                .timestamp(ts),
        );
    }
    crate::kafka::flush(&producer);
    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("refuses records older than 3600000 ms")
            && r.stderr.contains("message.timestamp.before.max.ms=3600000")
            && r.stderr.contains("aged-0 offset 50 as invalid"),
        "{}",
        r.stderr
    );
    // The broker refuses the whole batch holding the record: what landed
    // is a prefix of the source, never more.
    let copied = read_partition(&p.target.bootstrap(), "aged", 0, 0);
    let offsets: Vec<i64> = copied
        .iter()
        .map(|r| {
            provenance(r)
                .unwrap()
                .rsplit(';')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(copied.len() <= 50, "{offsets:?}");
    assert_eq!(offsets, (0..copied.len() as i64).collect::<Vec<_>>());
    crate::kafka::alter_topic_config(
        &p.target.bootstrap(),
        "aged",
        "message.timestamp.before.max.ms",
        "9223372036854775807",
    );
    let r = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_exact_copy(&p, "aged", 1);
}

/// A second copier of a plan started while the first runs (another
/// terminal, `execute` beside a forgotten `replicate`) is refused with the
/// first one named, exit 4, having written nothing; the first goes on. A
/// copier killed with SIGKILL does not block its successor for longer than
/// its session (6 s).
#[test]
fn a_second_copier_of_a_plan_is_refused_while_the_first_runs() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("once", 2, &[])]);
    load_sequence(&p.source.bootstrap(), "once", 2, 20_000);
    let mut first = spawn_replicator(&p.plan, &["--max-bytes-per-sec", "100000"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while target_count(&p, "once", 2).is_none_or(|c| c == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first copier copied nothing: {}",
            replicator_log(&p.plan)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(
        second.code,
        4,
        "{}\nthe first copier:\n{}",
        second.stderr,
        replicator_log(&p.plan)
    );
    assert!(
        second
            .stderr
            .contains("another copier of plan `test` is running"),
        "{}",
        second.stderr
    );
    assert!(first.try_wait().unwrap().is_none(), "the first goes on");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let started = std::time::Instant::now();
    let third = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    eprintln!(
        "the successor of a killed copier ran {:?}",
        started.elapsed()
    );
    assert_exact_copy(&p, "once", 2);
}

/// Not on a terminal (a systemd unit, a Kubernetes pod, a pipe), where no
/// spinner is drawn, a long copy still says how it goes: a status line on
/// stderr every ten stats intervals. It used to stay silent until the end.
#[test]
fn a_copy_without_a_terminal_prints_progress_lines() {
    let tb = require_testbed!();
    let p = pair(&tb, "");
    create_topics(&p.source.bootstrap(), &[("quiet", 2, &[])]);
    load_sequence(&p.source.bootstrap(), "quiet", 2, 30_000);
    let out = run(kcp()
        .args([
            "--no-progress",
            "migrate",
            "replicate",
            "--until-caught-up",
            "--max-bytes-per-sec",
            "150000",
            "--stats-interval-ms",
            "200",
            "--plan",
        ])
        .arg(&p.plan));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("replicating: ") && l.contains(" copied, "))
        .collect();
    assert!(lines.len() >= 2, "{}", out.stderr);
    assert!(lines[0].contains("lag "), "{}", out.stderr);
}
