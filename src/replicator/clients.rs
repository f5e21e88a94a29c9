//! The replicator's Kafka clients: their one context type, their settings,
//! and the cluster id they copy between.
//!
//! Every client carries a [`CopyContext`]: the connection layer's auth and
//! logging ([`KcpContext`]), the delivery reports of the target producer,
//! and (scale-out only) the rebalance handler of the source consumer. The
//! settings the no-loss, no-duplicate guarantee rests on are forced here;
//! tuning defaults yield to the cluster's `client_properties`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, Message, TopicPartitionList};

use super::ReplicatorError;
use super::plan::LoadedPlan;
use crate::connect::admin;
use crate::connect::{ClusterCredentials, Connection, KcpContext, client_config};
use crate::telemetry::{Cluster, Health};

/// A delivery report: the slot it belongs to (`usize::MAX` for an
/// offset-map checkpoint), the source offset, and where it landed, or why
/// not with the record's timestamp.
pub(super) type Delivery = (usize, i64, Result<i64, (KafkaError, Option<i64>)>);

/// What the source consumer does when its group rebalances (scale-out).
pub(super) trait Rebalance: Send + Sync {
    /// Partitions given to this process: assign them at their resume points.
    fn assign(&self, consumer: &BaseConsumer<CopyContext>, partitions: &TopicPartitionList);
    /// Partitions taken away: finish what was sent, then unassign.
    fn revoke(&self, consumer: &BaseConsumer<CopyContext>, partitions: &TopicPartitionList);
    /// A rebalance that failed.
    fn failed(&self, consumer: &BaseConsumer<CopyContext>, code: RDKafkaRespErr);
}

/// The context of every replicator client.
pub(super) struct CopyContext {
    inner: KcpContext,
    deliveries: Mutex<Vec<Delivery>>,
    rebalance: Option<Arc<dyn Rebalance>>,
    /// Where this client reports that its cluster answers or not
    /// (`--metrics-addr` only).
    health: OnceLock<(Arc<Health>, Cluster)>,
    /// A transactional producer: what follows a record refused for good
    /// stays queued until the transaction is aborted.
    transactional: bool,
}

impl CopyContext {
    fn new(creds: &ClusterCredentials, rebalance: Option<Arc<dyn Rebalance>>) -> Self {
        CopyContext {
            inner: KcpContext::new(creds),
            deliveries: Mutex::new(Vec::new()),
            rebalance,
            health: OnceLock::new(),
            transactional: false,
        }
    }

    /// Whether this is a transactional producer's context.
    pub(super) fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// Reports this client's view of `cluster` to `health`: all brokers
    /// down (librdkafka's error callback), and answers again (a delivery).
    pub(super) fn watch(&self, health: Arc<Health>, cluster: Cluster) {
        let _ = self.health.set((health, cluster));
    }

    /// The delivery reports received since the last call.
    pub(super) fn take_deliveries(&self) -> Result<Vec<Delivery>, ReplicatorError> {
        Ok(std::mem::take(&mut *self.deliveries.lock().map_err(
            |_| ReplicatorError::Setup("delivery lock poisoned".into()),
        )?))
    }
}

impl CopyContext {
    pub(super) fn push_delivery(&self, delivery: Delivery) {
        if let Ok(mut d) = self.deliveries.lock() {
            d.push(delivery);
        }
    }
}

impl ClientContext for CopyContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.inner.log(level, fac, message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some((health, cluster)) = self.health.get()
            && error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown)
        {
            health.lost(*cluster, reason);
        }
        self.inner.error(error, reason);
    }
    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.inner.generate_oauth_token(config)
    }
}

impl ProducerContext for CopyContext {
    type DeliveryOpaque = Box<(usize, i64)>;
    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (slot, src) = *opaque;
        let outcome = match result {
            Ok(m) => {
                if let Some((health, cluster)) = self.health.get() {
                    health.answered(*cluster);
                }
                Ok(m.offset())
            }
            Err((e, m)) => Err((e.clone(), m.timestamp().to_millis())),
        };
        self.push_delivery((slot, src, outcome));
    }
}

