//! The plan's risk rules: one function per rule, each returning the risk it
//! finds (with a reason and a suggested action) or nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::{Risk, TargetKind, Wave, msk_cluster};
use crate::report::doc::num;
use crate::state::{AclOperation, AclResourceType, KafkaCluster, State, Topic, TopicKind};

/// Largest `max.message.bytes` that is not flagged (Kafka's default).
const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1_048_588;
/// ACL bindings above which translating them is flagged.
const MANY_ACLS: usize = 1_000;
/// Lag (records) above which a wave's lag is a medium risk.
const HIGH_LAG: i64 = 10_000;

/// How much a risk matters; the report sorts by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    fn name(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// The severity a report names (`low` for anything unknown).
    fn from_name(name: &str) -> Severity {
        match name {
            "high" => Severity::High,
            "medium" => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

fn risk(
    severity: Severity,
    kind: &'static str,
    subject: impl Into<String>,
    reason: impl Into<String>,
    action: impl Into<String>,
) -> Risk {
    Risk {
        severity: severity.name(),
        kind,
        subject: subject.into(),
        reason: reason.into(),
        action: action.into(),
    }
}

/// Sorts risks by severity (highest first), kind and subject.
pub(super) fn sort(risks: &mut [Risk]) {
    risks.sort_by(|a, b| {
        (Severity::from_name(a.severity), a.kind, &a.subject).cmp(&(
            Severity::from_name(b.severity),
            b.kind,
            &b.subject,
        ))
    });
}

/// The risks of one migrated topic; `dropped` are the configs the target
/// does not accept.
pub(super) fn topic_risks(
    name: &str,
    topic: &Topic,
    dropped: &BTreeMap<String, String>,
) -> Vec<Risk> {
    [
        invalid_topic_name(name),
        unsupported_config(name, dropped),
        compacted_topic(name, topic),
        large_messages(name, topic),
        idle_topic(name, topic),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Longest topic name Apache Kafka (and so Confluent Cloud and MSK) accepts.
const MAX_TOPIC_NAME: usize = 249;

/// A name the target refuses to create: Kafka's own rule (only ASCII
/// letters, digits, `.`, `_` and `-`; not `.` or `..`; at most 249
/// characters), which Confluent Cloud and MSK share. A state file edited by
/// hand, or from a system with other rules, can hold such names.
fn invalid_topic_name(name: &str) -> Option<Risk> {
    let why = if name.is_empty() || name == "." || name == ".." {
        "the name is empty, `.` or `..`".to_owned()
    } else if name.chars().count() > MAX_TOPIC_NAME {
        format!(
            "the name has {} characters; Kafka accepts at most {MAX_TOPIC_NAME}",
            name.chars().count()
        )
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        "the name has characters other than ASCII letters, digits, `.`, `_` and `-`, which Kafka refuses".to_owned()
    } else {
        return None;
    };
    Some(risk(
        Severity::High,
        "invalid-topic-name",
        name,
        format!("{why}: the target will refuse to create the topic"),
        "rename the topic for the target (and move its clients to the new name), or leave it out of the migration",
    ))
}

/// Set configs the target does not accept are dropped.
fn unsupported_config(name: &str, dropped: &BTreeMap<String, String>) -> Option<Risk> {
    if dropped.is_empty() {
        return None;
    }
    let dropped: Vec<&str> = dropped.keys().map(String::as_str).collect();
    Some(risk(
        Severity::Medium,
        "unsupported-config",
        name,
        format!("the target does not accept: {}", dropped.join(", ")),
        "check whether the behaviour these configs give is still needed; the topic is created without them",
    ))
}

/// A compacted user topic has gaps in its offsets.
fn compacted_topic(name: &str, topic: &Topic) -> Option<Risk> {
    let cleanup = topic
        .configs
        .get("cleanup.policy")
        .and_then(|c| c.value.as_deref())
        .unwrap_or("delete");
    (cleanup.contains("compact") && topic.kind == TopicKind::User).then(|| {
        risk(
            Severity::Medium,
            "compacted-topic",
            name,
            "compaction leaves gaps in offsets; copied records get new, dense offsets on the target",
            "keep cleanup.policy=compact on the target; kcp translates committed offsets exactly across the gaps",
        )
    })
}

/// Records larger than Kafka's default maximum.
fn large_messages(name: &str, topic: &Topic) -> Option<Risk> {
    let size = topic
        .configs
        .get("max.message.bytes")
        .and_then(|c| c.value.as_deref())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|size| *size > DEFAULT_MAX_MESSAGE_BYTES)?;
    Some(risk(
        Severity::Medium,
        "large-messages",
        name,
        format!(
            "max.message.bytes is {} (above the 1 MiB default)",
            num(size as f64, 0)
        ),
        "set max.message.bytes on the target topic and check the target's maximum (Confluent Cloud: 8 MiB on Basic/Standard, 20 MiB on Dedicated)",
    ))
}

/// A user topic nothing was written to during the scan.
fn idle_topic(name: &str, topic: &Topic) -> Option<Risk> {
    (topic.rate.is_some_and(|r| r.idle) && topic.kind == TopicKind::User).then(|| {
        risk(
            Severity::Low,
            "idle-topic",
            name,
            "no record was written during the scan's rate window",
            "confirm the topic is still used; an unused topic can be left behind",
        )
    })
}

/// What the cluster-wide rules look at.
pub(super) struct ClusterFacts<'a> {
    pub(super) state: &'a State,
    pub(super) cluster: &'a KafkaCluster,
    pub(super) source: &'a str,
    pub(super) target: &'a str,
    pub(super) kind: TargetKind,
    pub(super) migrated_partitions: usize,
}

/// The risks of the whole source cluster.
pub(super) fn cluster_risks(facts: &ClusterFacts<'_>) -> Vec<Risk> {
    let mut risks = topic_kind_risks(facts.cluster);
    risks.extend(
        [
            transactional_producers(facts.cluster),
            iam_only_clients(facts),
            partition_limit(facts),
            acl_volume(facts),
        ]
        .into_iter()
        .flatten(),
    );
    risks
}

/// Kafka Streams, MirrorMaker 2 and Kafka Connect topics on the source.
fn topic_kind_risks(cluster: &KafkaCluster) -> Vec<Risk> {
    let kinds: BTreeSet<TopicKind> = cluster.topics.values().map(|t| t.kind).collect();
    let mut risks = Vec::new();
    if kinds.contains(&TopicKind::KafkaStreams) {
        risks.push(risk(
            Severity::Medium,
            "kafka-streams",
            "Kafka Streams applications",
            "changelog and repartition topics hold application state tied to the application id",
            "move each Streams application in one step with its internal topics copied; keep the same application.id",
        ));
    }
    if kinds.contains(&TopicKind::MirrorMaker2) {
        risks.push(risk(
            Severity::Low,
            "mirrormaker2",
            "MirrorMaker 2 topics",
            "the source already takes part in a MirrorMaker 2 replication flow",
            "decide whether that flow is retired or re-pointed at the target before cutover",
        ));
    }
    if kinds.contains(&TopicKind::Connect) {
        risks.push(risk(
            Severity::Medium,
            "kafka-connect",
            "Kafka Connect clusters",
            "Connect's config, offset and status topics are specific to the Connect cluster",
            "re-create connectors against the target; source connectors need their offsets carried over",
        ));
    }
    risks
}

/// Transactional or idempotent producers: ACLs for them, or transactions
/// recorded in `__transaction_state`.
fn transactional_producers(cluster: &KafkaCluster) -> Option<Risk> {
    let transactional = cluster.acls.iter().any(|a| {
        a.resource_type == AclResourceType::TransactionalId
            || a.operation == AclOperation::IdempotentWrite
    }) || cluster.topics.get("__transaction_state").is_some_and(|t| {
        t.partitions
            .iter()
            .any(|p| p.latest_offset.unwrap_or(0) > 0)
    });
    transactional.then(|| {
        risk(
            Severity::High,
            "transactional-producers",
            "transactional or idempotent producers",
            "transactions and producer ids do not carry over to another cluster",
            "stop each transactional producer before its cutover and start it against the target; expect new producer ids",
        )
    })
}

/// Clients that can only authenticate with AWS IAM, going to a non-MSK target.
fn iam_only_clients(facts: &ClusterFacts<'_>) -> Option<Risk> {
    let iam_only = facts.cluster.auth_method == "msk_iam"
        || msk_cluster(facts.state, facts.cluster).is_some_and(|m| {
            m.auth.iam && !m.auth.sasl_scram && !m.auth.tls && !m.auth.unauthenticated
        });
    (iam_only && facts.kind != TargetKind::Msk).then(|| {
        risk(
            Severity::High,
            "iam-only-clients",
            facts.source,
            "clients authenticate with AWS IAM, which the target does not offer",
            "give every client target credentials (API keys or SASL) and update its configuration before cutover",
        )
    })
}

/// More partitions to migrate than the target type allows.
fn partition_limit(facts: &ClusterFacts<'_>) -> Option<Risk> {
    let (limit, why) = facts.kind.partition_limit()?;
    (facts.migrated_partitions > limit).then(|| {
        risk(
            Severity::High,
            "partition-limit",
            facts.target,
            format!(
                "{} partitions to migrate; {why}",
                num(facts.migrated_partitions as f64, 0)
            ),
            "size a larger target (more brokers or a dedicated cluster) or split the migration across clusters",
        )
    })
}

/// Many ACL bindings to translate.
fn acl_volume(facts: &ClusterFacts<'_>) -> Option<Risk> {
    let acls = facts.cluster.acls.len();
    (acls > MANY_ACLS).then(|| {
        risk(
            Severity::Medium,
            "acl-volume",
            facts.source,
            format!("{acls} ACL bindings to translate"),
            "generate them with `kcp create-asset acls` and review per principal; Confluent Cloud allows 4,000 per cluster",
        )
    })
}

/// Waves whose groups lagged at scan time, in wave order.
pub(super) fn consumer_lag(waves: &[Wave]) -> Vec<Risk> {
    waves
        .iter()
        .filter(|w| w.total_lag > 0)
        .map(|w| {
            risk(
                if w.total_lag > HIGH_LAG {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                "consumer-lag",
                w.consumer_groups.join(", "),
                format!(
                    "{} records of lag at scan time",
                    num(w.total_lag as f64, 0)
                ),
                "let these groups catch up (or accept replaying from translated offsets) before their cutover",
            )
        })
        .collect()
}
