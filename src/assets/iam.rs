//! MSK IAM policies → Kafka ACLs.
//!
//! MSK clusters with IAM authentication authorize `kafka-cluster:*` actions
//! on cluster, topic, group and transactional-id ARNs. Each statement is
//! translated action by action, and **every** resource of the statement is
//! used (not only the first). What has no faithful ACL equivalent is left out
//! with the reason: conditions, `NotAction`/`NotResource`/`NotPrincipal`,
//! wildcards in the middle of a name, any-principal statements, resources of
//! another cluster.

use serde_json::Value;

use super::LeftOut;
use crate::state::{AclOperation, AclPatternType, AclPermission, AclResourceType, IamPolicy};

/// One ACL granted to an IAM principal (role or user ARN).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Grant {
    pub iam_principal: String,
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: AclPatternType,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// `kafka-cluster:` actions and the ACL each one needs. `Connect` needs none.
const ACTIONS: &[(&str, Option<(AclResourceType, AclOperation)>)] = {
    use AclOperation as O;
    use AclResourceType as R;
    &[
        ("Connect", None),
        ("DescribeCluster", Some((R::Cluster, O::Describe))),
        ("AlterCluster", Some((R::Cluster, O::Alter))),
        (
            "DescribeClusterDynamicConfiguration",
            Some((R::Cluster, O::DescribeConfigs)),
        ),
        (
            "AlterClusterDynamicConfiguration",
            Some((R::Cluster, O::AlterConfigs)),
        ),
        (
            "WriteDataIdempotently",
            Some((R::Cluster, O::IdempotentWrite)),
        ),
        ("CreateTopic", Some((R::Topic, O::Create))),
        ("DescribeTopic", Some((R::Topic, O::Describe))),
        ("AlterTopic", Some((R::Topic, O::Alter))),
        ("DeleteTopic", Some((R::Topic, O::Delete))),
        (
            "DescribeTopicDynamicConfiguration",
            Some((R::Topic, O::DescribeConfigs)),
        ),
        (
            "AlterTopicDynamicConfiguration",
            Some((R::Topic, O::AlterConfigs)),
        ),
        ("ReadData", Some((R::Topic, O::Read))),
        ("WriteData", Some((R::Topic, O::Write))),
        ("DescribeGroup", Some((R::Group, O::Describe))),
        ("AlterGroup", Some((R::Group, O::Read))),
        ("DeleteGroup", Some((R::Group, O::Delete))),
        (
            "DescribeTransactionalId",
            Some((R::TransactionalId, O::Describe)),
        ),
        ("AlterTransactionalId", Some((R::TransactionalId, O::Write))),
    ]
};

/// The Kafka principal an IAM ARN becomes by default: `User:<role or user name>`.
pub(crate) fn default_principal(arn: &str) -> String {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    format!("User:{name}")
}

/// A resource of the statement, as it applies to this cluster.
#[derive(Debug, Clone)]
struct Resource {
    /// `None`: every resource type (`"*"`).
    rtype: Option<AclResourceType>,
    name: String,
    pattern: AclPatternType,
}

