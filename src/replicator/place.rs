//! Places offsets inside loose runs (see `offset_map`): the map knows a
//! loose run's extent on both sides but not where its gaps are, and every
//! copy on the target names its source offset in its provenance header, so
//! the target answers. A translation bisects the run's target range down
//! to a span that a fetch or two cover, then reads that span forward to the
//! first copy at or past the committed offset (two or three reads for a run
//! of one checkpoint interval, about ten for the largest run); a reverse
//! translation reads forward to the first copy. Each answer is pinned in the
//! (in-memory) map, so the pure translation then gives it.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::ReplicatorError;
use super::clients::{cluster_id, consumer};
use super::map_store::Maps;
use super::offset_map::{OffsetMap, Reverse, Translation};
use super::plan::LoadedPlan;
use super::provenance::Provenance;
use crate::connect::{Connection, KcpContext};

/// Reads the target to place offsets of one plan's maps.
pub struct Placer<'a> {
    plan: &'a LoadedPlan,
    reader: BaseConsumer<KcpContext>,
    source_cluster: String,
    timeout: Duration,
    /// Target offsets read forward rather than bisected further.
    scan_span: i64,
}

/// A span of target offsets below which reading forward (a fetch or two,
/// `FETCH_BYTES` each) beats another bisection step (one read each).
const SCAN_SPAN: i64 = 1024;

/// The most a read fetches per partition: a span of small records in one
/// fetch, a few for large ones.
const FETCH_BYTES: &str = "262144";

impl<'a> Placer<'a> {
    /// A placer reading `dst` for copies from `src` (committed records
    /// only: an aborted copy never happened).
    pub fn new(
        plan: &'a LoadedPlan,
        src: &Connection,
        dst: &Connection,
    ) -> Result<Self, ReplicatorError> {
        let group = format!("{}.place", super::copier::replicator_group(plan));
        let reader = consumer(
            dst.credentials(),
            &[
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("isolation.level", "read_committed"),
                ("enable.partition.eof", "false"),
                ("fetch.wait.max.ms", "20"),
                // A probe needs one record, a scan a span: not a megabyte.
                ("max.partition.fetch.bytes", FETCH_BYTES),
            ],
        )?;
        Ok(Placer {
            plan,
            reader,
            source_cluster: cluster_id(src)?,
            timeout: dst.timeout(),
            scan_span: SCAN_SPAN,
        })
    }

    /// Bisects down to `span` target offsets before reading forward (the
    /// default suits every run; tests take 0 to bisect all the way).
    #[doc(hidden)]
    pub fn with_scan_span(mut self, span: i64) -> Self {
        self.scan_span = span;
        self
    }

    /// Pins every committed source offset (topic, partition, offset) that
    /// falls inside a loose run, so that `maps` translate it exactly.
    pub fn place_all(
        &self,
        maps: &mut Maps,
        committed: &[(String, i32, i64)],
    ) -> Result<(), ReplicatorError> {
        for (topic, partition, offset) in committed {
            if let Some(map) = maps.get_mut(&(topic.clone(), *partition)) {
                self.translate(map, topic, *partition, *offset)?;
            }
        }
        Ok(())
    }

    /// [`OffsetMap::translate`], placed: never [`Translation::Within`].
    pub fn translate(
        &self,
        map: &mut OffsetMap,
        topic: &str,
        partition: i32,
        committed: i64,
    ) -> Result<Translation, ReplicatorError> {
        let Translation::Within { dst_from, dst_to } = map.translate(committed) else {
            return Ok(map.translate(committed));
        };
        // The first copy of a source offset >= `committed`: copies keep
        // source order on the target, so bisect on target offsets, then
        // read the last span forward. `found` is the first such copy at or
        // past `hi`.
        let (mut lo, mut hi, mut found) = (dst_from, dst_to, None);
        while hi - lo > self.scan_span.max(0) {
            let mid = lo + (hi - lo) / 2;
            match self.first_copy(topic, partition, mid, hi, |_| true)? {
                Some((src, dst)) if src >= committed => {
                    found = Some((src, dst));
                    hi = mid;
                }
                Some((_, dst)) => lo = dst + 1,
                None => hi = mid,
            }
        }
        if lo < hi
            && let Some(first) =
                self.first_copy(topic, partition, lo, hi, |src| src >= committed)?
        {
            found = Some(first);
        }
        let at = found.map_or(dst_to, |(_, dst)| dst);
        map.pin(dst_to, (committed, at), found);
        Ok(match map.translate(committed) {
            Translation::Within { .. } => Translation::Exact(at),
            placed => placed,
        })
    }

    /// [`OffsetMap::reverse`], placed: the source offset a consumer that
    /// read the target up to `committed` resumes at.
    pub fn reverse(
        &self,
        map: &mut OffsetMap,
        topic: &str,
        partition: i32,
        committed: i64,
    ) -> Result<i64, ReplicatorError> {
        match map.reverse(committed) {
            Reverse::Exact(src) => Ok(src),
            Reverse::Within {
                dst_from,
                dst_to,
                src_to,
            } => {
                let first = self.first_copy(topic, partition, dst_from, dst_to, |_| true)?;
                let src = first.map_or(src_to, |(src, _)| src);
                map.pin(dst_to, (src, dst_from), first);
                Ok(src)
            }
        }
    }

    /// The first copy of `topic-partition` on the target at an offset in
    /// `from..to` whose source offset is `wanted`: (its source offset, its
    /// target offset).
    fn first_copy(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        to: i64,
        wanted: impl Fn(i64) -> bool,
    ) -> Result<Option<(i64, i64)>, ReplicatorError> {
        let target_topic = self.plan.target_topic(topic);
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&target_topic, partition, Offset::Offset(from))
            .map_err(ReplicatorError::kafka("assigning"))?;
        self.reader
            .assign(&list)
            .map_err(ReplicatorError::kafka("assigning"))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.reader.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.offset() >= to => return Ok(None),
                Some(Ok(m)) if m.offset() < from || m.partition() != partition => {}
                Some(Ok(m)) => {
                    let headers = m.headers();
                    let copy = headers
                        .iter()
                        .flat_map(|h| h.iter())
                        .map(|h| (h.key, h.value));
                    if let Some(p) = Provenance::find(copy).filter(|p| {
                        p.cluster_id == self.source_cluster
                            && p.topic == topic
                            && p.partition == partition
                            && wanted(p.offset)
                    }) {
                        return Ok(Some((p.offset, m.offset())));
                    }
                }
                Some(Err(e)) => {
                    return Err(ReplicatorError::Kafka {
                        operation: "reading the target to place an offset".into(),
                        source: Box::new(e),
                    });
                }
                None => {
                    // Only markers left before `to`: nothing to deliver.
                    let at = self
                        .reader
                        .position()
                        .map_err(ReplicatorError::kafka("reading positions"))?;
                    let past = at
                        .elements()
                        .iter()
                        .any(|e| matches!(e.offset(), Offset::Offset(pos) if pos >= to));
                    if past {
                        return Ok(None);
                    }
                    if Instant::now() > deadline {
                        return Err(ReplicatorError::Stalled {
                            what: format!(
                                "reading {target_topic}-{partition} from offset {from} to place an offset"
                            ),
                        });
                    }
                }
            }
        }
    }
}
