//! Shared pieces of the comparison bench: record shapes, producing and
//! reading records with rdkafka, target watermarks, /proc sampling, the
//! copiers (plain loop, kcp, MirrorMaker 2) and the measurement loop.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub const PARTITIONS: i32 = 8;
/// Key length of every generated record (`k` + 9 digits).
pub const KEY_LEN: usize = 10;

/// A record shape of the throughput runs.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub name: &'static str,
    pub value: usize,
    pub records: usize,
}

impl Shape {
    /// Keys and values, what MB/s counts (as kcp's throttle does).
    pub fn bytes(&self) -> f64 {
        (self.records * (self.value + KEY_LEN)) as f64
    }
}

/// A value of `len` bytes starting with the record's unique id
/// (`<tag>:<i>;`), the rest printable bytes that compress like typical
/// payloads (not one repeated byte).
pub fn value_for(tag: &str, i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("{tag}:{i};").into_bytes();
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'0' + (x % 64) as u8);
    }
    v
}

/// The unique id at the start of a value (`<tag>:<i>`), if any.
pub fn uid(value: &[u8]) -> Option<&[u8]> {
    let end = value.iter().position(|&b| b == b';')?;
    Some(&value[..end])
}

/// The numeric part of a uid `<tag>:<i>`.
pub fn uid_index(value: &[u8]) -> Option<usize> {
    let u = uid(value)?;
    let colon = u.iter().position(|&b| b == b':')?;
    std::str::from_utf8(&u[colon + 1..]).ok()?.parse().ok()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Creates `topic` with `partitions` and topic configs.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    for r in rt()
        .block_on(admin.create_topics(&[new], &AdminOptions::new()))
        .unwrap()
    {
        r.unwrap();
    }
}

/// Topic the warm-up of a fresh target writes to.
pub const WARM_UP_TOPIC: &str = "warm-up";

/// Makes a new cluster like one in use: consumer groups' commits and
/// committed transactions, so that the broker has created its
/// `__consumer_offsets` and `__transaction_state` topics (about 1.5 s on a
/// fresh cluster, paid once per cluster by whatever client uses a group or
/// a transaction first) and loaded every partition of both. Those load one
/// by one after the topic is made: a group or transactional id whose
/// partition is still loading is answered `COORDINATOR_LOAD_IN_PROGRESS`
/// and librdkafka asks again about 0.5 s later, a cost a cluster in use
/// does not have. So one group commits and one transactional id is
/// initialised on every partition (ids chosen by Kafka's own hash), and
/// each is asked again until answered. Every tool then starts on the same
/// kind of target.
pub fn warm_up(bootstrap: &str) {
    let started = Instant::now();
    create_topic(bootstrap, WARM_UP_TOPIC, 1, &[]);
    let id = format!("{WARM_UP_TOPIC}-first");
    commit_group(bootstrap, &id, WARM_UP_TOPIC, &[(0, 0)]);
    transaction(bootstrap, &id);
    let groups = ids_covering("group", partition_count(bootstrap, "__consumer_offsets"));
    let txns = ids_covering("txn", partition_count(bootstrap, "__transaction_state"));
    std::thread::scope(|scope| {
        for id in &groups {
            scope.spawn(move || commit_group(bootstrap, id, WARM_UP_TOPIC, &[(0, 0)]));
        }
        for id in &txns {
            scope.spawn(move || init_transactional(bootstrap, id));
        }
    });
    note(&format!(
        "warm-up of {bootstrap}: {} group and {} transaction coordinator partitions loaded in {:.1} s",
        groups.len(),
        txns.len(),
        started.elapsed().as_secs_f64()
    ));
}

/// One committed transaction under a new transactional id.
fn transaction(bootstrap: &str, id: &str) {
    let p = init_transactional(bootstrap, id);
    let t = Duration::from_secs(30);
    p.begin_transaction().unwrap();
    send(&p, BaseRecord::to(WARM_UP_TOPIC).key("k").payload("v"));
    p.commit_transaction(t).unwrap();
}

