//! Fan-in claims: which source writes which target topic, recorded on the
//! target, so that plans run independently (several `kcp migrate
//! replicate` or `execute` runs from different source clusters, on
//! different hosts) see each other before they copy anything.
//!
//! The claims live in a small compacted topic on the target,
//! [`CLAIMS_TOPIC`] (one partition, so that every reader sees the same
//! order). Key: `v1;<target topic>;<source cluster id>;<source topic>`;
//! value: a [`Claim`] as JSON. A writer is a source topic of a source
//! cluster: the plan that copies it may change its name or settings, its
//! claim is then overwritten.
//!
//! Two writers of one target topic collide unless both asked to merge
//! (`topics.merge` in both plans); merged writers must also have different
//! plan names (the lease and the transactional id are named after the
//! plan). Before its first copy a run reads every claim, refuses a
//! collision, writes its own claims, reads again and checks again: of two
//! plans starting at the same moment at least one sees the other's claim
//! (each writes before its second read, on one partition), and a run
//! refused after writing withdraws (tombstones) the claims it added.
//! Preflight only reads ([`check`]).

use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::ReplicatorError;
use super::clients::consumer;
use super::internal_topics::block;
use super::plan::LoadedPlan;
use super::ranges::read_ranges;
use crate::connect::admin::{self, OffsetSpec};
use crate::connect::{Connection, KcpContext, client_config};
use crate::exit::{Diagnostic, ExitStatus};

/// The compacted topic on the target that holds the claims.
pub const CLAIMS_TOPIC: &str = "_kcp-claims";

/// One source topic copied into one target topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub target_topic: String,
    pub source_cluster_id: String,
    pub source_topic: String,
    /// The plan that copies it, and its source's name in the plan's
    /// credentials file (for messages).
    pub plan: String,
    pub source: String,
    /// The plan allows other sources' copies in the target topic
    /// (`topics.merge`).
    pub merge: bool,
}

impl Claim {
    fn key(&self) -> String {
        format!(
            "v1;{};{};{}",
            self.target_topic, self.source_cluster_id, self.source_topic
        )
    }

    /// Whether both claims are about the same writer (a source topic).
    fn same_writer(&self, other: &Claim) -> bool {
        self.source_cluster_id == other.source_cluster_id && self.source_topic == other.source_topic
    }

    fn describe(&self) -> String {
        format!(
            "`{}` from `{}` (cluster id {}, plan `{}`{})",
            self.source_topic,
            self.source,
            self.source_cluster_id,
            self.plan,
            if self.merge { ", merge" } else { "" }
        )
    }
}

/// Why two writers of one target topic collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// One of them (or both) did not ask to merge.
    NotMerged,
    /// Both merge, but under one plan name: they would share the lease
    /// and the transactional id.
    SamePlanName,
}

/// This plan's claim and another writer's on the same target topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub ours: Claim,
    pub theirs: Claim,
    pub why: Why,
}

/// Target topics that two sources would write without both asking for it.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(&self.target, &self.collisions))]
pub struct CollisionError {
    /// The target cluster (its name in the credentials file).
    pub target: String,
    pub collisions: Vec<Collision>,
}

fn describe(target: &str, collisions: &[Collision]) -> String {
    let lines: Vec<String> = collisions
        .iter()
        .map(|c| match c.why {
            Why::NotMerged => format!(
                "target topic `{}` on `{target}` would receive copies of {} and of {} (claimed in `{CLAIMS_TOPIC}` on the target), and {} asked to merge them",
                c.ours.target_topic,
                c.ours.describe(),
                c.theirs.describe(),
                if c.ours.merge || c.theirs.merge { "not both plans" } else { "neither plan" }
            ),
            Why::SamePlanName => format!(
                "target topic `{}` on `{target}` is merged from {} and {}, but both plans are named `{}`",
                c.ours.target_topic,
                c.ours.describe(),
                c.theirs.describe(),
                c.ours.plan
            ),
        })
        .collect();
    format!("refused before copying anything: {}", lines.join("; "))
}

impl Diagnostic for CollisionError {
    fn status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }

    fn hint(&self) -> Option<String> {
        let mut hints = Vec::new();
        if self.collisions.iter().any(|c| c.why == Why::NotMerged) {
            hints.push(format!(
                "give each source its own target topics with `topics.rename` (e.g. `prefix: '{}.'`), or merge them on purpose: match the topic with `topics.merge` in every plan that writes it (docs/reference/plan-file.md#fan-in); a claim of a plan given up for good is removed as docs/replicator.md#fan-in-claims says",
                self.collisions[0].ours.source
            ));
        }
        if self.collisions.iter().any(|c| c.why == Why::SamePlanName) {
            hints.push("give each plan writing the target its own `name:` (the lease and the transactional id are named after it)".into());
        }
        Some(hints.join("; "))
    }
}

