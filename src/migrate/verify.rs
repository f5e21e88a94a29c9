//! The verify phase: for every copied partition, the records the source
//! holds in the copied range and the records on the target that carry that
//! range's provenance must agree in count and in a checksum over keys,
//! values, headers and timestamps, in order.
//!
//! Source records that came from the target (replication cycles, skipped by
//! the replicator) are left out on the source side; records produced
//! straight to the target (producers already moved) have no provenance from
//! the source and are left out on the target side.
//!
//! Retention on either side shortens the range compared, never fails it:
//! records below the source's log start are gone there, and records whose
//! copies lie below the target's log start (found through the offset map)
//! are gone on the target; the check starts after both. A compacted topic
//! (`cleanup.policy` with `compact` on either side) is compared record by
//! record instead ([`super::keyed`]): a record one side lacks passes only
//! when compaction explains it (a later record of its key, or a removed
//! tombstone with its history); checksums then cover the records both
//! sides hold. That comparison keeps one small entry per record in memory.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::keyed::{self, Keyed};
use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{ClusterCredentials, ConnectOptions, Connection, KcpContext, connect};
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
    /// The first source offset compared: above where the copy started when
    /// retention deleted older records on the source or the target.
    pub compared_from: i64,
    /// Compacted topic: records one side holds and the other compacted
    /// away (explained, not counted as a difference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted: Option<u64>,
    /// Compacted topic: source offsets of the first differences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differing_offsets: Vec<i64>,
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

/// One record as the keyed comparison of a compacted topic sees it.
fn keyed(m: &BorrowedMessage<'_>, offset: i64, copied: bool) -> Keyed {
    let mut digest = Digest::new();
    digest.record(m, copied);
    Keyed {
        offset,
        key: m.key().map(key_hash),
        tombstone: m.payload().is_none(),
        digest: digest.0,
    }
}

fn key_hash(key: &[u8]) -> u64 {
    let mut d = Digest::new();
    d.bytes(key);
    d.0
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
    let source_parts: Vec<(String, i32)> = ordered.keys().map(|(t, p)| (t.clone(), *p)).collect();
    let target_parts: Vec<(String, i32)> = ordered
        .keys()
        .map(|(t, p)| (plan.target_topic(t), *p))
        .collect();
    let offsets = |conn: &Connection, parts: &[(String, i32)], spec| {
        Ok::<_, ReplicatorError>(
            admin::list_offsets(conn, parts, spec)?
                .into_iter()
                .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
                .collect::<BTreeMap<(String, i32), i64>>(),
        )
    };
    let target_ends = offsets(&dst, &target_parts, OffsetSpec::LastStable)?;
    let target_starts = offsets(&dst, &target_parts, OffsetSpec::Earliest)?;
    let source_starts = offsets(&src, &source_parts, OffsetSpec::Earliest)?;
    let compacted = compacted_topics(plan, &src, &dst, &source_parts)?;
    let readers = Readers {
        src: &src_reader,
        dst: &dst_reader,
        src_id: &src_id,
        dst_id: &dst_id,
        timeout,
    };
    let placer = replicator::Placer::new(plan, &src, &dst)?;
    let mut partitions = Vec::new();
    for ((topic, partition), map) in ordered {
        let target_topic = plan.target_topic(topic);
        let key = (target_topic.clone(), *partition);
        let t_start = target_starts.get(&key).copied().unwrap_or(0);
        let from = map.src_start.or_else(|| map.first_source()).unwrap_or(0);
        // Below the source's log start: deleted there. Copies below the
        // target's log start: deleted on the target.
        let s_start = source_starts
            .get(&(topic.clone(), *partition))
            .copied()
            .unwrap_or(0);
        let gone_on_target = if t_start > 0 {
            placer.reverse(&mut map.clone(), topic, *partition, t_start)?
        } else {
            from
        };
        let range = Range {
            topic,
            partition: *partition,
            target_topic: &target_topic,
            from: from.max(s_start).max(gone_on_target),
            to: map.src_end,
            target_from: t_start,
            target_end: target_ends.get(&key).copied().unwrap_or(0),
        };
        partitions.push(if compacted.contains(topic) {
            readers.keyed(&range)?
        } else {
            readers.streamed(&range)?
        });
    }
    Ok(Verification {
        ok: partitions.iter().all(|p| p.ok),
        records: partitions.iter().map(|p| p.source_records).sum(),
        partitions,
    })
}

/// One partition's range to compare.
struct Range<'a> {
    topic: &'a str,
    partition: i32,
    target_topic: &'a str,
    /// Source offsets `[from, to)`.
    from: i64,
    to: i64,
    /// Target offsets `[target_from, target_end)` hold the copies.
    target_from: i64,
    target_end: i64,
}

struct Readers<'a> {
    src: &'a BaseConsumer<KcpContext>,
    dst: &'a BaseConsumer<KcpContext>,
    src_id: &'a str,
    dst_id: &'a str,
    timeout: Duration,
}