/// A transactional producer with its id initialised (librdkafka asks again
/// while the coordinator loads).
fn init_transactional(bootstrap: &str, id: &str) -> BaseProducer {
    let p = producer(bootstrap, &[("transactional.id", id)]);
    p.init_transactions(Duration::from_secs(30)).unwrap();
    p
}

/// The partition count of `topic` (one of the broker's internal topics).
fn partition_count(bootstrap: &str, topic: &str) -> i32 {
    let md = producer(bootstrap, &[])
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let count = md.topics().first().map_or(0, |t| t.partitions().len());
    assert!(count > 0, "{topic} has no partitions on {bootstrap}");
    count as i32
}

/// Ids `<prefix>-<n>`, one for each of `partitions` coordinator partitions:
/// Kafka places a group or transactional id on partition
/// `Utils.abs(id.hashCode()) % partitions` (Java's `String.hashCode`;
/// `Utils.abs` maps `i32::MIN` to 0).
fn ids_covering(prefix: &str, partitions: i32) -> Vec<String> {
    let mut found: Vec<Option<String>> = vec![None; partitions as usize];
    for n in 0.. {
        if found.iter().all(Option::is_some) {
            break;
        }
        let id = format!("{WARM_UP_TOPIC}-{prefix}-{n}");
        let hash = id
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        let slot = &mut found[(hash.checked_abs().unwrap_or(0) % partitions) as usize];
        if slot.is_none() {
            *slot = Some(id);
        }
    }
    found.into_iter().flatten().collect()
}

pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("queue.buffering.max.kbytes", "65536")
        .set("compression.type", "lz4");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

/// Sends, waiting for room while librdkafka's queue is full.
pub fn send<K: rdkafka::message::ToBytes + ?Sized, P: rdkafka::message::ToBytes + ?Sized>(
    producer: &BaseProducer,
    mut record: BaseRecord<'_, K, P>,
) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((e, back)) => {
                assert!(
                    matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ),
                    "send failed: {e}"
                );
                record = back;
                producer.poll(Duration::from_millis(10));
            }
        }
    }
}

/// The three small headers every generated record carries.
pub fn headers_for(i: usize) -> OwnedHeaders {
    let seq = i.to_string();
    let trace = format!("{:016x}", (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    OwnedHeaders::new()
        .insert(Header {
            key: "app",
            value: Some("bench"),
        })
        .insert(Header {
            key: "seq",
            value: Some(&seq),
        })
        .insert(Header {
            key: "trace",
            value: Some(&trace),
        })
}

/// Produces `records` records of `shape` (ids `tag:0..records`) to `topic`,
/// round-robin over the partitions; `provenance` adds a kcp-sized header
/// (the produce-only limit). Returns the time taken.
pub fn produce_shape(
    bootstrap: &str,
    topic: &str,
    tag: &str,
    value: usize,
    records: usize,
    provenance: bool,
) -> Duration {
    let p = producer(bootstrap, &[]);
    let started = Instant::now();
    for i in 0..records {
        let key = format!("k{i:09}");
        let v = value_for(tag, i, value);
        let part = (i % PARTITIONS as usize) as i32;
        let mut h = headers_for(i);
        let prov;
        if provenance {
            prov = format!("v1;AbCdEfGhIjKlMnOpQrStUv;{topic};{part};{i}");
            h = h.insert(Header {
                key: "kcp.provenance",
                value: Some(&prov),
            });
        }
        send(
            &p,
            BaseRecord::to(topic)
                .partition(part)
                .key(&key)
                .payload(&v)
                .headers(h),
        );
    }
    p.flush(Duration::from_secs(300)).unwrap();
    started.elapsed()
}

pub fn consumer(bootstrap: &str, group: &str, read_committed: bool) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .set("fetch.max.bytes", "52428800")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap()
}

/// Partition count of `topic`, or None when it does not exist (yet).
pub fn partitions_of(c: &BaseConsumer, topic: &str) -> Option<i32> {
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
    let t = md.topics().first()?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    Some(t.partitions().len() as i32)
}

/// Reads every record of `topic` from the beginning and calls `f(partition,
/// offset, value)` for each; stops at the end of every partition.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    read_committed: bool,
    mut f: impl FnMut(i32, i64, &[u8]),
) -> usize {
    let c = consumer(bootstrap, "compare-reader", read_committed);
    let Some(parts) = partitions_of(&c, topic) else {
        return 0;
    };
    let mut list = TopicPartitionList::new();
    let mut open = 0;
    for p in 0..parts {
        let (lo, hi) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        if hi > lo {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
            open += 1;
        }
    }
    if open == 0 {
        return 0;
    }
    c.assign(&list).unwrap();
    let started = Instant::now();
    let mut n = 0;
    while open > 0 {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                f(m.partition(), m.offset(), m.payload().unwrap_or_default());
                n += 1;
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "reading {topic} stalled"
        );
    }
    n
}

