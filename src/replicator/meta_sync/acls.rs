//! The metadata sync's ACL rounds (plan key
//! `replication.metadata_sync.acls`): the source's bindings, principals
//! mapped through the plan's principal map as `kcp create-asset acls` maps
//! them for a Kafka target and literal topic names renamed as the plan
//! renames topics, are created on the target; the bindings kcp created are
//! recorded in the offset-map topic (key
//! `acls;<source cluster id>;<target cluster id>;<plan>`, the JSON list of
//! bindings) before they are created, and only those are ever deleted,
//! when they are gone from the source. A binding the target had before
//! kcp is never recorded, so never deleted.
//!
//! The decisions are pure ([`desired_acls`], [`acl_actions`]); the round
//! (`Sync::acls`) reads both sides, applies them and keeps the record.

use std::collections::BTreeSet;

use super::{ACL_KEY_PREFIX, Sync};
use crate::connect::admin::{self, RawAcl};
use crate::replicator::ReplicatorError;
use crate::replicator::plan::LoadedPlan;
use crate::telemetry::{SyncKind, SyncOutcome};

/// What the ACL rounds keep between rounds.
pub(super) struct AclSync {
    /// The record's key in the offset-map topic.
    key: String,
    /// What kcp created, once the record is read.
    created: Option<BTreeSet<RawAcl>>,
    /// Bindings skipped or refused, already reported.
    reported: BTreeSet<RawAcl>,
}

impl AclSync {
    pub(super) fn new(source_cluster: &str, target_cluster: &str, plan: &str) -> Self {
        AclSync {
            key: record_key(source_cluster, target_cluster, plan),
            created: None,
            reported: BTreeSet::new(),
        }
    }
}

/// The key of kcp's ACL record in the offset-map topic.
fn record_key(source_cluster: &str, target_cluster: &str, plan: &str) -> String {
    format!("{ACL_KEY_PREFIX}{source_cluster};{target_cluster};{plan}")
}

