//! Offset maps persisted on the target, in a compacted topic any process can
//! read (`_kcp-offset-map` by default), and repaired from the provenance
//! headers of the records actually on the target.
//!
//! Key: `v2;<source cluster id>;<source topic>;<partition>;<target cluster
//! id>;<target topic>` (a [`MapKey`]); value: the partition's [`OffsetMap`]
//! as JSON. The latest value per key wins. Keying by the target too keeps
//! apart two plans that share the map topic but copy one source topic to
//! different target topics (renames) or clusters. Maps from before the
//! target was in the key (`v1;<source cluster id>;<source topic>;
//! <partition>`) are read when a partition has no `v2` map, as what they
//! are: a map that may be about another copy, checked against the target
//! like any other (its claims, its topic ids) before it is trusted.
//! Keys starting `acls;` are the metadata sync's record of the ACL
//! bindings kcp created (`meta_sync`), not maps: skipped here.
//! A map with many runs (a partition with many gaps: transaction markers,
//! compaction) is stored in segments so that no record outgrows what a
//! broker accepts (1 MB by default): the runs are cut into chunks of
//! [`SEGMENT_RUNS`]; every full chunk but the one holding the last run is a
//! record of its own under `<key>;<index>`, written once (runs are
//! append-only), and the head record under `<key>` holds the remaining runs
//! and the number of segments. A checkpoint writes the new segments before
//! the head, so a head never names a segment that is not stored (the map
//! topic has one partition); a map whose segments are incomplete anyway
//! keeps its last runs and loses the translation of older offsets.
//! Because the target is the truth, a map that is behind (the process died
//! before its last checkpoint) is extended by reading the target partition
//! from the map's `dst_end` and collecting provenance headers; a lost map
//! topic is rebuilt the same way from offset 0.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;

use serde::Serialize;

use super::ReplicatorError;
use super::offset_map::{OffsetMap, Run, TopicIds};
use super::provenance::Provenance;
use crate::connect::KcpContext;

/// Runs per stored segment. A run is at most about 130 bytes of JSON (a
/// loose one with its span), so a segment stays under 550 KB, below the
/// 1 MB record size brokers accept by default.
pub(crate) const SEGMENT_RUNS: usize = 4096;

/// What a map is about: a source partition copied to a target topic.
pub(crate) struct MapKey<'a> {
    pub(crate) source_cluster: &'a str,
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) target_cluster: &'a str,
    pub(crate) target_topic: &'a str,
}

impl MapKey<'_> {
    /// The key of the map's head record.
    fn head(&self) -> String {
        let MapKey {
            source_cluster,
            topic,
            partition,
            target_cluster,
            target_topic,
        } = self;
        format!("v2;{source_cluster};{topic};{partition};{target_cluster};{target_topic}")
    }
}

/// Which maps of the map topic a process wants: those of one source
/// cluster copied into one target cluster, each source topic to the target
/// topic the plan names.
pub(crate) struct Scope<'a> {
    pub(crate) source_cluster: &'a str,
    pub(crate) target_cluster: &'a str,
    pub(crate) target_topic: &'a dyn Fn(&str) -> String,
}

/// Maps by (source topic, partition).
pub(crate) type Maps = HashMap<(String, i32), OffsetMap>;

/// A parsed key.
#[derive(Debug, PartialEq, Eq)]
struct ParsedKey {
    cluster: String,
    topic: String,
    partition: i32,
    /// The target cluster and topic (`v2` keys; `None` for `v1`).
    target: Option<(String, String)>,
    /// A segment's index.
    segment: Option<usize>,
}

fn parse_key(key: &str) -> Option<ParsedKey> {
    let mut parts = key.split(';');
    let v2 = match parts.next()? {
        "v1" => false,
        "v2" => true,
        _ => return None,
    };
    let cluster = parts.next()?.to_owned();
    let topic = parts.next()?.to_owned();
    let partition = parts.next()?.parse().ok()?;
    let target = if v2 {
        Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
    } else {
        None
    };
    let segment = match parts.next() {
        Some(index) => Some(index.parse().ok()?),
        None => None,
    };
    parts.next().is_none().then_some(ParsedKey {
        cluster,
        topic,
        partition,
        target,
        segment,
    })
}