/// Reads `records` records from `topic` as fast as one consumer can (the
/// consume-only limit).
pub fn consume_only(bootstrap: &str, topic: &str, records: usize) -> Duration {
    let started = Instant::now();
    let n = read_all(bootstrap, topic, true, |_, _, _| {});
    assert!(n >= records, "consume-only read {n} of {records}");
    started.elapsed()
}

/// Sum of the high watermarks of `topic` (0 while it does not exist).
pub struct Watermarks {
    c: BaseConsumer,
    topic: String,
    parts: Option<i32>,
}

impl Watermarks {
    pub fn new(bootstrap: &str, topic: &str) -> Self {
        Watermarks {
            c: consumer(bootstrap, "compare-watch", false),
            topic: topic.to_owned(),
            parts: None,
        }
    }

    pub fn total(&mut self) -> u64 {
        if self.parts.is_none() {
            self.parts = partitions_of(&self.c, &self.topic);
        }
        let Some(parts) = self.parts else { return 0 };
        // Every partition's end offset in one ListOffsets request (the
        // timestamp -1 means the latest): read one by one, behind the
        // copy's produce requests, a round took about 0.5 s, so "when the
        // last record landed" was known only to the nearest half second.
        let mut list = TopicPartitionList::new();
        for p in 0..parts {
            if list
                .add_partition_offset(&self.topic, p, Offset::End)
                .is_err()
            {
                return 0;
            }
        }
        match self.c.offsets_for_times(list, Duration::from_secs(5)) {
            Ok(ends) => ends
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => o.max(0) as u64,
                    _ => 0,
                })
                .sum(),
            Err(_) => 0,
        }
    }
}

/// (CPU seconds of the process and its waited-for children, peak RSS in
/// MB) from /proc.
pub fn sample(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let mut ticks = 0.0;
    for i in 11..15 {
        ticks += f.get(i)?.parse::<f64>().ok()?;
    }
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

/// The copiers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// A plain librdkafka copy loop (consumer + idempotent acks=all producer).
    Plain,
    /// `kcp migrate replicate --until-caught-up`.
    Kcp,
    /// MirrorMaker 2, dedicated mode, defaults.
    Mm2,
    /// MirrorMaker 2, dedicated mode, exactly-once source support.
    Mm2Eos,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Plain => "plain-loop",
            Tool::Kcp => "kcp",
            Tool::Mm2 => "mm2",
            Tool::Mm2Eos => "mm2-eos",
        }
    }
}

/// Everything a copier needs to run once.
pub struct CopyJob<'a> {
    pub tool: Tool,
    pub source: &'a str,
    pub target: &'a str,
    /// Topic regex for kcp and MM2; the plain loop copies `topic`.
    pub topics: &'a str,
    pub topic: &'a str,
    pub records: usize,
    pub dir: &'a Path,
    /// Extra librdkafka properties for kcp's source and target entries.
    pub kcp_source_props: &'a [(&'a str, &'a str)],
    pub kcp_target_props: &'a [(&'a str, &'a str)],
    /// Extra lines of the MM2 properties file.
    pub mm2_extra: &'a [String],
    /// kcp: `migrate execute` with this cutover YAML instead of replicate.
    pub kcp_execute_cutover: Option<&'a str>,
}

