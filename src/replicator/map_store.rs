//! Offset maps persisted on the target, in a compacted topic any process can
//! read (`_kcp-offset-map` by default), and repaired from the provenance
//! headers of the records actually on the target.
//!
//! Key: `v1;<source cluster id>;<source topic>;<partition>`; value: the
//! partition's [`OffsetMap`] as JSON. The latest value per key wins.
//! Because the target is the truth, a map that is behind (the process died
//! before its last checkpoint) is extended by reading the target partition
//! from the map's `dst_end` and collecting provenance headers; a lost map
//! topic is rebuilt the same way from offset 0.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Offset, TopicPartitionList};

use super::ReplicatorError;
use super::offset_map::OffsetMap;
use super::provenance::Provenance;
use crate::connect::KcpContext;

/// The map key of a source partition.
pub fn key(cluster_id: &str, topic: &str, partition: i32) -> String {
    format!("v1;{cluster_id};{topic};{partition}")
}

fn parse_key(key: &str) -> Option<(String, String, i32)> {
    let mut parts = key.split(';');
    (parts.next()? == "v1").then_some(())?;
    let cluster = parts.next()?.to_owned();
    let topic = parts.next()?.to_owned();
    let partition = parts.next()?.parse().ok()?;
    Some((cluster, topic, partition))
}

/// Reads every partition of `topic` from `from[p]` up to `until[p]`
/// (exclusive), calling `visit` for each record. `consumer` must have no
/// group and no assignment; it is unassigned afterwards.
pub fn read_ranges(
    consumer: &BaseConsumer<KcpContext>,
    ranges: &[(String, i32, i64, i64)],
    timeout: Duration,
    mut visit: impl FnMut(&str, i32, i64, Option<&[u8]>, Option<&[u8]>, Vec<(String, Option<Vec<u8>>)>),
) -> Result<(), ReplicatorError> {
    let mut pending: HashMap<(String, i32), i64> = HashMap::new();
    let mut list = TopicPartitionList::new();
    for (topic, partition, from, until) in ranges {
        if from < until {
            list.add_partition_offset(topic, *partition, Offset::Offset(*from))
                .map_err(ReplicatorError::kafka("assigning"))?;
            pending.insert((topic.clone(), *partition), *until);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    consumer
        .assign(&list)
        .map_err(ReplicatorError::kafka("assigning"))?;
    let mut deadline = Instant::now() + timeout;
    while !pending.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                deadline = Instant::now() + timeout;
                let key = (m.topic().to_owned(), m.partition());
                let Some(until) = pending.get(&key).copied() else {
                    continue;
                };
                if m.offset() < until {
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default();
                    visit(
                        m.topic(),
                        m.partition(),
                        m.offset(),
                        m.key(),
                        m.payload(),
                        headers,
                    );
                }
                if m.offset() + 1 >= until {
                    pending.remove(&key);
                }
            }
            Some(Err(e)) => {
                return Err(ReplicatorError::Kafka {
                    operation: "reading the target".into(),
                    source: Box::new(e),
                });
            }
            None => {
                // A partition whose remaining offsets are gaps (transaction
                // markers) never delivers `until - 1`: check positions.
                let positions = consumer
                    .position()
                    .map_err(ReplicatorError::kafka("reading positions"))?;
                for e in positions.elements() {
                    if let Offset::Offset(pos) = e.offset()
                        && pending
                            .get(&(e.topic().to_owned(), e.partition()))
                            .is_some_and(|until| pos >= *until)
                    {
                        pending.remove(&(e.topic().to_owned(), e.partition()));
                    }
                }
                if Instant::now() > deadline {
                    return Err(ReplicatorError::Stalled {
                        what: format!(
                            "reading {} partitions of the target ({:?})",
                            pending.len(),
                            pending.keys().take(3).collect::<Vec<_>>()
                        ),
                    });
                }
            }
        }
    }
    consumer
        .unassign()
        .map_err(ReplicatorError::kafka("unassigning"))?;
    Ok(())
}

