//! The copy loop: one source consumer (assigned partitions, explicit start
//! offsets), one idempotent `acks=all` target producer, offset maps updated
//! from delivery reports, periodic checkpoints to the map topic, stats.
//!
//! Ordering and exactly-once across crashes come from three rules:
//! 1. the idempotent producer keeps per-partition order and never
//!    duplicates within a session;
//! 2. a map entry is written only from a delivery report, i.e. once the
//!    record is on the target;
//! 3. on start, each map is extended with the provenance of the records on
//!    the target past the map's end, and copying resumes right after the
//!    last source offset present on the target.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, Timestamp, TopicPartitionList};
use serde::Serialize;

use super::ReplicatorError;
use super::deleted;
use super::group::{GroupEvent, GroupState, SourceContext};
use super::map_store;
use super::offset_map::OffsetMap;
use super::plan::{LoadedPlan, OnDeleted};
use super::provenance::{HEADER, Provenance};
use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{
    ClusterCredentials, ConnectOptions, Connection, KcpContext, client_config, connect,
};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub timeout: Duration,
    /// Stop once every partition is copied up to the source's end.
    pub until_caught_up: bool,
    /// Overrides the plan's throttle.
    pub max_bytes_per_sec: Option<u64>,
    /// How often stats are reported.
    pub stats_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Duration::from_secs(10),
            until_caught_up: false,
            max_bytes_per_sec: None,
            stats_interval: Duration::from_secs(1),
        }
    }
}

/// Per-partition progress.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionStats {
    pub topic: String,
    pub partition: i32,
    /// Next source offset to copy.
    pub position: i64,
    pub high_watermark: i64,
    pub lag: i64,
    pub copied: u64,
    /// Age of the last copied record (now minus its timestamp), in ms.
    pub record_age_ms: Option<i64>,
}

/// A stats sample.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub elapsed_secs: f64,
    pub copied: u64,
    pub bytes: u64,
    pub skipped_cycles: u64,
    pub records_per_sec: f64,
    pub bytes_per_sec: f64,
    pub lag: i64,
    /// Every partition's source end offset has been read at least once
    /// (until then `lag` undercounts).
    pub watermarks_known: bool,
    pub partitions: Vec<PartitionStats>,
}

/// Receives stats and notices (progress bars or JSON lines in the CLI).
pub trait Observer: Sync {
    fn stats(&self, stats: &Stats);
    fn notice(&self, message: &str);
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Records copied (since the last in-process restart, if any).
    pub copied: u64,
    pub bytes: u64,
    pub skipped_cycles: u64,
    /// Records deleted on the source before they could be copied (only
    /// with `on_deleted_records: skip`; otherwise the run stops).
    pub deleted_before_copy: u64,
    /// Records on the source not copied yet when the run ended, from the
    /// last read of the source's latest offsets; `None` when a partition's
    /// latest offset was never read.
    pub lag_at_end: Option<u64>,
    pub partitions: usize,
    pub caught_up: bool,
    pub interrupted: bool,
    pub elapsed_secs: f64,
}

type Delivery = (usize, i64, Result<i64, KafkaError>);

/// Producer context: records delivery reports for the loop to apply.
pub(super) struct DeliveryContext {
    inner: KcpContext,
    deliveries: Mutex<Vec<Delivery>>,
}

impl ClientContext for DeliveryContext {
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

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<(usize, i64)>;
    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (slot, src) = *opaque;
        let outcome = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.clone()),
        };
        if let Ok(mut d) = self.deliveries.lock() {
            d.push((slot, src, outcome));
        }
    }
}

/// A partition being copied.
struct Slot {
    topic: String,
    target_topic: String,
    partition: i32,
    map: OffsetMap,
    /// Copied by this process now (scale-out: the group may give the
    /// partition to another process and back).
    active: bool,
    in_flight: u64,
    copied: u64,
    dirty: bool,
    /// The source's high watermark; `None` until it has been read, so a
    /// partition is never taken for caught up on missing information.
    high_watermark: Option<i64>,
    last_timestamp: Option<i64>,
    /// The source offset after the last record read (copied or skipped).
    next_read: i64,
    /// Records deleted on the source before they were copied (allowed by
    /// `on_deleted_records: skip`).
    deleted: u64,
}