impl ConsumerContext for CopyContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let Some(handler) = &self.rebalance else {
            return;
        };
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => handler.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => handler.revoke(consumer, tpl),
            other => handler.failed(consumer, other),
        }
    }
}

/// Opens the connection of a run's source consumer (one that assigns its
/// partitions itself): a metadata request for the first of `topics`, so
/// that the copy's first fetch finds the leaders known. Best effort: a
/// failure shows again, and is handled, once it copies.
pub(super) fn warm_up(
    consumer: &BaseConsumer<CopyContext>,
    topics: &BTreeMap<String, i32>,
    timeout: Duration,
) {
    if let Some(topic) = topics.keys().next()
        && let Err(e) = consumer.fetch_metadata(Some(topic), timeout)
    {
        tracing::debug!("the source consumer's first metadata request failed: {e}");
    }
}

/// The source consumer. It assigns partitions explicitly (or, with
/// `rebalance`, shares them through the plan's group) and never commits:
/// the group id only satisfies librdkafka's position and assignment calls.
pub(super) fn source_consumer(
    source: &ClusterCredentials,
    plan: &LoadedPlan,
    group: &str,
    rebalance: Option<Arc<dyn Rebalance>>,
) -> Result<BaseConsumer<CopyContext>, ReplicatorError> {
    let mut config = client_config(source)?;
    let isolation = if plan.plan.replication.read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "false")
        // Records deleted before they were read are an error to handle
        // (see `deleted`), never a silent jump to the end.
        .set("auto.offset.reset", "error");
    set_defaults(
        &mut config,
        source,
        &[
            ("fetch.max.bytes", "52428800"),
            // 32 MiB of prefetched records and 32 MiB of produce queue
            // keep the peak RSS near 300 MB at full speed on Kafka
            // (64 + 64 MiB: ~490 MB, for no measurable gain).
            ("queued.max.messages.kbytes", "32768"),
            // Once that queue is full librdkafka stops fetching for this
            // long (1 s by default): the copy drained the queue in about
            // 0.4 s and then waited, so the copy ran in bursts.
            ("fetch.queue.backoff.ms", "10"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    );
    config
        .create_with_context(CopyContext::new(source, rebalance))
        .map_err(ReplicatorError::kafka("creating the source consumer"))
}

/// How long the target producer retries a record before it gives up on it
/// (`message.timeout.ms`, and the transaction timeout, which may not be
/// shorter): a target unreachable for longer stops the copy; a shorter
/// outage is waited out.
pub(super) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The target producer: idempotent, `acks=all`, and either gapless or
/// transactional (the plan's `transactions`), always; the rest are tuning
/// defaults the target's `client_properties` may override.
///
/// `record_limit` is the smallest `max.message.bytes` of the target topics,
/// where known: a batch must fit in it, since librdkafka does not split a
/// batch the broker refuses as too large.
pub(super) fn target_producer(
    target: &ClusterCredentials,
    plan: &LoadedPlan,
    record_limit: Option<i64>,
) -> Result<BaseProducer<CopyContext>, ReplicatorError> {
    let mut config = client_config(target)?;
    let batch_size = batch_size(record_limit).to_string();
    let delivery_timeout = DELIVERY_TIMEOUT.as_millis().to_string();
    set_defaults(
        &mut config,
        target,
        &[
            ("max.in.flight.requests.per.connection", "5"),
            ("linger.ms", "5"),
            ("batch.size", &batch_size),
            ("queue.buffering.max.kbytes", "32768"),
            ("message.max.bytes", "20971520"),
        ],
    );
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", &plan.plan.replication.compression)
        .set("message.timeout.ms", &delivery_timeout);
    if plan.plan.replication.uses_transactions() {
        // A record that fails for good aborts its transaction: nothing
        // after it becomes visible (see `txn`).
        config
            .set("transactional.id", super::txn::transactional_id(plan))
            .set("transaction.timeout.ms", &delivery_timeout);
    } else {
        // Gapless: a record that fails for good (too large, timed out) is
        // a fatal producer error, never a hole with later records landing
        // after it, which a restart would take for a gap on the source.
        config.set("enable.gapless.guarantee", "true");
    }
    let context = CopyContext {
        transactional: plan.plan.replication.uses_transactions(),
        ..CopyContext::new(target, None)
    };
    config
        .create_with_context(context)
        .map_err(ReplicatorError::kafka("creating the target producer"))
}

/// Whether a producer made without knowing the target topics' limit
/// (`target_producer(.., None)`) suits topics whose smallest limit is
/// `record_limit`: its batches fit in them.
pub(super) fn producer_fits(record_limit: Option<i64>) -> bool {
    batch_size(record_limit) == batch_size(None)
}

/// The producer's batch size: 1 MiB, or less when a target topic takes
/// smaller record batches (with 512 bytes for the batch's own framing).
fn batch_size(record_limit: Option<i64>) -> i64 {
    const MAX: i64 = 1 << 20;
    record_limit.map_or(MAX, |limit| (limit - 512).clamp(1024, MAX))
}

/// A reader that assigns explicit offsets (target tails, the map topic,
/// verification): one that is out of range is an error, never librdkafka's
/// silent jump to the end (`latest`).
pub(crate) fn consumer(
    creds: &ClusterCredentials,
    extra: &[(&str, &str)],
) -> Result<BaseConsumer<KcpContext>, ReplicatorError> {
    let mut config = client_config(creds)?;
    config.set("auto.offset.reset", "error");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
        .create_with_context(KcpContext::new(creds))
        .map_err(ReplicatorError::kafka("creating a consumer"))
}

/// Sets each tuning default the cluster's `client_properties` do not set
/// themselves.
fn set_defaults(config: &mut ClientConfig, creds: &ClusterCredentials, defaults: &[(&str, &str)]) {
    for (key, value) in defaults {
        if !creds.client_properties.contains_key(*key) {
            config.set(*key, *value);
        }
    }
}

/// The cluster's id, which names it in provenance headers and offset maps.
pub(crate) fn cluster_id(conn: &Connection) -> Result<String, ReplicatorError> {
    // Metadata (v2+, every broker since Kafka 0.10.1) carries the id;
    // DescribeCluster (Kafka 2.8+) only when it does not, so that brokers
    // without DescribeCluster do not cost a timeout at every start.
    conn.consumer()
        .client()
        .fetch_cluster_id(conn.timeout())
        .filter(|id| !id.is_empty())
        .or_else(|| {
            admin::describe_cluster(conn)
                .ok()
                .and_then(|d| d.cluster_id)
        })
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ReplicatorError::Setup(format!(
                "cluster `{}` did not report a cluster id (DescribeCluster)",
                conn.cluster()
            ))
        })
}