/// The claims of `plan` for its selected source topics.
pub(super) fn ours(
    plan: &LoadedPlan,
    source_cluster_id: &str,
    topics: &BTreeMap<String, i32>,
) -> Vec<Claim> {
    topics
        .keys()
        .map(|topic| Claim {
            target_topic: plan.target_topic(topic),
            source_cluster_id: source_cluster_id.to_owned(),
            source_topic: topic.clone(),
            plan: plan.plan.name.clone(),
            source: plan.plan.source.clone(),
            merge: plan.merges(topic),
        })
        .collect()
}

/// Every collision of `ours` with the `stored` claims (pure).
pub(super) fn collisions(ours: &[Claim], stored: &[Claim]) -> Vec<Collision> {
    let mut out = Vec::new();
    for o in ours {
        for t in stored {
            if t.target_topic != o.target_topic || t.same_writer(o) {
                continue;
            }
            let why = if !(o.merge && t.merge) {
                Why::NotMerged
            } else if o.plan == t.plan {
                Why::SamePlanName
            } else {
                continue;
            };
            out.push(Collision {
                ours: o.clone(),
                theirs: t.clone(),
                why,
            });
        }
    }
    out
}

/// Refuses the plan's topics if they collide with the claims on the
/// target; writes nothing (preflight, `--dry-run`).
pub(super) fn check(
    plan: &LoadedPlan,
    source_cluster_id: &str,
    dst: &Connection,
    topics: &BTreeMap<String, i32>,
) -> Result<(), ReplicatorError> {
    // A reader is made only when there are claims to read: its group id
    // alone makes a brand-new target create `__consumer_offsets`, and a
    // check changes nothing.
    let parts = partitions(dst)?;
    let stored = if parts.is_empty() {
        Vec::new()
    } else {
        read_from(dst, &reader(plan, dst)?, &parts)?
    };
    refuse(
        plan,
        &collisions(&ours(plan, source_cluster_id, topics), &stored),
    )
}

/// Checks, records the plan's claims on the target, and checks again;
/// refused after writing, withdraws the claims it added. `reader` reads
/// the claims (a run passes the target reader it keeps: each consumer
/// made and dropped costs about 0.1 s); `writer` writes them (made early,
/// its connection is open by then). The claims topic exists
/// (`internal_topics`).
pub(super) fn claim(
    plan: &LoadedPlan,
    source_cluster_id: &str,
    dst: &Connection,
    (reader, writer): (&BaseConsumer<KcpContext>, &Writer),
    topics: &BTreeMap<String, i32>,
) -> Result<(), ReplicatorError> {
    let mine = ours(plan, source_cluster_id, topics);
    let before = read(dst, reader)?;
    refuse(plan, &collisions(&mine, &before))?;
    let new: Vec<&Claim> = mine.iter().filter(|c| !before.contains(c)).collect();
    if new.is_empty() {
        return Ok(());
    }
    let added: Vec<&Claim> = new
        .iter()
        .copied()
        .filter(|c| !before.iter().any(|b| b.key() == c.key()))
        .collect();
    let writes: Vec<(String, Option<Vec<u8>>)> = new
        .iter()
        .map(|c| Ok((c.key(), Some(serde_json::to_vec(c)?))))
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| ReplicatorError::Setup(format!("cannot encode a claim: {e}")))?;
    writer.write(&writes)?;
    let found = collisions(&mine, &read(dst, reader)?);
    if !found.is_empty() {
        let withdraw: Vec<(String, Option<Vec<u8>>)> =
            added.iter().map(|c| (c.key(), None)).collect();
        writer.write(&withdraw)?;
    }
    refuse(plan, &found)
}

fn refuse(plan: &LoadedPlan, found: &[Collision]) -> Result<(), ReplicatorError> {
    if found.is_empty() {
        return Ok(());
    }
    Err(CollisionError {
        target: plan.plan.target.clone(),
        collisions: found.to_vec(),
    }
    .into())
}

/// A consumer that can read the claims: no group membership, and no
/// offset commit (`read_ranges`).
pub(super) fn reader(
    plan: &LoadedPlan,
    dst: &Connection,
) -> Result<BaseConsumer<KcpContext>, ReplicatorError> {
    let group = format!("{}.claims", super::copier::replicator_group(plan));
    consumer(
        dst.credentials(),
        &[("group.id", &group), ("enable.auto.commit", "false")],
    )
}

/// The claims stored on the target, the latest per key (none when the
/// topic does not exist yet). Unreadable records are skipped.
fn read(
    dst: &Connection,
    reader: &BaseConsumer<KcpContext>,
) -> Result<Vec<Claim>, ReplicatorError> {
    read_from(dst, reader, &partitions(dst)?)
}

/// The claims topic's partitions (none when it does not exist yet).
fn partitions(dst: &Connection) -> Result<Vec<(String, i32)>, ReplicatorError> {
    let md = dst.fetch_metadata(Some(CLAIMS_TOPIC))?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| {
            t.partitions()
                .iter()
                .map(|p| (CLAIMS_TOPIC.to_owned(), p.id()))
        })
        .collect())
}

