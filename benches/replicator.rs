//! Benchmark: the replicator against the broker-bound limits, in one run.
//!
//!     cargo bench --bench replicator            (needs the test bed)
//!
//! Two Tansu brokers (SQLite storage) on loopback. The source gets N
//! records of 100 bytes over 8 partitions. Then, measured:
//! 1. consume-only: one librdkafka consumer reads all N from the source;
//! 2. produce-only: one idempotent `acks=all` producer writes N records of
//!    the same size, with a provenance-sized header, to the target;
//! 3. both at once: a consume-only client on the source and a produce-only
//!    client on the target, concurrently. On a 2-core machine where both
//!    brokers run too, this is the broker-bound limit of a copy;
//! 4. the replicator (`kcp migrate replicate --until-caught-up`, release
//!    build) copies the N records; wall time (start-up included), CPU time
//!    and peak RSS are read from /proc while it runs.
//!
//! The replicator's rate is printed as a ratio of the slower limit.
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)] // a benchmark reports on stdout

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const RECORDS: usize = 400_000;
const PARTITIONS: i32 = 8;
const VALUE: usize = 100;

fn create(bootstrap: &str, topic: &str) {
    let admin: rdkafka::admin::AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let new = rdkafka::admin::NewTopic::new(
        topic,
        PARTITIONS,
        rdkafka::admin::TopicReplication::Fixed(1),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for r in rt
        .block_on(admin.create_topics(&[new], &rdkafka::admin::AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}

fn produce(bootstrap: &str, topic: &str, header: bool) -> Duration {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let value = vec![b'x'; VALUE];
    let started = Instant::now();
    for i in 0..RECORDS {
        let key = format!("key-{i:08}");
        let mut record = BaseRecord::to(topic)
            .partition((i % PARTITIONS as usize) as i32)
            .key(&key)
            .payload(&value);
        let provenance;
        if header {
            provenance = format!("v1;source_cluster;{topic};{};{i}", i % PARTITIONS as usize);
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "kcp.provenance",
                value: Some(&provenance),
            }));
        }
        let mut record = record;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    started.elapsed()
}

fn consume(bootstrap: &str, topic: &str) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    let started = Instant::now();
    consumer.assign(&list).unwrap();
    let mut n = 0;
    while n < RECORDS {
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            m.unwrap();
            n += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "consume-only stalled at {n}"
        );
    }
    started.elapsed()
}

/// (CPU seconds, peak RSS in MB) of a running process, from /proc.
fn sample(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks / 100.0, hwm_kb / 1024.0))
}

fn main() {
    let Some(tb) = support::testbed() else { return };
    let source = support::TansuBroker::start_named(&tb, "source_cluster");
    let target = support::TansuBroker::start_named(&tb, "target_cluster");
    create(&source.bootstrap(), "load");
    create(&target.bootstrap(), "baseline");
    produce(&source.bootstrap(), "load", false);

    let consume_time = consume(&source.bootstrap(), "load");
    let produce_time = produce(&target.bootstrap(), "baseline", true);
    create(&target.bootstrap(), "baseline2");
    let (both_consume, both_produce) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| consume(&source.bootstrap(), "load"));
        let writer = scope.spawn(|| produce(&target.bootstrap(), "baseline2", true));
        (reader.join().unwrap(), writer.join().unwrap())
    });
    let both_time = both_consume.max(both_produce);

    let dir = tempfile::tempdir().unwrap();
    support::write_pair_credentials(dir.path(), &source, &target);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(&plan, "version: 1\nname: bench\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\ntopics: { include: load }\n").unwrap();
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kcp"))
        .args([
            "migrate",
            "replicate",
            "--until-caught-up",
            "--no-progress",
            "-q",
            "--output",
            "json",
            "--stats-interval-ms",
            "200",
            "--plan",
        ])
        .arg(&plan)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stats lines: the time of the first copied record gives the steady-state rate.
    let stdout = child.stdout.take().unwrap();
    let first_copy = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut first: Option<(f64, u64)> = None;
        let mut last: Option<(f64, u64)> = None;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let (Some(t), Some(c)) = (v["elapsed_secs"].as_f64(), v["copied"].as_u64())
                && c > 0
            {
                first.get_or_insert((t, c));
                last = Some((t, c));
            }
        }
        (first, last)
    });
    let (mut cpu, mut rss) = (0.0, 0.0);
    loop {
        if let Some((c, r)) = sample(child.id()) {
            cpu = c;
            rss = f64::max(rss, r);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "replicator failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let replicate_time = started.elapsed();
    let (first, last) = first_copy.join().unwrap();
    let steady = match (first, last) {
        (Some((t0, c0)), Some((t1, c1))) if t1 > t0 => Some((c1 - c0) as f64 / (t1 - t0)),
        _ => None,
    };

    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
    let mb = |d: Duration| (RECORDS * (VALUE + 12)) as f64 / 1e6 / d.as_secs_f64();
    let separate_limit = rate(consume_time).min(rate(produce_time));
    let limit = rate(both_time);
    println!(
        "{RECORDS} records of {VALUE} B over {PARTITIONS} partitions, Tansu 0.6.0 (SQLite) source and target on loopback"
    );
    println!(
        "consume-only (source): {:>9.0} records/s {:>6.1} MB/s",
        rate(consume_time),
        mb(consume_time)
    );
    println!(
        "produce-only (target): {:>9.0} records/s {:>6.1} MB/s",
        rate(produce_time),
        mb(produce_time)
    );
    println!(
        "consume + produce at once: {:>5.0} records/s {:>6.1} MB/s (the broker-bound limit of a copy here)",
        rate(both_time),
        mb(both_time)
    );
    println!(
        "replicator:            {:>9.0} records/s {:>6.1} MB/s (start-up included)",
        rate(replicate_time),
        mb(replicate_time)
    );
    if let Some(steady) = steady {
        println!(
            "replicator, steady state: {steady:>6.0} records/s (from the first to the last stats sample)"
        );
        println!(
            "replicator steady / concurrent limit: {:.2}",
            steady / limit
        );
    }
    println!(
        "replicator / concurrent limit: {:.2} (target >= 0.90)",
        rate(replicate_time) / limit
    );
    println!(
        "replicator / slower separate limit: {:.2}",
        rate(replicate_time) / separate_limit
    );
    println!(
        "replicator CPU: {:.2} s per million records; peak RSS {:.0} MB (target < 300 MB)",
        cpu / RECORDS as f64 * 1e6,
        rss
    );
}
