//! The embedded replicator: an exact, resumable, partition-preserving copy
//! of selected topics from a source cluster to a target cluster.
//!
//! - [`plan`]: the plan file (which clusters, which topics, tuning).
//! - [`provenance`]: the header every copied record carries.
//! - [`offset_map`]: runs of source→target offsets and exact translation of
//!   committed offsets.
//! - [`map_store`]: maps persisted in a compacted topic on the target and
//!   repaired from provenance headers.
//! - [`claims`]: which source writes which target topic (fan-in), recorded
//!   on the target; collisions refused before anything is copied.
//! - [`engine`]: a run (set-up, copy, restart from the target's truth).
//! - `target`: checks and target topics before and while copying.
//! - `resume`: where each partition resumes (maps repaired from the target).
//! - `clients`: the Kafka clients, their one context type and settings.
//! - `copier`: the copy loop; `deliveries`: sends and delivery reports;
//!   `slot`: a partition being copied.
//! - [`stats`]: progress, notices and the closing summary.
//! - [`deleted`]: records deleted on the source before their copy.
//! - `group`: scale-out, partitions shared by several processes through a
//!   consumer group on the source.
//! - [`start`]: where a partition without an offset map starts.
//! - `lease`: one copier per plan (a consumer group on the target).
//! - `meta_sync`: topic configs, ACLs and client quotas kept in sync while copying
//!   (plan key `metadata_sync`).
//! - `txn`: target transactions (plan key `transactions`), the fence
//!   against a frozen or second copier.
//!
//! Dependencies run one way: engine → copier → (group → resume → target) →
//! clients. No dependency on the CLI: progress goes through
//! [`stats::Observer`], and the caller passes the stop flag (set on
//! SIGINT/SIGTERM by the CLI).

pub mod claims;
mod clients;
mod copier;
pub(crate) mod deleted;
mod deliveries;
mod end_offsets;
pub(crate) mod engine;
mod group;
mod internal_topics;
mod lease;
pub(crate) mod map_store;
mod meta_sync;
#[cfg(test)]
mod mock_tests;
pub mod offset_map;
mod place;
pub mod plan;
pub mod provenance;
mod ranges;
mod resume;
mod slot;
pub mod start;
pub mod stats;
mod target;
pub(crate) mod throttle;
mod txn;

use crate::exit::{Diagnostic, ExitStatus};
use rdkafka::error::KafkaError;

pub(crate) use clients::{cluster_id, consumer};
pub use engine::{RunOptions, run};
pub(crate) use map_store::Maps;
pub use offset_map::{OffsetMap, Reverse, Translation};
pub use place::Placer;
pub use plan::{
    Cutover, CutoverConnectors, CutoverGateway, CutoverMode, CutoverSchemas, FenceProducers,
    LoadedPlan, PlanError, Wave, anchored,
};
pub use resume::offset_maps;
pub use slot::copy_end;
pub use stats::{Observer, Stats, Summary};
pub use target::{preflight, prepare, source_partitions};