/// The claims stored in `parts`, the latest per key.
fn read_from(
    dst: &Connection,
    reader: &BaseConsumer<KcpContext>,
    parts: &[(String, i32)],
) -> Result<Vec<Claim>, ReplicatorError> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let ranges: Vec<(String, i32, i64, i64)> =
        admin::list_offsets(dst, parts, OffsetSpec::LastStable)?
            .into_iter()
            .map(|o| (o.topic, o.partition, 0, o.offset.unwrap_or(0)))
            .collect();
    let mut latest: HashMap<Vec<u8>, Option<Claim>> = HashMap::new();
    read_ranges(reader, &ranges, dst.timeout(), |_, _, _, key, value, _| {
        if let Some(key) = key {
            latest.insert(
                key.to_vec(),
                value.and_then(|v| serde_json::from_slice(v).ok()),
            );
        }
    })?;
    Ok(latest.into_values().flatten().collect())
}

/// What writes claims: a producer of its own, acknowledged by every
/// in-sync replica. Not idempotent: a claim written twice is the same
/// claim, and the producer needs no producer id (nor the rights to one).
pub(super) struct Writer {
    producer: FutureProducer<KcpContext>,
    timeout: std::time::Duration,
}

impl Writer {
    /// Made before it is needed: librdkafka opens its connection at once.
    pub(super) fn new(dst: &Connection) -> Result<Writer, ReplicatorError> {
        let timeout = dst.timeout();
        let producer = client_config(dst.credentials())?
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create_with_context(KcpContext::new(dst.credentials()))
            .map_err(ReplicatorError::kafka("creating the claims producer"))?;
        Ok(Writer { producer, timeout })
    }

    /// Writes records (a `None` value is a tombstone) and waits until each
    /// is acknowledged.
    fn write(&self, records: &[(String, Option<Vec<u8>>)]) -> Result<(), ReplicatorError> {
        // All sent at once, then awaited: one round trip, not one per claim.
        let sends = records.iter().map(|(key, value)| {
            let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(CLAIMS_TOPIC).key(key);
            if let Some(v) = value {
                record = record.payload(v.as_slice());
            }
            self.producer.send(record, self.timeout)
        });
        for delivered in block(futures_util::future::join_all(sends))? {
            delivered.map_err(|(e, _)| ReplicatorError::kafka("writing a claim")(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(source: &str, topic: &str, target_topic: &str, merge: bool) -> Claim {
        Claim {
            target_topic: target_topic.into(),
            source_cluster_id: format!("id-{source}"),
            source_topic: topic.into(),
            plan: format!("plan-{source}"),
            source: source.into(),
            merge,
        }
    }

    /// Why `ours` collides with `theirs`, if it does.
    fn clash(ours: &Claim, theirs: &Claim) -> Option<Why> {
        let found = collisions(std::slice::from_ref(ours), std::slice::from_ref(theirs));
        assert!(found.len() <= 1);
        found.first().map(|c| c.why)
    }

    #[test]
    fn two_sources_collide_on_a_target_topic_unless_both_merge() {
        let a = claim("a", "orders", "orders", false);
        let b = claim("b", "orders", "orders", false);
        assert_eq!(clash(&b, &a), Some(Why::NotMerged));
        // Only one plan asks to merge: still refused.
        let b_merge = claim("b", "orders", "orders", true);
        assert_eq!(clash(&b_merge, &a), Some(Why::NotMerged));
        // Both ask: allowed.
        let a_merge = claim("a", "orders", "orders", true);
        assert_eq!(clash(&b_merge, &a_merge), None);
        // A rename keeps them apart; the same writer is no collision.
        assert_eq!(clash(&claim("b", "orders", "b.orders", false), &a), None);
        assert_eq!(clash(&a_merge, &a), None, "itself, changed");
        // Merged under one plan name: lease and transactional id shared.
        let same_name = Claim {
            plan: "plan-a".into(),
            ..b_merge
        };
        assert_eq!(clash(&same_name, &a_merge), Some(Why::SamePlanName));
    }

    #[test]
    fn the_message_says_what_collides_where_and_how_to_fix_it() {
        let e = CollisionError {
            target: "central".into(),
            collisions: collisions(
                &[claim("b", "orders", "orders", true)],
                &[claim("a", "orders", "orders", false)],
            ),
        };
        let text = e.to_string();
        for part in [
            "refused before copying anything",
            "target topic `orders` on `central`",
            "`orders` from `b` (cluster id id-b, plan `plan-b`, merge)",
            "`orders` from `a` (cluster id id-a, plan `plan-a`)",
            "not both plans",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let hint = e.hint().unwrap();
        assert!(hint.contains("topics.rename"), "{hint}");
        assert!(hint.contains("topics.merge"), "{hint}");
        assert_eq!(e.status(), ExitStatus::BadInput);
    }
}