/// Translates the policies of the cluster `cluster_arn`.
pub(crate) fn translate(cluster_arn: &str, policies: &[IamPolicy]) -> (Vec<Grant>, Vec<LeftOut>) {
    let mut grants = Vec::new();
    let mut left_out = Vec::new();
    for policy in policies {
        let statements = match &policy.document["Statement"] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        for (i, st) in statements.iter().enumerate() {
            let label = match st.get("Sid").and_then(Value::as_str) {
                Some(sid) => format!("IAM policy {} statement {sid}", policy.source),
                None => format!("IAM policy {} statement #{}", policy.source, i + 1),
            };
            let mut skip = |reason: String| {
                left_out.push(LeftOut {
                    subject: label.clone(),
                    reason,
                })
            };
            if let Some(key) = ["Condition", "NotAction", "NotResource", "NotPrincipal"]
                .into_iter()
                .find(|k| st.get(*k).is_some())
            {
                skip(format!(
                    "uses `{key}`, which Kafka ACLs cannot express; grant the equivalent by hand"
                ));
                continue;
            }
            let permission = match st.get("Effect").and_then(Value::as_str) {
                Some("Allow") => AclPermission::Allow,
                Some("Deny") => AclPermission::Deny,
                other => {
                    skip(format!("unknown Effect {other:?}"));
                    continue;
                }
            };
            let principals = match (&policy.attached_to, st.get("Principal")) {
                (Some(arn), _) => vec![arn.clone()],
                (None, Some(Value::Object(p))) => strings(p.get("AWS")),
                (None, Some(Value::String(s))) if s == "*" => {
                    skip("applies to any principal; Kafka ACLs need named principals (add `User:*` ACLs by hand if intended)".into());
                    continue;
                }
                _ => Vec::new(),
            };
            if principals.is_empty() || principals.iter().any(|p| p == "*") {
                skip("names no IAM role or user (or `*`); Kafka ACLs need named principals".into());
                continue;
            }
            let mut resources = Vec::new();
            for r in strings(st.get("Resource")) {
                match parse_resource(cluster_arn, &r) {
                    Ok(Some(res)) => resources.push(res),
                    Ok(None) => {} // another cluster's resource
                    Err(reason) => skip(format!("resource `{r}`: {reason}")),
                }
            }
            for action in strings(st.get("Action")) {
                let Some(name) = action.strip_prefix("kafka-cluster:") else {
                    continue; // not a Kafka data-plane action
                };
                let needs: Vec<(AclResourceType, AclOperation)> = if name == "*" {
                    [
                        AclResourceType::Cluster,
                        AclResourceType::Topic,
                        AclResourceType::Group,
                        AclResourceType::TransactionalId,
                    ]
                    .into_iter()
                    .map(|r| (r, AclOperation::All))
                    .collect()
                } else {
                    let matched: Vec<_> = ACTIONS.iter().filter(|(a, _)| glob(name, a)).collect();
                    if matched.is_empty() {
                        skip(format!("unknown action `{action}`"));
                        continue;
                    }
                    matched.into_iter().filter_map(|(_, need)| *need).collect()
                };
                for (rtype, operation) in needs {
                    for res in &resources {
                        if res.rtype.is_some_and(|t| t != rtype) {
                            continue;
                        }
                        let (name, pattern) = if rtype == AclResourceType::Cluster {
                            ("kafka-cluster".to_owned(), AclPatternType::Literal)
                        } else {
                            (res.name.clone(), res.pattern)
                        };
                        for principal in &principals {
                            grants.push(Grant {
                                iam_principal: principal.clone(),
                                resource_type: rtype,
                                resource_name: name.clone(),
                                pattern_type: pattern,
                                operation,
                                permission,
                            });
                        }
                    }
                }
            }
        }
    }
    grants.sort();
    grants.dedup();
    (grants, left_out)
}

/// A string or an array of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM's `*`/`?` wildcard match.
fn glob(pattern: &str, text: &str) -> bool {
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob(&pattern[1..], text)
                || (!text.is_empty()
                    && glob(
                        pattern,
                        &text[text.chars().next().map_or(0, char::len_utf8)..],
                    ))
        }
        (Some('?'), Some(t)) => glob(&pattern[1..], &text[t.len_utf8()..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[p.len_utf8()..], &text[t.len_utf8()..]),
        _ => false,
    }
}