/// Loads every map of `cluster_id` from the map topic (partitions and their
/// high watermarks given).
pub fn load(
    consumer: &BaseConsumer<KcpContext>,
    map_topic: &str,
    watermarks: &[(i32, i64)],
    cluster_id: &str,
    timeout: Duration,
) -> Result<HashMap<(String, i32), OffsetMap>, ReplicatorError> {
    let ranges: Vec<_> = watermarks
        .iter()
        .map(|(p, hw)| (map_topic.to_owned(), *p, 0, *hw))
        .collect();
    let mut maps = HashMap::new();
    let mut bad = 0;
    read_ranges(consumer, &ranges, timeout, |_, _, _, key, value, _| {
        let Some((cluster, topic, partition)) = key
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(parse_key)
        else {
            bad += 1;
            return;
        };
        if cluster != cluster_id {
            return;
        }
        match value.map(serde_json::from_slice::<OffsetMap>) {
            Some(Ok(map)) => {
                maps.insert((topic, partition), map);
            }
            None => {
                maps.remove(&(topic, partition));
            }
            Some(Err(_)) => bad += 1,
        }
    })?;
    if bad > 0 {
        tracing::warn!(
            "{bad} unreadable records in `{map_topic}` were ignored; the maps are repaired from provenance headers"
        );
    }
    Ok(maps)
}

/// Extends maps with the provenance found on the target between each map's
/// `dst_end` and the target partition's high watermark.
///
/// Shortcut: when the last target record carries our provenance for source
/// offset `P`, and the target holds exactly as many records past the map's
/// `dst_end` as there are source offsets from the map's `src_end` to `P`,
/// those records are one dense run: their source offsets are strictly
/// increasing integers filling an interval of the same size. Only the last
/// record is read then. This holds while only the replicator writes to the
/// target partition (until its producers move, which ends its replication).
/// Otherwise the range is read forward, record by record.
pub fn repair(
    consumer: &BaseConsumer<KcpContext>,
    cluster_id: &str,
    targets: &[(String, String, i32, i64)],
    maps: &mut HashMap<(String, i32), OffsetMap>,
    timeout: Duration,
) -> Result<usize, ReplicatorError> {
    // (target topic, partition) → source topic.
    let sources: HashMap<(String, i32), String> = targets
        .iter()
        .map(|(src, dst, p, _)| ((dst.clone(), *p), src.clone()))
        .collect();
    let ours =
        |topic: &str, partition: i32, headers: &[(String, Option<Vec<u8>>)]| -> Option<i64> {
            let p = Provenance::find(headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())))?;
            let src_topic = sources.get(&(topic.to_owned(), partition))?;
            (p.cluster_id == cluster_id && &p.topic == src_topic && p.partition == partition)
                .then_some(p.offset)
        };

    // The last record of every partition that grew past its map.
    let behind: Vec<(String, i32, i64, i64)> = targets
        .iter()
        .filter_map(|(src, dst, p, hw)| {
            let end = maps.get(&(src.clone(), *p)).map_or(0, |m| m.dst_end);
            (*hw > end).then(|| (dst.clone(), *p, hw - 1, *hw))
        })
        .collect();
    let mut last: HashMap<(String, i32), i64> = HashMap::new();
    read_ranges(
        consumer,
        &behind,
        timeout,
        |topic, partition, _, _, _, headers| {
            if let Some(offset) = ours(topic, partition, &headers) {
                last.insert((topic.to_owned(), partition), offset);
            }
        },
    )?;

    let mut found = 0usize;
    let mut slow = Vec::new();
    for (src, dst, p, hw) in targets {
        let map = maps.entry((src.clone(), *p)).or_default();
        if *hw <= map.dst_end {
            continue;
        }
        let records = hw - map.dst_end;
        match last.get(&(dst.clone(), *p)) {
            Some(&last_src) if last_src >= map.src_end && last_src - map.src_end + 1 == records => {
                if map.src_start.is_none() {
                    map.start_at(map.src_end, map.dst_end);
                }
                let (src_from, dst_from) = (map.src_end, map.dst_end);
                map.record_run(src_from, dst_from, records);
                found += records as usize;
            }
            _ => slow.push((dst.clone(), *p, map.dst_end, *hw)),
        }
    }
    read_ranges(
        consumer,
        &slow,
        timeout,
        |topic, partition, offset, _, _, headers| {
            let Some(src_offset) = ours(topic, partition, &headers) else {
                return;
            };
            let Some(src_topic) = sources.get(&(topic.to_owned(), partition)) else {
                return;
            };
            let map = maps.entry((src_topic.clone(), partition)).or_default();
            if map.last_copied().is_none_or(|last| src_offset > last) {
                if map.src_start.is_none() {
                    map.start_at(src_offset, offset);
                }
                map.record_copy(src_offset, offset);
                found += 1;
            }
        },
    )?;
    Ok(found)
}