/// The head record's value when the map has segments: the runs not in a
/// segment are under `tail`, not `runs`, so that a kcp from before segments
/// finds no `runs`, takes the record for unreadable and rebuilds the map
/// from provenance instead of loading its tail as the whole map. A map
/// without segments is written whole, as before.
#[derive(Serialize)]
struct Head<'a> {
    src_start: Option<i64>,
    tail: &'a [Run],
    src_end: i64,
    dst_end: i64,
    segments: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic_ids: Option<&'a TopicIds>,
}

/// A head as read: either form.
#[derive(serde::Deserialize)]
struct StoredHead {
    src_start: Option<i64>,
    #[serde(default)]
    runs: Vec<Run>,
    #[serde(default)]
    tail: Vec<Run>,
    src_end: i64,
    dst_end: i64,
    #[serde(default)]
    segments: usize,
    #[serde(default)]
    topic_ids: Option<TopicIds>,
}

/// More segments than any real map has (4,096 runs each): a head claiming
/// more is unreadable.
const MAX_SEGMENTS: usize = 1 << 20;

/// The records (key, value) that store `map` after the last call: the
/// segments sealed since, then the head. Marks the new segments stored.
pub(crate) fn encode(
    key: &MapKey<'_>,
    map: &mut OffsetMap,
) -> Result<Vec<(String, Vec<u8>)>, serde_json::Error> {
    let head_key = key.head();
    // Every full chunk but the one holding the last run (which may grow).
    let sealed = map.runs.len().saturating_sub(1) / SEGMENT_RUNS;
    let mut records = Vec::new();
    for index in map.segments..sealed {
        let chunk = &map.runs[index * SEGMENT_RUNS..(index + 1) * SEGMENT_RUNS];
        records.push((format!("{head_key};{index}"), serde_json::to_vec(chunk)?));
    }
    map.segments = map.segments.max(sealed);
    let head = if map.segments == 0 {
        serde_json::to_vec(map)?
    } else {
        serde_json::to_vec(&Head {
            src_start: map.src_start,
            tail: &map.runs[(map.segments * SEGMENT_RUNS).min(map.runs.len())..],
            src_end: map.src_end,
            dst_end: map.dst_end,
            segments: map.segments,
            topic_ids: map.topic_ids.as_ref(),
        })?
    };
    records.push((head_key, head));
    Ok(records)
}

/// A map's place in the assembly: source topic, partition, and whether
/// its key names the target (`v2`) or is a `v1` key from before.
type Slot = (String, i32, bool);

/// Rebuilds the maps of one [`Scope`] from the records of the map topic,
/// fed in order.
pub(crate) struct Assembler<'a> {
    scope: &'a Scope<'a>,
    heads: HashMap<Slot, OffsetMap>,
    segments: HashMap<(Slot, usize), Vec<Run>>,
    /// Records that could not be read.
    pub unreadable: usize,
}

impl<'a> Assembler<'a> {
    pub(crate) fn new(scope: &'a Scope<'a>) -> Self {
        Self {
            scope,
            heads: HashMap::new(),
            segments: HashMap::new(),
            unreadable: 0,
        }
    }

    /// Where a key's map goes, or `None` when it is another scope's.
    fn slot(&self, key: ParsedKey) -> Option<(Slot, Option<usize>)> {
        if key.cluster != self.scope.source_cluster {
            return None;
        }
        let v2 = match &key.target {
            Some((cluster, topic)) => {
                if cluster != self.scope.target_cluster
                    || *topic != (self.scope.target_topic)(&key.topic)
                {
                    return None;
                }
                true
            }
            None => false,
        };
        Some(((key.topic, key.partition, v2), key.segment))
    }

