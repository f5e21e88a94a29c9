//! A replicator run: connect, prepare the target, resume every partition
//! from what the target holds, copy ([`super::copier`]), and start over
//! from the target's truth when a delivery cannot be placed.
//!
//! Ordering and exactly-once across crashes come from three rules:
//! 1. the idempotent producer keeps per-partition order and never
//!    duplicates within a session;
//! 2. a map entry is written only from a delivery report, i.e. once the
//!    record is on the target;
//! 3. on start, each map is extended with the provenance of the records on
//!    the target past the map's end, and copying resumes right after the
//!    last source offset present on the target.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;

use super::ReplicatorError;
use super::claims;
use super::clients::{self, CopyContext, Rebalance, cluster_id};
use super::copier::{Copier, Links, replicator_group};
use super::group::GroupState;
use super::internal_topics;
use super::join;
use super::lease::Lease;
use super::map_store;
use super::meta_sync;
use super::plan::LoadedPlan;
use super::stats::{Observer, Summary};
use super::target::{self, source_topics};
use super::txn::Transactions;
use crate::connect::{ClusterCredentials, ConnectOptions, Connection, KcpContext, connect};
use crate::telemetry::{Cluster, ErrorKind, ReplicatorMetrics};

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
    /// Prometheus metrics and health (`--metrics-addr`), published once a
    /// second by the copy loop; `None`: nothing is measured.
    pub metrics: Option<Arc<ReplicatorMetrics>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Duration::from_secs(10),
            until_caught_up: false,
            max_bytes_per_sec: None,
            stats_interval: Duration::from_secs(1),
            metrics: None,
        }
    }
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
        let result = run_once(plan, source, target, options, observer, stop);
        if let (Some(m), Err(e)) = (&options.metrics, &result) {
            m.error(error_kind(e));
        }
        match result {
            // librdkafka acknowledges a batch without an offset when it
            // infers, from a later batch succeeding, that an earlier one
            // whose response was lost was written. Where it landed is
            // unknown, so the run starts over from the target's truth
            // (the crash-resume path) instead of guessing.
            // An aborted target transaction: nothing of it is visible, so
            // the same restart picks up from what was committed.
            Err(e @ (ReplicatorError::Unconfirmed { .. } | ReplicatorError::Aborted { .. }))
                if restarts < MAX_RESTARTS =>
            {
                restarts += 1;
                if let Some(m) = &options.metrics {
                    m.restart();
                }
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

/// What kind of error stopped a run, for `kcp_replicator_errors_total`.
fn error_kind(e: &ReplicatorError) -> ErrorKind {
    match e {
        ReplicatorError::RecordTooLarge { .. } | ReplicatorError::Unconfirmed { .. } => {
            ErrorKind::produce
        }
        ReplicatorError::RecordsDeleted(_) | ReplicatorError::OutOfRange { .. } => {
            ErrorKind::consume
        }
        ReplicatorError::Kafka { operation, .. } => {
            if operation.starts_with("copying") || operation.starts_with("producing") {
                ErrorKind::produce
            } else if operation.starts_with("reading the source") {
                ErrorKind::consume
            } else if operation.contains("offset maps") {
                ErrorKind::checkpoint
            } else {
                ErrorKind::other
            }
        }
        _ => ErrorKind::other,
    }
}

/// What a run's start-up works with: the plan, both clusters' connections
/// (and the target's credentials, for its reader), the source's id, and
/// when the run began (for the start-up laps logged at debug level).
#[derive(Clone, Copy)]
struct Start<'a> {
    plan: &'a LoadedPlan,
    target: &'a ClusterCredentials,
    conns: (&'a Connection, &'a Connection),
    src_id: &'a str,
    options: &'a RunOptions,
    observer: &'a dyn Observer,
    started: Instant,
}

/// What a run has once both clusters are ready for the copy.
struct Prepared {
    /// What the run reads of the target (claims, maps, repairs).
    reader: BaseConsumer<KcpContext>,
    /// The smallest record size limit of the target topics, where known.
    record_limit: Option<i64>,
    lease: Option<Lease>,
    /// The source consumer, connected; `None` when the copy is scaled out
    /// (its consumer joins the plan's group once the rebalance handler
    /// exists).
    consumer: Option<BaseConsumer<CopyContext>>,
    map_watermarks: Vec<(i32, i64)>,
}

/// Prepares both sides at once. On the target: kcp's own topics in one
/// request, then the claims (fan-in: no other source writes these target
/// topics unless every plan writing them asked to merge, refused before
/// any of them is made) and the target topics, while the plan's lease is
/// taken on a thread (one copier per plan, before a record is written).
/// On the source, meanwhile, on threads of their own: the
/// topics' configs (for the topics to create) and the copy's `consumer`
/// (made before the clusters were connected, so that its connection
/// overlapped theirs) led to the topics' leaders; over a long link each
/// is several round trips.
fn prepare(
    start: &Start<'_>,
    topics: &BTreeMap<String, i32>,
    group: &str,
    consumer: Option<BaseConsumer<CopyContext>>,
) -> Result<Prepared, ReplicatorError> {
    let Start {
        plan,
        target,
        conns: (src, dst),
        src_id,
        options,
        observer,
        started,
    } = *start;
    let scale_out = plan.plan.replication.scale_out;
    let map_topic = &plan.plan.replication.offset_map_topic;
    let lap = |step: &str| tracing::debug!(elapsed = ?started.elapsed(), "start-up: {step}");
    std::thread::scope(|scope| {
        let configs = scope.spawn(|| target::source_configs(src, topics));
        let consumer = consumer.map(|consumer| {
            scope.spawn(move || {
                clients::warm_up(&consumer, topics, options.timeout);
                lap("source consumer connected");
                consumer
            })
        });
        // Made first, so that their connections open meanwhile. Committed
        // records only: an aborted transaction's copies never happened.
        let reader = clients::consumer(
            target,
            &[
                ("group.id", group),
                ("enable.auto.commit", "false"),
                ("isolation.level", "read_committed"),
            ],
        )?;
        let writer = claims::Writer::new(dst)?;
        internal_topics::ensure_both(dst, map_topic)?;
        lap("kcp's topics ready");
        // The lease group follows the map topic, which exists now. Its
        // own connection: librdkafka 2.12 aborted the process
        // (`rd_kafka_enq_once_del_source_return: Assertion eonce->refcnt >
        // 0`) when the lease's DescribeGroups timed out while the claims'
        // admin requests ran on the same client.
        let lease = (!scale_out).then(|| {
            scope.spawn(|| {
                let own = connect(
                    target,
                    ConnectOptions {
                        timeout: options.timeout,
                    },
                )?;
                let lease = Lease::take(&own, plan, observer);
                lap("lease taken");
                lease
            })
        });
        let record_limit = claims::claim(plan, src_id, dst, (&reader, &writer), topics)
            .and_then(|()| {
                lap("topics claimed");
                join(configs)
            })
            .and_then(|configs| target::prepare_target(&configs, dst, plan, topics, observer));
        drop(writer);
        let consumer = consumer.map(join);
        let lease = lease.map(join);
        // The claims' refusal is the one to report when both fail.
        let record_limit = record_limit?;
        lap("target topics ready");
        let lease = lease.transpose()?;
        let map_watermarks = target::map_watermarks(dst, map_topic)?;
        Ok(Prepared {
            reader,
            record_limit,
            lease,
            consumer,
            map_watermarks,
        })
    })
}

/// In-process restarts after an unconfirmed delivery before giving up.
const MAX_RESTARTS: u32 = 3;

/// One run: set up, copy, drain.
fn run_once(
    plan: &LoadedPlan,
    source: &ClusterCredentials,
    target: &ClusterCredentials,
    options: &RunOptions,
    observer: &dyn Observer,
    stop: &AtomicBool,
) -> Result<Summary, ReplicatorError> {
    let started = Instant::now();
    let timeout = ConnectOptions {
        timeout: options.timeout,
    };
    // The copy's consumer first: librdkafka connects a client as soon as
    // it is made, so its connection overlaps the ones below. A scaled-out
    // copy's consumer joins the plan's group once the rebalance handler
    // exists. One librdkafka refuses is made again later: the connection
    // below reports the refused setting first, naming it without its value.
    let group = replicator_group(plan);
    let early_consumer = (!plan.plan.replication.scale_out)
        .then(|| clients::source_consumer(source, plan, &group, None).ok())
        .flatten();
    // The target producer too, for target topics that take full-size
    // batches (the usual case; see `clients::producer_fits`): its
    // connection and metadata are ready by the time its transactions
    // start, which is then two round trips, not a wait of 0.5 s when
    // librdkafka looked for the coordinator before any broker was up.
    // It sends nothing before the lease is held.
    let early_producer = clients::target_producer(target, plan, None).ok();
    // Both clusters at once: each is a few round trips.
    let open = |creds| -> Result<_, ReplicatorError> {
        let conn = connect(creds, timeout)?;
        let id = cluster_id(&conn)?;
        Ok((conn, id))
    };
    let ((src, src_id), (dst, dst_id)) = std::thread::scope(|scope| {
        let target = scope.spawn(|| open(target));
        let source = open(source);
        Ok::<_, ReplicatorError>((source?, join(target)?))
    })?;
    if src_id == dst_id {
        return Err(ReplicatorError::Setup(format!(
            "source and target are the same cluster (id {src_id})"
        )));
    }
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: connected, cluster ids read");
    let topics = source_topics(&src, plan)?;
    if topics.is_empty() {
        return Err(ReplicatorError::NothingSelected {
            cluster: plan.plan.source.clone(),
        });
    }
    let Prepared {
        reader,
        record_limit,
        lease,
        consumer: ready_consumer,
        map_watermarks,
    } = prepare(
        &Start {
            plan,
            target,
            conns: (&src, &dst),
            src_id: &src_id,
            options,
            observer,
            started,
        },
        &topics,
        &group,
        early_consumer,
    )?;

    // With transactions, earlier copiers of the plan are fenced before
    // anything is read from the target: what it holds is then final.
    let producer = match early_producer {
        Some(p) if clients::producer_fits(record_limit) => p,
        _ => clients::target_producer(target, plan, record_limit)?,
    };
    let producer = Arc::new(producer);
    if let Some(txn) = Transactions::of(&producer, plan, options.timeout) {
        txn.init()?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: target producer ready");
    // Maps as last checkpointed; each is repaired from what is really on
    // the target when its partition is added.
    let target_topic = |t: &str| plan.target_topic(t);
    let scope = map_store::Scope {
        source_cluster: &src_id,
        target_cluster: &dst_id,
        target_topic: &target_topic,
    };
    let map_topic = &plan.plan.replication.offset_map_topic;
    let maps = map_store::load(&reader, map_topic, &map_watermarks, &scope, options.timeout)?;
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: offset maps loaded");
    // Scale-out: the rebalance handler works with its own connections.
    let group_state = if plan.plan.replication.scale_out {
        Some(Arc::new(GroupState::new(
            connect(source, timeout)?,
            connect(target, timeout)?,
            clients::consumer(
                target,
                &[
                    ("group.id", &format!("{group}.reader")),
                    ("enable.auto.commit", "false"),
                    ("isolation.level", "read_committed"),
                ],
            )?,
            plan.clone(),
            (src_id.clone(), dst_id.clone()),
            options.timeout,
            producer.clone(),
        )))
    } else {
        None
    };
    let rebalance = group_state.clone().map(|g| g as Arc<dyn Rebalance>);
    let consumer = match ready_consumer {
        Some(consumer) => consumer,
        None => clients::source_consumer(source, plan, &group, rebalance)?,
    };
    if let Some(m) = &options.metrics {
        consumer.context().watch(m.health.clone(), Cluster::Source);
        producer.context().watch(m.health.clone(), Cluster::Target);
    }
    let links = Links {
        src: &src,
        dst: &dst,
        plan,
        reader: &reader,
        src_id: &src_id,
        dst_id: &dst_id,
        consumer: &consumer,
        producer: &producer,
        group: group_state,
        lease: lease.as_ref(),
        options,
        observer,
    };
    let copier = Copier::start(links, topics, maps, started)?;
    tracing::debug!(elapsed = ?started.elapsed(), "start-up: partitions resumed, copying");
    // The metadata sync runs beside the copy, for as long as it runs.
    let sync_stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if plan.plan.replication.metadata_sync.enabled() {
            let (ids, sync_stop) = ((src_id.as_str(), dst_id.as_str()), &sync_stop);
            let limits = (options.timeout, options.metrics.as_deref());
            std::thread::Builder::new()
                .name("kcp-meta-sync".into())
                .spawn_scoped(scope, move || {
                    meta_sync::run(plan, (source, target), ids, limits, observer, sync_stop)
                })
                .map_err(|e| {
                    ReplicatorError::Setup(format!("cannot start the metadata sync: {e}"))
                })?;
        }
        let result = copier.run(stop);
        sync_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}