/// Parses `arn:aws:kafka:<region>:<account>:<type>/<cluster>/<uuid>[/<name>]`.
/// `Ok(None)` when it names another cluster.
fn parse_resource(cluster_arn: &str, arn: &str) -> Result<Option<Resource>, String> {
    if arn == "*" {
        return Ok(Some(Resource {
            rtype: None,
            name: "*".into(),
            pattern: AclPatternType::Literal,
        }));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let cluster_parts: Vec<&str> = cluster_arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[2] != "kafka" || cluster_parts.len() != 6 {
        return Err("not an MSK resource ARN".into());
    }
    if !glob(parts[3], cluster_parts[3]) || !glob(parts[4], cluster_parts[4]) {
        return Ok(None);
    }
    let path: Vec<&str> = parts[5].splitn(4, '/').collect();
    let cluster_path: Vec<&str> = cluster_parts[5].splitn(3, '/').collect();
    if path.len() < 3 || cluster_path.len() < 3 {
        return Err("not an MSK resource ARN".into());
    }
    if !glob(path[1], cluster_path[1]) || !glob(path[2], cluster_path[2]) {
        return Ok(None);
    }
    let rtype = match path[0] {
        "cluster" => AclResourceType::Cluster,
        "topic" => AclResourceType::Topic,
        "group" => AclResourceType::Group,
        "transactional-id" => AclResourceType::TransactionalId,
        other => {
            return Err(format!(
                "resource type `{other}` has no Kafka ACL equivalent"
            ));
        }
    };
    let name = path.get(3).copied().unwrap_or("*");
    let (name, pattern) = match name.find(['*', '?']) {
        None => (name.to_owned(), AclPatternType::Literal),
        Some(_) if name == "*" => ("*".to_owned(), AclPatternType::Literal),
        Some(i) if i == name.len() - 1 && name.ends_with('*') => {
            (name[..i].to_owned(), AclPatternType::Prefixed)
        }
        Some(_) => {
            return Err(
                "a wildcard inside the name has no ACL equivalent (only `prefix*` does)".into(),
            );
        }
    };
    Ok(Some(Resource {
        rtype: Some(rtype),
        name,
        pattern,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CLUSTER: &str = "arn:aws:kafka:us-east-1:1:cluster/orders/u-1";

    fn policy(statement: Value) -> Vec<IamPolicy> {
        vec![IamPolicy {
            source: "cluster-policy".into(),
            attached_to: None,
            document: json!({ "Version": "2012-10-17", "Statement": statement }),
        }]
    }

    #[test]
    fn every_resource_of_a_statement_is_translated() {
        let (grants, left) = translate(
            CLUSTER,
            &policy(json!([{
                "Effect": "Allow",
                "Principal": { "AWS": ["arn:aws:iam::1:role/app"] },
                "Action": ["kafka-cluster:Connect", "kafka-cluster:ReadData", "kafka-cluster:AlterGroup"],
                "Resource": [
                    "arn:aws:kafka:us-east-1:1:topic/orders/u-1/orders.*",
                    "arn:aws:kafka:us-east-1:1:topic/orders/u-1/payments",
                    "arn:aws:kafka:us-east-1:1:group/orders/*/app-*",
                    "arn:aws:kafka:us-east-1:1:topic/other/u-9/x"
                ]
            }])),
        );
        assert!(left.is_empty(), "{left:?}");
        let got: Vec<_> = grants
            .iter()
            .map(|g| {
                (
                    g.resource_type,
                    g.resource_name.as_str(),
                    g.pattern_type,
                    g.operation,
                )
            })
            .collect();
        use AclOperation as O;
        use AclPatternType as P;
        use AclResourceType as R;
        assert_eq!(
            got,
            [
                (R::Topic, "orders.", P::Prefixed, O::Read),
                (R::Topic, "payments", P::Literal, O::Read),
                (R::Group, "app-", P::Prefixed, O::Read),
            ]
        );
        assert!(
            grants
                .iter()
                .all(|g| g.iam_principal == "arn:aws:iam::1:role/app")
        );
    }

    #[test]
    fn wildcards_deny_and_what_cannot_be_translated() {
        let (grants, left) = translate(
            CLUSTER,
            &policy(json!([
                { "Effect": "Deny", "Principal": { "AWS": "arn:aws:iam::1:user/bob" },
                  "Action": "kafka-cluster:*", "Resource": "*" },
                { "Sid": "cond", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::1:role/x" },
                  "Action": "kafka-cluster:ReadData", "Resource": "*", "Condition": {} },
                { "Sid": "anyone", "Effect": "Allow", "Principal": "*",
                  "Action": "kafka-cluster:Describe*", "Resource": "*" },
                { "Sid": "mid", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::1:role/y" },
                  "Action": "kafka-cluster:Describe*",
                  "Resource": "arn:aws:kafka:us-east-1:1:topic/orders/u-1/a*b" }
            ])),
        );
        assert_eq!(grants.len(), 4, "{grants:?}");
        assert!(grants.iter().all(|g| g.permission == AclPermission::Deny
            && g.operation == AclOperation::All
            && g.resource_name
                == if g.resource_type == AclResourceType::Cluster {
                    "kafka-cluster"
                } else {
                    "*"
                }));
        let reasons: Vec<String> = left
            .iter()
            .map(|l| format!("{}: {}", l.subject, l.reason))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("statement cond") && reasons[0].contains("Condition"));
        assert!(reasons[1].contains("anyone") && reasons[1].contains("any principal"));
        assert!(reasons[2].contains("a*b") && reasons[2].contains("inside the name"));
    }

    #[test]
    fn identity_policies_apply_to_their_role() {
        let mut p = policy(
            json!({ "Effect": "Allow", "Action": ["kafka-cluster:DescribeTopic"],
            "Resource": ["arn:aws:kafka:*:1:topic/orders/*/*"] }),
        );
        p[0].attached_to = Some("arn:aws:iam::1:role/admin".into());
        let (grants, left) = translate(CLUSTER, &p);
        assert!(left.is_empty());
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].iam_principal, "arn:aws:iam::1:role/admin");
        assert_eq!(default_principal(&grants[0].iam_principal), "User:admin");
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("Describe*", "DescribeTopicDynamicConfiguration"));
        assert!(glob("*", ""));
        assert!(glob("u-?", "u-1"));
        assert!(!glob("Alter*", "DescribeGroup"));
    }
}
