//! The data path on librdkafka's mock cluster (in process, no broker): the
//! copy stays exact through retriable produce errors, a broker going down
//! and partition leaders moving on both sides while it runs. The mock has
//! no admin APIs (DescribeCluster, CreateTopics, DescribeConfigs), so the
//! topics are created through the mock's own API and the cluster ids come
//! from Metadata.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::claims::CLAIMS_TOPIC;
use super::plan::LoadedPlan;
use super::provenance::HEADER;
use super::{Observer, RunOptions, Stats, Translation, offset_maps, run};
use crate::connect::{ClusterCredentials, ConnectOptions, connect};

/// Remembers how much has been copied, so faults land mid-copy.
#[derive(Default)]
struct Progress(std::sync::atomic::AtomicU64);
impl Observer for Progress {
    fn stats(&self, stats: &Stats) {
        self.0.store(stats.copied, Ordering::SeqCst);
    }
    fn notice(&self, _: &str) {}
}

fn creds(name: &str, bootstrap: String) -> ClusterCredentials {
    ClusterCredentials::plaintext(name, bootstrap)
}

/// A partition with more gaps than one map segment holds: of every
/// `STRIDE` source records, all but the first carry the target's
/// provenance (as if copied there by a replicator running the other way)
/// and are skipped, a gap too large for a loose run, so every copied
/// record starts a run. The map is stored in segments, loads
/// back whole, resumes, and translates exactly.
#[test]
fn a_map_with_many_gaps_is_stored_in_segments_and_resumes() {
    const COPIED: i64 = 4_500;
    const STRIDE: i64 = super::offset_map::MAX_LOOSE_GAP + 2;
    let source = MockCluster::new(1).unwrap();
    let target = MockCluster::new(1).unwrap();
    source.create_topic("orders", 1, 1).unwrap();
    target.create_topic("orders", 1, 1).unwrap();
    target.create_topic("_kcp-offset-map", 1, 1).unwrap();
    // The mock cluster answers no CreateTopics: kcp's own topics exist.
    target.create_topic(CLAIMS_TOPIC, 1, 1).unwrap();
    let src = creds("a", source.bootstrap_servers());
    let dst = creds("b", target.bootstrap_servers());
    let connect_both = || {
        let options = ConnectOptions {
            timeout: Duration::from_secs(5),
        };
        (
            connect(&src, options).unwrap(),
            connect(&dst, options).unwrap(),
        )
    };
    let dst_id = super::cluster_id(&connect_both().1).unwrap();
    // Compressed: the mock cluster keeps about 5 MB per partition and
    // prunes the oldest records beyond that.
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", source.bootstrap_servers())
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let produce = |from: i64, to: i64| {
        for i in from..to {
            let key = format!("k{i}");
            let echo = format!("v1;{dst_id};orders;0;{i}");
            let mut record = BaseRecord::to("orders")
                .partition(0)
                .key(&key)
                .payload(&key);
            if i % STRIDE != 0 {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: HEADER,
                    value: Some(&echo),
                }));
            }
            producer.send(record).map_err(|(e, _)| e).unwrap();
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    };
    produce(0, STRIDE * COPIED);
    let plan = LoadedPlan::parse(
        std::path::Path::new("plan.yaml"),
        "version: 1\nname: mock\ncredentials_file: c.yaml\nsource: a\ntarget: b\n",
    )
    .unwrap();
    let options = RunOptions {
        timeout: Duration::from_secs(3),
        until_caught_up: true,
        max_bytes_per_sec: None,
        stats_interval: Duration::from_secs(1),
        metrics: None,
    };
    let stop = AtomicBool::new(false);
    let copy = || run(&plan, &src, &dst, &options, &Progress::default(), &stop).unwrap();
    assert_eq!(copy().copied, COPIED as u64);

    let stored = read_all(&target.bootstrap_servers(), "_kcp-offset-map", 0);
    let segment = stored
        .iter()
        .find(|(k, _, _)| k.ends_with(b";orders;0"))
        .expect("a segment record");
    assert!(segment.1.len() < 400_000);
    let (s, d) = connect_both();
    let maps = offset_maps(&plan, &s, &d).unwrap();
    let map = &maps[&("orders".to_owned(), 0)];
    assert_eq!(map.runs.len(), COPIED as usize);
    assert_eq!(map.segments, 1);
    // Committed at a skipped record: resume at the next copied one.
    for committed in [0, 1, 2, 8_191, 8_193, STRIDE * COPIED - 1] {
        assert_eq!(
            map.translate(committed),
            Translation::Exact((committed + STRIDE - 1) / STRIDE),
            "source offset {committed}"
        );
    }

    // Resumed from the segmented map: nothing copied twice, new records
    // copied once.
    assert_eq!(copy().copied, 0);
    produce(STRIDE * COPIED, STRIDE * (COPIED + 2));
    assert_eq!(copy().copied, 2);
    let to = read_all(&target.bootstrap_servers(), "orders", 0);
    assert_eq!(to.len(), COPIED as usize + 2);
    for (i, (key, _, prov)) in to.iter().enumerate() {
        let i = i as i64;
        assert_eq!(key, format!("k{}", STRIDE * i).as_bytes());
        assert!(
            prov.as_deref()
                .unwrap_or_default()
                .ends_with(&format!(";orders;0;{}", STRIDE * i))
        );
    }
}

