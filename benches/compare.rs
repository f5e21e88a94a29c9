//! Benchmark: kcp against MirrorMaker 2, side by side on the same clusters
//! (issue #17). One command:
//!
//!     cargo bench --bench compare            (needs the test bed)
//!
//! Two one-broker Apache Kafka 4.1.1 clusters of the test bed on loopback
//! (a fresh target for every copy). Cases, each measured in this one run so
//! the ratios come from the same machine state:
//! 1. throughput and cost for two record shapes (100 B and 1 KiB values,
//!    8 partitions, keys, 3 small headers): a plain librdkafka copy loop,
//!    `kcp migrate replicate --until-caught-up`, MirrorMaker 2 (dedicated
//!    mode, defaults) and MirrorMaker 2 with exactly-once source support;
//!    records/s, MB/s (keys + values) whole run and steady state, time to
//!    the first record on the target, CPU seconds per GB and peak RSS of
//!    the copier process (from /proc), and the consume-only and
//!    produce-only limits; repeated, median and min-max;
//! 2. offset precision: 50 consumer groups committed at random offsets
//!    on a plain, a compacted and a transactional topic; translated by
//!    `kcp migrate execute` and by MM2's checkpoint connector; per group,
//!    records re-read or skipped against the exact position;
//! 3. duplicates after crash: each copier SIGKILLed 3 times mid-copy and
//!    restarted; duplicated and missing records counted one by one;
//! 4. WAN: the source in a network namespace behind a veth pair with
//!    40 ms netem delay on both ends (80 ms RTT), then also 0.1 % loss.
//!
//! Environment: KCP_COMPARE_QUICK=1 (tiny counts, one repetition),
//! KCP_COMPARE_RECORDS (100 B records, default 6,000,000),
//! KCP_COMPARE_RECORDS_1K (1 KiB records, default 1,800,000),
//! KCP_COMPARE_REPS (default 3), KCP_COMPARE_EOS_REPS (repetitions that
//! include MM2 exactly-once, the slowest copier; default 1),
//! KCP_COMPARE_CRASH_RECORDS (default 500,000), KCP_COMPARE_WAN_RECORDS
//! (default: KCP_COMPARE_RECORDS_1K, records of 1 KiB),
//! KCP_COMPARE_WAN_REPS (default 1), KCP_COMPARE_WAN_MAX_SECS (default 300),
//! KCP_COMPARE_ASSERT=1 (fail when kcp's offsets are not exact or its
//! copy after SIGKILLs is not exact: a CI check), KCP_COMPARE_CASES (default
//! `throughput,offsets,crash,wan`), KCP_COMPARE_TOOLS (default
//! `plain-loop,kcp,mm2,mm2-eos`), KCP_COMPARE_UPDATE_DOCS=1 (also write
//! docs/benchmarks/compare.svg), KCP_COMPARE_KEEP_LOGS=1 (keep each
//! throughput copy's log, e.g. with `KCP_LOG=kcp=debug` for kcp's
//! start-up laps; a failed copy's is always kept), KCP_COMPARE_KCP_PLAN
//! (YAML appended to kcp's plan except in the offsets case, e.g.
//! `replication: { transactions: false }`), KCP_COMPARE_KCP_TARGET_PROPS
//! (librdkafka properties added to kcp's target client properties in the
//! throughput and WAN cases, e.g. `message.max.bytes=1048576`). Results: target/compare/results.json,
//! summary.md and compare.svg (under CARGO_TARGET_DIR when set).
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)] // a benchmark reports on stdout

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "compare/kit.rs"]
mod kit;

#[path = "compare/report.rs"]
mod report;

#[path = "compare/wan.rs"]
mod wan;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kit::{CopyJob, Measured, Shape, Tool, Until};
use rdkafka::consumer::Consumer;
use serde_json::{Value, json};

