//! The verify phase: for every copied partition, the records the source
//! holds in the copied range and the records on the target that carry that
//! range's provenance must agree in count and in a checksum over keys,
//! values, headers and timestamps, in order.
//!
//! Source records that came from the target (replication cycles, skipped by
//! the replicator) are left out on the source side; records produced
//! straight to the target (producers already moved) have no provenance from
//! the source and are left out on the target side.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{ClusterCredentials, ConnectOptions, KcpContext, connect};
use crate::replicator::provenance::{HEADER, Provenance};
use crate::replicator::{self, LoadedPlan, ReplicatorError};

/// The result for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionCheck {
    pub topic: String,
    pub partition: i32,
    pub source_records: u64,
    pub target_records: u64,
    pub source_checksum: String,
    pub target_checksum: String,
    pub ok: bool,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub records: u64,
    pub partitions: Vec<PartitionCheck>,
}

/// FNV-1a, 64 bits: a stable checksum with no dependency.
#[derive(Debug, Clone, Copy)]
struct Digest(u64);

impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for byte in b {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn field(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.bytes(&(b.len() as i64).to_be_bytes());
                self.bytes(b);
            }
            None => self.bytes(&(-1i64).to_be_bytes()),
        }
    }
    /// One record: key, value, headers, timestamp. `copied`: a record on
    /// the target, whose last provenance header is the copy's own and is
    /// left out (earlier hops' headers count, as on the source).
    fn record(&mut self, m: &BorrowedMessage<'_>, copied: bool) {
        self.field(m.key());
        self.field(m.payload());
        let mut headers: Vec<(&str, Option<&[u8]>)> = m
            .headers()
            .map(|h| h.iter().map(|x| (x.key, x.value)).collect())
            .unwrap_or_default();
        if copied && let Some(own) = headers.iter().rposition(|(k, _)| *k == HEADER) {
            headers.remove(own);
        }
        self.bytes(&(headers.len() as i64).to_be_bytes());
        for (k, v) in headers {
            self.field(Some(k.as_bytes()));
            self.field(v);
        }
        self.bytes(&m.timestamp().to_millis().unwrap_or(-1).to_be_bytes());
    }
    fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

fn provenance(m: &BorrowedMessage<'_>) -> Option<Provenance> {
    m.headers()
        .and_then(|h| Provenance::find(h.iter().map(|x| (x.key, x.value))))
}

/// Calls `each` for every record of `[from, to)` of a partition.
fn scan(
    consumer: &BaseConsumer<KcpContext>,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    timeout: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), ReplicatorError> {
    if from >= to {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(ReplicatorError::kafka("assigning a partition to verify"))?;
    consumer
        .assign(&tpl)
        .map_err(ReplicatorError::kafka("assigning a partition to verify"))?;
    let mut deadline = Instant::now() + timeout;
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                deadline = Instant::now() + timeout;
                if m.offset() >= to {
                    return Ok(());
                }
                each(&m);
                if m.offset() + 1 >= to {
                    return Ok(());
                }
            }
            Some(Err(e)) => return Err(ReplicatorError::kafka("reading records to verify")(e)),
            None => {
                let position = consumer.position().ok().and_then(|list| {
                    list.find_partition(topic, partition)
                        .and_then(|p| p.offset().to_raw())
                });
                if position.is_some_and(|p| p >= to) {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(ReplicatorError::Setup(format!(
                        "reading {topic}[{partition}] up to offset {to} took longer than {}s",
                        timeout.as_secs()
                    )));
                }
            }
        }
    }
}

/// Compares every copied partition of the plan on both clusters.
pub fn verify(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    timeout: Duration,
) -> Result<Verification, ReplicatorError> {
    let src = connect(source, ConnectOptions { timeout })?;
    let dst = connect(target, ConnectOptions { timeout })?;
    let maps = replicator::offset_maps(plan, &src, &dst)?;
    let (src_id, dst_id) = (replicator::cluster_id(&src)?, replicator::cluster_id(&dst)?);
    let source_isolation = if plan.plan.replication.read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let settings = |isolation| {
        [
            ("group.id", "kcp-verify"),
            ("enable.auto.commit", "false"),
            ("isolation.level", isolation),
            ("enable.partition.eof", "false"),
            // Partitions are read one after another: do not let each fetch
            // wait for more data than the range holds.
            ("fetch.wait.max.ms", "50"),
        ]
    };
    let src_reader = replicator::consumer(source, &settings(source_isolation))?;
    // The target's committed records only: copies in an aborted
    // transaction (a fenced or crashed copier's) never happened.
    let dst_reader = replicator::consumer(target, &settings("read_committed"))?;
    // Know every topic's leaders up front: assigning a topic the client has
    // not seen costs a metadata round of its own.
    for reader in [&src_reader, &dst_reader] {
        reader
            .fetch_metadata(None, timeout)
            .map_err(ReplicatorError::kafka("reading metadata to verify"))?;
    }
    let ordered: BTreeMap<_, _> = maps.iter().collect();
    let target_parts: Vec<(String, i32)> = ordered
        .keys()
        .map(|(t, p)| (plan.target_topic(t), *p))
        .collect();
    let target_ends: BTreeMap<(String, i32), i64> =
        admin::list_offsets(&dst, &target_parts, OffsetSpec::LastStable)?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
            .collect();
    let mut partitions = Vec::new();
    for ((topic, partition), map) in ordered {
        let from = map.src_start.or_else(|| map.first_source()).unwrap_or(0);
        let to = map.src_end;
        let (mut s_count, mut s_digest) = (0u64, Digest::new());
        scan(&src_reader, topic, *partition, from, to, timeout, |m| {
            // Skipped by the replicator as a cycle: came from the target.
            let cycle = m
                .headers()
                .is_some_and(|h| Provenance::names(h.iter().map(|x| (x.key, x.value)), &dst_id));
            if !cycle {
                s_count += 1;
                s_digest.record(m, false);
            }
        })?;
        let target_topic = plan.target_topic(topic);
        let end = target_ends
            .get(&(target_topic.clone(), *partition))
            .copied()
            .unwrap_or(0);
        let (mut t_count, mut t_digest) = (0u64, Digest::new());
        scan(
            &dst_reader,
            &target_topic,
            *partition,
            0,
            end,
            timeout,
            |m| {
                let copied = provenance(m).is_some_and(|p| {
                    p.cluster_id == src_id
                        && p.topic == *topic
                        && p.partition == *partition
                        && (from..to).contains(&p.offset)
                });
                if copied {
                    t_count += 1;
                    t_digest.record(m, true);
                }
            },
        )?;
        let (sc, tc) = (s_digest.hex(), t_digest.hex());
        partitions.push(PartitionCheck {
            topic: topic.clone(),
            partition: *partition,
            source_records: s_count,
            target_records: t_count,
            ok: s_count == t_count && sc == tc,
            source_checksum: sc,
            target_checksum: tc,
        });
    }
    Ok(Verification {
        ok: partitions.iter().all(|p| p.ok),
        records: partitions.iter().map(|p| p.source_records).sum(),
        partitions,
    })
}