fn read_all(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> Vec<(Vec<u8>, Vec<u8>, Option<String>)> {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "check")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let prov = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == HEADER)
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                });
                out.push((
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                    prov,
                ));
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            _ => {}
        }
    }
    out
}

#[test]
fn copies_exactly_through_broker_errors_and_leader_changes() {
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: usize = 300;
    let source = MockCluster::new(3).unwrap();
    let target = MockCluster::new(3).unwrap();
    for (cluster, topic, partitions) in [
        (&source, "orders", PARTITIONS),
        (&target, "orders", PARTITIONS),
        (&target, "_kcp-offset-map", 1),
        (&target, CLAIMS_TOPIC, 1),
    ] {
        cluster.create_topic(topic, partitions, 3).unwrap();
    }
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", source.bootstrap_servers())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for i in 0..PER_PARTITION * PARTITIONS as usize {
        let key = format!("k{i}");
        let record = rdkafka::producer::FutureRecord::to("orders")
            .partition((i % PARTITIONS as usize) as i32)
            .key(&key)
            .payload(&key);
        producer
            .send_result(record)
            .map_err(|_| "queue full")
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let plan = LoadedPlan::parse(
        std::path::Path::new("plan.yaml"),
        "version: 1\nname: mock\ncredentials_file: c.yaml\nsource: a\ntarget: b\nreplication: { checkpoint_interval_ms: 200 }\n",
    )
    .unwrap();
    let src = creds("a", source.bootstrap_servers());
    let mut dst = creds("b", target.bootstrap_servers());
    // One produce request in flight per connection. The mock does not
    // check the sequence numbers of a non-transactional idempotent
    // producer, so with several in flight it accepts a batch sent
    // after a failed one, and librdkafka (rightly, for a real broker,
    // which would refuse it as out of order) concludes the failed
    // batch was written: it never was. `run` stops and resumes on
    // such acknowledgements (`ReplicatorError::Unconfirmed`), which on
    // the mock would expose the mock's gap, not the replicator's.
    dst.client_properties
        .insert("max.in.flight.requests.per.connection".into(), "1".into());
    let stop = AtomicBool::new(false);
    let total = (PER_PARTITION * PARTITIONS as usize) as u64;
    let options = RunOptions {
        timeout: Duration::from_secs(3),
        until_caught_up: true,
        // About 5 s of copying, for the faults to land in.
        max_bytes_per_sec: Some(2_000),
        stats_interval: Duration::from_millis(100),
        metrics: None,
    };
    let progress = Progress::default();
    let (summary, copied_at_faults) = std::thread::scope(|s| {
        let copy = s.spawn(|| run(&plan, &src, &dst, &options, &progress, &stop));
        while progress.0.load(Ordering::SeqCst) == 0 && !copy.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let at = progress.0.load(Ordering::SeqCst);
        // Retriable produce errors, leaders moving on both sides, a
        // source broker down and back.
        target.request_errors(
            rdkafka::types::RDKafkaApiKey::Produce,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            ],
        );
        // A source broker down and back first, then the leaders move:
        // a broker going away while the consumer validates a moved
        // leader's epoch can deadlock librdkafka 2.12 itself
        // (confluentinc/librdkafka#5476), which is not what this tests.
        source.broker_down(2).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        source.broker_up(2).unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        for p in 0..PARTITIONS {
            source
                .partition_leader("orders", p, Some((p + 1) % 3 + 1))
                .unwrap();
            target
                .partition_leader("orders", p, Some((p + 2) % 3 + 1))
                .unwrap();
        }
        (copy.join().unwrap(), at)
    });
    assert!(
        copied_at_faults > 0 && copied_at_faults < total / 2,
        "the faults must land mid-copy: {copied_at_faults} of {total}"
    );
    let summary = summary.unwrap();
    assert!(summary.caught_up, "{summary:?}");
    assert_eq!(summary.copied, total);
    for p in 0..PARTITIONS {
        let from = read_all(&source.bootstrap_servers(), "orders", p);
        let to = read_all(&target.bootstrap_servers(), "orders", p);
        assert_eq!(from.len(), PER_PARTITION, "source partition {p}");
        assert_eq!(
            to.len(),
            PER_PARTITION,
            "partition {p}: a loss or a duplicate"
        );
        for (i, (f, t)) in from.iter().zip(&to).enumerate() {
            assert_eq!((&f.0, &f.1), (&t.0, &t.1), "partition {p} offset {i}");
            let prov = t.2.as_deref().unwrap_or_default();
            assert!(prov.ends_with(&format!(";orders;{p};{i}")), "{prov}");
        }
    }
}