struct Config {
    quick: bool,
    shapes: Vec<Shape>,
    reps: usize,
    eos_reps: usize,
    cases: Vec<String>,
    tools: Vec<Tool>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    let quick = std::env::var("KCP_COMPARE_QUICK").is_ok_and(|v| v == "1");
    let small = env_usize(
        "KCP_COMPARE_RECORDS",
        if quick { 20_000 } else { 6_000_000 },
    );
    let large = env_usize(
        "KCP_COMPARE_RECORDS_1K",
        if quick { 5_000 } else { 1_800_000 },
    );
    let cases = std::env::var("KCP_COMPARE_CASES")
        .unwrap_or_else(|_| "throughput,offsets,crash,wan".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let all = [Tool::Plain, Tool::Kcp, Tool::Mm2, Tool::Mm2Eos];
    let tools = match std::env::var("KCP_COMPARE_TOOLS") {
        Ok(list) => all
            .into_iter()
            .filter(|t| list.split(',').any(|n| n.trim() == t.name()))
            .collect(),
        Err(_) => all.to_vec(),
    };
    Config {
        quick,
        shapes: vec![
            Shape {
                name: "100B",
                value: 100,
                records: small,
            },
            Shape {
                name: "1KiB",
                value: 1024,
                records: large,
            },
        ],
        reps: env_usize("KCP_COMPARE_REPS", if quick { 1 } else { 3 }),
        eos_reps: env_usize("KCP_COMPARE_EOS_REPS", 1),
        cases,
        tools,
    }
}

/// A new target cluster, warmed up like one in use (`kit::warm_up`).
fn fresh_target(tb: &support::Testbed) -> support::KafkaCluster {
    let target = support::KafkaCluster::start_named(tb, "target_cluster");
    kit::warm_up(&target.bootstrap());
    target
}

/// Longest a copy may run before it is stopped and reported as timed out.
fn max_copy(shape: &Shape) -> Duration {
    Duration::from_secs(60 + (shape.bytes() / 2e6) as u64)
}

/// One copy of `topic` by `tool` onto a fresh target; measured.
#[allow(clippy::too_many_arguments)]
fn copy_once(
    tb: &support::Testbed,
    tool: Tool,
    source: &str,
    topic: &str,
    shape: &Shape,
    kcp_source_props: &[(&str, &str)],
    mm2_extra: &[String],
    max: Duration,
) -> Measured {
    let target = fresh_target(tb);
    let dir = tempfile::Builder::new()
        .prefix(&format!("kcp-compare-{}-", tool.name()))
        .tempdir()
        .unwrap();
    let target_bootstrap = target.bootstrap();
    // e.g. `message.max.bytes=1048576,debug=eos`, to measure a setting.
    let extra = std::env::var("KCP_COMPARE_KCP_TARGET_PROPS").unwrap_or_default();
    let kcp_target_props: Vec<(&str, &str)> = extra
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let job = CopyJob {
        tool,
        source,
        target: &target_bootstrap,
        topics: topic,
        topic,
        records: shape.records,
        dir: dir.path(),
        kcp_source_props,
        kcp_target_props: &kcp_target_props,
        mm2_extra,
        kcp_execute_cutover: None,
    };
    if tool == Tool::Plain {
        // kcp and MM2 create the target topic themselves; the loop does not.
        kit::create_topic(&target_bootstrap, topic, kit::PARTITIONS, &[]);
    }
    kit::settle_disk();
    let started = Instant::now();
    let mut child = kit::spawn(&job, &tb.kafka_root);
    let n = shape.records as u64;
    let until = match tool {
        Tool::Plain | Tool::Kcp => Until::Exit,
        Tool::Mm2 => Until::Landed(n, Duration::from_millis(1500)),
        Tool::Mm2Eos => Until::Landed(n, Duration::from_millis(3000)),
    };
    let mut m = kit::measure(&mut child, started, &target_bootstrap, topic, n, until, max);
    if tool == Tool::Mm2Eos && !m.timed_out {
        // Transaction markers count in the watermarks: count the records.
        m.landed = kit::read_all(&target_bootstrap, topic, true, |_, _, _| {}) as u64;
    }
    if m.exit
        .as_deref()
        .is_some_and(|e| !e.contains("exit status: 0"))
        || m.landed < n
        || m.timed_out
    {
        let log = std::fs::read_to_string(dir.path().join(format!("{}.log", tool.name())))
            .unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        kit::note(&format!(
            "{}: incomplete copy ({} of {n} landed, exit {:?}, timed out {}); log tail:\n{tail}",
            tool.name(),
            m.landed,
            m.exit,
            m.timed_out
        ));
        let _ = dir.keep();
    } else if std::env::var("KCP_COMPARE_KEEP_LOGS").is_ok_and(|v| v == "1") {
        kit::note(&format!(
            "{}: log kept in {}",
            tool.name(),
            dir.keep().join(format!("{}.log", tool.name())).display()
        ));
    }
    m
}

fn measured_json(tool: Tool, shape: &Shape, rep: usize, m: &Measured) -> Value {
    let n = m.landed.min(shape.records as u64) as f64;
    let bytes = n * (shape.value + kit::KEY_LEN) as f64;
    json!({
        "tool": tool.name(),
        "shape": shape.name,
        "rep": rep,
        "records": shape.records,
        "landed": m.landed,
        "timed_out": m.timed_out,
        "wall_s": m.wall,
        "records_per_s": n / m.wall,
        "mb_per_s": bytes / 1e6 / m.wall,
        "steady_records_per_s": m.steady,
        "steady_mb_per_s": m.steady * (shape.value + kit::KEY_LEN) as f64 / 1e6,
        "first_record_s": m.first,
        "t10_s": m.t10,
        "t90_s": m.t90,
        "cpu_s": m.cpu,
        "cpu_s_per_gb": m.cpu / (bytes / 1e9),
        "peak_rss_mb": m.rss_mb,
        "exit": m.exit,
    })
}

fn throughput(tb: &support::Testbed, cfg: &Config, results: &mut Vec<Value>) {
    let source = support::KafkaCluster::start_named(tb, "source_cluster");
    let sb = source.bootstrap();
    for shape in &cfg.shapes {
        let topic = format!("load-{}", shape.name);
        kit::create_topic(&sb, &topic, kit::PARTITIONS, &[]);
        let took = kit::produce_shape(&sb, &topic, shape.name, shape.value, shape.records, false);
        kit::note(&format!(
            "source {topic}: {} records of {} B in {:.1} s",
            shape.records,
            shape.value,
            took.as_secs_f64()
        ));
    }
    for rep in 0..cfg.reps {
        for shape in &cfg.shapes {
            let topic = format!("load-{}", shape.name);
            // The limits of this machine: one consumer, one producer.
            kit::settle_disk();
            let c = kit::consume_only(&sb, &topic, shape.records);
            let target = fresh_target(tb);
            kit::create_topic(&target.bootstrap(), "baseline", kit::PARTITIONS, &[]);
            let p = kit::produce_shape(
                &target.bootstrap(),
                "baseline",
                shape.name,
                shape.value,
                shape.records,
                true,
            );
            drop(target);
            for (name, d) in [("consume-only", c), ("produce-only", p)] {
                let s = d.as_secs_f64();
                kit::note(&format!(
                    "rep {rep} {}: {name} {:.0} records/s",
                    shape.name,
                    shape.records as f64 / s
                ));
                results.push(json!({
                    "tool": name, "shape": shape.name, "rep": rep, "records": shape.records,
                    "landed": shape.records, "wall_s": s,
                    "records_per_s": shape.records as f64 / s,
                    "mb_per_s": shape.bytes() / 1e6 / s,
                }));
            }
            // Rotate the order so no tool always runs first or last.
            let mut tools = cfg.tools.clone();
            let k = rep % tools.len().max(1);
            tools.rotate_left(k);
            for tool in tools {
                if tool == Tool::Mm2Eos && rep >= cfg.eos_reps {
                    continue;
                }
                let m = copy_once(tb, tool, &sb, &topic, shape, &[], &[], max_copy(shape));
                let j = measured_json(tool, shape, rep, &m);
                kit::note(&format!(
                    "rep {rep} {} {}: {:.0} records/s, {:.1} MB/s, steady {:.0}/s, first {:.1} s, 10 % at {:.1} s, 90 % at {:.1} s, last at {:.1} s, CPU {:.1} s/GB, RSS {:.0} MB",
                    shape.name,
                    tool.name(),
                    j["records_per_s"].as_f64().unwrap_or(0.0),
                    j["mb_per_s"].as_f64().unwrap_or(0.0),
                    m.steady,
                    m.first,
                    m.t10,
                    m.t90,
                    m.wall,
                    j["cpu_s_per_gb"].as_f64().unwrap_or(0.0),
                    m.rss_mb
                ));
                results.push(j);
            }
        }
    }
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const OFFSET_TOPICS: [&str; 3] = ["offs-plain", "offs-compact", "offs-tx"];
const OFFSET_PARTS: i32 = 4;
const GROUPS: usize = 50;

/// Source data for the offset case: a plain topic, a compacted one (with
/// gaps left by the cleaner) and a transactional one (committed and
/// aborted transactions, markers). Returns the number of records produced
/// per topic.
fn offsets_source(sb: &str, per_topic: usize) {
    use rdkafka::producer::{BaseRecord, Producer};
    kit::create_topic(sb, OFFSET_TOPICS[0], OFFSET_PARTS, &[]);
    kit::create_topic(
        sb,
        OFFSET_TOPICS[1],
        OFFSET_PARTS,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1048576"),
            ("segment.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "0"),
        ],
    );
    kit::create_topic(sb, OFFSET_TOPICS[2], OFFSET_PARTS, &[]);
    let p = kit::producer(sb, &[]);
    for i in 0..per_topic {
        let key = format!("k{i:09}");
        let v = kit::value_for("plain", i, 100);
        kit::send(
            &p,
            BaseRecord::to(OFFSET_TOPICS[0])
                .partition((i % OFFSET_PARTS as usize) as i32)
                .key(&key)
                .payload(&v),
        );
    }
    // Compacted: 4 waves over 300 keys of 400 B values (several 1 MiB
    // segments per partition), with pauses so segments also roll by time.
    let waves = 4;
    for w in 0..waves {
        for j in 0..per_topic / waves {
            let i = w * (per_topic / waves) + j;
            // Keys in a scattered order, so the records compaction keeps
            // are spread over the partition (gaps between them).
            let key = format!(
                "c{:05}",
                ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 300
            );
            let v = kit::value_for("compact", i, 400);
            kit::send(
                &p,
                BaseRecord::to(OFFSET_TOPICS[1])
                    .partition((i % OFFSET_PARTS as usize) as i32)
                    .key(&key)
                    .payload(&v),
            );
        }
        p.flush(Duration::from_secs(60)).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    p.flush(Duration::from_secs(60)).unwrap();
    // Transactional: transactions of 40 records, every third aborted;
    // aborted records carry `txa:` ids, committed ones `tx:`.
    let tp: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", sb)
        .set("transactional.id", "compare-tx")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    tp.init_transactions(Duration::from_secs(30)).unwrap();
    let mut i = 0;
    let mut txn = 0;
    while i < per_topic {
        tp.begin_transaction().unwrap();
        let abort = txn % 3 == 2;
        for _ in 0..40 {
            let key = format!("k{i:09}");
            let v = kit::value_for(if abort { "txa" } else { "tx" }, i, 100);
            kit::send(
                &tp,
                BaseRecord::to(OFFSET_TOPICS[2])
                    .partition((i % OFFSET_PARTS as usize) as i32)
                    .key(&key)
                    .payload(&v),
            );
            i += 1;
        }
        tp.flush(Duration::from_secs(30)).unwrap();
        if abort {
            tp.abort_transaction(Duration::from_secs(30)).unwrap();
        } else {
            tp.commit_transaction(Duration::from_secs(30)).unwrap();
        }
        txn += 1;
    }
    // Roll the compacted topic's last segment and let the cleaner run.
    let key = "roll".to_string();
    for part in 0..OFFSET_PARTS {
        let v = kit::value_for("compact", per_topic + part as usize, 400);
        kit::send(
            &p,
            BaseRecord::to(OFFSET_TOPICS[1])
                .partition(part)
                .key(&key)
                .payload(&v),
        );
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

/// Source records of a topic, read_committed: per partition, sorted
/// (offset, uid).
type Layout = HashMap<i32, Vec<(i64, String)>>;

fn layout(bootstrap: &str, topic: &str) -> Layout {
    let mut l: Layout = HashMap::new();
    kit::read_all(bootstrap, topic, true, |p, o, v| {
        let u = String::from_utf8_lossy(kit::uid(v).unwrap_or_default()).into_owned();
        l.entry(p).or_default().push((o, u));
    });
    for v in l.values_mut() {
        v.sort();
    }
    l
}

/// Gaps in a layout (offsets not holding a readable record).
fn gaps(l: &Layout) -> i64 {
    l.values()
        .map(|v| v.windows(2).map(|w| w[1].0 - w[0].0 - 1).sum::<i64>())
        .sum()
}

fn offsets_case(tb: &support::Testbed, cfg: &Config, out: &mut serde_json::Map<String, Value>) {
    let source = support::KafkaCluster::start_named(tb, "source_cluster");
    let sb = source.bootstrap();
    let per_topic = if cfg.quick { 4_000 } else { 40_000 };
    offsets_source(&sb, per_topic);
    // Wait for the cleaner (it looks every 15 s) to leave gaps.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut compact_gaps = 0;
    while Instant::now() < deadline {
        compact_gaps = gaps(&layout(&sb, OFFSET_TOPICS[1]));
        if compact_gaps > 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    let layouts: Vec<Layout> = OFFSET_TOPICS.iter().map(|t| layout(&sb, t)).collect();
    let tx_gaps = gaps(&layouts[2]);
    kit::note(&format!(
        "offsets: compacted topic has {compact_gaps} offset gaps, transactional topic {tx_gaps} (markers and aborted records)"
    ));
    // 50 groups at random offsets (0..=end) on every partition.
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let c = kit::consumer(&sb, "compare-meta", true);
    // (group, topic index, committed offset per partition)
    type Committed = (String, usize, Vec<(i32, i64)>);
    let mut groups: Vec<Committed> = Vec::new();
    for g in 0..GROUPS {
        let t = g % 3;
        let topic = OFFSET_TOPICS[t];
        let mut offs = Vec::new();
        for p in 0..OFFSET_PARTS {
            let (lo, hi) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            offs.push((p, lo + rng.below((hi - lo + 1) as u64) as i64));
        }
        let name = format!("grp-{g:02}");
        kit::commit_group(&sb, &name, topic, &offs);
        groups.push((name, t, offs));
    }
    drop(c);
    let group_names: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let cutover = format!(
        "cutover:\n  lag_threshold_records: 0\n  lag_sustain_secs: 1\n  producer_quiet_secs: 1\n  group_quiet_secs: 1\n  stop_producers: 'true'\n  start_producers: 'true'\n  waves:\n    - name: all\n      groups: [{}]\n      topics: [{}]\n      stop_consumers: 'true'\n      start_consumers: 'true'\n",
        group_names.join(", "),
        OFFSET_TOPICS.join(", ")
    );
    let mut per_tool = serde_json::Map::new();
    let topics_re = "offs-.*";
    for tool in [Tool::Kcp, Tool::Mm2] {
        if !cfg.tools.contains(&tool) {
            continue;
        }
        let target = fresh_target(tb);
        let tgt = target.bootstrap();
        let dir = tempfile::Builder::new()
            .prefix("kcp-compare-offsets-")
            .tempdir()
            .unwrap();
        let mm2_extra = vec![
            "src->dst.groups = grp-.*".to_string(),
            "sync.group.offsets.enabled = true".to_string(),
            "emit.checkpoints.interval.seconds = 1".to_string(),
            "sync.group.offsets.interval.seconds = 1".to_string(),
            "refresh.groups.interval.seconds = 5".to_string(),
        ];
        let job = CopyJob {
            tool,
            source: &sb,
            target: &tgt,
            topics: topics_re,
            topic: OFFSET_TOPICS[0],
            records: per_topic,
            dir: dir.path(),
            kcp_source_props: &[],
            kcp_target_props: &[],
            mm2_extra: &mm2_extra,
            kcp_execute_cutover: Some(&cutover),
        };
        let started = Instant::now();
        let mut child = kit::spawn(&job, &tb.kafka_root);
        if tool == Tool::Kcp {
            let status = child.wait().unwrap();
            kit::note(&format!(
                "offsets: kcp migrate execute exited with {status} after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            if !status.success() {
                let _ = dir.keep();
            }
        } else {
            // Wait until the groups' offsets on the target stay unchanged
            // for 20 s (all 50 synced, or at least 60 s in), at most 180 s.
            let mut last: Option<Vec<HashMap<i32, i64>>> = None;
            let mut stable_since = Instant::now();
            loop {
                std::thread::sleep(Duration::from_secs(2));
                let now: Vec<HashMap<i32, i64>> = groups
                    .iter()
                    .map(|(g, t, _)| kit::committed(&tgt, g, OFFSET_TOPICS[*t], OFFSET_PARTS))
                    .collect();
                let with = now.iter().filter(|m| !m.is_empty()).count();
                if last.as_ref() != Some(&now) {
                    stable_since = Instant::now();
                    last = Some(now);
                }
                let stable = stable_since.elapsed() > Duration::from_secs(20);
                if stable && (with == GROUPS || started.elapsed() > Duration::from_secs(60))
                    || started.elapsed() > Duration::from_secs(180)
                {
                    kit::note(&format!(
                        "offsets: MM2 synced {with} of {GROUPS} groups after {:.0} s",
                        started.elapsed().as_secs_f64()
                    ));
                    break;
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Compare against the exact positions.
        let targets: Vec<HashMap<i32, Vec<(i64, String)>>> =
            OFFSET_TOPICS.iter().map(|t| layout_any(&tgt, t)).collect();
        let aborted_on_target: usize = targets[2]
            .values()
            .map(|v| v.iter().filter(|(_, u)| u.starts_with("txa:")).count())
            .sum();
        let mut rows = Vec::new();
        let (mut exact, mut reread, mut skipped, mut missing) = (0, 0i64, 0i64, 0);
        for (g, t, offs) in &groups {
            let on_target = kit::committed(&tgt, g, OFFSET_TOPICS[*t], OFFSET_PARTS);
            let (mut r, mut s, mut miss) = (0i64, 0i64, 0);
            for (p, c) in offs {
                let src = layouts[*t].get(p).cloned().unwrap_or_default();
                let tgt_part = targets[*t].get(p).cloned().unwrap_or_default();
                // Source offset of every committed source record, from the
                // snapshot taken before the copy (the cleaner may remove
                // more records before the copier reads them; those are then
                // on neither side and do not count).
                let src_offset: HashMap<&str, i64> =
                    src.iter().map(|(o, u)| (u.as_str(), *o)).collect();
                let tgt_end = tgt_part.last().map_or(0, |(o, _)| o + 1);
                // The exact position: the first target record whose source
                // record is at or after the committed offset (what a
                // read_committed consumer of the source would read next).
                let exact_pos = tgt_part
                    .iter()
                    .find(|(_, u)| src_offset.get(u.as_str()).is_some_and(|o| o >= c))
                    .map_or(tgt_end, |(o, _)| *o);
                match on_target.get(p) {
                    None => miss += 1,
                    Some(&m) => {
                        let between = |a: i64, b: i64| {
                            tgt_part.iter().filter(|(o, _)| *o >= a && *o < b).count() as i64
                        };
                        if m < exact_pos {
                            r += between(m, exact_pos);
                        } else if m > exact_pos {
                            s += between(exact_pos, m);
                        }
                    }
                }
            }
            if r == 0 && s == 0 && miss == 0 {
                exact += 1;
            }
            reread += r;
            skipped += s;
            missing += miss;
            rows.push(json!({"group": g, "topic": OFFSET_TOPICS[*t], "reread": r, "skipped": s, "partitions_without_offset": miss}));
        }
        kit::note(&format!(
            "offsets {}: {exact}/{GROUPS} groups exact, {reread} records re-read, {skipped} skipped, {missing} partitions without a target offset; {aborted_on_target} aborted source records on the target",
            tool.name()
        ));
        if tool == Tool::Kcp && assert_kcp() {
            assert!(
                exact == GROUPS,
                "kcp: {exact}/{GROUPS} groups exact, {reread} re-read, {skipped} skipped, {missing} partitions without an offset"
            );
        }
        per_tool.insert(
            tool.name().into(),
            json!({"groups_exact": exact, "groups": GROUPS, "reread": reread, "skipped": skipped,
                   "partitions_without_offset": missing, "aborted_records_on_target": aborted_on_target,
                   "per_group": rows}),
        );
    }
    out.insert(
        "offsets".into(),
        json!({"records_per_topic": per_topic, "compacted_gaps": compact_gaps, "transactional_gaps": tx_gaps, "tools": per_tool}),
    );
}

/// Every record of a target topic, read_uncommitted (aborted copies too):
/// per partition, sorted (offset, uid).
fn layout_any(bootstrap: &str, topic: &str) -> Layout {
    let mut l: Layout = HashMap::new();
    kit::read_all(bootstrap, topic, false, |p, o, v| {
        let u = String::from_utf8_lossy(kit::uid(v).unwrap_or_default()).into_owned();
        l.entry(p).or_default().push((o, u));
    });
    for v in l.values_mut() {
        v.sort();
    }
    l
}

fn crash_case(tb: &support::Testbed, cfg: &Config, out: &mut serde_json::Map<String, Value>) {
    let n = env_usize(
        "KCP_COMPARE_CRASH_RECORDS",
        if cfg.quick { 30_000 } else { 500_000 },
    );
    let source = support::KafkaCluster::start_named(tb, "source_cluster");
    let sb = source.bootstrap();
    let topic = "crash";
    kit::create_topic(&sb, topic, kit::PARTITIONS, &[]);
    kit::produce_shape(&sb, topic, "crash", 100, n, false);
    let mut per_tool = serde_json::Map::new();
    for tool in [Tool::Kcp, Tool::Mm2, Tool::Mm2Eos] {
        if !cfg.tools.contains(&tool) {
            continue;
        }
        let target = fresh_target(tb);
        let tgt = target.bootstrap();
        let dir = tempfile::Builder::new()
            .prefix("kcp-compare-crash-")
            .tempdir()
            .unwrap();
        let job = CopyJob {
            tool,
            source: &sb,
            target: &tgt,
            topics: topic,
            topic,
            records: n,
            dir: dir.path(),
            kcp_source_props: &[],
            kcp_target_props: &[],
            mm2_extra: &[],
            kcp_execute_cutover: None,
        };
        let started = Instant::now();
        let mut kills = Vec::new();
        for k in 1..=3u64 {
            let mut child = kit::spawn(&job, &tb.kafka_root);
            let at = n as u64 * k / 4;
            let m = kit::measure(
                &mut child,
                Instant::now(),
                &tgt,
                topic,
                n as u64,
                Until::Reached(at),
                Duration::from_secs(300),
            );
            // SIGKILL (Child::kill) as soon as the target holds `at` offsets.
            let _ = child.kill();
            let _ = child.wait();
            kills.push(json!({"at_target_offsets": m.landed, "exit_before_kill": m.exit}));
        }
        let mut child = kit::spawn(&job, &tb.kafka_root);
        let until = match tool {
            Tool::Kcp | Tool::Plain => Until::Exit,
            _ => Until::Landed(n as u64, Duration::from_secs(10)),
        };
        let m = kit::measure(
            &mut child,
            Instant::now(),
            &tgt,
            topic,
            n as u64,
            until,
            Duration::from_secs(600),
        );
        let (read, dup, missing) = kit::tally(&tgt, topic, n, true);
        kit::note(&format!(
            "crash {}: 3 SIGKILLs, {read} records on the target (read_committed), {dup} duplicated, {missing} missing, {:.0} s in all",
            tool.name(),
            started.elapsed().as_secs_f64()
        ));
        // Keep the logs when kcp was not exact or a copier never finished
        // (MM2 without exactly-once duplicates by design).
        if tool == Tool::Kcp && (dup > 0 || missing > 0) || m.timed_out {
            let _ = dir.keep();
        }
        if tool == Tool::Kcp && assert_kcp() {
            assert!(
                dup == 0 && missing == 0,
                "kcp after 3 SIGKILLs: {dup} duplicated, {missing} missing"
            );
        }
        per_tool.insert(
            tool.name().into(),
            json!({"records": n, "read": read, "duplicated": dup, "missing": missing, "kills": kills, "final_timed_out": m.timed_out}),
        );
    }
    out.insert("crash".into(), Value::Object(per_tool));
}

/// KCP_COMPARE_ASSERT=1: fail (panic) when kcp's offsets are not exact or
/// its copy after SIGKILLs has duplicates or holes (for CI).
fn assert_kcp() -> bool {
    std::env::var("KCP_COMPARE_ASSERT").is_ok_and(|v| v == "1")
}

fn main() {
    if std::env::var("KCP_COMPARE_CHILD").is_ok_and(|v| v == "plain") {
        kit::plain_child();
        return;
    }
    let Some(tb) = support::testbed() else { return };
    let libs = tb.kafka_root.join("4.1.1/libs/connect-mirror-4.1.1.jar");
    if !libs.is_file() {
        eprintln!(
            "*** SKIPPED: no MirrorMaker 2 at {}: run `bash testbed/install.sh` (testbed/kafka/pom.xml has connect-mirror) ***",
            libs.display()
        );
        return;
    }
    wan::cleanup_on_signal();
    let cfg = config();
    if std::env::var("KCP_COMPARE_MERGE").is_err() {
        let _ = std::fs::remove_file(kit::out_dir().join("log.txt"));
    }
    let begun = Instant::now();
    let mut runs = Vec::new();
    let mut out = serde_json::Map::new();
    // KCP_COMPARE_MERGE=1: keep the cases of the last results.json that
    // this run does not measure again (e.g. a later run of one case).
    if std::env::var("KCP_COMPARE_MERGE").is_ok_and(|v| v == "1")
        && let Ok(text) = std::fs::read_to_string(kit::out_dir().join("results.json"))
        && let Ok(Value::Object(old)) = serde_json::from_str::<Value>(&text)
    {
        for (k, v) in old {
            match k.as_str() {
                "throughput" if !cfg.cases.iter().any(|c| c == "throughput") => {
                    runs = v.as_array().cloned().unwrap_or_default();
                }
                "offsets" | "crash" | "wan" if !cfg.cases.iter().any(|c| c == &k) => {
                    out.insert(k, v);
                }
                _ => {}
            }
        }
    }
    out.insert("machine".into(), report::machine());
    out.insert(
        "config".into(),
        json!({
            "quick": cfg.quick, "reps": cfg.reps,
            "shapes": cfg.shapes.iter().map(|s| json!({"name": s.name, "value_bytes": s.value, "records": s.records, "partitions": kit::PARTITIONS})).collect::<Vec<_>>(),
            "kafka": support::KAFKA_LATEST,
            "mm2": "dedicated mode, org.apache.kafka.connect.mirror.MirrorMaker, -Xmx512m, IdentityReplicationPolicy, tasks.max default (1)",
        }),
    );
    let save = |out: &serde_json::Map<String, Value>, runs: &[Value]| {
        let mut doc = out.clone();
        doc.insert("throughput".into(), Value::Array(runs.to_vec()));
        doc.insert("summary".into(), report::summarize(runs));
        let text = serde_json::to_string_pretty(&Value::Object(doc.clone())).unwrap();
        std::fs::write(kit::out_dir().join("results.json"), text).unwrap();
        let svg = report::svg(&Value::Object(doc.clone()));
        std::fs::write(kit::out_dir().join("compare.svg"), &svg).unwrap();
        std::fs::write(
            kit::out_dir().join("summary.md"),
            report::markdown(&Value::Object(doc)),
        )
        .unwrap();
        if std::env::var("KCP_COMPARE_UPDATE_DOCS").is_ok_and(|v| v == "1") {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks");
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("compare.svg"), &svg).unwrap();
        }
    };
    for case in cfg.cases.clone() {
        let t = Instant::now();
        kit::note(&format!("case {case}"));
        match case.as_str() {
            "throughput" => throughput(&tb, &cfg, &mut runs),
            "offsets" => offsets_case(&tb, &cfg, &mut out),
            "crash" => crash_case(&tb, &cfg, &mut out),
            "wan" => wan::wan_case(&tb, &cfg.shapes, &cfg.tools, &mut out),
            other => kit::note(&format!("unknown case {other}")),
        }
        kit::note(&format!(
            "case {case} took {:.0} s",
            t.elapsed().as_secs_f64()
        ));
        save(&out, &runs);
    }
    let mut doc = out.clone();
    doc.insert("throughput".into(), Value::Array(runs.clone()));
    doc.insert("summary".into(), report::summarize(&runs));
    println!("{}", report::markdown(&Value::Object(doc)));
    println!(
        "results: {} (whole bench {:.0} s)",
        kit::out_dir().join("results.json").display(),
        begun.elapsed().as_secs_f64()
    );
}
