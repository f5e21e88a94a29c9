//! Benchmark: the replicator against the broker-bound limits, in one run.
//!
//!     cargo bench --bench replicator            (needs the test bed)
//!
//! Two one-broker Apache Kafka clusters (the test bed's newest release) on
//! loopback. The source gets N
//! records of 100 bytes over 8 partitions. Then, measured:
//! 1. consume-only: one librdkafka consumer reads all N from the source;
//! 2. produce-only: one idempotent `acks=all` producer writes N records of
//!    the same size, with a provenance-sized header, to the target;
//! 3. both at once: a consume-only client on the source and a produce-only
//!    client on the target, concurrently. On a 2-core machine where both
//!    brokers run too, this is the broker-bound limit of a copy;
//! 4. a plain copy loop: a librdkafka consumer and producer with the
//!    replicator's settings and none of its bookkeeping (what any copy tool
//!    built on librdkafka gets from these brokers);
//! 5. the replicator (`kcp migrate replicate --until-caught-up`, release
//!    build) copies the N records; wall time (start-up included), CPU time
//!    and peak RSS are read from /proc while it runs.
//!
//! 6. memory: the replicator copies a second topic whose backlog (60,000
//!    records of 8 KiB, ~490 MB) is several times every client buffer;
//!    its peak RSS shows whether memory stays bounded whatever the backlog.
//! 7. transactions: run 5 uses the default, target transactions (the
//!    fence against a frozen or second copier); the replicator copies the N
//!    records again, to a fresh target, with `transactions: false`, and the
//!    ratio with / without is printed.
//!
//! The replicator's rate is printed as a ratio of each limit.
//!
//!     KCP_BENCH_METRICS=1 cargo bench --bench replicator
//!
//! measures only the cost of `--metrics-addr`: the replicator copies the
//! same N records with the listener off and on, alternately (off, on, off,
//! on, each onto a fresh target), while a scraper reads `/metrics` every
//! second as Prometheus would; it prints both rates and CPU times and the
//! on/off ratio.
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)] // a benchmark reports on stdout

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Enough that start-up (about a second) is a small part of every run on
/// Kafka, which copies a few hundred thousand records per second here.
const RECORDS: usize = 2_000_000;
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

/// The records of a run: how many, and the value size.
#[derive(Clone, Copy)]
struct Load {
    records: usize,
    value: usize,
}

/// The main load: small records, the per-record costs dominate.
const SMALL: Load = Load {
    records: RECORDS,
    value: VALUE,
};
/// The memory run: a backlog several times every client buffer (librdkafka's
/// fetch queue and producer queue are 64 MiB each by default here).
const LARGE: Load = Load {
    records: 60_000,
    value: 8_192,
};

/// A value of `len` bytes that compresses about as well as typical
/// payloads do (the same 64 printable bytes, shuffled per record), not
/// a run of one byte that lz4 shrinks to nothing.
fn value_for(i: usize, len: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'0' + (x % 64) as u8
        })
        .collect()
}

fn produce(bootstrap: &str, topic: &str, header: bool) -> Duration {
    produce_load(bootstrap, topic, header, SMALL)
}

fn produce_load(bootstrap: &str, topic: &str, header: bool, load: Load) -> Duration {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let small = vec![b'x'; VALUE];
    let started = Instant::now();
    for i in 0..load.records {
        let key = format!("key-{i:08}");
        let large;
        let value = if load.value == VALUE {
            &small
        } else {
            large = value_for(i, load.value);
            &large
        };
        let mut record = BaseRecord::to(topic)
            .partition((i % PARTITIONS as usize) as i32)
            .key(&key)
            .payload(value);
        let provenance;
        if header {
            provenance = format!("v1;source_cluster;{topic};{};{i}", i % PARTITIONS as usize);
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "kcp.provenance",
                value: Some(&provenance),
            }));
        }
        send(&producer, record);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    started.elapsed()
}

/// Sends, waiting for room while librdkafka's queue is full.
fn send<K: rdkafka::message::ToBytes + ?Sized, P: rdkafka::message::ToBytes + ?Sized>(
    producer: &BaseProducer,
    mut record: BaseRecord<'_, K, P>,
) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
        }
    }
}

fn assign_from_beginning(consumer: &BaseConsumer, topic: &str) {
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
}

fn consume(bootstrap: &str, topic: &str) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    let started = Instant::now();
    assign_from_beginning(&consumer, topic);
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