pub(crate) fn consumer(
    creds: &ClusterCredentials,
    extra: &[(&str, &str)],
) -> Result<BaseConsumer<KcpContext>, ReplicatorError> {
    let mut config = client_config(creds)?;
    // Every reader assigns explicit offsets: one that is out of range is an
    // error, never librdkafka's silent jump to the end (`latest`).
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

fn block<F: std::future::Future>(f: F) -> Result<F::Output, ReplicatorError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplicatorError::Setup(format!("cannot start a runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// The selected source topics and their partition counts.
fn source_topics(
    conn: &Connection,
    plan: &LoadedPlan,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    let md = conn.fetch_metadata(None)?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && plan.selects(t.name()))
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect())
}

/// The plan's selected source partitions, `(topic, partition)`.
pub fn source_partitions(
    src: &Connection,
    plan: &LoadedPlan,
) -> Result<Vec<(String, i32)>, ReplicatorError> {
    Ok(source_topics(src, plan)?
        .into_iter()
        .flat_map(|(t, n)| (0..n).map(move |p| (t.clone(), p)))
        .collect())
}

/// Checks, changing nothing, that the clusters differ, that the plan selects
/// topics on the source and that every existing target topic has exactly
/// its source's partition count. Returns the selected topics and their partition counts.
pub fn preflight(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    let (src_id, dst_id) = (cluster_id(src)?, cluster_id(dst)?);
    if src_id == dst_id {
        return Err(ReplicatorError::Setup(format!(
            "source and target are the same cluster (id {src_id})"
        )));
    }
    let topics = source_topics(src, plan)?;
    if topics.is_empty() {
        return Err(ReplicatorError::Setup(
            "the plan selects no topic on the source".into(),
        ));
    }
    let md = dst.fetch_metadata(None)?;
    for t in md.topics().iter().filter(|t| t.error().is_none()) {
        for (topic, partitions) in &topics {
            let have = t.partitions().len() as i32;
            if plan.target_topic(topic) == t.name() && have != *partitions {
                return Err(ReplicatorError::PartitionCount {
                    topic: t.name().to_owned(),
                    target_partitions: have,
                    source_partitions: *partitions,
                });
            }
        }
    }
    Ok(topics)
}

/// Creates the missing target topics and the offset-map topic: what a run
/// does before copying, as a step of its own.
pub fn prepare(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let topics = preflight(plan, src, dst)?;
    prepare_target(src, dst, plan, &topics, observer)?;
    ensure_map_topic(dst, &plan.plan.replication.offset_map_topic)?;
    Ok(())
}

/// Creates missing target topics with the source's partition count and
/// carried configs; refuses target topics with another partition count.
fn prepare_target(
    src: &Connection,
    dst: &Connection,
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let md = dst.fetch_metadata(None)?;
    let existing: HashMap<&str, (i32, bool)> = md
        .topics()
        .iter()
        .map(|t| (t.name(), (t.partitions().len() as i32, t.error().is_none())))
        .collect();
    let admin_dst = dst.admin_client()?;
    warn_log_append_time(dst, plan, topics, &existing, observer)?;
    let mut to_create = Vec::new();
    for (topic, partitions) in topics {
        let target = plan.target_topic(topic);
        match existing.get(target.as_str()) {
            Some((have, true)) if have != partitions => {
                return Err(ReplicatorError::PartitionCount {
                    topic: target,
                    target_partitions: *have,
                    source_partitions: *partitions,
                });
            }
            Some(_) => {}
            None => to_create.push((topic.clone(), target, *partitions)),
        }
    }
    if to_create.is_empty() {
        return Ok(());
    }
    // Configs to carry, from the source.
    let admin_src = src.admin_client()?;
    let specs: Vec<rdkafka::admin::ResourceSpecifier<'_>> = to_create
        .iter()
        .map(|(t, _, _)| rdkafka::admin::ResourceSpecifier::Topic(t))
        .collect();
    let described =
        block(admin_src.describe_configs(&specs, &src.admin_options()))?.unwrap_or_default();
    let mut configs: Vec<BTreeMap<String, String>> = Vec::new();
    for r in &described {
        let topic = crate::state::Topic {
            configs: r
                .as_ref()
                .map(|r| {
                    r.entries
                        .iter()
                        .map(|e| {
                            (
                                e.name.clone(),
                                crate::state::TopicConfig {
                                    value: e.value.clone(),
                                    source: crate::scan::classify::config_source(&e.source),
                                    sensitive: e.is_sensitive,
                                },
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        configs.push(crate::topic_config::to_carry(&topic));
    }
    configs.resize(to_create.len(), BTreeMap::new());
    let new: Vec<NewTopic<'_>> = to_create
        .iter()
        .zip(&configs)
        .map(|((_, target, partitions), cfg)| {
            cfg.iter().fold(
                NewTopic::new(target, *partitions, TopicReplication::Fixed(-1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let results = block(admin_dst.create_topics(&new, &dst.admin_options()))?
        .map_err(ReplicatorError::kafka("creating target topics"))?;
    for result in results {
        match result {
            Ok(name) => observer.notice(&format!("created topic `{name}` on the target")),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                observer.notice(&format!("topic `{name}` already exists on the target"))
            }
            Err((name, code)) => {
                return Err(ReplicatorError::Setup(format!(
                    "cannot create topic `{name}` on the target: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// Existing target topics with `message.timestamp.type=LogAppendTime`
/// replace every copied record's timestamp with the broker's append time.
fn warn_log_append_time(
    dst: &Connection,
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    existing: &HashMap<&str, (i32, bool)>,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let names: Vec<String> = topics
        .keys()
        .map(|t| plan.target_topic(t))
        .filter(|t| existing.contains_key(t.as_str()))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let specs: Vec<rdkafka::admin::ResourceSpecifier<'_>> = names
        .iter()
        .map(|t| rdkafka::admin::ResourceSpecifier::Topic(t))
        .collect();
    let admin_dst = dst.admin_client()?;
    let Ok(described) = block(admin_dst.describe_configs(&specs, &dst.admin_options()))? else {
        observer.notice("cannot read the target topics' configs; timestamps are not checked");
        return Ok(());
    };
    for (name, result) in names.iter().zip(described) {
        let log_append = result
            .ok()
            .and_then(|r| {
                r.get("message.timestamp.type")
                    .and_then(|e| e.value.clone())
            })
            .is_some_and(|v| v == "LogAppendTime");
        if log_append {
            observer.notice(&format!(
                "target topic `{name}` uses message.timestamp.type=LogAppendTime: the broker replaces the copied records' timestamps with its own; set it to CreateTime to keep them"
            ));
        }
    }
    Ok(())
}

pub(super) fn ensure_map_topic(
    dst: &Connection,
    topic: &str,
) -> Result<Vec<(i32, i64)>, ReplicatorError> {
    let md = dst.fetch_metadata(Some(topic))?;
    let exists = md
        .topics()
        .first()
        .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
    if !exists {
        let admin_dst = dst.admin_client()?;
        let new =
            NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
        let results = block(admin_dst.create_topics(&[new], &dst.admin_options()))?
            .map_err(ReplicatorError::kafka("creating the offset-map topic"))?;
        for r in results {
            if let Err((name, code)) = r
                && code != RDKafkaErrorCode::TopicAlreadyExists
            {
                return Err(ReplicatorError::Setup(format!(
                    "cannot create the offset-map topic `{name}`: {code}"
                )));
            }
        }
    }
    let md = dst.fetch_metadata(Some(topic))?;
    let partitions: Vec<(String, i32)> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| (topic.to_owned(), p.id())))
        .collect();
    // A map is several records (segments, then the head): only one
    // partition keeps them in order, and "the latest head wins" meaningful.
    if partitions.len() > 1 {
        return Err(ReplicatorError::Setup(format!(
            "the offset-map topic `{topic}` on the target has {} partitions; kcp needs exactly one. \
             Delete it (the maps are rebuilt from the provenance headers of the copied records) \
             or name a new one in the plan's `replication.offset_map_topic`",
            partitions.len()
        )));
    }
    let hw = admin::list_offsets(dst, &partitions, OffsetSpec::Latest)?;
    Ok(hw
        .into_iter()
        .map(|o| (o.partition, o.offset.unwrap_or(0)))
        .collect())
}

/// Runs the replicator until `stop` is set (or, with `until_caught_up`,
/// until every partition is copied). Blocking.
pub fn run(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    options: &RunOptions,
    observer: &dyn Observer,
    stop: &AtomicBool,
) -> Result<Summary, ReplicatorError> {
    let started = Instant::now();
    let mut restarts = 0;
    loop {
        match run_once(plan, source, target, options, observer, stop) {
            // librdkafka acknowledges a batch without an offset when it
            // infers, from a later batch succeeding, that an earlier one
            // whose response was lost was written. Where it landed is
            // unknown, so the run starts over from the target's truth
            // (the crash-resume path) instead of guessing.
            Err(e @ ReplicatorError::Unconfirmed { .. }) if restarts < MAX_RESTARTS => {
                restarts += 1;
                observer.notice(&format!("{e}; resuming from what the target holds"));
            }
            result => {
                return result.map(|summary| Summary {
                    elapsed_secs: started.elapsed().as_secs_f64(),
                    ..summary
                });
            }
        }
    }
}

/// In-process restarts after an unconfirmed delivery before giving up.
const MAX_RESTARTS: u32 = 3;

fn run_once(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    options: &RunOptions,
    observer: &dyn Observer,
    stop: &AtomicBool,
) -> Result<Summary, ReplicatorError> {
    let started = Instant::now();
    let settings = &plan.plan.replication;
    let src = connect(
        source,
        ConnectOptions {
            timeout: options.timeout,
        },
    )?;
    let dst = connect(
        target,
        ConnectOptions {
            timeout: options.timeout,
        },
    )?;
    let src_id = cluster_id(&src)?;
    let dst_id = cluster_id(&dst)?;
    if src_id == dst_id {
        return Err(ReplicatorError::Setup(format!(
            "source and target are the same cluster (id {src_id})"
        )));
    }

    tracing::debug!(elapsed = ?started.elapsed(), "start-up: connected, cluster ids read");
    let mut topics = source_topics(&src, plan)?;
    if topics.is_empty() {
        return Err(ReplicatorError::Setup(
            "the plan selects no topic on the source".into(),
        ));
    }
    prepare_target(&src, &dst, plan, &topics, observer)?;
    let map_topic = settings.offset_map_topic.clone();
    let map_watermarks = ensure_map_topic(&dst, &map_topic)?;
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: topics listed, target prepared");

    // Load maps, then repair them from what is really on the target.
    // Both consumers assign partitions explicitly and never commit or join:
    // the group id only satisfies librdkafka's position and assignment calls.
    let group = format!("kcp-replicator.{}", plan.plan.name);
    let reader = consumer(
        target,
        &[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_uncommitted"),
        ],
    )?;
    let mut maps = map_store::load(
        &reader,
        &map_topic,
        &map_watermarks,
        &src_id,
        options.timeout,
    )?;
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: offset maps loaded");
    let mut slots: Vec<Slot> = Vec::new();
    // Scale-out: the rebalance callback works with its own connections.
    let group_state = if settings.scale_out {
        let timeout = ConnectOptions {
            timeout: options.timeout,
        };
        Some(Arc::new(GroupState::new(
            connect(source, timeout)?,
            connect(target, timeout)?,
            consumer(
                target,
                &[
                    ("group.id", &format!("{group}.reader")),
                    ("enable.auto.commit", "false"),
                    ("isolation.level", "read_uncommitted"),
                ],
            )?,
            plan.clone(),
            src_id.clone(),
            options.timeout,
        )))
    } else {
        None
    };
    let source_consumer: BaseConsumer<SourceContext> = {
        let mut config = client_config(source)?;
        config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set(
                "isolation.level",
                if settings.read_committed {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            )
            .set("enable.partition.eof", "false")
            // Records deleted before they were read are an error to handle
            // (see `deleted`), never a silent jump to the end.
            .set("auto.offset.reset", "error");
        // Tuning defaults the source's `client_properties` may override.
        set_defaults(
            &mut config,
            source,
            &[
                ("fetch.max.bytes", "52428800"),
                // 32 MiB of prefetched records and 32 MiB of produce queue
                // keep the peak RSS near 300 MB at full speed on Kafka
                // (64 + 64 MiB: ~490 MB, for no measurable gain).
                ("queued.max.messages.kbytes", "32768"),
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "1000"),
            ],
        );
        config
            .create_with_context(SourceContext {
                inner: KcpContext::new(source),
                group: group_state.clone(),
            })
            .map_err(ReplicatorError::kafka("creating the source consumer"))?
    };
    let cx = Context {
        src: &src,
        dst: &dst,
        plan,
        reader: &reader,
        src_id: &src_id,
        source_consumer: &source_consumer,
        timeout: options.timeout,
        observer,
    };
    if group_state.is_some() {
        let names: Vec<&str> = topics.keys().map(String::as_str).collect();
        source_consumer
            .subscribe(&names)
            .map_err(ReplicatorError::kafka("joining the replicator group"))?;
        observer.notice(&format!(
            "scale-out: sharing {} topic(s) with the other replicators of this plan (group `{group}` on the source)",
            names.len()
        ));
    } else {
        add_partitions(&cx, &topics, &mut maps, &mut slots)?;
    }

    tracing::debug!(elapsed = ?started.elapsed(), "start-up: partitions resumed from the target");
    let producer: Arc<BaseProducer<DeliveryContext>> = Arc::new({
        let mut config = client_config(target)?;
        // Tuning defaults the target's `client_properties` may override;
        // the two settings the no-loss, no-duplicate guarantee rests on
        // are always forced.
        set_defaults(
            &mut config,
            target,
            &[
                ("max.in.flight.requests.per.connection", "5"),
                ("linger.ms", "5"),
                ("batch.size", "1048576"),
                ("queue.buffering.max.kbytes", "32768"),
                ("message.max.bytes", "20971520"),
            ],
        );
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &settings.compression);
        config
            .create_with_context(DeliveryContext {
                inner: KcpContext::new(target),
                deliveries: Mutex::new(Vec::new()),
            })
            .map_err(ReplicatorError::kafka("creating the target producer"))?
    });
    if let Some(g) = &group_state
        && let Ok(mut p) = g.producer.lock()
    {
        *p = Some(producer.clone());
    }

    // Record where each partition starts before copying anything, so that a
    // crash before the first periodic checkpoint still leaves a map.
    checkpoint(&producer, &map_topic, &src_id, &mut slots)?;
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: producer created, copying");

    let throttle = options.max_bytes_per_sec.or(settings.max_bytes_per_sec);
    let checkpoint_every = Duration::from_millis(settings.checkpoint_interval_ms);
    let discovery_every = Duration::from_secs(settings.topic_discovery_interval_secs.max(1));
    let (mut bytes, mut skipped) = (0u64, 0u64);
    let mut last_checkpoint = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_discovery = Instant::now();
    let mut last_watermarks = Instant::now() - Duration::from_secs(60);
    let mut window = (Instant::now(), 0u64, 0u64);
    let mut throttle = throttle.map(super::throttle::Throttle::new);
    let (mut index, mut target_topics) = build_index(&slots);
    let mut caught_up = false;
    let mut last_transient: Option<Instant> = None;

    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Apply delivery reports first (acks before new work).
        producer.poll(Duration::ZERO);
        apply_deliveries(&producer, &mut slots)?;

        let polled = source_consumer.poll(Duration::from_millis(50));
        if let Some(g) = &group_state {
            // A rebalance served by that poll: its flush's deliveries first,
            // then the new assignment.
            let events = g.take()?;
            if !events.is_empty() {
                apply_deliveries(&producer, &mut slots)?;
                apply_group_events(events, &mut slots, observer);
                (index, target_topics) = build_index(&slots);
            }
        }
        if let Some(result) = polled {
            let m = match result {
                Ok(m) => m,
                // librdkafka recovers from these by itself (a broker down,
                // a leader moving): say so and keep polling.
                Err(KafkaError::MessageConsumption(code)) if transient(code) => {
                    if last_transient
                        .is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(10))
                    {
                        observer.notice(&format!("reading the source: {code}; retrying"));
                        last_transient = Some(Instant::now());
                    }
                    continue;
                }
                // A fetch below the log start: records deleted before
                // they were read.
                Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset)) => {
                    skip_deleted(&cx, settings.on_deleted_records, &mut slots)?;
                    continue;
                }
                Err(e) => return Err(ReplicatorError::kafka("reading the source")(e)),
            };
            if bytes == 0 {
                tracing::debug!(elapsed = ?started.elapsed(), "first record read from the source");
            }
            let Some(slot_index) = index.get(m.topic()).and_then(|by_partition| {
                by_partition
                    .get(usize::try_from(m.partition()).ok()?)
                    .copied()
                    .flatten()
            }) else {
                continue;
            };
            // Not ours (any more), or fetched before a seek: never copy a
            // record twice.
            if !slots[slot_index].active || m.offset() < slots[slot_index].map.src_end {
                continue;
            }
            slots[slot_index].next_read = m.offset() + 1;
            let headers = m.headers();
            let header_iter = || {
                headers
                    .into_iter()
                    .flat_map(|h| h.iter())
                    .map(|h| (h.key, h.value))
            };
            // A record that came from the target (another replicator running
            // the other way) is not copied back: no cycles.
            if Provenance::names(header_iter(), &dst_id) {
                skipped += 1;
                let slot = &mut slots[slot_index];
                if slot.in_flight == 0 {
                    slot.map.advance_source(m.offset() + 1);
                    slot.dirty = true;
                }
                continue;
            }
            let partition = slots[slot_index].partition;
            let provenance = format!("v1;{src_id};{};{partition};{}", m.topic(), m.offset());
            let mut out_headers =
                OwnedHeaders::new_with_capacity(headers.map_or(0, |h| h.count()) + 1);
            // Every header as it came, earlier hops' provenance included
            // (a chained migration); this copy's goes last.
            for (key, value) in header_iter() {
                out_headers = out_headers.insert(Header { key, value });
            }
            out_headers = out_headers.insert(Header {
                key: HEADER,
                value: Some(provenance.as_bytes()),
            });
            // Target names live apart from `slots`, so that `slots` can take
            // delivery reports while this record waits for queue room.
            let target_topic = target_topics[slot_index].as_str();
            let mut record: BaseRecord<'_, [u8], [u8], Box<(usize, i64)>> =
                BaseRecord::with_opaque_to(target_topic, Box::new((slot_index, m.offset())))
                    .partition(partition)
                    .headers(out_headers);
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            let ts = match m.timestamp() {
                Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
                Timestamp::NotAvailable => None,
            };
            if let Some(t) = ts {
                record = record.timestamp(t);
            }
            let size = (m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len)) as u64;
            // Backpressure: serve deliveries until there is room.
            send_waiting(&producer, record, "producing to the target", |p| {
                apply_deliveries(p, &mut slots)
            })?;
            let slot = &mut slots[slot_index];
            slot.in_flight += 1;
            slot.last_timestamp = ts;
            bytes += size;
            window.2 += size;
            if let Some(throttle) = throttle.as_mut() {
                let wait = throttle.take(size, Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait.min(Duration::from_secs(1)));
                }
            }
        }

        if last_checkpoint.elapsed() >= checkpoint_every {
            advance_idle_positions(&source_consumer, &mut slots)?;
            checkpoint(&producer, &map_topic, &src_id, &mut slots)?;
            last_checkpoint = Instant::now();
        }
        if last_watermarks.elapsed() >= Duration::from_secs(2)
            || (options.until_caught_up && last_watermarks.elapsed() >= Duration::from_millis(500))
        {
            refresh_watermarks(&src, copy_end(plan), &mut slots, observer);
            last_watermarks = Instant::now();
            if options.until_caught_up {
                advance_idle_positions(&source_consumer, &mut slots)?;
                let mut active = slots.iter().filter(|s| s.active).peekable();
                if active.peek().is_some()
                    && active.all(|s| {
                        s.in_flight == 0 && s.high_watermark.is_some_and(|hw| s.map.src_end >= hw)
                    })
                {
                    caught_up = true;
                    break;
                }
            }
        }
        if last_stats.elapsed() >= options.stats_interval {
            let now_copied: u64 = slots.iter().map(|s| s.copied).sum();
            let secs = window.0.elapsed().as_secs_f64().max(1e-3);
            observer.stats(&stats(
                &slots,
                started,
                now_copied,
                bytes,
                skipped,
                (now_copied - window.1) as f64 / secs,
                window.2 as f64 / secs,
            ));
            window = (Instant::now(), now_copied, 0);
            last_stats = Instant::now();
        }
        if last_discovery.elapsed() >= discovery_every {
            let now = source_topics(&src, plan)?;
            let grown: BTreeMap<String, i32> = now
                .iter()
                .filter(|(t, n)| topics.get(*t) != Some(n))
                .map(|(t, n)| (t.clone(), *n))
                .collect();
            if !grown.is_empty() {
                observer.notice(&format!(
                    "new topics or partitions on the source: {}",
                    grown.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                grow_target(&dst, plan, &grown, &topics)?;
                prepare_target(&src, &dst, plan, &grown, observer)?;
                await_partitions(&producer, plan, &grown, options.timeout)?;
                if group_state.is_some() {
                    topics.extend(grown);
                    // The group rebalances over the new list.
                    let names: Vec<&str> = topics.keys().map(String::as_str).collect();
                    source_consumer
                        .subscribe(&names)
                        .map_err(ReplicatorError::kafka("joining the replicator group"))?;
                } else {
                    add_partitions(&cx, &grown, &mut maps, &mut slots)?;
                    (index, target_topics) = build_index(&slots);
                    topics.extend(grown);
                }
            }
            last_discovery = Instant::now();
        }
    }

    // Drain: stop fetching, flush, apply the last deliveries, checkpoint.
    tracing::debug!(elapsed = ?started.elapsed(), caught_up, "copy loop left, draining");
    let interrupted = stop.load(Ordering::Relaxed);
    if group_state.is_some() {
        // Stop fetching but stay in the group until the maps are written:
        // leaving (when the consumer closes) hands the partitions over.
        if let Ok(assigned) = source_consumer.assignment() {
            source_consumer.pause(&assigned).ok();
        }
    } else {
        source_consumer.unassign().ok();
    }
    producer
        .flush(options.timeout * 3)
        .map_err(ReplicatorError::kafka("flushing the target producer"))?;
    apply_deliveries(&producer, &mut slots)?;
    checkpoint(&producer, &map_topic, &src_id, &mut slots)?;
    producer
        .flush(options.timeout)
        .map_err(ReplicatorError::kafka("flushing the offset maps"))?;
    if let Some(g) = &group_state {
        source_consumer.unsubscribe();
        if let Ok(mut p) = g.producer.lock() {
            *p = None;
        }
    }
    let total: u64 = slots.iter().map(|s| s.copied).sum();
    observer.stats(&stats(&slots, started, total, bytes, skipped, 0.0, 0.0));
    Ok(Summary {
        copied: total,
        bytes,
        skipped_cycles: skipped,
        deleted_before_copy: slots.iter().map(|s| s.deleted).sum(),
        lag_at_end: slots
            .iter()
            .filter(|s| s.active)
            .map(|s| {
                s.high_watermark
                    .map(|hw| u64::try_from(hw - s.map.src_end).unwrap_or(0))
            })
            .sum(),
        partitions: slots.iter().filter(|s| s.active).count(),
        caught_up,
        interrupted,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// Slot lookup by topic and partition without allocating per record, and
/// the target topic names by slot.
fn build_index(slots: &[Slot]) -> (HashMap<String, Vec<Option<usize>>>, Vec<String>) {
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

/// Grows target topics whose source gained partitions (CreatePartitions).
fn grow_target(
    dst: &Connection,
    plan: &LoadedPlan,
    grown: &BTreeMap<String, i32>,
    known: &BTreeMap<String, i32>,
) -> Result<(), ReplicatorError> {
    let growing: Vec<(String, usize)> = grown
        .iter()
        .filter(|(t, _)| known.contains_key(*t))
        .map(|(t, n)| (plan.target_topic(t), *n as usize))
        .collect();
    if growing.is_empty() {
        return Ok(());
    }
    let admin_dst = dst.admin_client()?;
    let new: Vec<NewPartitions<'_>> = growing
        .iter()
        .map(|(t, n)| NewPartitions::new(t, *n))
        .collect();
    let results = block(admin_dst.create_partitions(
        &new,
        &AdminOptions::new().operation_timeout(Some(dst.timeout())),
    ))?
    .map_err(ReplicatorError::kafka("adding partitions on the target"))?;
    for r in results {
        if let Err((name, code)) = r {
            return Err(ReplicatorError::Setup(format!(
                "cannot add partitions to `{name}` on the target: {code}"
            )));
        }
    }
    Ok(())
}

/// What adding partitions to the copy needs, besides the maps and slots.
struct Context<'a> {
    src: &'a Connection,
    dst: &'a Connection,
    plan: &'a LoadedPlan,
    /// A group-less reader of the target (map topic, provenance).
    reader: &'a BaseConsumer<KcpContext>,
    src_id: &'a str,
    source_consumer: &'a BaseConsumer<SourceContext>,
    timeout: Duration,
    observer: &'a dyn Observer,
}

/// A partition ready to be copied: where it resumes.
pub(super) struct Resumed {
    pub(super) topic: String,
    pub(super) target_topic: String,
    pub(super) partition: i32,
    pub(super) map: OffsetMap,
    /// Records deleted on the source before they were copied, skipped as
    /// the plan allows (`on_deleted_records: skip`).
    pub(super) deleted: u64,
}

/// Where each of `wanted` (source topic, partition) resumes: its map,
/// loaded from `maps` and repaired from the provenance on the target, begun
/// at the source's log start if new. Records retention deleted before they
/// were copied stop the run, or are skipped and counted when the plan says
/// `on_deleted_records: skip`. Notices go to `notice`.
#[allow(clippy::too_many_arguments)]
pub(super) fn resume_maps(
    src: &Connection,
    dst: &Connection,
    plan: &LoadedPlan,
    reader: &BaseConsumer<KcpContext>,
    src_id: &str,
    maps: &mut HashMap<(String, i32), OffsetMap>,
    wanted: &[(String, i32)],
    timeout: Duration,
    notice: &mut dyn FnMut(String),
) -> Result<Vec<Resumed>, ReplicatorError> {
    let target_parts: Vec<(String, i32)> = wanted
        .iter()
        .map(|(t, p)| (plan.target_topic(t), *p))
        .collect();
    let target_hw = admin::list_offsets(dst, &target_parts, OffsetSpec::Latest)?;
    let hw_of: HashMap<(String, i32), i64> = target_hw
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
        .collect();
    let targets: Vec<(String, String, i32, i64)> = wanted
        .iter()
        .map(|(t, p)| {
            let dst_topic = plan.target_topic(t);
            let hw = hw_of.get(&(dst_topic.clone(), *p)).copied().unwrap_or(0);
            (t.clone(), dst_topic, *p, hw)
        })
        .collect();
    // A map that claims more copies than the target partition holds is not
    // about this target topic (deleted and re-created after a rehearsal):
    // trusting it would resume past history that is not there. It is
    // rebuilt from the records the target really holds.
    for (topic, dst_topic, partition, hw) in &targets {
        let key = (topic.clone(), *partition);
        if let Some(map) = maps.get(&key)
            && map.dst_end > *hw
        {
            notice(format!(
                "the offset map of `{topic}-{partition}` claims {} record(s) copied to `{dst_topic}-{partition}`, which holds {hw} (re-created?): rebuilding it from the target",
                map.dst_end
            ));
            maps.remove(&key);
        }
    }
    let repaired = map_store::repair(reader, src_id, &targets, maps, timeout)?;
    if repaired > 0 {
        notice(format!(
            "resumed: {repaired} copied records found on the target past the last checkpoint"
        ));
    }
    let earliest = admin::list_offsets(src, wanted, OffsetSpec::Earliest)?;
    let earliest_of: HashMap<(String, i32), i64> = earliest
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
        .collect();
    let mut out = Vec::new();
    let mut lost = Vec::new();
    for (topic, target_topic, partition, hw) in targets {
        let mut map = maps.remove(&(topic.clone(), partition)).unwrap_or_default();
        let log_start = earliest_of
            .get(&(topic.clone(), partition))
            .copied()
            .unwrap_or(0);
        map.start_at(log_start, hw);
        let gone = deleted::find([(topic.as_str(), partition, map.src_end)], &earliest_of);
        let mut deleted = 0;
        for range in gone {
            if plan.plan.replication.on_deleted_records == OnDeleted::Stop {
                lost.push(range);
                continue;
            }
            notice(deleted::skipping(&range));
            deleted += range.count();
            map.advance_source(range.to);
        }
        out.push(Resumed {
            topic,
            target_topic,
            partition,
            map,
            deleted,
        });
    }
    if !lost.is_empty() {
        return Err(ReplicatorError::RecordsDeleted(lost));
    }
    Ok(out)
}

impl Slot {
    /// The next source offset to fetch: after the last record read, or
    /// where the map ends when nothing was read since (re)assignment.
    fn next_offset(&self) -> i64 {
        self.next_read.max(self.map.src_end)
    }

    fn new(r: Resumed) -> Self {
        Slot {
            next_read: r.map.src_end,
            topic: r.topic,
            target_topic: r.target_topic,
            partition: r.partition,
            map: r.map,
            active: true,
            in_flight: 0,
            copied: 0,
            dirty: true,
            high_watermark: None,
            last_timestamp: None,
            deleted: r.deleted,
        }
    }
}

/// Repairs maps and assigns the given topics' partitions from their resume points.
fn add_partitions(
    cx: &Context<'_>,
    topics: &BTreeMap<String, i32>,
    maps: &mut HashMap<(String, i32), OffsetMap>,
    slots: &mut Vec<Slot>,
) -> Result<(), ReplicatorError> {
    let known: std::collections::HashSet<(String, i32)> = slots
        .iter()
        .map(|s| (s.topic.clone(), s.partition))
        .collect();
    let wanted: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
        .filter(|tp| !known.contains(tp))
        .collect();
    let resumed = resume_maps(
        cx.src,
        cx.dst,
        cx.plan,
        cx.reader,
        cx.src_id,
        maps,
        &wanted,
        cx.timeout,
        &mut |n| cx.observer.notice(&n),
    )?;
    let mut assignment = TopicPartitionList::new();
    for r in resumed {
        assignment
            .add_partition_offset(&r.topic, r.partition, Offset::Offset(r.map.src_end))
            .map_err(ReplicatorError::kafka("assigning"))?;
        slots.push(Slot::new(r));
    }
    if assignment.count() > 0 {
        // Assign mode has no incremental assignment without a group: assign
        // the whole list again, every partition already being copied at its
        // own next offset. Not at librdkafka's `position()`: that is unset
        // for a partition that has returned no record yet (an empty one, or
        // one whose backlog is still being fetched), and an unset offset
        // would fall back to the reset policy.
        for s in slots.iter().filter(|s| s.active) {
            if assignment.find_partition(&s.topic, s.partition).is_none() {
                assignment
                    .add_partition_offset(&s.topic, s.partition, Offset::Offset(s.next_offset()))
                    .map_err(ReplicatorError::kafka("assigning"))?;
            }
        }
        cx.source_consumer
            .assign(&assignment)
            .map_err(ReplicatorError::kafka("assigning source partitions"))?;
    }
    Ok(())
}

/// Consumer errors librdkafka recovers from on its own (connections,
/// leadership, timeouts). Anything else (authorization, a deleted topic, an
/// offset out of range) stops the run.
fn transient(code: RDKafkaErrorCode) -> bool {
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

/// Activates assigned partitions with their resumed maps and deactivates
/// revoked ones.
fn apply_group_events(events: Vec<GroupEvent>, slots: &mut Vec<Slot>, observer: &dyn Observer) {
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

fn apply_deliveries(
    producer: &BaseProducer<DeliveryContext>,
    slots: &mut [Slot],
) -> Result<(), ReplicatorError> {
    let batch = std::mem::take(
        &mut *producer
            .context()
            .deliveries
            .lock()
            .map_err(|_| ReplicatorError::Setup("delivery lock poisoned".into()))?,
    );
    for (slot, src, outcome) in batch {
        if slot == usize::MAX {
            // An offset-map checkpoint.
            outcome.map_err(|e| ReplicatorError::Kafka {
                operation: "writing offset maps".into(),
                source: Box::new(e),
            })?;
            continue;
        }
        let s = &mut slots[slot];
        s.in_flight -= 1;
        match outcome {
            // A success without an offset cannot go in the map: whether the
            // record landed is unknown, so stop and let the restart read
            // the target's truth (provenance headers).
            Ok(dst) if dst < 0 => {
                // Nothing may still be in flight when the restart reads
                // the target's tail.
                let _ = producer.flush(Duration::from_secs(30));
                return Err(ReplicatorError::Unconfirmed {
                    topic: s.topic.clone(),
                    partition: s.partition,
                    offset: src,
                    reported: dst,
                });
            }
            Ok(dst) => {
                s.map.record_copy(src, dst);
                s.copied += 1;
                s.dirty = true;
            }
            // The idempotent producer already retried; a record that did
            // not land stops the run, which resumes from the target's truth.
            Err(e) => {
                return Err(ReplicatorError::Kafka {
                    operation: format!("copying {}-{} offset {src}", s.topic, s.partition),
                    source: Box::new(e),
                });
            }
        }
    }
    Ok(())
}

/// Partitions with nothing in flight have processed everything up to the
/// consumer's position (transaction markers and skipped records included).
/// Waits until the producer's metadata shows every grown target topic with
/// its new partition count: a record sent to a partition the producer does
/// not know yet fails at once (`UnknownPartition`), where an unknown topic
/// only waits.
fn await_partitions(
    producer: &BaseProducer<DeliveryContext>,
    plan: &LoadedPlan,
    grown: &BTreeMap<String, i32>,
    timeout: Duration,
) -> Result<(), ReplicatorError> {
    let deadline = Instant::now() + timeout;
    for (topic, partitions) in grown {
        let target = plan.target_topic(topic);
        loop {
            let known = producer
                .client()
                .fetch_metadata(Some(&target), Duration::from_secs(1))
                .ok()
                .and_then(|md| {
                    let t = md.topics().first()?;
                    Some(t.error().is_none() && t.partitions().len() as i32 >= *partitions)
                })
                .unwrap_or(false);
            if known {
                break;
            }
            if Instant::now() >= deadline {
                return Err(ReplicatorError::Stalled {
                    what: format!(
                        "waiting for the target to show {partitions} partitions of `{target}`"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Handles a fetch below the log start: finds the partitions whose next
/// records were deleted, then stops (the plan's default) or moves them to
/// their new log start, counting what was lost.
fn skip_deleted(
    cx: &Context<'_>,
    policy: OnDeleted,
    slots: &mut [Slot],
) -> Result<(), ReplicatorError> {
    let active: Vec<(String, i32)> = slots
        .iter()
        .filter(|s| s.active)
        .map(|s| (s.topic.clone(), s.partition))
        .collect();
    let log_start: HashMap<(String, i32), i64> =
        admin::list_offsets(cx.src, &active, OffsetSpec::Earliest)?
            .into_iter()
            .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
            .collect();
    let lost = deleted::find(
        slots
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
    if policy == OnDeleted::Stop {
        return Err(ReplicatorError::RecordsDeleted(lost));
    }
    for range in lost {
        cx.observer.notice(&deleted::skipping(&range));
        let slot = slots
            .iter_mut()
            .find(|s| s.active && s.topic == range.topic && s.partition == range.partition)
            .expect("a range comes from a slot");
        slot.map.advance_source(range.to);
        slot.next_read = range.to;
        slot.deleted += range.count();
        slot.dirty = true;
        cx.source_consumer
            .seek(
                &range.topic,
                range.partition,
                Offset::Offset(range.to),
                cx.timeout,
            )
            .map_err(ReplicatorError::kafka("moving to the new log start"))?;
    }
    Ok(())
}

fn advance_idle_positions(
    consumer: &BaseConsumer<SourceContext>,
    slots: &mut [Slot],
) -> Result<(), ReplicatorError> {
    let positions = consumer
        .position()
        .map_err(ReplicatorError::kafka("reading positions"))?;
    let pos: HashMap<(String, i32), i64> = positions
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect();
    for s in slots.iter_mut().filter(|s| s.in_flight == 0 && s.active) {
        if let Some(&p) = pos.get(&(s.topic.clone(), s.partition))
            && p > s.map.src_end
        {
            s.map.advance_source(p);
            s.dirty = true;
        }
    }
    Ok(())
}

/// Sends a record, waiting while the producer queue is full; `on_wait`
/// runs after each wait (to apply delivery reports).
fn send_waiting<K: rdkafka::message::ToBytes + ?Sized, P: rdkafka::message::ToBytes + ?Sized>(
    producer: &BaseProducer<DeliveryContext>,
    mut record: BaseRecord<'_, K, P, Box<(usize, i64)>>,
    operation: &str,
    mut on_wait: impl FnMut(&BaseProducer<DeliveryContext>) -> Result<(), ReplicatorError>,
) -> Result<(), ReplicatorError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(50));
                on_wait(producer)?;
            }
            Err((e, _)) => {
                return Err(ReplicatorError::Kafka {
                    operation: operation.to_owned(),
                    source: Box::new(e),
                });
            }
        }
    }
}

fn checkpoint(
    producer: &BaseProducer<DeliveryContext>,
    map_topic: &str,
    src_id: &str,
    slots: &mut [Slot],
) -> Result<(), ReplicatorError> {
    // A revoked partition's map is the next owner's to write.
    for s in slots.iter_mut().filter(|s| s.dirty && s.active) {
        // New segments first, then the head that names them.
        let records = map_store::encode(src_id, &s.topic, s.partition, &mut s.map)
            .map_err(|e| ReplicatorError::Setup(format!("cannot encode an offset map: {e}")))?;
        for (key, value) in &records {
            let record: BaseRecord<'_, str, [u8], Box<(usize, i64)>> =
                BaseRecord::with_opaque_to(map_topic, Box::new((usize::MAX, 0)))
                    .key(key.as_str())
                    .payload(value.as_slice());
            send_waiting(producer, record, "writing offset maps", |_| Ok(()))?;
        }
        s.dirty = false;
    }
    Ok(())
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

fn refresh_watermarks(
    src: &Connection,
    end: OffsetSpec,
    slots: &mut [Slot],
    observer: &dyn Observer,
) {
    let parts: Vec<(String, i32)> = slots
        .iter()
        .filter(|s| s.active)
        .map(|s| (s.topic.clone(), s.partition))
        .collect();
    match admin::list_offsets(src, &parts, end) {
        Ok(offsets) => {
            let hw: HashMap<(String, i32), i64> = offsets
                .into_iter()
                .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
                .collect();
            for s in slots.iter_mut() {
                if let Some(h) = hw.get(&(s.topic.clone(), s.partition)) {
                    s.high_watermark = Some(*h);
                }
            }
        }
        // Lag is unknown until the next refresh; copying goes on.
        Err(e) => observer.notice(&format!("cannot read the source's latest offsets: {e}")),
    }
}

fn stats(
    slots: &[Slot],
    started: Instant,
    copied: u64,
    bytes: u64,
    skipped: u64,
    rps: f64,
    bps: f64,
) -> Stats {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let partitions: Vec<PartitionStats> = slots
        .iter()
        .filter(|s| s.active)
        .map(|s| PartitionStats {
            topic: s.topic.clone(),
            partition: s.partition,
            position: s.map.src_end,
            high_watermark: s.high_watermark.unwrap_or(0),
            lag: s.high_watermark.map_or(0, |hw| (hw - s.map.src_end).max(0)),
            copied: s.copied,
            record_age_ms: s.last_timestamp.map(|t| now_ms - t),
        })
        .collect();
    Stats {
        elapsed_secs: started.elapsed().as_secs_f64(),
        copied,
        bytes,
        skipped_cycles: skipped,
        records_per_sec: rps,
        bytes_per_sec: bps,
        lag: partitions.iter().map(|p| p.lag).sum(),
        watermarks_known: slots.iter().any(|s| s.active)
            && slots
                .iter()
                .filter(|s| s.active)
                .all(|s| s.high_watermark.is_some()),
        partitions,
    }
}

/// Loads the offset maps of every selected source partition, repaired from
/// the provenance on the target: what any process needs to translate a
/// group's committed offsets exactly. Read-only on both clusters; uses the
/// callers' connections (and the target connection's timeout).
pub fn offset_maps(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
) -> Result<HashMap<(String, i32), OffsetMap>, ReplicatorError> {
    let (target, timeout) = (dst.credentials(), dst.timeout());
    let src_id = cluster_id(src)?;
    let topics = source_topics(src, plan)?;
    let map_topic = &plan.plan.replication.offset_map_topic;
    let md = dst.fetch_metadata(Some(map_topic))?;
    let map_parts: Vec<(String, i32)> = md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| (map_topic.clone(), p.id())))
        .collect();
    let watermarks: Vec<(i32, i64)> = admin::list_offsets(dst, &map_parts, OffsetSpec::Latest)?
        .into_iter()
        .map(|o| (o.partition, o.offset.unwrap_or(0)))
        .collect();
    let group = format!("kcp-replicator.{}.reader", plan.plan.name);
    let reader = consumer(
        target,
        &[("group.id", &group), ("enable.auto.commit", "false")],
    )?;
    let mut maps = map_store::load(&reader, map_topic, &watermarks, &src_id, timeout)?;
    // Target partitions that exist (before the first copy, none may).
    let on_target: HashSet<(String, i32)> = dst
        .fetch_metadata(None)?
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| (t.name().to_owned(), p.id())))
        .collect();
    let parts: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (plan.target_topic(t), p)))
        .filter(|key| on_target.contains(key))
        .collect();
    let hw: HashMap<(String, i32), i64> = admin::list_offsets(dst, &parts, OffsetSpec::Latest)?
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset.unwrap_or(0)))
        .collect();
    let targets: Vec<(String, String, i32, i64)> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
        .map(|(t, p)| {
            let dst_topic = plan.target_topic(&t);
            let h = hw.get(&(dst_topic.clone(), p)).copied().unwrap_or(0);
            (t, dst_topic, p, h)
        })
        .collect();
    map_store::repair(&reader, &src_id, &targets, &mut maps, timeout)?;
    Ok(maps)
}

/// The data path on librdkafka's mock cluster (in process, no broker): the
/// copy stays exact through retriable produce errors, a broker going down
/// and partition leaders moving on both sides while it runs. The mock has
/// no admin APIs (DescribeCluster, CreateTopics, DescribeConfigs), so the
/// topics are created through the mock's own API and the cluster ids come
/// from Metadata.
#[cfg(test)]
mod mock_tests {
    use super::*;
    use crate::connect::AuthMethod;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::FutureProducer;
    use rdkafka::types::RDKafkaRespErr;

    /// Remembers how much has been copied, so faults land mid-copy.
    #[derive(Default)]
    struct Progress(std::sync::atomic::AtomicU64);
    impl Observer for Progress {
        fn stats(&self, stats: &Stats) {
            self.0.store(stats.copied, Ordering::SeqCst);
        }
        fn notice(&self, _: &str) {}
    }

    fn creds(name: &str, bootstrap: String) -> ClusterCredentials {
        ClusterCredentials {
            name: name.into(),
            bootstrap_servers: vec![bootstrap],
            auth: AuthMethod::Plaintext {},
            msk_arn: None,
            client_properties: BTreeMap::new(),
        }
    }

    /// A partition with more gaps than one map segment holds: every other
    /// source record carries the target's provenance (as if copied there
    /// by a replicator running the other way) and is skipped, so every
    /// copied record starts a run. The map is stored in segments, loads
    /// back whole, resumes, and translates exactly.
    #[test]
    fn a_map_with_many_gaps_is_stored_in_segments_and_resumes() {
        const COPIED: i64 = 4_500;
        let source = MockCluster::new(1).unwrap();
        let target = MockCluster::new(1).unwrap();
        source.create_topic("orders", 1, 1).unwrap();
        target.create_topic("orders", 1, 1).unwrap();
        target.create_topic("_kcp-offset-map", 1, 1).unwrap();
        let src = creds("a", source.bootstrap_servers());
        let dst = creds("b", target.bootstrap_servers());
        let connect_both = || {
            let options = ConnectOptions {
                timeout: Duration::from_secs(5),
            };
            (
                connect(&src, options).unwrap(),
                connect(&dst, options).unwrap(),
            )
        };
        let dst_id = cluster_id(&connect_both().1).unwrap();
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", source.bootstrap_servers())
            .create()
            .unwrap();
        let produce = |from: i64, to: i64| {
            for i in from..to {
                let key = format!("k{i}");
                let echo = format!("v1;{dst_id};orders;0;{i}");
                let mut record = BaseRecord::to("orders")
                    .partition(0)
                    .key(&key)
                    .payload(&key);
                if i % 2 == 1 {
                    record = record.headers(OwnedHeaders::new().insert(Header {
                        key: HEADER,
                        value: Some(&echo),
                    }));
                }
                producer.send(record).map_err(|(e, _)| e).unwrap();
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        };
        produce(0, 2 * COPIED);
        let plan = LoadedPlan::parse(
            std::path::Path::new("plan.yaml"),
            "version: 1\nname: mock\ncredentials_file: c.yaml\nsource: a\ntarget: b\n",
        )
        .unwrap();
        let options = RunOptions {
            timeout: Duration::from_secs(3),
            until_caught_up: true,
            max_bytes_per_sec: None,
            stats_interval: Duration::from_secs(1),
        };
        let stop = AtomicBool::new(false);
        let copy = || run(&plan, &src, &dst, &options, &Progress::default(), &stop).unwrap();
        assert_eq!(copy().copied, COPIED as u64);

        let stored = read_all(&target.bootstrap_servers(), "_kcp-offset-map", 0);
        let segment = stored
            .iter()
            .find(|(k, _, _)| k.ends_with(b";orders;0;0"))
            .expect("a segment record");
        assert!(segment.1.len() < 400_000);
        let (s, d) = connect_both();
        let maps = offset_maps(&plan, &s, &d).unwrap();
        let map = &maps[&("orders".to_owned(), 0)];
        assert_eq!(map.runs.len(), COPIED as usize);
        assert_eq!(map.segments, 1);
        // Committed at a skipped record: resume at the next copied one.
        for committed in [0, 1, 2, 8_191, 8_193, 2 * COPIED - 1] {
            assert_eq!(
                map.translate(committed),
                super::super::Translation::Exact((committed + 1) / 2),
                "source offset {committed}"
            );
        }

        // Resumed from the segmented map: nothing copied twice, new records
        // copied once.
        assert_eq!(copy().copied, 0);
        produce(2 * COPIED, 2 * COPIED + 4);
        assert_eq!(copy().copied, 2);
        let to = read_all(&target.bootstrap_servers(), "orders", 0);
        assert_eq!(to.len(), COPIED as usize + 2);
        for (i, (key, _, prov)) in to.iter().enumerate() {
            assert_eq!(key, format!("k{}", 2 * i).as_bytes());
            assert!(
                prov.as_deref()
                    .unwrap_or_default()
                    .ends_with(&format!(";orders;0;{}", 2 * i))
            );
        }
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

    fn read_all(
        bootstrap: &str,
        topic: &str,
        partition: i32,
    ) -> Vec<(Vec<u8>, Vec<u8>, Option<String>)> {
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "check")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
        c.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let prov = m.headers().and_then(|h| {
                        h.iter()
                            .find(|h| h.key == HEADER)
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    });
                    out.push((
                        m.key().unwrap_or_default().to_vec(),
                        m.payload().unwrap_or_default().to_vec(),
                        prov,
                    ));
                }
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                _ => {}
            }
        }
        out
    }

    /// A delivery report that is a success without an offset (librdkafka's
    /// implicit acknowledgement) stops the attempt and leaves the map as it
    /// was, instead of recording a copy at offset -1001.
    #[test]
    fn an_acknowledgement_without_an_offset_is_not_recorded() {
        let target = MockCluster::new(1).unwrap();
        let creds = creds("b", target.bootstrap_servers());
        let producer: BaseProducer<DeliveryContext> = client_config(&creds)
            .unwrap()
            .create_with_context(DeliveryContext {
                inner: KcpContext::new(&creds),
                deliveries: Mutex::new(Vec::new()),
            })
            .unwrap();
        let mut map = OffsetMap::default();
        map.record_copy(0, 0);
        let mut slots = vec![Slot {
            topic: "orders".into(),
            target_topic: "orders".into(),
            partition: 0,
            map: map.clone(),
            active: true,
            in_flight: 2,
            copied: 1,
            dirty: false,
            high_watermark: None,
            last_timestamp: None,
            next_read: 0,
            deleted: 0,
        }];
        producer
            .context()
            .deliveries
            .lock()
            .unwrap()
            .extend([(0, 1, Ok(1)), (0, 2, Ok(Offset::Invalid.to_raw().unwrap()))]);
        let err = apply_deliveries(&producer, &mut slots).unwrap_err();
        assert!(
            matches!(
                err,
                ReplicatorError::Unconfirmed {
                    offset: 2,
                    reported: -1001,
                    ..
                }
            ),
            "{err:?}"
        );
        map.record_copy(1, 1);
        assert_eq!(slots[0].map, map, "only the confirmed copy is recorded");
        assert_eq!(slots[0].copied, 2);
    }

    #[test]
    fn copies_exactly_through_broker_errors_and_leader_changes() {
        const PARTITIONS: i32 = 4;
        const PER_PARTITION: usize = 300;
        let source = MockCluster::new(3).unwrap();
        let target = MockCluster::new(3).unwrap();
        for (cluster, topic, partitions) in [
            (&source, "orders", PARTITIONS),
            (&target, "orders", PARTITIONS),
            (&target, "_kcp-offset-map", 1),
        ] {
            cluster.create_topic(topic, partitions, 3).unwrap();
        }
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", source.bootstrap_servers())
            .set("enable.idempotence", "true")
            .create()
            .unwrap();
        for i in 0..PER_PARTITION * PARTITIONS as usize {
            let key = format!("k{i}");
            let record = rdkafka::producer::FutureRecord::to("orders")
                .partition((i % PARTITIONS as usize) as i32)
                .key(&key)
                .payload(&key);
            producer
                .send_result(record)
                .map_err(|_| "queue full")
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();

        let plan = LoadedPlan::parse(
            std::path::Path::new("plan.yaml"),
            "version: 1\nname: mock\ncredentials_file: c.yaml\nsource: a\ntarget: b\nreplication: { checkpoint_interval_ms: 200 }\n",
        )
        .unwrap();
        let src = creds("a", source.bootstrap_servers());
        let mut dst = creds("b", target.bootstrap_servers());
        // One produce request in flight per connection. The mock does not
        // check the sequence numbers of a non-transactional idempotent
        // producer, so with several in flight it accepts a batch sent
        // after a failed one, and librdkafka (rightly, for a real broker,
        // which would refuse it as out of order) concludes the failed
        // batch was written: it never was. `run` stops and resumes on
        // such acknowledgements (`ReplicatorError::Unconfirmed`), which on
        // the mock would expose the mock's gap, not the replicator's.
        dst.client_properties
            .insert("max.in.flight.requests.per.connection".into(), "1".into());
        let stop = AtomicBool::new(false);
        let total = (PER_PARTITION * PARTITIONS as usize) as u64;
        let options = RunOptions {
            timeout: Duration::from_secs(3),
            until_caught_up: true,
            // About 5 s of copying, for the faults to land in.
            max_bytes_per_sec: Some(2_000),
            stats_interval: Duration::from_millis(100),
        };
        let progress = Progress::default();
        let (summary, copied_at_faults) = std::thread::scope(|s| {
            let copy = s.spawn(|| run(&plan, &src, &dst, &options, &progress, &stop));
            while progress.0.load(Ordering::SeqCst) == 0 && !copy.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let at = progress.0.load(Ordering::SeqCst);
            // Retriable produce errors, leaders moving on both sides, a
            // source broker down and back.
            target.request_errors(
                rdkafka::types::RDKafkaApiKey::Produce,
                &[
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                ],
            );
            // A source broker down and back first, then the leaders move:
            // a broker going away while the consumer validates a moved
            // leader's epoch can deadlock librdkafka 2.12 itself
            // (confluentinc/librdkafka#5476), which is not what this tests.
            source.broker_down(2).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            source.broker_up(2).unwrap();
            std::thread::sleep(Duration::from_millis(1000));
            for p in 0..PARTITIONS {
                source
                    .partition_leader("orders", p, Some((p + 1) % 3 + 1))
                    .unwrap();
                target
                    .partition_leader("orders", p, Some((p + 2) % 3 + 1))
                    .unwrap();
            }
            (copy.join().unwrap(), at)
        });
        assert!(
            copied_at_faults > 0 && copied_at_faults < total / 2,
            "the faults must land mid-copy: {copied_at_faults} of {total}"
        );
        let summary = summary.unwrap();
        assert!(summary.caught_up, "{summary:?}");
        assert_eq!(summary.copied, total);
        for p in 0..PARTITIONS {
            let from = read_all(&source.bootstrap_servers(), "orders", p);
            let to = read_all(&target.bootstrap_servers(), "orders", p);
            assert_eq!(from.len(), PER_PARTITION, "source partition {p}");
            assert_eq!(
                to.len(),
                PER_PARTITION,
                "partition {p}: a loss or a duplicate"
            );
            for (i, (f, t)) in from.iter().zip(&to).enumerate() {
                assert_eq!((&f.0, &f.1), (&t.0, &t.1), "partition {p} offset {i}");
                let prov = t.2.as_deref().unwrap_or_default();
                assert!(prov.ends_with(&format!(";orders;{p};{i}")), "{prov}");
            }
        }
    }
}
