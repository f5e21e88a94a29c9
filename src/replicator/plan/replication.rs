//! The `replication` part of a plan: the copier's settings and the
//! continuous metadata sync, with its checks.

use std::path::PathBuf;

use serde::Deserialize;

use super::super::start::{StartFrom, StartOverride};
use super::DEFAULT_MAP_TOPIC;

/// Replicator tuning.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationSettings {
    /// Read only committed transactional data (aborted records are not copied).
    #[serde(default = "yes")]
    pub read_committed: bool,
    #[serde(default)]
    pub max_bytes_per_sec: Option<u64>,
    #[serde(default = "default_checkpoint_ms")]
    pub checkpoint_interval_ms: u64,
    #[serde(default = "default_map_topic")]
    pub offset_map_topic: String,
    /// Compression of produced batches (librdkafka `compression.type`).
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Seconds between checks for new topics and partitions on the source.
    #[serde(default = "default_discovery_secs")]
    pub topic_discovery_interval_secs: u64,
    /// Share the partitions with every other replicator process running
    /// this plan, through a consumer group on the source. All processes of
    /// a plan must agree (it is a plan setting for that reason).
    #[serde(default)]
    pub scale_out: bool,
    /// What to do when source records are deleted (retention,
    /// DeleteRecords) before they were copied.
    #[serde(default)]
    pub on_deleted_records: OnDeleted,
    /// Write the copies and the offset-map checkpoints in target
    /// transactions under one transactional id per plan: a copier that was
    /// frozen, partitioned away or started twice is fenced, and nothing it
    /// wrote after the last commit ever becomes visible. Costs one commit
    /// per checkpoint interval (a marker in each target partition written,
    /// absorbed by loose runs in the maps). Unset: on, unless the plan
    /// scales out (see [`Self::uses_transactions`]).
    #[serde(default)]
    pub transactions: Option<bool>,
    /// Where a partition without an offset map starts (see `start`).
    #[serde(default)]
    pub start_from: StartFrom,
    /// Per topic pattern: another start, or explicit offsets.
    #[serde(default)]
    pub start_overrides: Vec<StartOverride>,
    /// Topic configs and ACLs kept in sync while copying (see
    /// `meta_sync`).
    #[serde(default)]
    pub metadata_sync: MetadataSync,
    /// Set by kcp on the plan of a consumer-last migration's copy back
    /// (target to source, see [`LoadedPlan::reversed`]); never read from a
    /// file. Its target topics are the original source topics, whose record
    /// size limit kcp raised by the header room on the other side: a
    /// smaller limit there is reported, not refused.
    #[serde(skip)]
    pub copy_back: bool,
}

/// What the replicator keeps in sync from the source to the target while
/// it copies, and how often (plan key `replication.metadata_sync`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSync {
    /// Seconds between two rounds (the first runs at start).
    #[serde(default = "default_sync_secs")]
    pub interval_secs: u64,
    /// Apply changes of the source topics' carried configs (on by default).
    #[serde(default = "yes")]
    pub topic_configs: bool,
    /// Apply the source's ACL bindings, principals mapped (off by default).
    #[serde(default)]
    pub acls: bool,
    /// Apply the source's client quotas, users mapped (off by default).
    #[serde(default)]
    pub quotas: bool,
    /// The principal mapping file of `kcp create-asset acls`, relative to
    /// the plan; without it, principals keep their names (ACLs and quotas).
    #[serde(default)]
    pub principal_map: Option<PathBuf>,
}

impl Default for MetadataSync {
    fn default() -> Self {
        MetadataSync {
            interval_secs: default_sync_secs(),
            topic_configs: true,
            acls: false,
            quotas: false,
            principal_map: None,
        }
    }
}

impl MetadataSync {
    /// Whether the sync runs at all.
    pub fn enabled(&self) -> bool {
        self.topic_configs || self.acls || self.quotas
    }
}

/// Two minutes, as Confluent Replicator: a retention change reaches the
/// target well within a cutover's lag window, for one DescribeConfigs of
/// the selected topics per cluster per round (MirrorMaker 2's ten minutes
/// would let a change made during a rehearsal miss the cutover).
fn default_sync_secs() -> u64 {
    120
}

impl ReplicationSettings {
    /// Whether copies go through target transactions: as the plan says,
    /// by default yes for a single copier. Scale-out has no transactions
    /// yet (one transactional id per plan would fence all processes but
    /// one).
    pub fn uses_transactions(&self) -> bool {
        self.transactions.unwrap_or(!self.scale_out)
    }
}

/// What the replicator does when records it has not copied yet are deleted
/// on the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeleted {
    /// Stop the run with an error naming the partitions and offsets.
    #[default]
    Stop,
    /// Go on from the new log start; the records are counted and reported.
    Skip,
}

pub(super) fn yes() -> bool {
    true
}
fn default_checkpoint_ms() -> u64 {
    2_000
}
fn default_map_topic() -> String {
    DEFAULT_MAP_TOPIC.to_owned()
}
fn default_compression() -> String {
    "lz4".to_owned()
}
fn default_discovery_secs() -> u64 {
    30
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        ReplicationSettings {
            read_committed: true,
            max_bytes_per_sec: None,
            checkpoint_interval_ms: default_checkpoint_ms(),
            offset_map_topic: default_map_topic(),
            compression: default_compression(),
            topic_discovery_interval_secs: default_discovery_secs(),
            scale_out: false,
            on_deleted_records: OnDeleted::Stop,
            transactions: None,
            start_from: StartFrom::Earliest,
            start_overrides: Vec::new(),
            metadata_sync: MetadataSync::default(),
            copy_back: false,
        }
    }
}

/// Checks `replication.metadata_sync`: the field and the message of the
/// first problem.
pub(super) fn check_metadata_sync(r: &ReplicationSettings) -> Result<(), (&'static str, String)> {
    let sync = &r.metadata_sync;
    if sync.interval_secs == 0 {
        return Err((
            "interval_secs",
            "must be at least 1; to turn the sync off, set `topic_configs: false` (and leave `acls` and `quotas` off)".into(),
        ));
    }
    if sync.principal_map.is_some() && !sync.acls && !sync.quotas {
        return Err((
            "principal_map",
            "is only used by the ACL and quota syncs: set `acls: true` or `quotas: true` too, or remove it".into(),
        ));
    }
    if sync.acls && r.scale_out {
        return Err((
            "acls",
            "cannot be combined with `scale_out` yet: every process would sync the ACLs and record what it created; sync ACLs from a plan with one copier".into(),
        ));
    }
    if sync.quotas && r.scale_out {
        return Err((
            "quotas",
            "cannot be combined with `scale_out` yet: every process would sync the quotas and record what it set; sync quotas from a plan with one copier".into(),
        ));
    }
    Ok(())
}
