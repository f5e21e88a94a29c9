//! Benchmark: the gateway's overhead against direct connections, in one run.
//!
//!     cargo bench --bench gateway            (needs the test bed)
//!
//! One Apache Kafka broker (the test bed's newest release) on loopback and
//! `kcp gateway` (release build) in front of it. Each measure runs directly
//! and through the gateway, alternately (direct, gateway, direct,
//! gateway), and the better of each pair's two runs is kept, so that load
//! from other processes on the machine hurts both sides alike:
//! 1. produce throughput: one idempotent `acks=all` producer writes N
//!    records of 100 bytes (lz4, 8 partitions) as fast as it can;
//! 2. fetch throughput: one consumer reads those N records from the start;
//! 3. produce latency: 1,000 single records, each sent when the previous
//!    one is acknowledged (`linger.ms=0`): p50 and p99 of the round trip;
//! 4. fetch latency: 1,000 single records produced directly, each read by
//!    a consumer on the path under test (`fetch.wait.max.ms=1`) before the
//!    next is sent: p50 and p99 from send to receipt.
//!
//! It prints the figures side by side and the ratios (gateway / direct).
//! With `perf` installed it also counts the instructions the gateway
//! process spends per forwarded record in runs 1 and 2 (`perf stat -e
//! instructions`), a figure the machine's load does not change.
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)] // a benchmark reports on stdout

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const RECORDS: usize = 500_000;
const PARTITIONS: i32 = 8;
const VALUE: usize = 100;
const PINGS: usize = 1_000;

fn create(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: rdkafka::admin::AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let new = rdkafka::admin::NewTopic::new(
        topic,
        partitions,
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

fn producer(bootstrap: &str, linger_ms: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", linger_ms)
        .set("batch.size", "1048576")
        .set("compression.type", "lz4")
        .create()
        .unwrap()
}

/// Records per second for N records.
fn produce_throughput(bootstrap: &str, topic: &str) -> f64 {
    let producer = producer(bootstrap, "5");
    let value = vec![b'x'; VALUE];
    let started = Instant::now();
    for i in 0..RECORDS {
        let key = format!("key-{i:08}");
        let mut record = BaseRecord::to(topic)
            .partition((i % PARTITIONS as usize) as i32)
            .key(&key)
            .payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(1));
                    record = back;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    RECORDS as f64 / started.elapsed().as_secs_f64()
}

/// Records per second reading the topic from the start.
fn fetch_throughput(bootstrap: &str, topic: &str) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let started = Instant::now();
    let mut n = 0;
    while n < RECORDS {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m.unwrap();
            n += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "fetch stuck at {n}"
        );
    }
    RECORDS as f64 / started.elapsed().as_secs_f64()
}

/// Round trips of single acknowledged records, in microseconds, sorted.
fn produce_latency(bootstrap: &str, topic: &str) -> Vec<u64> {
    let producer = producer(bootstrap, "0");
    let mut out = Vec::with_capacity(PINGS);
    for i in 0..PINGS + 100 {
        let started = Instant::now();
        producer
            .send(
                BaseRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&[0u8; VALUE][..]),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        // Not flush(): rust-rdkafka's flush waits in 100 ms steps. poll()
        // returns as soon as the delivery report is served.
        while producer.in_flight_count() > 0 {
            producer.poll(Duration::from_millis(1));
        }
        if i >= 100 {
            out.push(started.elapsed().as_micros() as u64);
        }
    }
    out.sort_unstable();
    out
}

