//! The migration plan for one scanned source cluster and a target: the
//! inventory, the topics to create, copy-time estimates, cutover waves and
//! risk flags, each with a reason and a suggested action.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::doc::{Block, Document, Section, Table, csv, num};
use super::{ReportError, Stamp};
use crate::state::{AclOperation, AclResourceType, KafkaCluster, State, TopicKind};

/// Replication throughput assumed when `--replication-mbps` is not given.
/// An assumption until the replicator benchmark measures the real figure
/// (then this constant takes that value and the report says so).
pub const DEFAULT_REPLICATION_MBPS: f64 = 25.0;

/// Bytes per record assumed when neither partition sizes nor MSK metrics give one.
const ASSUMED_RECORD_BYTES: f64 = 1024.0;

/// Topic configs that Confluent Cloud lets a user set on a topic.
pub const CONFLUENT_CLOUD_TOPIC_CONFIGS: &[&str] = &[
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
pub struct PlanReport {
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
}

#[derive(Debug, Serialize)]
pub struct Inventory {
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
pub struct TopicToCreate {
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
pub struct Skipped {
    pub topic: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct TopicCopy {
    pub topic: String,
    pub messages: i64,
    pub bytes_estimate: f64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Wave {
    pub number: usize,
    /// Groups to move, all at once (they share topics).
    pub consumer_groups: Vec<String>,
    /// Topics whose producers move once these groups have moved.
    pub producer_topics: Vec<String>,
    pub total_lag: i64,
}

#[derive(Debug, Serialize)]
pub struct Risk {
    /// `high`, `medium` or `low`.
    pub severity: &'static str,
    pub kind: &'static str,
    pub subject: String,
    pub reason: String,
    pub action: String,
}

/// What the target is: a known type or another scanned cluster.
fn target_kind(state: &State, target: &str) -> Result<String, ReportError> {
    match target {
        "confluent-cloud" | "msk" | "kafka" => Ok(target.to_owned()),
        name if state.clusters.contains_key(name) => Ok("cluster".to_owned()),
        name => Err(ReportError::UnknownTarget {
            name: name.to_owned(),
            known: state.clusters.keys().cloned().collect(),
        }),
    }
}

/// Partition limit per cluster for a target type, with where it comes from.
fn partition_limit(kind: &str) -> Option<(usize, &'static str)> {
    match kind {
        "confluent-cloud" => Some((
            4_096,
            "Confluent Cloud Basic and Standard clusters allow 4,096 partitions",
        )),
        "msk" => Some((
            6_000,
            "MSK recommends at most 1,000 partitions per kafka.m5.large broker and 4,000 per m5.4xlarge; 6,000 is two of the largest brokers' share",
        )),
        _ => None,
    }
}

pub(crate) fn msk_bytes_per_record(state: &State, cluster: &KafkaCluster) -> Option<f64> {
    let arn = cluster.msk_arn.as_deref()?;
    let msk = state
        .msk_regions
        .values()
        .find_map(|r| r.clusters.get(arn))?;
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

pub fn build(
    state: &State,
    source: &str,
    target: &str,
    mbps: Option<f64>,
) -> Result<PlanReport, ReportError> {
    let cluster = state
        .clusters
        .get(source)
        .ok_or_else(|| ReportError::UnknownCluster {
            name: source.to_owned(),
            known: state.clusters.keys().cloned().collect(),
        })?;
    let kind = target_kind(state, target)?;
    let target_cluster = (kind == "cluster").then(|| &state.clusters[target]);
    let replication_mbps = mbps.unwrap_or(DEFAULT_REPLICATION_MBPS);
    let replication_mbps_basis = match mbps {
        Some(_) => "given with --replication-mbps".to_owned(),
        None => format!(
            "assumed default ({DEFAULT_REPLICATION_MBPS} MB/s) until the replicator benchmark measures it; pass --replication-mbps"
        ),
    };

    // Bytes per record: measured sizes, else MSK metrics, else an assumption.
    let sized = cluster
        .topics
        .values()
        .flat_map(|t| &t.partitions)
        .any(|p| p.size_bytes.is_some());
    let (per_record, bytes_basis) = match (sized, msk_bytes_per_record(state, cluster)) {
        (true, _) => (None, "partition sizes reported by the brokers".to_owned()),
        (false, Some(b)) => (
            Some(b),
            format!(
                "{} bytes per record, from the MSK cluster's BytesInPerSec / MessagesInPerSec",
                num(b, 0)
            ),
        ),
        (false, None) => (
            Some(ASSUMED_RECORD_BYTES),
            format!(
                "assumed {ASSUMED_RECORD_BYTES} bytes per record (no sizes or metrics in the state)"
            ),
        ),
    };

    let mut create = Vec::new();
    let mut not_migrated = Vec::new();
    let mut copies = Vec::new();
    let mut risks = Vec::new();
    let (mut messages, mut bytes, mut rate, mut migrated_partitions) = (0i64, 0f64, 0f64, 0usize);
    for (name, topic) in &cluster.topics {
        let count: i64 = topic
            .partitions
            .iter()
            .filter_map(|p| Some(p.latest_offset? - p.earliest_offset?))
            .sum();
        let topic_bytes = match per_record {
            None => topic
                .partitions
                .iter()
                .filter_map(|p| p.size_bytes)
                .sum::<u64>() as f64,
            Some(b) => count as f64 * b,
        };
        messages += count;
        rate += topic.rate.map_or(0.0, |r| r.messages_per_sec);
        if let Some(reason) = crate::topic_config::not_migrated_reason(name, topic.kind) {
            not_migrated.push(Skipped {
                topic: name.clone(),
                reason: reason.to_owned(),
            });
            continue;
        }
        bytes += topic_bytes;
        migrated_partitions += topic.partitions.len();
        let configs = crate::topic_config::to_carry(topic);
        let (accepted, dropped): (BTreeMap<_, _>, BTreeMap<_, _>) =
            configs.into_iter().partition(|(k, _)| {
                kind != "confluent-cloud" || CONFLUENT_CLOUD_TOPIC_CONFIGS.contains(&k.as_str())
            });
        if !dropped.is_empty() {
            risks.push(Risk {
                severity: "medium",
                kind: "unsupported-config",
                subject: name.clone(),
                reason: format!("the target does not accept: {}", dropped.keys().cloned().collect::<Vec<_>>().join(", ")),
                action: "check whether the behaviour these configs give is still needed; the topic is created without them".into(),
            });
        }
        let cleanup = topic
            .configs
            .get("cleanup.policy")
            .and_then(|c| c.value.as_deref())
            .unwrap_or("delete");
        if cleanup.contains("compact") && topic.kind == TopicKind::User {
            risks.push(Risk {
                severity: "medium",
                kind: "compacted-topic",
                subject: name.clone(),
                reason: "compaction leaves gaps in offsets; copied records get new, dense offsets on the target".into(),
                action: "keep cleanup.policy=compact on the target; kcp translates committed offsets exactly across the gaps".into(),
            });
        }
        if let Some(size) = topic
            .configs
            .get("max.message.bytes")
            .and_then(|c| c.value.as_deref())
            .and_then(|v| v.parse::<u64>().ok())
            && size > 1_048_588
        {
            risks.push(Risk {
                severity: "medium",
                kind: "large-messages",
                subject: name.clone(),
                reason: format!("max.message.bytes is {} (above the 1 MiB default)", num(size as f64, 0)),
                action: "set max.message.bytes on the target topic and check the target's maximum (Confluent Cloud: 8 MiB on Basic/Standard, 20 MiB on Dedicated)".into(),
            });
        }
        if topic.rate.is_some_and(|r| r.idle) && topic.kind == TopicKind::User {
            risks.push(Risk {
                severity: "low",
                kind: "idle-topic",
                subject: name.clone(),
                reason: "no record was written during the scan's rate window".into(),
                action: "confirm the topic is still used; an unused topic can be left behind"
                    .into(),
            });
        }
        copies.push(TopicCopy {
            topic: name.clone(),
            messages: count,
            bytes_estimate: topic_bytes.round(),
            seconds: (topic_bytes / (replication_mbps * 1e6) * 10.0).round() / 10.0,
        });
        create.push(TopicToCreate {
            topic: name.clone(),
            partitions: topic.partitions.len(),
            replication_factor: topic.replication_factor,
            configs: accepted,
            dropped_configs: dropped.into_keys().collect(),
            exists_on_target: target_cluster.is_some_and(|t| t.topics.contains_key(name)),
        });
    }

    // Cluster-wide risks.
    let kinds: BTreeSet<TopicKind> = cluster.topics.values().map(|t| t.kind).collect();
    if kinds.contains(&TopicKind::KafkaStreams) {
        risks.push(Risk {
            severity: "medium",
            kind: "kafka-streams",
            subject: "Kafka Streams applications".into(),
            reason: "changelog and repartition topics hold application state tied to the application id".into(),
            action: "move each Streams application in one step with its internal topics copied; keep the same application.id".into(),
        });
    }
    if kinds.contains(&TopicKind::MirrorMaker2) {
        risks.push(Risk {
            severity: "low",
            kind: "mirrormaker2",
            subject: "MirrorMaker 2 topics".into(),
            reason: "the source already takes part in a MirrorMaker 2 replication flow".into(),
            action:
                "decide whether that flow is retired or re-pointed at the target before cutover"
                    .into(),
        });
    }
    if kinds.contains(&TopicKind::Connect) {
        risks.push(Risk {
            severity: "medium",
            kind: "kafka-connect",
            subject: "Kafka Connect clusters".into(),
            reason: "Connect's config, offset and status topics are specific to the Connect cluster".into(),
            action: "re-create connectors against the target; source connectors need their offsets carried over".into(),
        });
    }
    let transactional = cluster.acls.iter().any(|a| {
        a.resource_type == AclResourceType::TransactionalId
            || a.operation == AclOperation::IdempotentWrite
    }) || cluster.topics.get("__transaction_state").is_some_and(|t| {
        t.partitions
            .iter()
            .any(|p| p.latest_offset.unwrap_or(0) > 0)
    });
    if transactional {
        risks.push(Risk {
            severity: "high",
            kind: "transactional-producers",
            subject: "transactional or idempotent producers".into(),
            reason: "transactions and producer ids do not carry over to another cluster".into(),
            action: "stop each transactional producer before its cutover and start it against the target; expect new producer ids".into(),
        });
    }
    let iam_only = cluster.auth_method == "msk_iam"
        || cluster
            .msk_arn
            .as_deref()
            .and_then(|arn| state.msk_regions.values().find_map(|r| r.clusters.get(arn)))
            .is_some_and(|m| {
                m.auth.iam && !m.auth.sasl_scram && !m.auth.tls && !m.auth.unauthenticated
            });
    if iam_only && kind != "msk" {
        risks.push(Risk {
            severity: "high",
            kind: "iam-only-clients",
            subject: source.to_owned(),
            reason: "clients authenticate with AWS IAM, which the target does not offer".into(),
            action: "give every client target credentials (API keys or SASL) and update its configuration before cutover".into(),
        });
    }
    if let Some((limit, why)) = partition_limit(&kind)
        && migrated_partitions > limit
    {
        risks.push(Risk {
            severity: "high",
            kind: "partition-limit",
            subject: target.to_owned(),
            reason: format!("{} partitions to migrate; {why}", num(migrated_partitions as f64, 0)),
            action: "size a larger target (more brokers or a dedicated cluster) or split the migration across clusters".into(),
        });
    }
    if cluster.acls.len() > 1_000 {
        risks.push(Risk {
            severity: "medium",
            kind: "acl-volume",
            subject: source.to_owned(),
            reason: format!("{} ACL bindings to translate", cluster.acls.len()),
            action: "generate them with `kcp create-asset acls` and review per principal; Confluent Cloud allows 4,000 per cluster".into(),
        });
    }

    // Waves: groups that share a topic move together (union-find on topics).
    let mut group_topics: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (group, g) in &cluster.consumer_groups {
        let topics = group_topics.entry(group.as_str()).or_default();
        topics.extend(g.offsets.iter().map(|o| o.topic.as_str()));
        topics.extend(
            g.members
                .iter()
                .flat_map(|m| m.assignments.iter().map(|a| a.topic.as_str())),
        );
    }
    let components = group_components(&group_topics);
    let migrated: BTreeSet<&str> = create.iter().map(|c| c.topic.as_str()).collect();
    let mut waves: Vec<Wave> = components
        .into_iter()
        .map(|members| {
            let topics: BTreeSet<&str> = members
                .iter()
                .flat_map(|g| group_topics[g].iter().copied())
                .filter(|t| migrated.contains(t))
                .collect();
            let total_lag = members
                .iter()
                .flat_map(|g| &cluster.consumer_groups[*g].offsets)
                .filter_map(|o| o.lag)
                .sum();
            Wave {
                number: 0,
                consumer_groups: members.iter().map(|s| (*s).to_owned()).collect(),
                producer_topics: topics.iter().map(|s| (*s).to_owned()).collect(),
                total_lag,
            }
        })
        .collect();
    // Smaller waves first: they prove the procedure at the least risk.
    waves.sort_by(|a, b| {
        (a.consumer_groups.len(), a.total_lag, &a.consumer_groups).cmp(&(
            b.consumer_groups.len(),
            b.total_lag,
            &b.consumer_groups,
        ))
    });
    let consumed: BTreeSet<String> = waves
        .iter()
        .flat_map(|w| w.producer_topics.iter().cloned())
        .collect();
    let unconsumed: Vec<String> = migrated
        .iter()
        .filter(|t| !consumed.contains(**t))
        .map(|t| (*t).to_owned())
        .collect();
    if !unconsumed.is_empty() {
        waves.push(Wave {
            number: 0,
            consumer_groups: Vec::new(),
            producer_topics: unconsumed,
            total_lag: 0,
        });
    }
    for (i, w) in waves.iter_mut().enumerate() {
        w.number = i + 1;
        if w.total_lag > 0 {
            risks.push(Risk {
                severity: if w.total_lag > 10_000 { "medium" } else { "low" },
                kind: "consumer-lag",
                subject: w.consumer_groups.join(", "),
                reason: format!("{} records of lag at scan time", num(w.total_lag as f64, 0)),
                action: "let these groups catch up (or accept replaying from translated offsets) before their cutover".into(),
            });
        }
    }
    risks.sort_by(|a, b| {
        (severity_rank(a.severity), a.kind, &a.subject).cmp(&(
            severity_rank(b.severity),
            b.kind,
            &b.subject,
        ))
    });

    let mut principals: Vec<String> = cluster.acls.iter().map(|a| a.principal.clone()).collect();
    principals.sort();
    principals.dedup();
    let total_copy_seconds = (copies.iter().map(|c| c.seconds).sum::<f64>() * 10.0).round() / 10.0;
    Ok(PlanReport {
        report: "plan",
        schema_version: super::REPORT_SCHEMA_VERSION,
        generated_from: Stamp::of(state),
        source: source.to_owned(),
        target: target.to_owned(),
        target_kind: kind,
        replication_mbps,
        replication_mbps_basis,
        inventory: Inventory {
            topics: cluster.topics.len(),
            migrated_topics: create.len(),
            partitions: cluster.topics.values().map(|t| t.partitions.len()).sum(),
            migrated_partitions,
            messages,
            bytes_estimate: bytes.round(),
            bytes_basis,
            messages_per_sec: (rate * 10.0).round() / 10.0,
            consumer_groups: cluster.consumer_groups.len(),
            acls: cluster.acls.len(),
            principals,
        },
        create_on_target: create,
        not_migrated,
        copy_estimate: copies,
        total_copy_seconds,
        waves,
        risks,
    })
}

/// Groups that share a topic, transitively: each inner list moves together.
/// Lists are in the order of their first group.
pub(crate) fn group_components<'a>(
    group_topics: &BTreeMap<&'a str, BTreeSet<&'a str>>,
) -> Vec<Vec<&'a str>> {
    let names: Vec<&str> = group_topics.keys().copied().collect();
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, g) in names.iter().enumerate() {
        for t in &group_topics[g] {
            match owner.get(t) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    owner.insert(t, i);
                }
            }
        }
    }
    let mut components: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let r = root(&mut parent, i);
        components.entry(r).or_default().push(name);
    }
    components.into_values().collect()
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    }
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