    /// One record of the map topic; a record without a value deletes.
    pub(crate) fn add(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) {
        // The metadata sync's records (ACLs kcp created, its quota ledger):
        // no map.
        if key.is_some_and(super::meta_sync::is_sync_record) {
            return;
        }
        let Some(parsed) = key
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(parse_key)
        else {
            self.unreadable += 1;
            return;
        };
        let Some((slot, segment)) = self.slot(parsed) else {
            return;
        };
        match (segment, value) {
            (None, Some(v)) => match serde_json::from_slice::<StoredHead>(v) {
                Ok(head) if head.segments <= MAX_SEGMENTS => {
                    let runs = if head.segments > 0 {
                        head.tail
                    } else {
                        head.runs
                    };
                    let map = OffsetMap {
                        src_start: head.src_start,
                        runs,
                        src_end: head.src_end,
                        dst_end: head.dst_end,
                        topic_ids: head.topic_ids,
                        segments: head.segments,
                    };
                    self.heads.insert(slot, map);
                }
                _ => self.unreadable += 1,
            },
            (None, None) => {
                self.heads.remove(&slot);
            }
            (Some(index), Some(v)) => match serde_json::from_slice::<Vec<Run>>(v) {
                Ok(runs) => {
                    self.segments.insert((slot, index), runs);
                }
                Err(_) => self.unreadable += 1,
            },
            (Some(index), None) => {
                self.segments.remove(&(slot, index));
            }
        }
    }

    /// The maps, and the partitions whose map lost its beginning: a segment
    /// it names is missing or does not fit. Such a map keeps what its head
    /// holds (the last runs, where copying goes on) and starts at its
    /// first run: offsets before it are reported as before the start,
    /// never guessed, and copying resumes where it was, without copying
    /// anything twice. A `v1` map is taken only for a partition without a
    /// `v2` one.
    pub(crate) fn finish(mut self) -> (Maps, Vec<(String, i32)>) {
        let mut maps = HashMap::new();
        let mut damaged = Vec::new();
        let newer: std::collections::HashSet<(String, i32)> = self
            .heads
            .keys()
            .filter(|(_, _, v2)| *v2)
            .map(|(t, p, _)| (t.clone(), *p))
            .collect();
        let heads: Vec<(Slot, OffsetMap)> = self
            .heads
            .drain()
            .filter(|((t, p, v2), _)| *v2 || !newer.contains(&(t.clone(), *p)))
            .collect();
        for ((topic, partition, v2), head) in heads {
            let mut runs = Vec::new();
            for index in 0..head.segments {
                match self
                    .segments
                    .remove(&((topic.clone(), partition, v2), index))
                {
                    Some(chunk) if chunk.len() == SEGMENT_RUNS => runs.extend(chunk),
                    _ => break,
                }
            }
            runs.extend_from_slice(&head.runs);
            let ordered = |runs: &[Run]| {
                runs.windows(2)
                    .all(|w| w[0].src_end() <= w[1].src && w[0].dst_end() <= w[1].dst)
            };
            let whole = runs.len() == head.segments * SEGMENT_RUNS + head.runs.len();
            if whole && ordered(&runs) {
                maps.insert((topic, partition), OffsetMap { runs, ..head });
            } else {
                // Unordered runs are garbage: nothing before `src_end` is
                // translatable then.
                let (src_start, runs) = if ordered(&head.runs) {
                    (
                        head.runs.first().map(|r| r.src).or(head.src_start),
                        head.runs,
                    )
                } else {
                    (Some(head.src_end), Vec::new())
                };
                let map = OffsetMap {
                    src_start,
                    runs,
                    segments: 0,
                    ..head
                };
                maps.insert((topic.clone(), partition), map);
                damaged.push((topic, partition));
            }
        }
        damaged.sort();
        (maps, damaged)
    }
}

/// Loads every map of `scope` from the map topic (partitions and their
/// high watermarks given).
pub(crate) fn load(
    consumer: &BaseConsumer<KcpContext>,
    map_topic: &str,
    watermarks: &[(i32, i64)],
    scope: &Scope<'_>,
    timeout: Duration,
) -> Result<Maps, ReplicatorError> {
    let ranges: Vec<_> = watermarks
        .iter()
        .map(|(p, hw)| (map_topic.to_owned(), *p, 0, *hw))
        .collect();
    let mut assembler = Assembler::new(scope);
    super::ranges::read_ranges(consumer, &ranges, timeout, |_, _, _, key, value, _| {
        assembler.add(key, value);
    })?;
    let bad = assembler.unreadable;
    if bad > 0 {
        tracing::warn!(
            "{bad} unreadable records in `{map_topic}` were ignored; the maps are repaired from provenance headers"
        );
    }
    let (maps, damaged) = assembler.finish();
    if !damaged.is_empty() {
        tracing::warn!(
            "the offset maps of {} partition(s) in `{map_topic}` miss a segment: copying goes on, but source offsets before their last {SEGMENT_RUNS} runs can no longer be translated: {damaged:?}",
            damaged.len()
        );
    }
    Ok(maps)
}

