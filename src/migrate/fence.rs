//! The producer fence of the cutover (the plan's
//! `cutover.fence_producers`): at `producers/stop`, kcp denies the
//! producers' principals Write on the plan's source topics, so a producer
//! nobody stopped gets an authorization error instead of writing records
//! that would never reach the target; `rollback` deletes exactly the
//! bindings kcp added. Which principals, and which bindings to add, are
//! decided here (pure); `actions` and `rollback` call the cluster.

use std::collections::BTreeSet;

use crate::connect::admin::{RawAcl, TopicWriteAcl};

/// The principals that an ALLOW binding on the source lets write to one of
/// `topics`: `WRITE` or `ALL` on a topic resource whose literal name is the
/// topic or `*`, or whose prefix starts it.
pub(crate) fn writers(acls: &[RawAcl], topics: &[String]) -> Vec<String> {
    let grants = |a: &RawAcl, topic: &str| match a.pattern_type.as_str() {
        "LITERAL" => a.resource_name == topic || a.resource_name == "*",
        "PREFIXED" => topic.starts_with(&a.resource_name),
        _ => false,
    };
    acls.iter()
        .filter(|a| a.resource_type == "TOPIC" && a.permission == "ALLOW")
        .filter(|a| matches!(a.operation.as_str(), "WRITE" | "ALL"))
        .filter(|a| topics.iter().any(|t| grants(a, t)))
        .map(|a| a.principal.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The deny-Write bindings to add: one per principal and topic, for every
/// host, minus those the cluster already has (someone else's, or kcp's own
/// from an earlier run of the step, which are recorded already).
pub(crate) fn to_add(
    principals: &[String],
    topics: &[String],
    existing: &[RawAcl],
) -> Vec<TopicWriteAcl> {
    let present = |b: &TopicWriteAcl| {
        existing.iter().any(|a| {
            a.resource_type == "TOPIC"
                && a.pattern_type == "LITERAL"
                && a.resource_name == b.topic
                && a.principal == b.principal
                && a.host == b.host
                && a.operation == "WRITE"
                && a.permission == "DENY"
        })
    };
    let mut out = Vec::new();
    for principal in principals {
        for topic in topics {
            let b = TopicWriteAcl {
                topic: topic.clone(),
                principal: principal.clone(),
                host: "*".to_owned(),
                deny: true,
            };
            if !present(&b) {
                out.push(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(pattern: &str, name: &str, principal: &str, op: &str, permission: &str) -> RawAcl {
        RawAcl {
            resource_type: "TOPIC".into(),
            resource_name: name.into(),
            pattern_type: pattern.into(),
            principal: principal.into(),
            host: "*".into(),
            operation: op.into(),
            permission: permission.into(),
        }
    }

    #[test]
    fn writers_are_the_principals_allowed_to_write_a_plan_topic() {
        let acls = [
            acl("LITERAL", "orders", "User:app", "WRITE", "ALLOW"),
            acl("PREFIXED", "ord", "User:etl", "ALL", "ALLOW"),
            acl("LITERAL", "*", "User:ops", "WRITE", "ALLOW"),
            acl("LITERAL", "orders", "User:reader", "READ", "ALLOW"),
            acl("LITERAL", "orders", "User:banned", "WRITE", "DENY"),
            acl("LITERAL", "payments", "User:other", "WRITE", "ALLOW"),
            acl("LITERAL", "orders", "User:app", "WRITE", "ALLOW"),
        ];
        assert_eq!(
            writers(&acls, &["orders".into()]),
            ["User:app", "User:etl", "User:ops"]
        );
    }

    #[test]
    fn bindings_already_there_are_not_added_again() {
        let existing = [acl("LITERAL", "orders", "User:app", "WRITE", "DENY")];
        let add = to_add(
            &["User:app".into(), "User:etl".into()],
            &["orders".into()],
            &existing,
        );
        assert_eq!(
            add,
            [TopicWriteAcl {
                topic: "orders".into(),
                principal: "User:etl".into(),
                host: "*".into(),
                deny: true
            }]
        );
    }
}
