//! The migration plan for one scanned source cluster and a target: the
//! inventory, the topics to create, copy-time estimates, cutover waves and
//! risk flags, each with a reason and a suggested action.
//!
//! This file holds the model (the report's JSON) and [`build`], which walks
//! the source's topics once; `risks.rs` holds the risk rules, `waves.rs` the
//! cutover waves and `render.rs` the document and CSV views of a report.

mod connectors;
mod platform;
mod render;
mod risks;
mod schemas;
mod waves;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::doc::num;
use super::{ReportError, Stamp};
use crate::state::{KafkaCluster, MskCluster, State, Topic};

pub(crate) use waves::group_components;

/// Replication throughput assumed when `--replication-mbps` is not given:
/// one kcp process copied 43 MB/s (100-byte records) to 181 MB/s (1 KiB)
/// against Apache Kafka on loopback on 2 cores, and 129 MB/s of 1 KiB
/// records from a source 80 ms away (`cargo bench --bench compare`,
/// docs/benchmarks.md, 2026-12-05); 40, near the small-record figure,
/// leaves room for TLS, a busy target and records smaller than 100 bytes.
pub(crate) const DEFAULT_REPLICATION_MBPS: f64 = 40.0;

/// Bytes per record assumed when neither partition sizes nor MSK metrics give one.
const ASSUMED_RECORD_BYTES: f64 = 1024.0;

/// Topic configs that Confluent Cloud lets a user set on a topic.
pub(crate) const CONFLUENT_CLOUD_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "delete.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

#[derive(Debug, Serialize)]
pub(crate) struct PlanReport {
    pub report: &'static str,
    pub schema_version: u32,
    pub generated_from: Stamp,
    pub source: String,
    pub target: String,
    /// `confluent-cloud`, `msk`, `kafka`, or `cluster` (another scanned cluster).
    pub target_kind: String,
    pub replication_mbps: f64,
    pub replication_mbps_basis: String,
    pub inventory: Inventory,
    pub create_on_target: Vec<TopicToCreate>,
    pub not_migrated: Vec<Skipped>,
    pub copy_estimate: Vec<TopicCopy>,
    pub total_copy_seconds: f64,
    pub waves: Vec<Wave>,
    pub risks: Vec<Risk>,
    /// The source's Schema Registry, when the plan names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemas: Option<schemas::SchemasPlan>,
    /// The source's Kafka Connect clusters, when it has any in the state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connectors: Option<connectors::ConnectorsPlan>,
    /// MSK Connect connectors on the source and Glue schemas of its region
    /// (`kcp discover`), when the state has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_platform: Option<platform::PlatformPlan>,
    /// The source's client quotas, as scanned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_quotas: Vec<crate::state::ClientQuota>,
}

/// The scanned Kafka Connect clusters (names in the state) the plan covers:
/// `source` empty means every one that keeps its state in the source cluster.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Connects<'a> {
    pub source: &'a [String],
    pub target: Option<&'a str>,
}