impl Readers<'_> {
    /// Calls `each` for every source record of the range that the
    /// replicator copies (not one that came from the target).
    fn source(
        &self,
        r: &Range<'_>,
        mut each: impl FnMut(&BorrowedMessage<'_>),
    ) -> Result<(), ReplicatorError> {
        scan(
            self.src,
            r.topic,
            r.partition,
            r.from,
            r.to,
            self.timeout,
            |m| {
                let cycle = m.headers().is_some_and(|h| {
                    Provenance::names(h.iter().map(|x| (x.key, x.value)), self.dst_id)
                });
                if !cycle {
                    each(m);
                }
            },
        )
    }

    /// Calls `each` for every target record of the partition: with the
    /// source offset it is a copy of (in the range), or `None` (a record
    /// that is no copy of the range).
    fn target(
        &self,
        r: &Range<'_>,
        mut each: impl FnMut(&BorrowedMessage<'_>, Option<i64>),
    ) -> Result<(), ReplicatorError> {
        let (from, to) = (r.from, r.to);
        scan(
            self.dst,
            r.target_topic,
            r.partition,
            r.target_from,
            r.target_end,
            self.timeout,
            |m| {
                let copy_of = provenance(m)
                    .filter(|p| {
                        p.cluster_id == self.src_id
                            && p.topic == r.topic
                            && p.partition == r.partition
                    })
                    .map(|p| p.offset);
                match copy_of {
                    Some(o) if (from..to).contains(&o) => each(m, Some(o)),
                    // A copy of a record outside the range compared.
                    Some(_) => {}
                    None => each(m, None),
                }
            },
        )
    }

    /// Count and checksum in order, both sides streamed.
    fn streamed(&self, r: &Range<'_>) -> Result<PartitionCheck, ReplicatorError> {
        let (mut s_count, mut s_digest) = (0u64, Digest::new());
        self.source(r, |m| {
            s_count += 1;
            s_digest.record(m, false);
        })?;
        let (mut t_count, mut t_digest) = (0u64, Digest::new());
        self.target(r, |m, copy_of| {
            if copy_of.is_some() {
                t_count += 1;
                t_digest.record(m, true);
            }
        })?;
        let (sc, tc) = (s_digest.hex(), t_digest.hex());
        Ok(PartitionCheck {
            topic: r.topic.to_owned(),
            partition: r.partition,
            source_records: s_count,
            target_records: t_count,
            ok: s_count == t_count && sc == tc,
            source_checksum: sc,
            target_checksum: tc,
            compared_from: r.from,
            compacted: None,
            differing_offsets: Vec::new(),
        })
    }

    /// Record by record, for a compacted topic.
    fn keyed(&self, r: &Range<'_>) -> Result<PartitionCheck, ReplicatorError> {
        let mut source = Vec::new();
        self.source(r, |m| source.push(keyed(m, m.offset(), false)))?;
        let (mut target, mut later) = (Vec::new(), HashSet::new());
        self.target(r, |m, copy_of| match copy_of {
            Some(o) => target.push(keyed(m, o, true)),
            None => {
                later.extend(m.key().map(key_hash));
            }
        })?;
        let c = keyed::compare(&source, &target, &later);
        // Checksums over the records both sides hold.
        let held: BTreeSet<i64> = target.iter().map(|k| k.offset).collect();
        let sum = |records: &[Keyed], other: &BTreeSet<i64>| {
            let mut d = Digest::new();
            for k in records.iter().filter(|k| other.contains(&k.offset)) {
                d.bytes(&k.digest.to_be_bytes());
            }
            d.hex()
        };
        let in_source: BTreeSet<i64> = source.iter().map(|k| k.offset).collect();
        Ok(PartitionCheck {
            topic: r.topic.to_owned(),
            partition: r.partition,
            source_records: source.len() as u64,
            target_records: target.len() as u64,
            source_checksum: sum(&source, &held),
            target_checksum: sum(&target, &in_source),
            compared_from: r.from,
            ok: c.mismatch_count == 0,
            compacted: Some(c.compacted),
            differing_offsets: c.mismatched,
        })
    }
}

/// The plan's source topics that are compacted on the source or (under
/// their target name) on the target.
fn compacted_topics(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
    parts: &[(String, i32)],
) -> Result<BTreeSet<String>, ReplicatorError> {
    let topics: BTreeSet<&String> = parts.iter().map(|(t, _)| t).collect();
    let mut out = BTreeSet::new();
    for (conn, rename) in [(src, false), (dst, true)] {
        let names: Vec<(String, &String)> = topics
            .iter()
            .map(|t| {
                (
                    if rename {
                        plan.target_topic(t)
                    } else {
                        (*t).clone()
                    },
                    *t,
                )
            })
            .collect();
        for (topic, source_topic) in described_compacted(conn, &names)? {
            if topic {
                out.insert(source_topic.clone());
            }
        }
    }
    Ok(out)
}

/// Whether each topic's `cleanup.policy` includes `compact`, with the
/// source topic it stands for. A topic that cannot be described counts as
/// compacted: the keyed comparison is right for both kinds.
fn described_compacted<'a>(
    conn: &Connection,
    names: &[(String, &'a String)],
) -> Result<Vec<(bool, &'a String)>, ReplicatorError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let specs: Vec<rdkafka::admin::ResourceSpecifier<'_>> = names
        .iter()
        .map(|(t, _)| rdkafka::admin::ResourceSpecifier::Topic(t))
        .collect();
    let admin = conn.admin_client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplicatorError::Setup(format!("cannot start a runtime: {e}")))?;
    let results = rt
        .block_on(admin.describe_configs(&specs, &conn.admin_options()))
        .map_err(ReplicatorError::kafka("describing topic configs to verify"))?;
    Ok(names
        .iter()
        .enumerate()
        .map(|(i, (_, source))| {
            let compacted = match results.get(i) {
                Some(Ok(r)) => r
                    .entries
                    .iter()
                    .find(|e| e.name == "cleanup.policy")
                    .and_then(|e| e.value.as_deref())
                    .is_some_and(|v| v.contains("compact")),
                _ => true,
            };
            (compacted, *source)
        })
        .collect())
}
