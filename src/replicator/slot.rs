//! A partition being copied ([`Slot`]): its map, what is in flight, its
//! source end offset; the per-record lookup by topic and partition; and the
//! bookkeeping that reads the source outside the record path (positions of
//! idle partitions, end offsets, scale-out hand-overs).

use std::collections::HashMap;

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::ReplicatorError;
use super::clients::CopyContext;
use super::end_offsets::Ends;
use super::group::GroupEvent;
use super::offset_map::OffsetMap;
use super::plan::LoadedPlan;
use super::resume::Resumed;
use super::stats::{Observer, SlotMeter};
use crate::connect::admin::OffsetSpec;

/// A partition being copied.
pub(super) struct Slot {
    pub(super) topic: String,
    pub(super) target_topic: String,
    pub(super) partition: i32,
    pub(super) map: OffsetMap,
    /// Copied by this process now (scale-out: the group may give the
    /// partition to another process and back).
    pub(super) active: bool,
    pub(super) in_flight: u64,
    pub(super) copied: u64,
    /// Bytes (keys and values) of the records sent.
    pub(super) bytes: u64,
    /// Records skipped as cycles (they came from the target).
    pub(super) skipped: u64,
    pub(super) dirty: bool,
    /// The source's high watermark; `None` until it has been read, so a
    /// partition is never taken for caught up on missing information.
    pub(super) high_watermark: Option<i64>,
    pub(super) last_timestamp: Option<i64>,
    /// The source offset after the last record read (copied or skipped).
    pub(super) next_read: i64,
    /// Records deleted on the source before they were copied (allowed by
    /// `on_deleted_records: skip`).
    pub(super) deleted: u64,
    /// The target acknowledged a copy of this partition from this
    /// producer. Until then, without transactions, one record at a time is
    /// in flight: the broker keeps no sequence state for a producer that
    /// never wrote to the partition, so a second batch sent behind a first
    /// that fails for good would be accepted after the gap. (With
    /// transactions that batch is aborted with the failed one.)
    pub(super) confirmed: bool,
    /// Its Prometheus series (`--metrics-addr` only).
    pub(super) meter: Option<SlotMeter>,
}

impl Slot {
    /// The next source offset to fetch: after the last record read, or
    /// where the map ends when nothing was read since (re)assignment.
    pub(super) fn next_offset(&self) -> i64 {
        self.next_read.max(self.map.src_end)
    }

    /// Takes a new read of the source's end offset. A negative value is no
    /// information (the end stays unknown, or as last read); an end below
    /// one already read (a new leader whose high watermark lags, or a topic
    /// re-created) is reported and not taken, so a copy is never called
    /// caught up on a read that went backwards.
    pub(super) fn observe_end(&mut self, end: i64) -> Option<String> {
        match self.high_watermark {
            _ if end < 0 => None,
            Some(known) if end < known => Some(format!(
                "the end offset of {}-{} read {end}, below the {known} read before (a leader change, or the topic re-created?); keeping {known}",
                self.topic, self.partition
            )),
            _ => {
                self.high_watermark = Some(end);
                None
            }
        }
    }

    pub(super) fn new(r: Resumed) -> Self {
        Slot {
            next_read: r.map.src_end,
            topic: r.topic,
            target_topic: r.target_topic,
            partition: r.partition,
            map: r.map,
            active: true,
            in_flight: 0,
            copied: 0,
            bytes: 0,
            skipped: 0,
            dirty: true,
            high_watermark: None,
            last_timestamp: None,
            deleted: r.deleted,
            confirmed: false,
            meter: None,
        }
    }
}

/// Slot lookup by topic and partition without allocating per record, and
/// the target topic names by slot.
pub(super) fn build_index(slots: &[Slot]) -> (HashMap<String, Vec<Option<usize>>>, Vec<String>) {
    let mut index: HashMap<String, Vec<Option<usize>>> = HashMap::new();
    for (i, s) in slots.iter().enumerate() {
        let by_partition = index.entry(s.topic.clone()).or_default();
        let p = usize::try_from(s.partition).unwrap_or(0);
        if by_partition.len() <= p {
            by_partition.resize(p + 1, None);
        }
        by_partition[p] = Some(i);
    }
    (
        index,
        slots.iter().map(|s| s.target_topic.clone()).collect(),
    )
}

/// Partitions with nothing in flight have processed everything up to the
/// consumer's position (transaction markers and skipped records included):
/// their maps advance to it.
pub(super) fn advance_idle_positions(pos: &Positions, slots: &mut [Slot]) {
    for s in slots.iter_mut().filter(|s| s.in_flight == 0 && s.active) {
        if let Some(&p) = pos.get(&(s.topic.clone(), s.partition))
            && p > s.map.src_end
        {
            s.map.advance_source(p);
            s.dirty = true;
        }
    }
}