/// A selected topic whose metadata carries an error when the run starts (a
/// leader not available yet on a loaded broker) is waited for, not left
/// out: `--until-caught-up` must not call a copy caught up while whole
/// topics were never copied.
#[test]
fn a_topic_unavailable_at_start_is_waited_for_not_skipped() {
    let source = MockCluster::new(1).unwrap();
    let target = MockCluster::new(1).unwrap();
    for topic in ["orders", "payments"] {
        source.create_topic(topic, 1, 1).unwrap();
        target.create_topic(topic, 1, 1).unwrap();
    }
    target.create_topic("_kcp-offset-map", 1, 1).unwrap();
    // The mock cluster answers no CreateTopics: kcp's own topics exist.
    target.create_topic(CLAIMS_TOPIC, 1, 1).unwrap();
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", source.bootstrap_servers())
        .create()
        .unwrap();
    for topic in ["orders", "payments"] {
        for i in 0..20 {
            let key = format!("{topic}-{i}");
            producer
                .send(BaseRecord::<str, str>::to(topic).key(&key).payload(&key))
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    source
        .topic_error(
            "payments",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        )
        .unwrap();
    let plan = LoadedPlan::parse(
        std::path::Path::new("plan.yaml"),
        "version: 1\nname: mock\ncredentials_file: c.yaml\nsource: a\ntarget: b\n",
    )
    .unwrap();
    let (src, dst) = (
        creds("a", source.bootstrap_servers()),
        creds("b", target.bootstrap_servers()),
    );
    let options = RunOptions {
        timeout: Duration::from_secs(5),
        until_caught_up: true,
        max_bytes_per_sec: None,
        stats_interval: Duration::from_millis(100),
        metrics: None,
    };
    let stop = AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        let copy = s.spawn(|| run(&plan, &src, &dst, &options, &Progress::default(), &stop));
        std::thread::sleep(Duration::from_millis(1500));
        source
            .topic_error("payments", RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)
            .unwrap();
        copy.join().unwrap()
    })
    .unwrap();
    assert!(summary.caught_up, "{summary:?}");
    assert_eq!(summary.copied, 40, "{summary:?}");
    assert_eq!(summary.partitions, 2, "{summary:?}");
}

/// Transactions are the default: a target that refuses them (here, the
/// principal may not use the transactional id) stops the run before
/// anything is copied, with the error that says what to grant or set.
#[test]
fn a_target_refusing_transactions_stops_before_copying() {
    let source = MockCluster::new(1).unwrap();
    let target = MockCluster::new(1).unwrap();
    source.create_topic("orders", 1, 1).unwrap();
    target.create_topic("orders", 1, 1).unwrap();
    target.create_topic("_kcp-offset-map", 1, 1).unwrap();
    // The mock cluster answers no CreateTopics: kcp's own topics exist.
    target.create_topic(CLAIMS_TOPIC, 1, 1).unwrap();
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", source.bootstrap_servers())
        .create()
        .unwrap();
    producer
        .send(BaseRecord::<str, str>::to("orders").key("k").payload("v"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    target.request_errors(
        rdkafka::types::RDKafkaApiKey::InitProducerId,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED; 8],
    );
    let plan = LoadedPlan::parse(
        std::path::Path::new("plan.yaml"),
        "version: 1\nname: mock\ncredentials_file: c.yaml\nsource: a\ntarget: b\n",
    )
    .unwrap();
    assert!(plan.plan.replication.uses_transactions());
    let (src, dst) = (
        creds("a", source.bootstrap_servers()),
        creds("b", target.bootstrap_servers()),
    );
    let options = RunOptions {
        timeout: Duration::from_secs(5),
        until_caught_up: true,
        max_bytes_per_sec: None,
        stats_interval: Duration::from_millis(100),
        metrics: None,
    };
    let error = run(
        &plan,
        &src,
        &dst,
        &options,
        &Progress::default(),
        &AtomicBool::new(false),
    )
    .expect_err("the target refuses transactions");
    assert!(
        matches!(
            &error,
            super::ReplicatorError::TransactionsUnavailable { transactional_id, .. }
                if transactional_id == "kcp-replicator.mock"
        ),
        "{error:?}"
    );
    let hint = crate::exit::Diagnostic::hint(&error).unwrap();
    assert!(hint.contains("transactions: false"), "{hint}");
}