pub fn java() -> String {
    std::env::var("KCP_JAVA").unwrap_or_else(|_| "java".into())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn props_yaml(props: &[(&str, &str)]) -> String {
    if props.is_empty() {
        return String::new();
    }
    let mut s = String::from("    client_properties:\n");
    for (k, v) in props {
        s.push_str(&format!("      {k}: \"{v}\"\n"));
    }
    s
}

/// Writes the copier's files into `job.dir` (once) and starts it.
pub fn spawn(job: &CopyJob<'_>, kafka_root: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(job.dir.join(format!("{}.log", job.tool.name())))
        .unwrap();
    match job.tool {
        Tool::Plain => Command::new(std::env::current_exe().unwrap())
            .env("KCP_COMPARE_CHILD", "plain")
            .env("KCP_COMPARE_SOURCE", job.source)
            .env("KCP_COMPARE_TARGET", job.target)
            .env("KCP_COMPARE_TOPIC", job.topic)
            .env("KCP_COMPARE_N", job.records.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
        Tool::Kcp => {
            let creds = job.dir.join("credentials.yaml");
            if !creds.exists() {
                std::fs::write(
                    &creds,
                    format!(
                        "clusters:\n  - name: src\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n{}  - name: dst\n    bootstrap_servers: [\"{}\"]\n    auth: {{ method: plaintext }}\n{}",
                        job.source,
                        props_yaml(job.kcp_source_props),
                        job.target,
                        props_yaml(job.kcp_target_props)
                    ),
                )
                .unwrap();
                let mut plan = format!(
                    "version: 1\nname: compare\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\ntopics: {{ include: '{}' }}\n",
                    job.topics
                );
                if let Some(c) = job.kcp_execute_cutover {
                    plan.push_str(c);
                } else if let Ok(extra) = std::env::var("KCP_COMPARE_KCP_PLAN") {
                    // e.g. `replication: { transactions: false }`, to
                    // measure what a setting costs.
                    plan.push_str(&extra);
                    plan.push('\n');
                }
                std::fs::write(job.dir.join("plan.yaml"), plan).unwrap();
            }
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_kcp"));
            if job.kcp_execute_cutover.is_some() {
                cmd.args(["migrate", "execute", "--yes", "--no-progress", "--plan"]);
            } else {
                cmd.args([
                    "migrate",
                    "replicate",
                    "--until-caught-up",
                    "--no-progress",
                    "--plan",
                ]);
            }
            cmd.arg(job.dir.join("plan.yaml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap()
        }
        Tool::Mm2 | Tool::Mm2Eos => {
            let props = job.dir.join("mm2.properties");
            if !props.exists() {
                let mut s = format!(
                    "clusters = src, dst\n\
                     src.bootstrap.servers = {}\n\
                     dst.bootstrap.servers = {}\n\
                     src->dst.enabled = true\n\
                     dst->src.enabled = false\n\
                     src->dst.topics = {}\n\
                     replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n\
                     replication.factor = 1\n\
                     checkpoints.topic.replication.factor = 1\n\
                     heartbeats.topic.replication.factor = 1\n\
                     offset-syncs.topic.replication.factor = 1\n\
                     offset.storage.replication.factor = 1\n\
                     status.storage.replication.factor = 1\n\
                     config.storage.replication.factor = 1\n\
                     sync.topic.acls.enabled = false\n",
                    job.source, job.target, job.topics
                );
                if job.tool == Tool::Mm2Eos {
                    s.push_str(&format!(
                        "dst.exactly.once.source.support = enabled\n\
                         src.consumer.isolation.level = read_committed\n\
                         dedicated.mode.enable.internal.rest = true\n\
                         listeners = http://127.0.0.1:{}\n",
                        free_port()
                    ));
                }
                for l in job.mm2_extra {
                    s.push_str(l);
                    s.push('\n');
                }
                std::fs::write(&props, s).unwrap();
            }
            let libs = kafka_root.join("4.1.1/libs");
            Command::new(java())
                .args(["-Xms128m", "-Xmx512m", "-Djava.awt.headless=true"])
                .arg(format!(
                    "-Dlog4j2.configurationFile={}",
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("testbed/kafka/log4j2.properties")
                        .display()
                ))
                .arg(format!("-Dkafka.logs.dir={}", job.dir.display()))
                .arg("-cp")
                .arg(format!("{}/*", libs.display()))
                .arg("org.apache.kafka.connect.mirror.MirrorMaker")
                .arg(&props)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap()
        }
    }
}

/// What one copy measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Seconds from start to the last record landing on the target.
    pub wall: f64,
    /// Seconds from start to the first record on the target.
    pub first: f64,
    /// Records/s between 10 % and 90 % of the records on the target.
    pub steady: f64,
    /// Seconds from start to 10 % and to 90 % of the records on the
    /// target (where a run's start and end phases are slow).
    pub t10: f64,
    pub t90: f64,
    /// CPU seconds of the copier up to the last record.
    pub cpu: f64,
    pub rss_mb: f64,
    /// Target records (sum of watermarks) at the end.
    pub landed: u64,
    pub timed_out: bool,
    pub exit: Option<String>,
}

/// How the measurement loop ends.
#[derive(Clone, Copy)]
pub enum Until {
    /// The process exits on its own (kcp, plain loop).
    Exit,
    /// At least this many target offsets, unchanged for `settle` (MM2).
    Landed(u64, Duration),
    /// At least this many target offsets (then the caller kills it).
    Reached(u64),
}

/// Watches `child` and the target topic until `until`, at most `max`.
/// Returns what it measured; the child is left running for `Reached`,
/// killed for `Landed`, reaped for `Exit`.
pub fn measure(
    child: &mut Child,
    started: Instant,
    target: &str,
    topic: &str,
    expected: u64,
    until: Until,
    max: Duration,
) -> Measured {
    let mut wm = Watermarks::new(target, topic);
    let timeline = std::env::var("KCP_COMPARE_TIMELINE").is_ok_and(|v| v == "1");
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut rss: f64 = 0.0;
    let (mut first, mut t10, mut t90) = (None, None, None);
    let (mut last_count, mut last_change) = (0u64, 0.0f64);
    let mut exit = None;
    let mut timed_out = false;
    loop {
        let t = started.elapsed().as_secs_f64();
        if let Some((c, r)) = sample(child.id()) {
            samples.push((t, c));
            rss = rss.max(r);
        }
        let count = wm.total();
        let t = started.elapsed().as_secs_f64();
        if timeline {
            eprintln!("[timeline] {t:.2} {count}");
        }
        if count != last_count {
            last_count = count;
            last_change = t;
        }
        if count > 0 && first.is_none() {
            first = Some(t);
        }
        if count * 10 >= expected && t10.is_none() {
            t10 = Some(t);
        }
        if count * 10 >= expected * 9 && t90.is_none() {
            t90 = Some(t);
        }
        match until {
            Until::Exit => {
                if exit.is_none() {
                    if let Some(status) = child.try_wait().unwrap() {
                        exit = Some(status.to_string());
                        // One more read of the target, then stop.
                        continue;
                    }
                } else {
                    break;
                }
            }
            Until::Landed(n, settle) => {
                if count >= n && t - last_change >= settle.as_secs_f64() {
                    break;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    exit = Some(status.to_string());
                    break;
                }
            }
            Until::Reached(n) => {
                if count >= n {
                    break;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    exit = Some(status.to_string());
                    break;
                }
            }
        }
        if started.elapsed() > max {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if matches!(until, Until::Landed(..)) || timed_out {
        let _ = child.kill();
        let _ = child.wait();
    }
    let wall = if timed_out {
        max.as_secs_f64()
    } else {
        last_change
    };
    let cpu = samples
        .iter()
        .rev()
        .find(|(t, _)| *t <= wall + 0.15)
        .or(samples.last())
        .map_or(0.0, |s| s.1);
    let steady = match (t10, t90) {
        (Some(a), Some(b)) if b > a => 0.8 * expected as f64 / (b - a),
        _ => 0.0,
    };
    Measured {
        wall,
        first: first.unwrap_or(f64::NAN),
        steady,
        t10: t10.unwrap_or(f64::NAN),
        t90: t90.unwrap_or(f64::NAN),
        cpu,
        rss_mb: rss,
        landed: last_count,
        timed_out,
        exit,
    }
}

/// The plain copy loop, run in a child process of the bench (so its CPU
/// and RSS are its own): copies `KCP_COMPARE_N` records of
/// `KCP_COMPARE_TOPIC`, headers included plus a provenance-sized header.
pub fn plain_child() {
    let source = std::env::var("KCP_COMPARE_SOURCE").unwrap();
    let target = std::env::var("KCP_COMPARE_TARGET").unwrap();
    let topic = std::env::var("KCP_COMPARE_TOPIC").unwrap();
    let n: usize = std::env::var("KCP_COMPARE_N").unwrap().parse().unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &source)
        .set("group.id", "compare-plain")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.max.bytes", "52428800")
        .set("queued.max.messages.kbytes", "32768")
        // As kcp: no 1 s pause in fetching each time that queue fills.
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &target)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("linger.ms", "5")
        .set("batch.size", "1048576")
        .set("queue.buffering.max.kbytes", "32768")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let parts = partitions_of(&consumer, &topic).unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..parts {
        list.add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut copied = 0;
    while copied < n {
        producer.poll(Duration::ZERO);
        let Some(m) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let m = m.unwrap();
        let prov = format!(
            "v1;AbCdEfGhIjKlMnOpQrStUv;{topic};{};{}",
            m.partition(),
            m.offset()
        );
        let headers = m
            .headers()
            .map(|h| h.detach())
            .unwrap_or_default()
            .insert(Header {
                key: "kcp.provenance",
                value: Some(&prov),
            });
        let mut record = BaseRecord::to(&topic)
            .partition(m.partition())
            .headers(headers);
        if let Some(ts) = m.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        if let Some(v) = m.payload() {
            record = record.payload(v);
        }
        send(&producer, record);
        copied += 1;
    }
    producer.flush(Duration::from_secs(300)).unwrap();
}

/// Per-uid counts of the records on `topic` of the target: (records read,
/// duplicated, missing among `0..expected` of `tag`).
pub fn tally(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    read_committed: bool,
) -> (usize, usize, usize) {
    let mut seen = vec![0u32; expected];
    let n = read_all(bootstrap, topic, read_committed, |_, _, v| {
        if let Some(i) = uid_index(v).filter(|&i| i < expected) {
            seen[i] += 1;
        }
    });
    let dup = seen.iter().map(|&c| c.saturating_sub(1) as usize).sum();
    let missing = seen.iter().filter(|&&c| c == 0).count();
    (n, dup, missing)
}

/// Commits `offsets` (partition -> offset) of `topic` for `group` (no
/// member joins: the group stays empty).
pub fn commit_group(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c = consumer(bootstrap, group, true);
    let mut list = TopicPartitionList::new();
    for (p, o) in offsets {
        list.add_partition_offset(topic, *p, Offset::Offset(*o))
            .unwrap();
    }
    // A coordinator that moves or still loads (a fresh cluster creating
    // `__consumer_offsets`) is asked again, as a client would.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.commit(&list, CommitMode::Sync) {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                note(&format!("commit of {group} asked again: {e}"));
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("commit of {group}: {e}"),
        }
    }
}

/// The committed offsets of `group` on `topic` (partition -> offset; absent
/// partitions have none).
pub fn committed(bootstrap: &str, group: &str, topic: &str, parts: i32) -> HashMap<i32, i64> {
    let c = consumer(bootstrap, group, true);
    let mut list = TopicPartitionList::new();
    for p in 0..parts {
        list.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(list, Duration::from_secs(15))
        .unwrap_or_default();
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// A results folder under the target dir.
pub fn out_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let d = base.join("compare");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes the page cache's dirty pages out before a timed copy, so that
/// no copier pays for the previous one's writes (the source's load and
/// the produce-only run leave gigabytes dirty; the kernel writes them out
/// about 30 s later, in the middle of whichever copy runs then).
pub fn settle_disk() {
    let started = Instant::now();
    let ok = Command::new("sync").status().is_ok_and(|s| s.success());
    let took = started.elapsed();
    if !ok || took > Duration::from_secs(1) {
        note(&format!(
            "sync before the copy: {} in {:.1} s",
            if ok { "done" } else { "failed" },
            took.as_secs_f64()
        ));
    }
}

/// Appends a line to the bench's log (stderr and out_dir/log.txt).
pub fn note(line: &str) {
    eprintln!("[compare] {line}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out_dir().join("log.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}