/// Why replication stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplicatorError {
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    #[error(transparent)]
    Admin(#[from] crate::connect::admin::AdminError),
    /// The client quota protocol (the metadata sync's quotas).
    #[error(transparent)]
    Quotas(#[from] crate::connect::wire::WireError),
    /// Two sources would write one target topic without both asking to
    /// merge (fan-in).
    #[error(transparent)]
    Collision(#[from] claims::CollisionError),
    #[error("{operation} failed")]
    Kafka {
        operation: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// A target topic whose partition count differs from its source's:
    /// fewer breaks the partition-for-partition copy, more sends keyed
    /// records of the moved producers to other partitions than their
    /// history (per-key order lost across the cutover).
    #[error(
        "target topic `{topic}` has {target_partitions} partitions but the source has {source_partitions}; {}",
        if .target_partitions < .source_partitions {
            "copying would break partition order"
        } else {
            "producers moved to the target would hash keys to other partitions than the copied records"
        }
    )]
    PartitionCount {
        topic: String,
        target_partitions: i32,
        source_partitions: i32,
    },
    /// The plan's topic selection matches no topic on the source.
    #[error("the plan selects no topic on the source `{cluster}`")]
    NothingSelected { cluster: String },
    /// An existing target topic takes smaller records than its source: a
    /// record that does not fit would stop the copy midway.
    #[error(
        "target topic `{topic}` has max.message.bytes={limit}, but its source takes records up to {source_limit} bytes (and a copy adds the provenance header): records may not fit"
    )]
    RecordLimit {
        topic: String,
        limit: i64,
        needed: i64,
        source_limit: i64,
    },
    /// A copy was refused by the target as too large (its
    /// `max.message.bytes`, with the provenance header added). The producer
    /// is gapless: nothing after it landed.
    #[error(
        "the target refused the copy of {topic}-{partition} offset {offset} as too large for `{target_topic}` (max.message.bytes, with the provenance header added)"
    )]
    RecordTooLarge {
        topic: String,
        partition: i32,
        offset: i64,
        target_topic: String,
    },
    /// The target's record validation refused a copy (most often a
    /// timestamp outside the target topic's `message.timestamp.*.max.ms`
    /// bounds). Nothing after it landed.
    #[error(
        "the target refused the copy of {topic}-{partition} offset {offset} as invalid for `{target_topic}`{}",
        if .reason.is_empty() { String::new() } else { format!(": {}", .reason) }
    )]
    RecordRefused {
        topic: String,
        partition: i32,
        offset: i64,
        target_topic: String,
        /// The record's timestamp (ms), when known.
        timestamp: Option<i64>,
        /// Why, from the target topic's configs, when they could be read.
        reason: String,
    },
    /// A selected source topic stayed unreadable (its metadata carries an
    /// error) for the whole timeout.
    #[error("source topic `{topic}` is not available: {error}")]
    TopicUnavailable { topic: String, error: String },
    #[error("{0}")]
    Setup(String),
    #[error("no progress while {what}")]
    Stalled { what: String },
    /// The target acknowledged a record without saying where it landed
    /// (seen on librdkafka's mock cluster after repeated produce errors):
    /// the copy stops rather than guess, and the restart resumes from the
    /// records the target really holds.
    #[error(
        "the target acknowledged the copy of {topic}-{partition} offset {offset} without a valid offset ({reported}); stopping so nothing is lost"
    )]
    Unconfirmed {
        topic: String,
        partition: i32,
        offset: i64,
        reported: i64,
    },
    /// Records were deleted on the source (retention, DeleteRecords) before
    /// they could be copied, and the plan does not allow going on without
    /// them.
    #[error(
        "records were deleted on the source before they could be copied: {}",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    RecordsDeleted(Vec<deleted::DeletedRange>),
    /// The source refused a fetch as out of range, yet no partition's next
    /// offset is below its log start (a log truncated by an unclean leader
    /// election, or a topic deleted and re-created).
    #[error(
        "the source answered a fetch with `offset out of range` for a partition kcp cannot place: {detail}"
    )]
    OutOfRange { detail: String },
    /// A source topic was deleted and created again since its copy began
    /// (its topic id changed): the map and the copy on the target are about
    /// the old topic, whose offsets the new one reuses.
    #[error(
        "source topic `{topic}` was deleted and created again on the source since its copy began (topic id {was}, now {now}): its offsets no longer match the copy in `{target_topic}` on the target"
    )]
    SourceRecreated {
        topic: String,
        target_topic: String,
        was: String,
        now: String,
    },
    /// The copies on the target skip source records that exist: a hole
    /// another writer left (kcp's producer is gapless). Resuming past it
    /// would lose them silently.
    #[error(
        "the copies of {topic}-{partition} in `{target_topic}` skip source offsets {from}..{to}, where the source holds {records} record(s) that were never copied"
    )]
    HoleOnTarget {
        topic: String,
        target_topic: String,
        partition: i32,
        from: i64,
        to: i64,
        records: u64,
    },
    /// Another copier of the plan started transactions with the plan's
    /// transactional id: this one's producer is fenced.
    #[error(
        "another copier of plan `{plan}` took over (transactional id `{transactional_id}` on the target): this one stops, and nothing it wrote since its last commit becomes visible"
    )]
    Fenced {
        plan: String,
        transactional_id: String,
    },
    /// An explicit start offset (`start_overrides`) past the partition's end.
    #[error(
        "the plan starts {topic}-{partition} at offset {offset}, past its end {end} on the source"
    )]
    StartPastEnd {
        topic: String,
        partition: i32,
        offset: i64,
        end: i64,
    },
    /// Another copier of the plan holds its lease.
    #[error("another copier of plan `{plan}` is running: {holders}")]
    AnotherCopier { plan: String, holders: String },
    /// The target refused to start transactions: it does not support
    /// them, or the replicator's principal may not use the plan's
    /// transactional id.
    #[error("the target refused transactions for `{transactional_id}`: {reason}")]
    TransactionsUnavailable {
        transactional_id: String,
        reason: String,
    },
    /// A target transaction that had to be aborted (a record or a commit
    /// failed): nothing of it is visible; the run starts over from what the
    /// target committed.
    #[error("a target transaction was aborted: {reason}")]
    Aborted { reason: String },
}

impl ReplicatorError {
    pub(crate) fn kafka(operation: &str) -> impl FnOnce(KafkaError) -> ReplicatorError + '_ {
        move |source| ReplicatorError::Kafka {
            operation: operation.to_owned(),
            source: Box::new(source),
        }
    }
}

