//! Scale-out: several replicator processes with the same plan share the
//! source partitions through a consumer group on the source cluster
//! (`replication.scale_out: true`).
//!
//! The group only distributes partitions; positions never come from
//! committed offsets. On a rebalance librdkafka calls back into
//! [`GroupState`] (the source consumer's [`Rebalance`] handler):
//! - **revoke**: the target producer is flushed before the partitions are
//!   given up, so every record this process sent is on the target when the
//!   next owner reads the target's end;
//! - **assign**: each new partition's resume point is computed right there
//!   with the same rule as a restart (offset map from the map topic,
//!   repaired from the provenance headers on the target), and the
//!   partitions are assigned at exactly those offsets. The copy loop then
//!   picks up the maps ([`GroupEvent`]) and activates the slots.
//!
//! A process that dies without leaving the group (SIGKILL) keeps its
//! partitions until the broker expires its session; records it had in
//! flight may land after the next owner has read the target's end
//! (transactions would fence them; see the replicator docs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::BaseProducer;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};

use super::ReplicatorError;
use super::clients::{CopyContext, Rebalance};
use super::map_store;
use super::plan::LoadedPlan;
use super::resume::{Resumed, resume_maps};
use super::target::map_watermarks;
use crate::connect::{Connection, KcpContext};

/// What a rebalance did, for the copy loop.
pub(super) enum GroupEvent {
    /// Copy these partitions from these maps (`topic, target topic,
    /// partition, map`); they are assigned at `map.src_end`.
    Assigned(Vec<Resumed>),
    /// Stop copying these; the producer was flushed first.
    Revoked(Vec<(String, i32)>),
    Notice(String),
}

/// What the rebalance callback needs: its own connections to both
/// clusters and a reader of the target.
pub(super) struct GroupState {
    pub(super) src: Connection,
    pub(super) dst: Connection,
    pub(super) reader: BaseConsumer<KcpContext>,
    pub(super) plan: LoadedPlan,
    /// The source's and the target's cluster ids.
    pub(super) cluster_ids: (String, String),
    pub(super) timeout: Duration,
    /// Flushed before partitions are handed over.
    pub(super) producer: Arc<BaseProducer<CopyContext>>,
    events: Mutex<Vec<GroupEvent>>,
    failure: Mutex<Option<ReplicatorError>>,
}

impl GroupState {
    pub(super) fn new(
        src: Connection,
        dst: Connection,
        reader: BaseConsumer<KcpContext>,
        plan: LoadedPlan,
        cluster_ids: (String, String),
        timeout: Duration,
        producer: Arc<BaseProducer<CopyContext>>,
    ) -> Self {
        GroupState {
            src,
            dst,
            reader,
            plan,
            cluster_ids,
            timeout,
            producer,
            events: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        }
    }

    /// Events since the last call, and the first failure of a callback.
    pub(super) fn take(&self) -> Result<Vec<GroupEvent>, ReplicatorError> {
        if let Some(e) = self.failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        Ok(self
            .events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default())
    }

    fn push(&self, event: GroupEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }

    fn fail(&self, error: ReplicatorError) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(error);
        }
    }

    /// Resume points of newly assigned partitions.
    fn resume(&self, wanted: &[(String, i32)]) -> Result<Vec<Resumed>, ReplicatorError> {
        let map_topic = &self.plan.plan.replication.offset_map_topic;
        let watermarks = map_watermarks(&self.dst, map_topic)?;
        let target_topic = |t: &str| self.plan.target_topic(t);
        let scope = map_store::Scope {
            source_cluster: &self.cluster_ids.0,
            target_cluster: &self.cluster_ids.1,
            target_topic: &target_topic,
        };
        let mut maps = map_store::load(&self.reader, map_topic, &watermarks, &scope, self.timeout)?;
        resume_maps(
            &self.src,
            &self.dst,
            &self.plan,
            &self.reader,
            &self.cluster_ids.0,
            &mut maps,
            wanted,
            self.timeout,
            &mut |n| self.push(GroupEvent::Notice(n)),
        )
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl Rebalance for GroupState {
    fn assign(&self, consumer: &BaseConsumer<CopyContext>, tpl: &TopicPartitionList) {
        let wanted = partitions(tpl);
        let resumed = match self.resume(&wanted) {
            Ok(resumed) => resumed,
            Err(e) => {
                self.fail(e);
                let _ = consumer.assign(&TopicPartitionList::new());
                return;
            }
        };
        let at: HashMap<(&str, i32), i64> = resumed
            .iter()
            .map(|r| ((r.topic.as_str(), r.partition), r.map.src_end))
            .collect();
        let mut list = TopicPartitionList::new();
        for (t, p) in &wanted {
            let offset = at.get(&(t.as_str(), *p)).copied().unwrap_or(0);
            if let Err(e) = list.add_partition_offset(t, *p, Offset::Offset(offset)) {
                self.fail(ReplicatorError::kafka("assigning")(e));
            }
        }
        // Hand the maps over before fetching starts.
        self.push(GroupEvent::Assigned(resumed));
        if let Err(e) = consumer.assign(&list) {
            self.fail(ReplicatorError::kafka("assigning source partitions")(e));
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<CopyContext>, tpl: &TopicPartitionList) {
        // Everything sent for these partitions lands before they go.
        if let Err(e) = super::deliveries::flush(&self.producer, self.timeout * 3) {
            self.fail(ReplicatorError::kafka("flushing before a rebalance")(e));
        }
        self.push(GroupEvent::Revoked(partitions(tpl)));
        let _ = consumer.unassign();
    }

    fn failed(&self, consumer: &BaseConsumer<CopyContext>, code: RDKafkaRespErr) {
        let code: RDKafkaErrorCode = code.into();
        self.push(GroupEvent::Notice(format!("rebalance error: {code}")));
        let _ = consumer.unassign();
    }
}
