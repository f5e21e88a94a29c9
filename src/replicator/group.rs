//! Scale-out: several replicator processes with the same plan share the
//! source partitions through a consumer group on the source cluster
//! (`replication.scale_out: true`).
//!
//! The group only distributes partitions; positions never come from
//! committed offsets. On a rebalance librdkafka calls back into
//! [`SourceContext`]:
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

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::ReplicatorError;
use super::engine::{DeliveryContext, Resumed, ensure_map_topic, resume_maps};
use super::map_store;
use super::plan::LoadedPlan;
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
    pub(super) src_id: String,
    pub(super) timeout: Duration,
    /// Set once the target producer exists.
    pub(super) producer: Mutex<Option<Arc<BaseProducer<DeliveryContext>>>>,
    events: Mutex<Vec<GroupEvent>>,
    failure: Mutex<Option<ReplicatorError>>,
}

impl GroupState {
    pub(super) fn new(
        src: Connection,
        dst: Connection,
        reader: BaseConsumer<KcpContext>,
        plan: LoadedPlan,
        src_id: String,
        timeout: Duration,
    ) -> Self {
        GroupState {
            src,
            dst,
            reader,
            plan,
            src_id,
            timeout,
            producer: Mutex::new(None),
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
        let watermarks = ensure_map_topic(&self.dst, map_topic)?;
        let mut maps = map_store::load(
            &self.reader,
            map_topic,
            &watermarks,
            &self.src_id,
            self.timeout,
        )?;
        resume_maps(
            &self.src,
            &self.dst,
            &self.plan,
            &self.reader,
            &self.src_id,
            &mut maps,
            wanted,
            self.timeout,
            &mut |n| self.push(GroupEvent::Notice(n)),
        )
    }
}

/// The source consumer's context: KcpContext's auth and logging, plus the
/// rebalance handling of scale-out (absent in assign mode).
pub(super) struct SourceContext {
    pub(super) inner: KcpContext,
    pub(super) group: Option<Arc<GroupState>>,
}

impl ClientContext for SourceContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.inner.log(level, fac, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.error(error, reason);
    }
    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.inner.generate_oauth_token(config)
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ConsumerContext for SourceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::consumer::Consumer;
        use rdkafka::types::RDKafkaRespErr;
        let Some(group) = &self.group else {
            return;
        };
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let wanted = partitions(tpl);
                match group.resume(&wanted) {
                    Ok(resumed) => {
                        let at: HashMap<(&str, i32), i64> = resumed
                            .iter()
                            .map(|r| ((r.topic.as_str(), r.partition), r.map.src_end))
                            .collect();
                        let mut list = TopicPartitionList::new();
                        for (t, p) in &wanted {
                            let offset = at.get(&(t.as_str(), *p)).copied().unwrap_or(0);
                            if let Err(e) = list.add_partition_offset(t, *p, Offset::Offset(offset))
                            {
                                group.fail(ReplicatorError::kafka("assigning")(e));
                            }
                        }
                        // Hand the maps over before fetching starts.
                        group.push(GroupEvent::Assigned(resumed));
                        if let Err(e) = consumer.assign(&list) {
                            group.fail(ReplicatorError::kafka("assigning source partitions")(e));
                        }
                    }
                    Err(e) => {
                        group.fail(e);
                        let _ = consumer.assign(&TopicPartitionList::new());
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // Everything sent for these partitions lands before they go.
                let producer = group.producer.lock().ok().and_then(|p| p.clone());
                if let Some(producer) = producer
                    && let Err(e) = producer.flush(group.timeout * 3)
                {
                    group.fail(ReplicatorError::kafka("flushing before a rebalance")(e));
                }
                group.push(GroupEvent::Revoked(partitions(tpl)));
                let _ = consumer.unassign();
            }
            other => {
                let code: rdkafka::types::RDKafkaErrorCode = other.into();
                group.push(GroupEvent::Notice(format!("rebalance error: {code}")));
                let _ = consumer.unassign();
            }
        }
    }
}