/// Consumer errors librdkafka recovers from on its own (connections,
/// leadership, timeouts). Anything else (authorization, a deleted topic, an
/// offset out of range) stops the run.
pub(super) fn transient(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::BrokerNotAvailable
            | RDKafkaErrorCode::ReplicaNotAvailable
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::KafkaStorageError
            | RDKafkaErrorCode::FencedLeaderEpoch
            | RDKafkaErrorCode::UnknownLeaderEpoch
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(name: &str, bootstrap: String) -> ClusterCredentials {
        ClusterCredentials::plaintext(name, bootstrap)
    }

    #[test]
    fn client_properties_override_tuning_defaults_only() {
        let mut source = creds("src", "127.0.0.1:1".into());
        source
            .client_properties
            .insert("fetch.max.bytes".into(), "1048576".into());
        let mut config = client_config(&source).unwrap();
        set_defaults(
            &mut config,
            &source,
            &[
                ("fetch.max.bytes", "52428800"),
                ("queued.max.messages.kbytes", "65536"),
            ],
        );
        assert_eq!(config.get("fetch.max.bytes"), Some("1048576"));
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("65536"));
    }

    #[test]
    fn a_producer_made_before_the_limits_are_known_fits_full_size_topics_only() {
        // Kafka's default max.message.bytes, and kcp's 1 KiB of room on it.
        assert!(producer_fits(None));
        assert!(producer_fits(Some(1_048_588 + 1024)));
        assert!(producer_fits(Some(20 << 20)));
        // A target topic that takes smaller batches needs its own producer.
        assert!(!producer_fits(Some(1_048_588)));
        assert!(!producer_fits(Some(3000)));
    }
}