/// From a direct send to receipt on the path under test, in microseconds.
fn fetch_latency(direct: &str, path: &str, topic: &str) -> Vec<u64> {
    let producer = producer(direct, "0");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", path)
        .set("group.id", "bench-latency")
        .set("fetch.wait.max.ms", "1")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::End).unwrap();
    consumer.assign(&list).unwrap();
    // Let the consumer reach the end before the first ping.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(2) {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    let mut out = Vec::with_capacity(PINGS);
    for i in 0..PINGS + 100 {
        let started = Instant::now();
        producer
            .send(
                BaseRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&[1u8; 8][..]),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        producer.poll(Duration::ZERO);
        loop {
            match consumer.poll(Duration::from_secs(10)) {
                Some(Ok(m)) if m.payload() == Some(&[1u8; 8][..]) => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{e}"),
                None => panic!("no record within 10 s"),
            }
        }
        if i >= 100 {
            out.push(started.elapsed().as_micros() as u64);
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    out.sort_unstable();
    out
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Gateway {
    child: Child,
    bootstrap: String,
}

impl Gateway {
    fn start(dir: &std::path::Path, kafka: &str) -> Self {
        let creds = support::write_credentials(
            dir,
            &format!(
                "clusters:\n  - name: bench\n    bootstrap_servers: [\"{kafka}\"]\n    auth: {{ method: plaintext }}\n"
            ),
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_kcp"))
            .args([
                "gateway",
                "--output",
                "json",
                "--cluster",
                "bench",
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--credentials-file")
            .arg(&creds)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut text = String::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            text.push_str(&line);
            if line == "}" {
                break;
            }
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        Gateway {
            child,
            bootstrap: v["bootstrap"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts the instructions process `pid` retires while `f` runs, when
/// `perf` can.
fn instructions<T>(pid: u32, f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let perf = Command::new("perf")
        .args([
            "stat",
            "-x",
            ",",
            "-e",
            "instructions",
            "-p",
            &pid.to_string(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn();
    let Ok(perf) = perf else {
        return (f(), None);
    };
    std::thread::sleep(Duration::from_millis(300));
    let out = f();
    let _ = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let text = perf
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    let count = text
        .lines()
        .find(|l| l.contains("instructions"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok());
    (out, count)
}

fn main() {
    let Some(tb) = support::testbed() else {
        return;
    };
    let kafka = support::KafkaCluster::start_named(&tb, "bench-gw");
    let direct = kafka.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), &direct);
    println!(
        "Kafka {} at {direct}, gateway at {}",
        kafka.version, gw.bootstrap
    );

    let mut produce = [Vec::new(), Vec::new()];
    let mut fetch = [Vec::new(), Vec::new()];
    let mut produce_lat = [Vec::new(), Vec::new()];
    let mut fetch_lat = [Vec::new(), Vec::new()];
    let mut gw_instr = (None, None);
    for round in 0..2 {
        for (side, path) in [(0, direct.clone()), (1, gw.bootstrap.clone())] {
            let topic = format!("bench-{round}-{side}");
            create(&direct, &topic, PARTITIONS);
            if side == 1 {
                let (p, ip) = instructions(gw.child.id(), || produce_throughput(&path, &topic));
                let (f, ifetch) = instructions(gw.child.id(), || fetch_throughput(&path, &topic));
                produce[side].push(p);
                fetch[side].push(f);
                gw_instr = (ip.or(gw_instr.0), ifetch.or(gw_instr.1));
            } else {
                produce[side].push(produce_throughput(&path, &topic));
                fetch[side].push(fetch_throughput(&path, &topic));
            }
            let ping = format!("ping-{round}-{side}");
            create(&direct, &ping, 1);
            produce_lat[side].push(produce_latency(&path, &ping));
            fetch_lat[side].push(fetch_latency(&direct, &path, &ping));
            eprintln!("round {round} {} done", ["direct", "gateway"][side]);
        }
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    // The better of the two runs: the one less disturbed by other load.
    let best_p = |v: &[Vec<u64>], p: f64| v.iter().map(|s| pct(s, p)).fold(f64::MAX, f64::min);

    println!(
        "\n{:<28} {:>14} {:>14} {:>10}",
        "", "direct", "gateway", "ratio"
    );
    for (name, runs) in [
        ("produce (records/s)", &produce),
        ("fetch (records/s)", &fetch),
    ] {
        let (d, g) = (best(&runs[0]), best(&runs[1]));
        println!("{name:<28} {d:>14.0} {g:>14.0} {:>10.3}", g / d);
    }
    for (name, runs) in [
        ("produce latency", &produce_lat),
        ("fetch latency", &fetch_lat),
    ] {
        for (p, label) in [(0.5, "p50"), (0.99, "p99")] {
            let (d, g) = (best_p(&runs[0], p), best_p(&runs[1], p));
            println!(
                "{:<28} {d:>12.3}ms {g:>12.3}ms {:>+9.3}ms",
                format!("{name} {label}"),
                g - d
            );
        }
    }
    if let (Some(p), Some(f)) = gw_instr {
        println!(
            "gateway instructions per record: produce {:.0}, fetch {:.0} (perf stat, last round)",
            p as f64 / RECORDS as f64,
            f as f64 / RECORDS as f64
        );
    } else {
        println!("gateway instructions: perf stat unavailable here");
    }
    println!("all runs: produce {produce:?}, fetch {fetch:?}");
}