/// A target partition this many offsets or fewer past its map is read
/// forward without first looking at its last record.
const SHORT_TAIL: i64 = 16;

/// Extends maps with the provenance found on the target between each map's
/// `dst_end` and the target partition's high watermark.
///
/// Shortcut: when the last target record carries our provenance for source
/// offset `P`, and the target holds exactly as many records past the map's
/// `dst_end` as there are source offsets from the map's `src_end` to `P`,
/// those records are one dense run: their source offsets are strictly
/// increasing integers filling an interval of the same size. Only the last
/// record is read then. This holds while only the replicator writes to the
/// target partition (until its producers move, which ends its replication),
/// never in a target topic merged from several sources (`merged`, by source
/// topic: fan-in), where another source's copies may fill as many target
/// offsets as this source's gaps (markers, skipped records) left.
/// Otherwise the range is read forward, record by record, and every jump
/// in the source offsets the copies name (past what the map had processed)
/// is returned: a gap on the source (markers, compaction, skipped records)
/// or a hole another writer left on the target, which only the source can
/// tell apart (`resume` checks).
pub(crate) fn repair(
    consumer: &BaseConsumer<KcpContext>,
    cluster_id: &str,
    targets: &[(String, String, i32, i64)],
    maps: &mut Maps,
    merged: &dyn Fn(&str) -> bool,
    timeout: Duration,
) -> Result<Repaired, ReplicatorError> {
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

    // The last record of every partition that grew past its map by more
    // than a few offsets. A few (the usual case under transactions: the
    // commit marker after the last checkpointed copy) are read forward at
    // once: reading the last one first would cost a round for nothing.
    let behind: Vec<(String, i32, i64, i64)> = targets
        .iter()
        .filter_map(|(src, dst, p, hw)| {
            let end = maps.get(&(src.clone(), *p)).map_or(0, |m| m.dst_end);
            (*hw > end + SHORT_TAIL).then(|| (dst.clone(), *p, hw - 1, *hw))
        })
        .collect();
    let mut last: HashMap<(String, i32), i64> = HashMap::new();
    super::ranges::read_ranges(
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
    let mut jumps = Vec::new();
    let mut slow = Vec::new();
    for (src, dst, p, hw) in targets {
        let map = maps.entry((src.clone(), *p)).or_default();
        if *hw <= map.dst_end {
            continue;
        }
        let records = hw - map.dst_end;
        match last.get(&(dst.clone(), *p)) {
            Some(&last_src)
                if !merged(src)
                    && last_src >= map.src_end
                    && last_src - map.src_end + 1 == records =>
            {
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
    super::ranges::read_ranges(
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
                if src_offset > map.src_end {
                    jumps.push(Jump {
                        topic: src_topic.clone(),
                        partition,
                        from: map.src_end,
                        to: src_offset,
                    });
                }
                map.record_copy(src_offset, offset);
                found += 1;
            }
        },
    )?;
    Ok(Repaired { found, jumps })
}

/// What [`repair`] found on the target past the maps.
pub(crate) struct Repaired {
    /// Copies added to the maps.
    pub(crate) found: usize,
    /// Source offsets the copies skipped, in order per partition.
    pub(crate) jumps: Vec<Jump>,
}

/// Source offsets `from..to` of a partition that no copy on the target
/// names, between two that do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jump {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(topic: &str) -> String {
        topic.to_owned()
    }

    /// Maps of cluster `c1` copied to cluster `d1` under the same names.
    const SCOPE: Scope<'static> = Scope {
        source_cluster: "c1",
        target_cluster: "d1",
        target_topic: &same,
    };

    fn key(topic: &'static str, partition: i32) -> MapKey<'static> {
        MapKey {
            source_cluster: "c1",
            topic,
            partition,
            target_cluster: "d1",
            target_topic: topic,
        }
    }

    /// Source offsets from one copy to the next in [`gappy`] maps: a gap
    /// too large for a loose run.
    const STEP: i64 = crate::replicator::offset_map::MAX_LOOSE_GAP + 2;

    /// A map of `n` dense runs of one record each.
    fn gappy(n: usize) -> OffsetMap {
        let mut map = OffsetMap::default();
        map.start_at(0, 0);
        for i in 0..n as i64 {
            map.record_copy(STEP * i, i);
        }
        map
    }

    fn assemble<'a>(
        records: impl IntoIterator<Item = &'a (String, Vec<u8>)>,
    ) -> (Maps, Vec<(String, i32)>) {
        let mut assembler = Assembler::new(&SCOPE);
        for (key, value) in records {
            assembler.add(Some(key.as_bytes()), Some(value));
        }
        assembler.finish()
    }

    #[test]
    fn a_large_map_is_stored_in_segments_under_the_record_limit() {
        let mut map = gappy(10_000);
        let records = encode(&key("orders", 3), &mut map).unwrap();
        let keys: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "v2;c1;orders;3;d1;orders;0",
                "v2;c1;orders;3;d1;orders;1",
                "v2;c1;orders;3;d1;orders"
            ]
        );
        assert_eq!(map.segments, 2);
        let (maps, dropped) = assemble(&records);
        assert!(dropped.is_empty());
        assert_eq!(maps[&("orders".to_owned(), 3)], map);

        // The worst case: offsets of 19 digits everywhere.
        let big = i64::MAX / 4;
        let mut worst = OffsetMap::default();
        for i in 0..(SEGMENT_RUNS as i64 + 1) {
            worst.record_copy(big + STEP * i, big + STEP * i);
        }
        for (_, value) in encode(&key("orders", 3), &mut worst).unwrap() {
            assert!(value.len() < 400_000, "{} bytes", value.len());
        }
    }

    #[test]
    fn later_checkpoints_write_only_new_segments_and_the_head() {
        let mut map = gappy(5_000);
        let mut all = encode(&key("t", 0), &mut map).unwrap();
        assert_eq!(all.len(), 2);
        // The last run grows: nothing new is sealed.
        let (last_src, last_dst) = (STEP * 4_999, 4_999);
        map.record_copy(last_src + 1, last_dst + 1);
        let again = encode(&key("t", 0), &mut map).unwrap();
        assert_eq!(again.len(), 1, "only the head");
        all.extend(again);
        for i in 5_000..9_000 {
            map.record_copy(STEP * i + 10, i + 10);
        }
        let later = encode(&key("t", 0), &mut map).unwrap();
        assert_eq!(
            later.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["v2;c1;t;0;d1;t;1", "v2;c1;t;0;d1;t"]
        );
        all.extend(later);
        let (maps, _) = assemble(&all);
        assert_eq!(maps[&("t".to_owned(), 0)], map);
        assert_eq!(
            maps[&("t".to_owned(), 0)].translate(STEP * 8_999 + 10),
            map.translate(STEP * 8_999 + 10)
        );
    }

    #[test]
    fn a_map_missing_a_segment_keeps_its_tail_and_stray_segments_are_ignored() {
        let mut map = gappy(9_000);
        let records = encode(&key("t", 0), &mut map).unwrap();
        // Segment 1 lost: copying goes on from the head's runs; offsets
        // before them are reported as before the start, never guessed.
        let (maps, damaged) = assemble(records.iter().filter(|(k, _)| !k.ends_with(";1")));
        assert_eq!(damaged, [("t".to_owned(), 0)]);
        let kept = &maps[&("t".to_owned(), 0)];
        assert_eq!((kept.src_end, kept.dst_end), (map.src_end, map.dst_end));
        assert_eq!(kept.runs, map.runs[2 * SEGMENT_RUNS..]);
        let first_kept = STEP * (2 * SEGMENT_RUNS) as i64;
        assert_eq!(
            kept.translate(0),
            crate::replicator::Translation::BeforeStart {
                first_copied: first_kept
            }
        );
        assert_eq!(
            kept.translate(first_kept + 3),
            map.translate(first_kept + 3)
        );

        // A crash between a new segment and its head: the older head wins.
        let mut small = gappy(4_000);
        let mut stored = encode(&key("t", 0), &mut small).unwrap();
        let before = small.clone();
        for i in 4_000..4_200 {
            small.record_copy(STEP * i, i);
        }
        let mut newer = encode(&key("t", 0), &mut small).unwrap();
        newer.pop();
        stored.extend(newer);
        let (maps, damaged) = assemble(&stored);
        assert!(damaged.is_empty());
        assert_eq!(maps[&("t".to_owned(), 0)], before);
    }

    #[test]
    fn a_kcp_from_before_segments_cannot_mistake_a_head_for_a_whole_map() {
        let mut map = gappy(5_000);
        let records = encode(&key("t", 0), &mut map).unwrap();
        let head = &records.last().unwrap().1;
        // What earlier versions deserialize: an `OffsetMap` needs `runs`.
        assert!(serde_json::from_slice::<OffsetMap>(head).is_err());
        // A head claiming absurdly many segments is unreadable, not a panic.
        let mut assembler = Assembler::new(&SCOPE);
        assembler.add(
            Some(b"v1;c1;t;0"),
            Some(br#"{"src_start":0,"tail":[],"src_end":1,"dst_end":1,"segments":18446744073709551615}"#),
        );
        assert_eq!(assembler.unreadable, 1);
        assert!(assembler.finish().0.is_empty());
    }

    #[test]
    fn maps_written_whole_by_earlier_versions_still_load() {
        let map = gappy(10);
        let legacy = serde_json::to_vec(&map).unwrap();
        assert!(!String::from_utf8_lossy(&legacy).contains("segments"));
        let (maps, _) = assemble(&[("v1;c1;t;2".to_owned(), legacy)]);
        assert_eq!(maps[&("t".to_owned(), 2)], map);
        // Other clusters' maps and unreadable keys are not ours.
        let mut assembler = Assembler::new(&SCOPE);
        assembler.add(Some(b"v1;c2;t;2"), Some(b"{}"));
        assembler.add(Some(b"v1;c1;t;2;x"), Some(b"[]"));
        assembler.add(None, Some(b"{}"));
        // The metadata sync's ACL record and quota ledger are no maps.
        assembler.add(Some(b"acls;c1;c2;p"), Some(b"[]"));
        assembler.add(Some(b"quotas;c1;c2;p"), Some(b"{\"entries\":[]}"));
        assert_eq!(assembler.unreadable, 2);
        assert!(assembler.finish().0.is_empty());
    }

    /// Keys name the target: another target cluster's or another target
    /// topic's map (a plan renaming differently) is not ours; a `v1` map
    /// (no target in its key) is taken only where no `v2` map exists.
    #[test]
    fn maps_are_told_apart_by_target_and_older_keys_give_way() {
        let mut ours = gappy(3);
        ours.topic_ids = Some(TopicIds {
            source: "S".into(),
            target: "T".into(),
        });
        let mut records = encode(&key("t", 0), &mut ours).unwrap();
        let mut other = gappy(7);
        for target_cluster in ["d1", "d2"] {
            let topic = if target_cluster == "d1" { "b.t" } else { "t" };
            records.extend(
                encode(
                    &MapKey {
                        target_cluster,
                        target_topic: topic,
                        ..key("t", 0)
                    },
                    &mut other,
                )
                .unwrap(),
            );
        }
        let legacy = gappy(5);
        records.push(("v1;c1;t;0".into(), serde_json::to_vec(&legacy).unwrap()));
        records.push(("v1;c1;t;1".into(), serde_json::to_vec(&legacy).unwrap()));
        let (maps, _) = assemble(&records);
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[&("t".to_owned(), 0)], ours, "v2 wins, ids kept");
        assert_eq!(maps[&("t".to_owned(), 1)], legacy);
        assert_eq!(
            parse_key("v2;c1;t;0;d1;t;x"),
            None,
            "a segment index is a number"
        );
    }
}