/// The simplest copy a librdkafka client can do, with the replicator's
/// client settings and none of its bookkeeping: poll the source, send each
/// record (with a provenance-sized header) to the same partition of the
/// target, flush. Returns (whole run, time to the first record read).
fn plain_copy(source: &str, target: &str, from: &str, to: &str) -> (Duration, Duration) {
    // Client creation counts, as the replicator's whole run counts its.
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", source)
        .set("group.id", "bench-copy")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.max.bytes", "52428800")
        .set("queued.max.messages.kbytes", "32768")
        // As kcp: no 1 s pause in fetching each time that queue fills.
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", target)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("queue.buffering.max.kbytes", "32768")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    assign_from_beginning(&consumer, from);
    let (mut n, mut first) = (0, None);
    while n < RECORDS {
        producer.poll(Duration::ZERO);
        let Some(m) = consumer.poll(Duration::from_millis(50)) else {
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "plain copy stalled at {n}"
            );
            continue;
        };
        let m = m.unwrap();
        first.get_or_insert_with(|| started.elapsed());
        let provenance = format!("v1;source_cluster;{from};{};{}", m.partition(), m.offset());
        let mut record =
            BaseRecord::to(to)
                .partition(m.partition())
                .headers(OwnedHeaders::new().insert(Header {
                    key: "kcp.provenance",
                    value: Some(&provenance),
                }));
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        if let Some(v) = m.payload() {
            record = record.payload(v);
        }
        send(&producer, record);
        n += 1;
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    (started.elapsed(), first.unwrap_or_default())
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

/// What one replicator run measured.
struct Run {
    wall: Duration,
    cpu: f64,
    rss: f64,
    /// (elapsed seconds, records copied) of the first and last stats lines
    /// with copies.
    first: Option<(f64, u64)>,
    last: Option<(f64, u64)>,
}

/// Runs `kcp migrate replicate --until-caught-up` on `topic`, sampling its
/// CPU time and peak RSS from /proc.
/// `replication` is the plan's `replication:` section (YAML lines), if any.
fn replicate(
    source: &support::KafkaCluster,
    target: &support::KafkaCluster,
    topic: &str,
    replication: &str,
) -> Run {
    replicate_with(source, target, topic, replication, None)
}

/// [`replicate`], with `--metrics-addr` on `metrics` when given, and a
/// scraper reading `/metrics` every second meanwhile.
fn replicate_with(
    source: &support::KafkaCluster,
    target: &support::KafkaCluster,
    topic: &str,
    replication: &str,
    metrics: Option<&str>,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    support::write_pair_credentials(dir.path(), source, target);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(&plan, format!("version: 1\nname: bench\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\ntopics: {{ include: {topic} }}\n{replication}")).unwrap();
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
        .args(metrics.map_or(vec![], |addr| vec!["--metrics-addr", addr]))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = metrics.map(|addr| {
        let (addr, done) = (addr.to_owned(), done.clone());
        std::thread::spawn(move || {
            let mut scrapes = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if scrape(&addr).is_some_and(|body| body.contains("kcp_replicator_copied")) {
                    scrapes += 1;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            scrapes
        })
    });
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
    let wall = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(scraper) = scraper {
        let scrapes = scraper.join().unwrap();
        assert!(scrapes > 0, "the scraper never read the copy's metrics");
    }
    let (first, last) = first_copy.join().unwrap();
    Run {
        wall,
        cpu,
        rss,
        first,
        last,
    }
}

/// `GET /metrics` over HTTP/1.1; the body.
fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The steady-state rate of a run: records per second between its first
/// and last stats samples.
fn steady_rate(run: &Run) -> Option<f64> {
    match (run.first, run.last) {
        (Some((t0, c0)), Some((t1, c1))) if t1 > t0 => Some((c1 - c0) as f64 / (t1 - t0)),
        _ => None,
    }
}

/// `KCP_BENCH_METRICS=1`: the replicator with the metrics listener off and
/// on, alternately, on the same source.
fn metrics_cost(tb: &support::Testbed) {
    const ROUNDS: usize = 2;
    let source = support::KafkaCluster::start_named(tb, "source_cluster");
    create(&source.bootstrap(), "load");
    produce(&source.bootstrap(), "load", false);
    let mut runs: Vec<(bool, Run)> = Vec::new();
    for round in 0..ROUNDS * 2 {
        let on = round % 2 == 1;
        let target = support::KafkaCluster::start_named(tb, "target_cluster");
        let addr = format!("127.0.0.1:{}", support::free_port());
        let run = replicate_with(&source, &target, "load", "", on.then_some(addr.as_str()));
        println!(
            "metrics {}: {:>9.0} records/s (start-up included), steady {:>9.0} records/s, CPU {:.2} s per million records, peak RSS {:.0} MB",
            if on { "on " } else { "off" },
            RECORDS as f64 / run.wall.as_secs_f64(),
            steady_rate(&run).unwrap_or(0.0),
            run.cpu / RECORDS as f64 * 1e6,
            run.rss
        );
        runs.push((on, run));
    }
    let mean = |on: bool, f: &dyn Fn(&Run) -> f64| {
        let v: Vec<f64> = runs
            .iter()
            .filter(|(o, _)| *o == on)
            .map(|(_, r)| f(r))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let wall_rate = |r: &Run| RECORDS as f64 / r.wall.as_secs_f64();
    let steady = |r: &Run| steady_rate(r).unwrap_or(0.0);
    let cpu = |r: &Run| r.cpu / RECORDS as f64 * 1e6;
    println!(
        "{RECORDS} records of {VALUE} B over {PARTITIONS} partitions, Apache Kafka {} on loopback, {ROUNDS} runs each, alternating",
        source.version
    );
    println!(
        "metrics on / off, rate with start-up: {:.3}; steady rate: {:.3}; CPU per record: {:.3}",
        mean(true, &wall_rate) / mean(false, &wall_rate),
        mean(true, &steady) / mean(false, &steady),
        mean(true, &cpu) / mean(false, &cpu)
    );
}

fn main() {
    let Some(tb) = support::testbed() else { return };
    if std::env::var_os("KCP_BENCH_METRICS").is_some() {
        metrics_cost(&tb);
        return;
    }
    let source = support::KafkaCluster::start_named(&tb, "source_cluster");
    let target = support::KafkaCluster::start_named(&tb, "target_cluster");
    create(&source.bootstrap(), "load");
    create(&target.bootstrap(), "baseline");
    produce(&source.bootstrap(), "load", false);

    let consume_time = consume(&source.bootstrap(), "load");
    let produce_time = produce(&target.bootstrap(), "baseline", true);
    // Every write below goes to a fresh target, so none pays for what the
    // others left there (log segments, page cache).
    drop(target);
    let target = support::KafkaCluster::start_named(&tb, "target_cluster");
    create(&target.bootstrap(), "baseline2");
    let (both_consume, both_produce) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| consume(&source.bootstrap(), "load"));
        let writer = scope.spawn(|| produce(&target.bootstrap(), "baseline2", true));
        (reader.join().unwrap(), writer.join().unwrap())
    });
    let both_time = both_consume.max(both_produce);
    drop(target);
    let target = support::KafkaCluster::start_named(&tb, "target_cluster");
    create(&target.bootstrap(), "plain");
    let (plain_time, plain_first) =
        plain_copy(&source.bootstrap(), &target.bootstrap(), "load", "plain");
    drop(target);
    let target = support::KafkaCluster::start_named(&tb, "target_cluster");

    let run = replicate(&source, &target, "load", "");
    let (replicate_time, cpu, rss) = (run.wall, run.cpu, run.rss);
    let (first, last) = (run.first, run.last);
    let steady = match (first, last) {
        (Some((t0, c0)), Some((t1, c1))) if t1 > t0 => Some((c1 - c0) as f64 / (t1 - t0)),
        _ => None,
    };

    // Memory: a backlog far larger than every buffer, on a fresh target.
    drop(target);
    let target = support::KafkaCluster::start_named(&tb, "target_cluster");
    create(&source.bootstrap(), "large");
    produce_load(&source.bootstrap(), "large", false, LARGE);
    let large = replicate(&source, &target, "large", "");

    // The cost of the fence: run 5 used target transactions (the default,
    // a commit per 2 s checkpoint); the same copy without, on a fresh target.
    drop(target);
    let target = support::KafkaCluster::start_named(&tb, "target_cluster");
    let unfenced = replicate(
        &source,
        &target,
        "load",
        "replication:\n  transactions: false\n",
    );

    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
    let mb = |d: Duration| (RECORDS * (VALUE + 12)) as f64 / 1e6 / d.as_secs_f64();
    let separate_limit = rate(consume_time).min(rate(produce_time));
    let limit = rate(both_time);
    println!(
        "{RECORDS} records of {VALUE} B over {PARTITIONS} partitions, Apache Kafka {} source and target on loopback",
        source.version
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
        "plain librdkafka copy loop: {:>5.0} records/s {:>6.1} MB/s (first record read after {:.1} s)",
        rate(plain_time),
        mb(plain_time),
        plain_first.as_secs_f64()
    );
    println!(
        "replicator:            {:>9.0} records/s {:>6.1} MB/s (start-up included)",
        rate(replicate_time),
        mb(replicate_time)
    );
    if let Some(steady) = steady {
        println!(
            "replicator, steady state: {steady:>6.0} records/s (from the first to the last stats sample; first copies seen after {:.1} s)",
            first.map_or(0.0, |(t, _)| t)
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
        "replicator / plain copy loop: {:.2}",
        rate(replicate_time) / rate(plain_time)
    );
    println!(
        "replicator CPU: {:.2} s per million records; peak RSS {:.0} MB (target < 300 MB)",
        cpu / RECORDS as f64 * 1e6,
        rss
    );
    println!(
        "replicator without transactions: {:>9.0} records/s (start-up included); with / without: {:.2}; CPU without {:.2} s per million records",
        rate(unfenced.wall),
        rate(replicate_time) / rate(unfenced.wall),
        unfenced.cpu / RECORDS as f64 * 1e6
    );
    let large_bytes = (LARGE.records * (LARGE.value + 12)) as f64;
    println!(
        "memory run: {} records of {} B ({:.0} MB backlog): {:.1} MB/s, peak RSS {:.0} MB (target < 300 MB)",
        LARGE.records,
        LARGE.value,
        large_bytes / 1e6,
        large_bytes / 1e6 / large.wall.as_secs_f64(),
        large.rss
    );
}
