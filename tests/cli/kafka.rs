//! Kafka helpers for tests: create topics, produce records, read partitions
//! back, commit group offsets. Plain rdkafka clients, no kcp code.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use std::sync::Mutex;

use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::ToBytes;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message, Offset, Timestamp, TopicPartitionList};

pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap()
}

pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Name, partition count and configs of a topic to create.
pub type TopicSpec<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

pub fn create_topics(bootstrap: &str, topics: &[TopicSpec<'_>]) {
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions, configs)| {
            configs.iter().fold(
                NewTopic::new(name, *partitions, TopicReplication::Fixed(1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    for result in block(admin(bootstrap).create_topics(&new, &AdminOptions::new())).unwrap() {
        result.unwrap();
    }
}

/// Sets one config of a topic (IncrementalAlterConfigs).
pub fn alter_topic_config(bootstrap: &str, topic: &str, key: &str, value: &str) {
    let alter = rdkafka::admin::AlterConfig::new(rdkafka::admin::ResourceSpecifier::Topic(topic))
        .set(key, value);
    for result in block(admin(bootstrap).alter_configs(&[alter], &AdminOptions::new())).unwrap() {
        result.unwrap();
    }
}

/// A producer context that remembers failed deliveries, so that a test
/// never loads less than it thinks (a broker refusing a batch is silent
/// otherwise). [`flush`] asserts there were none.
#[derive(Default)]
pub struct Checked {
    failures: Mutex<Vec<String>>,
}

impl ClientContext for Checked {}

impl ProducerContext for Checked {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            self.failures
                .lock()
                .unwrap()
                .push(format!("{}-{}: {e}", m.topic(), m.partition()));
        }
    }
}

pub type TestProducer = BaseProducer<Checked>;

/// Creates one topic with `replication` replicas per partition.
pub fn create_replicated_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) {
    let topic = configs.iter().fold(
        NewTopic::new(name, partitions, TopicReplication::Fixed(replication)),
        |t, (k, v)| t.set(k, v),
    );
    for result in block(admin(bootstrap).create_topics(&[topic], &AdminOptions::new())).unwrap() {
        result.unwrap();
    }
}

pub fn producer(bootstrap: &str) -> TestProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create_with_context(Checked::default())
        .unwrap()
}

/// Flushes and fails the test if any record was not delivered.
pub fn flush(producer: &TestProducer) {
    producer.flush(Duration::from_secs(30)).unwrap();
    let failures = producer.context().failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} records were not delivered, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}

/// Produces `counts[p]` keyed records with a header to each partition `p`.
pub fn produce(bootstrap: &str, topic: &str, counts: &[usize]) {
    let producer = producer(bootstrap);
    for (partition, count) in counts.iter().enumerate() {
        for i in 0..*count {
            let key = format!("key-{i}");
            let value = format!("value {i} of {topic}/{partition}");
            let headers = OwnedHeaders::new().insert(Header {
                key: "trace-id",
                value: Some(&format!("t{i}")),
            });
            let record = BaseRecord::to(topic)
                .partition(partition as i32)
                .key(&key)
                .payload(&value)
                .headers(headers);
            send(&producer, record);
        }
    }
    flush(&producer);
}

/// Sends, waiting on a full queue.
pub fn send<K: ToBytes + ?Sized, P: ToBytes + ?Sized, C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P>,
) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                producer.poll(Duration::from_millis(20));
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
    }
}

pub fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .unwrap();
    }
    // A fresh broker's group coordinator may still be loading, or moving.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => return,
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::CoordinatorLoadInProgress
                | rdkafka::types::RDKafkaErrorCode::NotCoordinator
                | rdkafka::types::RDKafkaErrorCode::CoordinatorNotAvailable,
            )) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("committing {group}: {e}"),
        }
    }
}

/// Deletes the records of `topic-partition` below `before`, as retention
/// would (DeleteRecords moves the log start).
pub fn delete_records(bootstrap: &str, topic: &str, partition: i32, before: i64) {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(before))
        .unwrap();
    let result = block(admin(bootstrap).delete_records(&list, &AdminOptions::new())).unwrap();
    for e in result.elements() {
        e.error().unwrap();
    }
}

/// The committed offsets of `group` on partitions `0..partitions` of
/// `topic` (`None`: nothing committed).
pub fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let found = consumer
        .committed_offsets(list, Duration::from_secs(30))
        .unwrap();
    (0..partitions)
        .map(|p| {
            found
                .find_partition(topic, p)
                .and_then(|e| e.offset().to_raw())
                .filter(|o| *o >= 0)
        })
        .collect()
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

/// Reads one partition from `from` to its current end (committed records
/// only, librdkafka's default).
pub fn read_partition(bootstrap: &str, topic: &str, partition: i32, from: i64) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "kcp-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap();
    let mut out = Vec::new();
    if from >= high {
        return out;
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(from))
        .unwrap();
    consumer.assign(&list).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The position, not the last record: a partition written by
    // transactions ends with a control record (and may hold aborted ones),
    // which a `read_committed` reader (librdkafka's default) never returns.
    let position = || {
        consumer.position().ok().and_then(|p| {
            p.find_partition(topic, partition)
                .and_then(|e| e.offset().to_raw())
        })
    };
    while out.last().is_none_or(|r: &Record| r.offset + 1 < high)
        && position().is_none_or(|at| at < high)
    {
        assert!(
            Instant::now() < deadline,
            "reading {topic}-{partition}: stuck at {:?} of {high}",
            out.last().map(|r| r.offset)
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            out.push(Record {
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
                timestamp: match m.timestamp() {
                    Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
                    Timestamp::NotAvailable => None,
                },
            });
        }
    }
    out
}

/// Sets a cluster-wide dynamic broker config (AlterConfigs on the default
/// broker resource).
pub fn alter_broker_config(bootstrap: &str, key: &str, value: &str) {
    let alter = rdkafka::admin::AlterConfig::new(rdkafka::admin::ResourceSpecifier::Broker(1))
        .set(key, value);
    for result in block(admin(bootstrap).alter_configs(&[alter], &AdminOptions::new())).unwrap() {
        result.unwrap();
    }
}