/// Every active partition read up to the source's end offset as last read
/// (its records copied, in flight or skipped; control records passed).
pub(super) fn read_to_end(pos: &Positions, slots: &[Slot]) -> bool {
    let mut active = slots.iter().filter(|s| s.active).peekable();
    active.peek().is_some()
        && active.all(|s| {
            s.high_watermark.is_some_and(|hw| {
                s.next_offset() >= hw
                    || pos
                        .get(&(s.topic.clone(), s.partition))
                        .is_some_and(|&p| p >= hw)
            })
        })
}

/// The consumer's next offset per assigned partition.
pub(super) type Positions = HashMap<(String, i32), i64>;

/// The consumer's position of each assigned partition that has one.
pub(super) fn positions(
    consumer: &BaseConsumer<CopyContext>,
) -> Result<Positions, ReplicatorError> {
    let positions = consumer
        .position()
        .map_err(ReplicatorError::kafka("reading positions"))?;
    Ok(positions
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

/// The end offset a copy of `plan` can reach on the source: the last stable
/// offset when it reads committed data only (an open transaction holds a
/// `read_committed` reader at its first record), else the high watermark.
/// Caught up, drain and lag are measured against it.
pub fn copy_end(plan: &LoadedPlan) -> OffsetSpec {
    if plan.plan.replication.read_committed {
        OffsetSpec::LastStable
    } else {
        OffsetSpec::Latest
    }
}

/// The partitions the slots copy now (their end offsets are read).
pub(super) fn active_partitions(slots: &[Slot]) -> Vec<(String, i32)> {
    slots
        .iter()
        .filter(|s| s.active)
        .map(|s| (s.topic.clone(), s.partition))
        .collect()
}

/// Applies a read of the source's end offsets (see [`copy_end`]) to the
/// slots; a failed read is reported and returned.
pub(super) fn apply_end_offsets(
    ends: Ends,
    slots: &mut [Slot],
    observer: &dyn Observer,
) -> Result<(), String> {
    match ends {
        Ok(hw) => {
            for s in slots.iter_mut() {
                if let Some(&h) = hw.get(&(s.topic.clone(), s.partition))
                    && let Some(notice) = s.observe_end(h)
                {
                    observer.notice(&notice);
                }
            }
            Ok(())
        }
        // Lag is unknown until the next read; copying goes on.
        Err(e) => {
            observer.notice(&format!("cannot read the source's latest offsets: {e}"));
            Err(e)
        }
    }
}

/// Activates assigned partitions with their resumed maps and deactivates
/// revoked ones.
pub(super) fn apply_group_events(
    events: Vec<GroupEvent>,
    slots: &mut Vec<Slot>,
    observer: &dyn Observer,
) {
    for event in events {
        match event {
            GroupEvent::Assigned(resumed) => {
                let n = resumed.len();
                for r in resumed {
                    match slots
                        .iter_mut()
                        .find(|s| s.topic == r.topic && s.partition == r.partition)
                    {
                        Some(s) => {
                            s.map = r.map;
                            s.active = true;
                            s.dirty = true;
                            s.high_watermark = None;
                            s.deleted += r.deleted;
                        }
                        None => slots.push(Slot::new(r)),
                    }
                }
                observer.notice(&format!("scale-out: copying {n} partition(s)"));
            }
            GroupEvent::Revoked(parts) => {
                for s in slots.iter_mut() {
                    if parts
                        .iter()
                        .any(|(t, p)| *t == s.topic && *p == s.partition)
                    {
                        s.active = false;
                    }
                }
                observer.notice(&format!(
                    "scale-out: handed over {} partition(s)",
                    parts.len()
                ));
            }
            GroupEvent::Notice(n) => observer.notice(&n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_offset_never_goes_back_and_negative_is_unknown() {
        let mut slot = Slot::new(Resumed {
            topic: "orders".into(),
            target_topic: "orders".into(),
            partition: 0,
            map: OffsetMap::default(),
            deleted: 0,
        });
        assert_eq!(slot.observe_end(-1), None);
        assert_eq!(slot.high_watermark, None, "unknown stays unknown");
        assert_eq!(slot.observe_end(100), None);
        assert!(slot.observe_end(40).unwrap().contains("below the 100"));
        assert_eq!(slot.observe_end(-1), None);
        assert_eq!(slot.high_watermark, Some(100));
        assert_eq!(slot.observe_end(120), None);
        assert_eq!(slot.high_watermark, Some(120));
    }
}