/// The scanned Schema Registries (names in the state) the plan covers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Registries<'a> {
    pub source: Option<&'a str>,
    pub target: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Inventory {
    pub topics: usize,
    pub migrated_topics: usize,
    pub partitions: usize,
    pub migrated_partitions: usize,
    pub messages: i64,
    pub bytes_estimate: f64,
    pub bytes_basis: String,
    pub messages_per_sec: f64,
    pub consumer_groups: usize,
    pub acls: usize,
    pub principals: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TopicToCreate {
    pub topic: String,
    pub partitions: usize,
    pub replication_factor: u16,
    /// Configs to carry (set on the topic or differing from Kafka's
    /// default, see [`crate::topic_config`]) that the target accepts.
    pub configs: BTreeMap<String, String>,
    /// Set configs the target does not accept, dropped.
    pub dropped_configs: Vec<String>,
    /// Present already on a scanned target cluster.
    pub exists_on_target: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Skipped {
    pub topic: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct TopicCopy {
    pub topic: String,
    pub messages: i64,
    pub bytes_estimate: f64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Wave {
    pub number: usize,
    /// Groups to move, all at once (they share topics).
    pub consumer_groups: Vec<String>,
    /// Topics whose producers move once these groups have moved.
    pub producer_topics: Vec<String>,
    pub total_lag: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Risk {
    /// `high`, `medium` or `low`.
    pub severity: &'static str,
    pub kind: &'static str,
    pub subject: String,
    pub reason: String,
    pub action: String,
}

/// What the target is: a known type or another scanned cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    ConfluentCloud,
    Msk,
    Kafka,
    /// Another cluster of the state.
    Cluster,
}

impl TargetKind {
    /// The kind of `target`, or an error naming the clusters it could be.
    fn of(state: &State, target: &str) -> Result<Self, ReportError> {
        match target {
            "confluent-cloud" => Ok(TargetKind::ConfluentCloud),
            "msk" => Ok(TargetKind::Msk),
            "kafka" => Ok(TargetKind::Kafka),
            name if state.clusters.contains_key(name) => Ok(TargetKind::Cluster),
            name => Err(ReportError::UnknownTarget {
                name: name.to_owned(),
                known: state.clusters.keys().cloned().collect(),
            }),
        }
    }

    /// The name in the report (`target_kind`).
    fn name(self) -> &'static str {
        match self {
            TargetKind::ConfluentCloud => "confluent-cloud",
            TargetKind::Msk => "msk",
            TargetKind::Kafka => "kafka",
            TargetKind::Cluster => "cluster",
        }
    }

    /// Partition limit per cluster, with where it comes from.
    fn partition_limit(self) -> Option<(usize, &'static str)> {
        match self {
            TargetKind::ConfluentCloud => Some((
                4_096,
                "Confluent Cloud Basic and Standard clusters allow 4,096 partitions",
            )),
            TargetKind::Msk => Some((
                6_000,
                "MSK recommends at most 1,000 partitions per kafka.m5.large broker and 4,000 per m5.4xlarge; 6,000 is two of the largest brokers' share",
            )),
            TargetKind::Kafka | TargetKind::Cluster => None,
        }
    }

    /// Whether a topic config can be set on this target.
    fn accepts_config(self, key: &str) -> bool {
        self != TargetKind::ConfluentCloud || CONFLUENT_CLOUD_TOPIC_CONFIGS.contains(&key)
    }
}

/// The MSK cluster (from discovery) a scanned cluster is, if known.
pub(crate) fn msk_cluster<'a>(state: &'a State, cluster: &KafkaCluster) -> Option<&'a MskCluster> {
    let arn = cluster.msk_arn.as_deref()?;
    state.msk_regions.values().find_map(|r| r.clusters.get(arn))
}

pub(crate) fn msk_bytes_per_record(state: &State, cluster: &KafkaCluster) -> Option<f64> {
    let msk = msk_cluster(state, cluster)?;
    let avg = |metric: &str| {
        let s = msk
            .metrics
            .iter()
            .find(|s| s.metric == metric && s.topic.is_none())?;
        (!s.points.is_empty())
            .then(|| s.points.iter().map(|p| p.v).sum::<f64>() / s.points.len() as f64)
    };
    let (bytes, messages) = (avg("BytesInPerSec")?, avg("MessagesInPerSec")?);
    (messages > 0.0).then(|| bytes / messages)
}

/// How a topic's bytes are estimated.
#[derive(Debug, Clone, Copy)]
enum Sizing {
    /// The partition sizes the brokers reported.
    PartitionSizes,
    /// Records times a size per record.
    PerRecord(f64),
}

impl Sizing {
    /// Measured sizes, else MSK metrics, else an assumption; with the basis
    /// the report states.
    fn of(state: &State, cluster: &KafkaCluster) -> (Sizing, String) {
        let sized = cluster
            .topics
            .values()
            .flat_map(|t| &t.partitions)
            .any(|p| p.size_bytes.is_some());
        match (sized, msk_bytes_per_record(state, cluster)) {
            (true, _) => (
                Sizing::PartitionSizes,
                "partition sizes reported by the brokers".to_owned(),
            ),
            (false, Some(b)) => (
                Sizing::PerRecord(b),
                format!(
                    "{} bytes per record, from the MSK cluster's BytesInPerSec / MessagesInPerSec",
                    num(b, 0)
                ),
            ),
            (false, None) => (
                Sizing::PerRecord(ASSUMED_RECORD_BYTES),
                format!(
                    "assumed {ASSUMED_RECORD_BYTES} bytes per record (no sizes or metrics in the state)"
                ),
            ),
        }
    }

    /// The estimated bytes of a topic holding `records` records.
    fn topic_bytes(self, topic: &Topic, records: i64) -> f64 {
        match self {
            Sizing::PartitionSizes => topic
                .partitions
                .iter()
                .filter_map(|p| p.size_bytes)
                .sum::<u64>() as f64,
            Sizing::PerRecord(b) => records as f64 * b,
        }
    }
}

/// The replication throughput and the basis the report states for it.
fn replication_rate(mbps: Option<f64>) -> (f64, String) {
    let basis = match mbps {
        Some(_) => "given with --replication-mbps".to_owned(),
        None => format!(
            "default ({DEFAULT_REPLICATION_MBPS} MB/s per replicator process, from kcp's benchmark against Apache Kafka: docs/benchmarks.md); pass --replication-mbps with your own figure"
        ),
    };
    (mbps.unwrap_or(DEFAULT_REPLICATION_MBPS), basis)
}

/// Records between the earliest and latest offsets of a topic's partitions.
fn record_count(topic: &Topic) -> i64 {
    topic
        .partitions
        .iter()
        .filter_map(|p| Some(p.latest_offset? - p.earliest_offset?))
        .sum()
}

/// What one walk over the source's topics gathers.
#[derive(Default)]
struct TopicWalk {
    create: Vec<TopicToCreate>,
    not_migrated: Vec<Skipped>,
    copies: Vec<TopicCopy>,
    /// Per-topic risks, in topic order.
    risks: Vec<Risk>,
    /// Records of every topic, migrated or not.
    messages: i64,
    /// Bytes of the migrated topics.
    bytes: f64,
    /// Records per second of every topic.
    rate: f64,
    migrated_partitions: usize,
}

/// Where the source's topics go: created on the target (with their configs,
/// copy estimate and risks) or left behind with the reason.
fn walk_topics(
    cluster: &KafkaCluster,
    target_cluster: Option<&KafkaCluster>,
    kind: TargetKind,
    sizing: Sizing,
    replication_mbps: f64,
) -> TopicWalk {
    let mut walk = TopicWalk::default();
    for (name, topic) in &cluster.topics {
        let count = record_count(topic);
        let topic_bytes = sizing.topic_bytes(topic, count);
        walk.messages += count;
        walk.rate += topic.rate.map_or(0.0, |r| r.messages_per_sec);
        if let Some(reason) = crate::topic_config::not_migrated_reason(name, topic.kind) {
            walk.not_migrated.push(Skipped {
                topic: name.clone(),
                reason: reason.to_owned(),
            });
            continue;
        }
        walk.bytes += topic_bytes;
        walk.migrated_partitions += topic.partitions.len();
        let (accepted, dropped): (BTreeMap<_, _>, BTreeMap<_, _>) =
            crate::topic_config::to_carry(topic)
                .into_iter()
                .partition(|(k, _)| kind.accepts_config(k));
        walk.risks.extend(risks::topic_risks(name, topic, &dropped));
        walk.copies.push(TopicCopy {
            topic: name.clone(),
            messages: count,
            bytes_estimate: topic_bytes.round(),
            seconds: (topic_bytes / (replication_mbps * 1e6) * 10.0).round() / 10.0,
        });
        walk.create.push(TopicToCreate {
            topic: name.clone(),
            partitions: topic.partitions.len(),
            replication_factor: topic.replication_factor,
            configs: accepted,
            dropped_configs: dropped.into_keys().collect(),
            exists_on_target: target_cluster.is_some_and(|t| t.topics.contains_key(name)),
        });
    }
    walk
}

/// The inventory: what the source holds and what of it is migrated.
fn inventory(cluster: &KafkaCluster, walk: &TopicWalk, bytes_basis: String) -> Inventory {
    let mut principals: Vec<String> = cluster.acls.iter().map(|a| a.principal.clone()).collect();
    principals.sort();
    principals.dedup();
    Inventory {
        topics: cluster.topics.len(),
        migrated_topics: walk.create.len(),
        partitions: cluster.topics.values().map(|t| t.partitions.len()).sum(),
        migrated_partitions: walk.migrated_partitions,
        messages: walk.messages,
        bytes_estimate: walk.bytes.round(),
        bytes_basis,
        messages_per_sec: (walk.rate * 10.0).round() / 10.0,
        consumer_groups: cluster.consumer_groups.len(),
        acls: cluster.acls.len(),
        principals,
    }
}

pub(crate) fn build(
    state: &State,
    source: &str,
    target: &str,
    mbps: Option<f64>,
    registries: Registries<'_>,
    connects: Connects<'_>,
) -> Result<PlanReport, ReportError> {
    let cluster = state
        .clusters
        .get(source)
        .ok_or_else(|| ReportError::UnknownCluster {
            name: source.to_owned(),
            known: state.clusters.keys().cloned().collect(),
        })?;
    if source == target {
        return Err(ReportError::SameCluster {
            name: source.to_owned(),
        });
    }
    let kind = TargetKind::of(state, target)?;
    let target_cluster = (kind == TargetKind::Cluster).then(|| &state.clusters[target]);
    let (replication_mbps, replication_mbps_basis) = replication_rate(mbps);
    let (sizing, bytes_basis) = Sizing::of(state, cluster);

    let mut walk = walk_topics(cluster, target_cluster, kind, sizing, replication_mbps);
    let mut risks = std::mem::take(&mut walk.risks);
    let facts = risks::ClusterFacts {
        state,
        cluster,
        source,
        target,
        kind,
        migrated_partitions: walk.migrated_partitions,
    };
    risks.extend(risks::cluster_risks(&facts));
    let migrated: BTreeSet<&str> = walk.create.iter().map(|c| c.topic.as_str()).collect();
    let waves = waves::plan(cluster, &migrated);
    risks.extend(risks::consumer_lag(&waves));
    let schemas = match registries.source {
        Some(name) => {
            let (plan, found) = schemas::plan(state, cluster, name, registries.target)?;
            risks.extend(found);
            Some(plan)
        }
        None => None,
    };
    let sources = connectors::source_clusters(state, cluster, connects.source)?;
    let connectors = if sources.is_empty() {
        None
    } else {
        let (plan, found) = connectors::plan(state, cluster, &sources, connects.target, &migrated)?;
        risks.extend(found);
        Some(plan)
    };
    let aws_platform = platform::plan(state, cluster).map(|(plan, found)| {
        risks.extend(found);
        plan
    });
    risks::sort(&mut risks);

    let inventory = inventory(cluster, &walk, bytes_basis);
    let total_copy_seconds =
        (walk.copies.iter().map(|c| c.seconds).sum::<f64>() * 10.0).round() / 10.0;
    Ok(PlanReport {
        report: "plan",
        schema_version: super::REPORT_SCHEMA_VERSION,
        generated_from: Stamp::of(state),
        source: source.to_owned(),
        target: target.to_owned(),
        target_kind: kind.name().to_owned(),
        replication_mbps,
        replication_mbps_basis,
        inventory,
        create_on_target: walk.create,
        not_migrated: walk.not_migrated,
        copy_estimate: walk.copies,
        total_copy_seconds,
        waves,
        risks,
        schemas,
        connectors,
        aws_platform,
        client_quotas: cluster.client_quotas.clone(),
    })
}