/// The bindings the target should have from the source's, and those left
/// out with the reason.
fn desired_acls(
    source: &[RawAcl],
    plan: &LoadedPlan,
) -> (BTreeSet<RawAcl>, Vec<(RawAcl, &'static str)>) {
    let mut want = BTreeSet::new();
    let mut skipped = Vec::new();
    let rename = &plan.plan.topics.rename;
    let fenced = plan
        .plan
        .cutover
        .as_ref()
        .is_some_and(|c| c.fence_producers.is_some());
    for acl in source {
        let skip = match (acl.resource_type.as_str(), acl.pattern_type.as_str()) {
            ("TOPIC" | "GROUP" | "BROKER" | "TRANSACTIONAL_ID", "LITERAL" | "PREFIXED") => None,
            ("TOPIC" | "GROUP" | "BROKER" | "TRANSACTIONAL_ID", _) => {
                Some("not a literal or prefixed pattern")
            }
            _ => Some("librdkafka cannot create bindings of this resource type"),
        };
        let is_fence = fenced
            && acl.resource_type == "TOPIC"
            && acl.pattern_type == "LITERAL"
            && acl.operation == "WRITE"
            && acl.permission == "DENY"
            && acl.host == "*"
            && plan.selects(&acl.resource_name);
        let skip = skip.or(is_fence.then_some(
            "may be the cutover's producer fence (`cutover.fence_producers`), which must not reach the target",
        ));
        let topic = acl.resource_type == "TOPIC";
        let renamed = !rename.prefix.is_empty() || !rename.suffix.is_empty();
        let name = match acl.pattern_type.as_str() {
            "LITERAL" if topic && plan.selects(&acl.resource_name) => {
                Some(plan.target_topic(&acl.resource_name))
            }
            "PREFIXED" if topic && renamed => rename
                .suffix
                .is_empty()
                .then(|| format!("{}{}", rename.prefix, acl.resource_name)),
            _ => Some(acl.resource_name.clone()),
        };
        let skip = skip.or(name
            .is_none()
            .then_some("a prefixed topic binding cannot follow a rename with a suffix"));
        match (skip, name) {
            (None, Some(name)) => {
                want.insert(RawAcl {
                    resource_name: name,
                    principal: crate::assets::acls::kafka_principal(
                        &acl.principal,
                        plan.principals(),
                    ),
                    ..acl.clone()
                });
            }
            (reason, _) => skipped.push((acl.clone(), reason.unwrap_or_default())),
        }
    }
    (want, skipped)
}

/// What one ACL round does on the target.
#[derive(Debug, Default, PartialEq, Eq)]
struct AclActions {
    create: Vec<RawAcl>,
    /// Bindings kcp created that the source no longer has.
    delete: Vec<RawAcl>,
    /// kcp's record before the round's changes (what it created, and what
    /// it is about to create).
    record_before: BTreeSet<RawAcl>,
    /// kcp's record after them.
    record_after: BTreeSet<RawAcl>,
}

/// Creates what the target lacks, deletes only what kcp created and the
/// source dropped; a binding the target had before kcp is never recorded,
/// so never deleted.
fn acl_actions(
    desired: &BTreeSet<RawAcl>,
    target: &BTreeSet<RawAcl>,
    created: &BTreeSet<RawAcl>,
) -> AclActions {
    let create: Vec<RawAcl> = desired.difference(target).cloned().collect();
    let dropped: BTreeSet<RawAcl> = created.difference(desired).cloned().collect();
    let delete: Vec<RawAcl> = dropped.intersection(target).cloned().collect();
    let record_before: BTreeSet<RawAcl> = created.iter().chain(&create).cloned().collect();
    let record_after = record_before.difference(&dropped).cloned().collect();
    AclActions {
        create,
        delete,
        record_before,
        record_after,
    }
}

/// One line of a binding for notices.
fn describe_acl(a: &RawAcl) -> String {
    format!(
        "{} {} {} on {} {} `{}` from host {}",
        a.principal,
        a.permission,
        a.operation,
        a.pattern_type.to_lowercase(),
        a.resource_type.to_lowercase(),
        a.resource_name,
        a.host
    )
}

impl Sync<'_> {
    /// One round of ACLs.
    pub(super) fn acls(&mut self) -> Result<(), ReplicatorError> {
        let created = match self.acls.created.take() {
            Some(c) => c,
            None => self.read_acl_record()?,
        };
        self.acls.created = Some(created.clone());
        let source = admin::describe_acls(&self.src)?;
        let (desired, skipped) = desired_acls(&source, self.plan);
        for (acl, reason) in skipped {
            if self.acls.reported.insert(acl.clone()) {
                self.observer.warning(&format!(
                    "metadata sync: ACL {} not applied to the target: {reason}",
                    describe_acl(&acl)
                ));
            }
        }
        let on_target: BTreeSet<RawAcl> = admin::describe_acls(&self.dst)?.into_iter().collect();
        let actions = acl_actions(&desired, &on_target, &created);
        if actions.record_before != created {
            self.write_acl_record(&actions.record_before)?;
            self.acls.created = Some(actions.record_before.clone());
        }
        let mut refused = BTreeSet::new();
        for acl in &actions.create {
            match admin::create_raw_acls(&self.dst, std::slice::from_ref(acl)) {
                Ok(()) => {
                    self.count(SyncKind::acl, SyncOutcome::applied);
                    self.observer.notice(&format!(
                        "metadata sync: created ACL {} on the target",
                        describe_acl(acl)
                    ));
                }
                Err(e) => {
                    if self.acls.reported.insert(acl.clone()) {
                        self.count(SyncKind::acl, SyncOutcome::refused);
                        self.observer.warning(&format!(
                            "metadata sync: the target refused ACL {}: {e}",
                            describe_acl(acl)
                        ));
                    }
                    // Not created: not kcp's (a binding made by hand later
                    // stays the operator's).
                    if !created.contains(acl) {
                        refused.insert(acl.clone());
                    }
                }
            }
        }
        admin::delete_raw_acls(&self.dst, &actions.delete)?;
        for acl in &actions.delete {
            self.count(SyncKind::acl, SyncOutcome::deleted);
            self.observer.notice(&format!(
                "metadata sync: deleted ACL {} on the target (kcp created it; the source no longer has it)",
                describe_acl(acl)
            ));
        }
        let record_after: BTreeSet<RawAcl> =
            actions.record_after.difference(&refused).cloned().collect();
        if record_after != actions.record_before {
            self.write_acl_record(&record_after)?;
        }
        self.acls.created = Some(record_after);
        Ok(())
    }

    /// kcp's ACL record from the offset-map topic (empty when there is none).
    fn read_acl_record(&self) -> Result<BTreeSet<RawAcl>, ReplicatorError> {
        let map_topic = &self.plan.plan.replication.offset_map_topic;
        match self.read_record(&self.acls.key)? {
            None => Ok(BTreeSet::new()),
            Some(value) => serde_json::from_slice::<Vec<RawAcl>>(&value)
                .map(|v| v.into_iter().collect())
                .map_err(|e| {
                    ReplicatorError::Setup(format!(
                        "kcp's ACL record `{}` in `{map_topic}` is unreadable ({e}); delete it to start the record afresh (kcp then forgets which target bindings it created)",
                        self.acls.key
                    ))
                }),
        }
    }

    /// Writes kcp's ACL record.
    fn write_acl_record(&mut self, acls: &BTreeSet<RawAcl>) -> Result<(), ReplicatorError> {
        let value = serde_json::to_vec(&acls.iter().collect::<Vec<_>>())
            .map_err(|e| ReplicatorError::Setup(format!("cannot encode the ACL record: {e}")))?;
        let key = self.acls.key.clone();
        self.write_record(&key, &value, "kcp's ACL record")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn acl(rt: &str, name: &str, pattern: &str, principal: &str, op: &str, perm: &str) -> RawAcl {
        RawAcl {
            resource_type: rt.into(),
            resource_name: name.into(),
            pattern_type: pattern.into(),
            principal: principal.into(),
            host: "*".into(),
            operation: op.into(),
            permission: perm.into(),
        }
    }

    fn plan(extra: &str) -> LoadedPlan {
        LoadedPlan::parse(
            Path::new("/p.yaml"),
            &format!("version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn source_bindings_are_renamed_and_mapped_as_the_plan_says() {
        let mut p = plan("topics:\n  include: 'orders.*'\n  rename: { prefix: 'dc1.' }\n");
        let source = [
            acl("TOPIC", "orders", "LITERAL", "User:alice", "READ", "ALLOW"),
            acl("TOPIC", "other", "LITERAL", "User:alice", "READ", "ALLOW"),
            acl("TOPIC", "ord", "PREFIXED", "User:bob", "WRITE", "ALLOW"),
            acl("GROUP", "g", "LITERAL", "User:alice", "READ", "ALLOW"),
            acl(
                "UNKNOWN",
                "tok",
                "LITERAL",
                "User:alice",
                "DESCRIBE",
                "ALLOW",
            ),
        ];
        p.set_principals(
            crate::assets::PrincipalMap::parse("principals:\n  'User:alice': 'User:alice2'\n")
                .unwrap(),
        );
        let (want, skipped) = desired_acls(&source, &p);
        let names: BTreeSet<(String, String)> = want
            .iter()
            .map(|a| (a.resource_name.clone(), a.principal.clone()))
            .collect();
        let expected = [
            ("dc1.ord", "User:bob"),
            ("dc1.orders", "User:alice2"),
            ("g", "User:alice2"),
            ("other", "User:alice2"),
        ]
        .map(|(n, p)| (n.to_owned(), p.to_owned()));
        assert_eq!(names, BTreeSet::from(expected));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0.resource_type, "UNKNOWN");
    }

    #[test]
    fn the_producer_fence_never_reaches_the_target() {
        let fence = acl("TOPIC", "orders", "LITERAL", "User:app", "WRITE", "DENY");
        let (want, _) = desired_acls(std::slice::from_ref(&fence), &plan(""));
        assert_eq!(
            want.len(),
            1,
            "without a fence in the plan, a deny is synced"
        );
        let fenced = plan("cutover:\n  fence_producers: {}\n");
        let (want, skipped) = desired_acls(&[fence], &fenced);
        assert!(want.is_empty());
        assert!(skipped[0].1.contains("fence"), "{skipped:?}");
    }

    #[test]
    fn only_bindings_kcp_created_are_deleted() {
        let a = acl("TOPIC", "a", "LITERAL", "User:x", "READ", "ALLOW");
        let b = acl("TOPIC", "b", "LITERAL", "User:x", "READ", "ALLOW");
        let mine = acl("TOPIC", "c", "LITERAL", "User:x", "READ", "ALLOW");
        let theirs = acl("TOPIC", "d", "LITERAL", "User:x", "READ", "ALLOW");
        let set = |v: &[&RawAcl]| v.iter().map(|a| (*a).clone()).collect::<BTreeSet<_>>();
        // The source has a and b; the target has a (the operator's), c
        // (kcp's, dropped on the source since) and d (the operator's).
        let actions = acl_actions(&set(&[&a, &b]), &set(&[&a, &mine, &theirs]), &set(&[&mine]));
        assert_eq!(actions.create, std::slice::from_ref(&b));
        assert_eq!(actions.delete, std::slice::from_ref(&mine));
        assert_eq!(actions.record_before, set(&[&b, &mine]));
        assert_eq!(actions.record_after, set(&[&b]));
        // The operator's `a`, which the source also has, is never recorded:
        // once the source drops it, it stays.
        let later = acl_actions(&set(&[&b]), &set(&[&a, &b, &theirs]), &actions.record_after);
        assert!(later.create.is_empty() && later.delete.is_empty());
    }
}
