//! Which source partitions a copier copies: topics and partitions that
//! appear on the source while it runs (created and grown on the target,
//! then assigned, or subscribed with scale-out), and partitions whose next
//! records were deleted before they were read.

use std::collections::{BTreeMap, HashMap, HashSet};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::super::plan::OnDeleted;
use super::super::resume::resume_maps;
use super::super::slot::{self, Slot};
use super::super::{ReplicatorError, deleted, target};
use super::{Copier, replicator_group};
use crate::connect::admin::{self, OffsetSpec};

impl Copier<'_> {
    /// New topics or partitions on the source: grown and created on the
    /// target, then copied.
    pub(super) fn discover(&mut self) -> Result<(), ReplicatorError> {
        let links = &self.links;
        let now = target::available_source_topics(links.src, links.plan)?;
        let grown: BTreeMap<String, i32> = now
            .into_iter()
            .filter(|(t, n)| self.topics.get(t) != Some(n))
            .collect();
        if grown.is_empty() {
            return Ok(());
        }
        links.observer.notice(&format!(
            "new topics or partitions on the source: {}",
            grown.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        let writer = super::super::claims::Writer::new(links.dst)?;
        super::super::claims::claim(
            links.plan,
            links.src_id,
            links.dst,
            (links.reader, &writer),
            &grown,
        )?;
        target::grow_target(links.dst, links.plan, &grown, &self.topics)?;
        let sources = target::source_configs(links.src, &grown)?;
        target::prepare_target(&sources, links.dst, links.plan, &grown, links.observer)?;
        target::await_partitions(links.producer, links.plan, &grown, links.options.timeout)?;
        self.add_topics(grown)
    }

    /// Starts copying `topics` (new ones, or more partitions of known
    /// ones): in assign mode, maps repaired and partitions assigned here;
    /// with scale-out, the group rebalances over the new list.
    pub(super) fn add_topics(
        &mut self,
        topics: BTreeMap<String, i32>,
    ) -> Result<(), ReplicatorError> {
        let Some(_) = &self.links.group else {
            self.add_partitions(&topics)?;
            self.topics.extend(topics);
            return Ok(());
        };
        let first = self.topics.is_empty();
        self.topics.extend(topics);
        let names: Vec<&str> = self.topics.keys().map(String::as_str).collect();
        self.links
            .consumer
            .subscribe(&names)
            .map_err(ReplicatorError::kafka("joining the replicator group"))?;
        if first {
            self.links.observer.notice(&format!(
                "scale-out: sharing {} topic(s) with the other replicators of this plan (group `{}` on the source)",
                names.len(),
                replicator_group(self.links.plan)
            ));
        }
        Ok(())
    }

    /// Repairs maps and assigns the given topics' partitions from their
    /// resume points.
    pub(super) fn add_partitions(
        &mut self,
        topics: &BTreeMap<String, i32>,
    ) -> Result<(), ReplicatorError> {
        let known: HashSet<(String, i32)> = self
            .slots
            .iter()
            .map(|s| (s.topic.clone(), s.partition))
            .collect();
        let wanted: Vec<(String, i32)> = topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
            .filter(|tp| !known.contains(tp))
            .collect();
        let links = &self.links;
        let resumed = resume_maps(
            links.src,
            links.dst,
            links.plan,
            links.reader,
            links.src_id,
            &mut self.maps,
            &wanted,
            links.options.timeout,
            &mut |n| links.observer.notice(&n),
        )?;
        let mut assignment = TopicPartitionList::new();
        for r in resumed {
            assignment
                .add_partition_offset(&r.topic, r.partition, Offset::Offset(r.map.src_end))
                .map_err(ReplicatorError::kafka("assigning"))?;
            self.slots.push(Slot::new(r));
        }
        if assignment.count() > 0 {
            // Assign mode has no incremental assignment without a group:
            // assign the whole list again, every partition already being
            // copied at its own next offset. Not at librdkafka's
            // `position()`: that is unset for a partition that has returned
            // no record yet (an empty one, or one whose backlog is still
            // being fetched), and an unset offset would fall back to the
            // reset policy.
            for s in self.slots.iter().filter(|s| s.active) {
                if assignment.find_partition(&s.topic, s.partition).is_none() {
                    assignment
                        .add_partition_offset(
                            &s.topic,
                            s.partition,
                            Offset::Offset(s.next_offset()),
                        )
                        .map_err(ReplicatorError::kafka("assigning"))?;
                }
            }
            self.links
                .consumer
                .assign(&assignment)
                .map_err(ReplicatorError::kafka("assigning source partitions"))?;
        }
        self.reindex();
        Ok(())
    }

    pub(super) fn reindex(&mut self) {
        (self.index, self.target_topics) = slot::build_index(&self.slots);
    }

    /// Handles a fetch below the log start: finds the partitions whose
    /// next records were deleted, then stops (the plan's default) or moves
    /// them to their new log start, counting what was lost.
    pub(super) fn skip_deleted(&mut self) -> Result<(), ReplicatorError> {
        let links = &self.links;
        let active: Vec<(String, i32)> = self
            .slots
            .iter()
            .filter(|s| s.active)
            .map(|s| (s.topic.clone(), s.partition))
            .collect();
        let log_start: HashMap<(String, i32), i64> =
            admin::list_offsets(links.src, &active, OffsetSpec::Earliest)?
                .into_iter()
                .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
                .collect();
        let lost = deleted::find(
            self.slots
                .iter()
                .filter(|s| s.active)
                .map(|s| (s.topic.as_str(), s.partition, s.next_offset())),
            &log_start,
        );
        if lost.is_empty() {
            return Err(ReplicatorError::OutOfRange {
                detail: "every partition's next offset is within its log".to_owned(),
            });
        }
        if links.plan.plan.replication.on_deleted_records == OnDeleted::Stop {
            return Err(ReplicatorError::RecordsDeleted(lost));
        }
        for range in lost {
            links.observer.notice(&deleted::skipping(&range));
            let slot = self
                .slots
                .iter_mut()
                .find(|s| s.active && s.topic == range.topic && s.partition == range.partition)
                .expect("a range comes from a slot");
            slot.map.advance_source(range.to);
            slot.next_read = range.to;
            slot.deleted += range.count();
            slot.dirty = true;
            links
                .consumer
                .seek(
                    &range.topic,
                    range.partition,
                    Offset::Offset(range.to),
                    links.options.timeout,
                )
                .map_err(ReplicatorError::kafka("moving to the new log start"))?;
        }
        Ok(())
    }
}