impl PlanReport {
    pub fn document(&self) -> Document {
        let mut meta = self.generated_from.meta();
        meta.push(("Source".into(), self.source.clone()));
        meta.push((
            "Target".into(),
            format!("{} ({})", self.target, self.target_kind),
        ));
        meta.push((
            "Replication throughput".into(),
            format!(
                "{} MB/s, {}",
                self.replication_mbps, self.replication_mbps_basis
            ),
        ));
        let mut doc = Document {
            title: format!("Migration plan: {} to {}", self.source, self.target),
            meta,
            sections: Vec::new(),
        };
        let i = &self.inventory;

        let mut s = Section::new("Inventory", 2);
        let mut t = Table::new(&["Item", ">Source", ">To migrate"]);
        t.row(vec![
            "Topics".into(),
            num(i.topics as f64, 0),
            num(i.migrated_topics as f64, 0),
        ]);
        t.row(vec![
            "Partitions".into(),
            num(i.partitions as f64, 0),
            num(i.migrated_partitions as f64, 0),
        ]);
        t.row(vec![
            "Records".into(),
            num(i.messages as f64, 0),
            String::new(),
        ]);
        t.row(vec![
            "Bytes (estimate)".into(),
            String::new(),
            num(i.bytes_estimate, 0),
        ]);
        t.row(vec![
            "Records per second".into(),
            num(i.messages_per_sec, 1),
            String::new(),
        ]);
        t.row(vec![
            "Consumer groups".into(),
            num(i.consumer_groups as f64, 0),
            String::new(),
        ]);
        t.row(vec![
            "ACL bindings".into(),
            num(i.acls as f64, 0),
            String::new(),
        ]);
        t.row(vec![
            "Principals".into(),
            num(i.principals.len() as f64, 0),
            String::new(),
        ]);
        s.blocks.push(Block::Table(t));
        s.blocks.push(Block::Paragraph(format!(
            "Byte estimates use {}.",
            i.bytes_basis
        )));
        doc.sections.push(s);

        let mut s = Section::new("Risks", 2);
        if self.risks.is_empty() {
            s.blocks.push(Block::Paragraph(
                "No risk found in the scanned data.".into(),
            ));
        } else {
            let mut t = Table::new(&["Severity", "Risk", "Subject", "Why", "Suggested action"]);
            for r in &self.risks {
                t.row(vec![
                    r.severity.into(),
                    r.kind.into(),
                    r.subject.clone(),
                    r.reason.clone(),
                    r.action.clone(),
                ]);
            }
            s.blocks.push(Block::Table(t));
        }
        doc.sections.push(s);

        let mut s = Section::new("Cutover waves", 2);
        s.blocks.push(Block::Paragraph(
            "Consumer groups that share a topic move together. Within a wave, consumers move first (their committed offsets are translated exactly), then the producers of the wave's topics.".into(),
        ));
        let mut t = Table::new(&[
            ">Wave",
            "Consumer groups",
            "Then producers of",
            ">Lag at scan",
        ]);
        for w in &self.waves {
            let groups = if w.consumer_groups.is_empty() {
                "(no consumer group)".to_owned()
            } else {
                w.consumer_groups.join(", ")
            };
            t.row(vec![
                w.number.to_string(),
                groups,
                w.producer_topics.join(", "),
                num(w.total_lag as f64, 0),
            ]);
        }
        s.blocks.push(Block::Table(t));
        doc.sections.push(s);

        let mut s = Section::new("Topics to create on the target", 2);
        let mut t = Table::new(&[
            "Topic",
            ">Partitions",
            ">RF",
            "Configs",
            "Dropped",
            "Exists",
        ]);
        for c in &self.create_on_target {
            let configs = c
                .configs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            t.row(vec![
                c.topic.clone(),
                c.partitions.to_string(),
                c.replication_factor.to_string(),
                configs,
                c.dropped_configs.join(", "),
                if c.exists_on_target {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        s.blocks.push(Block::Table(t));
        if !self.not_migrated.is_empty() {
            s.blocks.push(Block::Paragraph("Not migrated:".into()));
            s.blocks.push(Block::List(
                self.not_migrated
                    .iter()
                    .map(|n| format!("{}: {}", n.topic, n.reason))
                    .collect(),
            ));
        }
        doc.sections.push(s);

        let mut s = Section::new("Initial copy estimate", 2);
        s.blocks.push(Block::Paragraph(format!(
            "At {} MB/s the initial copy takes about {} in total (topics copy in parallel up to the replicator's throughput).",
            self.replication_mbps,
            duration(self.total_copy_seconds)
        )));
        let mut t = Table::new(&["Topic", ">Records", ">Bytes (estimate)", "Copy time"]);
        for c in &self.copy_estimate {
            t.row(vec![
                c.topic.clone(),
                num(c.messages as f64, 0),
                num(c.bytes_estimate, 0),
                duration(c.seconds),
            ]);
        }
        s.blocks.push(Block::Table(t));
        doc.sections.push(s);

        if !i.principals.is_empty() {
            let mut s = Section::new("Principals", 2);
            s.blocks.push(Block::List(i.principals.clone()));
            doc.sections.push(s);
        }
        doc
    }

    /// One row per migrated topic.
    pub fn csv(&self) -> String {
        let wave_of: BTreeMap<&str, usize> = self
            .waves
            .iter()
            .flat_map(|w| {
                w.producer_topics
                    .iter()
                    .map(move |t| (t.as_str(), w.number))
            })
            .collect();
        let headers = [
            "topic",
            "partitions",
            "replication_factor",
            "records",
            "bytes_estimate",
            "copy_seconds",
            "wave",
            "configs",
            "dropped_configs",
            "exists_on_target",
        ];
        let rows: Vec<Vec<String>> = self
            .create_on_target
            .iter()
            .zip(&self.copy_estimate)
            .map(|(c, copy)| {
                vec![
                    c.topic.clone(),
                    c.partitions.to_string(),
                    c.replication_factor.to_string(),
                    copy.messages.to_string(),
                    copy.bytes_estimate.to_string(),
                    copy.seconds.to_string(),
                    wave_of
                        .get(c.topic.as_str())
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    c.configs
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(";"),
                    c.dropped_configs.join(";"),
                    c.exists_on_target.to_string(),
                ]
            })
            .collect();
        csv(&headers, &rows)
    }
}