impl Diagnostic for ReplicatorError {
    fn status(&self) -> ExitStatus {
        match self {
            ReplicatorError::Connect(e) => e.status(),
            ReplicatorError::Quotas(e) => e.status(),
            ReplicatorError::Collision(e) => e.status(),
            ReplicatorError::AnotherCopier { .. } => ExitStatus::Locked,
            ReplicatorError::PartitionCount { .. }
            | ReplicatorError::NothingSelected { .. }
            | ReplicatorError::RecordLimit { .. }
            | ReplicatorError::StartPastEnd { .. }
            | ReplicatorError::RecordRefused { .. }
            | ReplicatorError::RecordTooLarge { .. } => ExitStatus::BadInput,
            _ => ExitStatus::Failure,
        }
    }

    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            ReplicatorError::Connect(e) => e.hint(),
            ReplicatorError::Quotas(e) => e.hint(),
            ReplicatorError::Collision(e) => e.hint(),
            ReplicatorError::PartitionCount {
                target_partitions,
                source_partitions,
                ..
            } => Some(if target_partitions < source_partitions {
                "add partitions to the target topic (kafka-topics --alter --partitions) or delete it and let kcp create it".into()
            } else {
                "delete the target topic and let kcp create it with the source's partition count (partitions cannot be removed)".into()
            }),
            ReplicatorError::RecordsDeleted(_) => Some(
                "those records are lost for this migration: raise the source topics' `retention.ms` (or copy faster) and start again with fresh target topics, or accept the loss with `on_deleted_records: skip` under `replication` in the plan".into(),
            ),
            ReplicatorError::RecordLimit { topic, needed, .. } => Some(format!(
                "raise it: kafka-configs --bootstrap-server <target> --alter --entity-type topics --entity-name {topic} --add-config max.message.bytes={needed}"
            )),
            ReplicatorError::RecordTooLarge { target_topic, .. } => Some(format!(
                "raise the target topic's limit (kafka-configs --alter --entity-type topics --entity-name {target_topic} --add-config max.message.bytes=<source limit + 1024>), then run again: the copy resumes at that record"
            )),
            ReplicatorError::TopicUnavailable { .. } => Some(
                "check the source cluster's health (partition leaders) and run again; raise --timeout if the cluster is slow to elect leaders".into(),
            ),
            ReplicatorError::NothingSelected { .. } => Some(
                "check `topics.include` / `topics.exclude` in the plan against the source's topics (`kcp scan clusters` lists them)".into(),
            ),
            ReplicatorError::HoleOnTarget { target_topic, .. } => Some(format!(
                "another tool or an older copy wrote `{target_topic}` without those records: delete `{target_topic}` on the target and run again to copy the partition whole (kcp never writes a hole: its producer is gapless or transactional)"
            )),
            ReplicatorError::SourceRecreated { target_topic, .. } => Some(format!(
                "the target holds a copy of the old topic: delete `{target_topic}` on the target and run again to copy the new topic from its start (or copy it under another name with `topics.rename` in the plan)"
            )),
            ReplicatorError::OutOfRange { .. } => Some(
                "check the source topic (was it deleted and re-created, or did a broker lose data?) before running again".into(),
            ),
            ReplicatorError::RecordRefused { target_topic, .. } => Some(format!(
                "for a timestamp, raise the target topic's bound (kafka-configs --alter --entity-type topics --entity-name {target_topic} --add-config message.timestamp.before.max.ms=9223372036854775807, or after.max.ms for timestamps in the future), then run again: the copy resumes at that record"
            )),
            ReplicatorError::StartPastEnd { .. } => Some(
                "fix `replication.start_overrides` in the plan: offsets must be at most the partition's end offset (`kcp scan clusters` shows them)".into(),
            ),
            ReplicatorError::AnotherCopier { .. } => Some(
                "one copier per plan: stop the other one (`kcp migrate replicate` or `kcp migrate execute` of this plan, on the host named), or wait for it to finish; a killed copier frees the plan after 6 s".into(),
            ),
            ReplicatorError::TransactionsUnavailable { transactional_id, .. } => Some(format!(
                "grant the replicator's principal WRITE and DESCRIBE on the transactional id `{transactional_id}` (a TransactionalId ACL) on a target that supports transactions, or set `transactions: false` under `replication` in the plan (a frozen or duplicate copier is then stopped by the lease only, not fenced)"
            )),
            ReplicatorError::Fenced { .. } => Some(
                "look for another `kcp migrate replicate` or `kcp migrate execute` of this plan (another host, a restarted pod): one copier per plan; if the other one is meant to run, nothing is to be done".into(),
            ),
            ReplicatorError::Kafka { .. }
            | ReplicatorError::Stalled { .. }
            | ReplicatorError::Aborted { .. }
            | ReplicatorError::Unconfirmed { .. } => {
                Some("run the same command again: it resumes from what is on the target, without loss or duplicates".into())
            }
            _ => None,
        }
    }
}

/// A start-up thread's result (its panic goes on in this thread).
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}
