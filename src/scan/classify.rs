//! Pure rules that classify what a scan finds: topic kinds, config sources,
//! ACL names. No I/O, so every rule is unit-tested.

use crate::connect::admin::RawAcl;
use crate::state::{
    AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType, ConfigSource,
    TopicKind,
};

/// What a topic is for, from its name (and the broker's `internal` flag).
pub(crate) fn topic_kind(name: &str) -> TopicKind {
    const MM2_SUFFIXES: &[&str] = &[".checkpoints.internal"];
    const MM2_PREFIXES: &[&str] = &[
        "mm2-offset-syncs.",
        "mm2-configs.",
        "mm2-offsets.",
        "mm2-status.",
    ];
    if name.starts_with("__") {
        return TopicKind::Internal;
    }
    if name == "heartbeats"
        || name.ends_with(".heartbeats")
        || MM2_PREFIXES.iter().any(|p| name.starts_with(p))
        || MM2_SUFFIXES.iter().any(|s| name.ends_with(s))
    {
        return TopicKind::MirrorMaker2;
    }
    if name.ends_with("-changelog") || name.ends_with("-repartition") {
        return TopicKind::KafkaStreams;
    }
    let connect_suffix = ["-configs", "-offsets", "-status"]
        .iter()
        .any(|s| name.ends_with(s));
    if connect_suffix && name.contains("connect") {
        return TopicKind::Connect;
    }
    TopicKind::User
}

/// Maps rust-rdkafka's config source.
pub(crate) fn config_source(source: &rdkafka::admin::ConfigSource) -> ConfigSource {
    use rdkafka::admin::ConfigSource as S;
    match source {
        S::Unknown => ConfigSource::Unknown,
        S::DynamicTopic => ConfigSource::DynamicTopic,
        S::DynamicBroker => ConfigSource::DynamicBroker,
        S::DynamicDefaultBroker => ConfigSource::DynamicDefaultBroker,
        S::StaticBroker => ConfigSource::StaticBroker,
        S::Default => ConfigSource::Default,
    }
}

/// Turns an ACL as librdkafka names it into a typed binding. Returns the
/// reason when a part has a value the state cannot represent.
pub(crate) fn acl_binding(raw: &RawAcl) -> Result<AclBinding, String> {
    let resource_type = match raw.resource_type.as_str() {
        "TOPIC" => AclResourceType::Topic,
        "GROUP" => AclResourceType::Group,
        "BROKER" | "CLUSTER" => AclResourceType::Cluster,
        "TRANSACTIONAL_ID" => AclResourceType::TransactionalId,
        "DELEGATION_TOKEN" => AclResourceType::DelegationToken,
        "USER" => AclResourceType::User,
        other => return Err(format!("unknown resource type `{other}`")),
    };
    let pattern_type = match raw.pattern_type.as_str() {
        "LITERAL" => AclPatternType::Literal,
        "PREFIXED" => AclPatternType::Prefixed,
        other => return Err(format!("unknown pattern type `{other}`")),
    };
    let operation = match raw.operation.as_str() {
        "ALL" => AclOperation::All,
        "READ" => AclOperation::Read,
        "WRITE" => AclOperation::Write,
        "CREATE" => AclOperation::Create,
        "DELETE" => AclOperation::Delete,
        "ALTER" => AclOperation::Alter,
        "DESCRIBE" => AclOperation::Describe,
        "CLUSTER_ACTION" => AclOperation::ClusterAction,
        "DESCRIBE_CONFIGS" => AclOperation::DescribeConfigs,
        "ALTER_CONFIGS" => AclOperation::AlterConfigs,
        "IDEMPOTENT_WRITE" => AclOperation::IdempotentWrite,
        "CREATE_TOKENS" => AclOperation::CreateTokens,
        "DESCRIBE_TOKENS" => AclOperation::DescribeTokens,
        other => return Err(format!("unknown operation `{other}`")),
    };
    let permission = match raw.permission.as_str() {
        "ALLOW" => AclPermission::Allow,
        "DENY" => AclPermission::Deny,
        other => return Err(format!("unknown permission `{other}`")),
    };
    Ok(AclBinding {
        resource_type,
        resource_name: raw.resource_name.clone(),
        pattern_type,
        principal: raw.principal.clone(),
        host: raw.host.clone(),
        operation,
        permission,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_kinds() {
        let cases = [
            ("orders", TopicKind::User),
            ("__consumer_offsets", TopicKind::Internal),
            ("__transaction_state", TopicKind::Internal),
            ("__amazon_msk_canary", TopicKind::Internal),
            ("mm2-offset-syncs.dc2.internal", TopicKind::MirrorMaker2),
            ("dc2.checkpoints.internal", TopicKind::MirrorMaker2),
            ("heartbeats", TopicKind::MirrorMaker2),
            ("dc2.heartbeats", TopicKind::MirrorMaker2),
            ("mm2-status.dc2.internal", TopicKind::MirrorMaker2),
            (
                "app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog",
                TopicKind::KafkaStreams,
            ),
            (
                "app-KSTREAM-AGGREGATE-0000000003-repartition",
                TopicKind::KafkaStreams,
            ),
            ("connect-configs", TopicKind::Connect),
            ("connect-offsets", TopicKind::Connect),
            ("my-connect-cluster-status", TopicKind::Connect),
            ("payment-status", TopicKind::User),
            ("dc2.orders", TopicKind::User),
        ];
        for (name, kind) in cases {
            assert_eq!(topic_kind(name), kind, "{name}");
        }
    }

    fn raw(resource: &str, pattern: &str, op: &str, perm: &str) -> RawAcl {
        RawAcl {
            resource_type: resource.into(),
            resource_name: "orders".into(),
            pattern_type: pattern.into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: op.into(),
            permission: perm.into(),
        }
    }

    /// Recorded from librdkafka's `*_name` functions on a Kafka 3.7 cluster's
    /// DescribeAcls answer.
    #[test]
    fn acl_names_map_to_typed_bindings() {
        let b = acl_binding(&raw("TOPIC", "PREFIXED", "READ", "ALLOW")).unwrap();
        assert_eq!(
            (b.resource_type, b.pattern_type, b.operation, b.permission),
            (
                AclResourceType::Topic,
                AclPatternType::Prefixed,
                AclOperation::Read,
                AclPermission::Allow
            )
        );
        assert_eq!(b.principal, "User:alice");
        let b = acl_binding(&raw("BROKER", "LITERAL", "IDEMPOTENT_WRITE", "DENY")).unwrap();
        assert_eq!(
            (b.resource_type, b.operation, b.permission),
            (
                AclResourceType::Cluster,
                AclOperation::IdempotentWrite,
                AclPermission::Deny
            )
        );
        let b = acl_binding(&raw(
            "TRANSACTIONAL_ID",
            "LITERAL",
            "DESCRIBE_CONFIGS",
            "ALLOW",
        ))
        .unwrap();
        assert_eq!(
            (b.resource_type, b.operation),
            (
                AclResourceType::TransactionalId,
                AclOperation::DescribeConfigs
            )
        );
        assert!(
            acl_binding(&raw("TOPIC", "MATCH", "READ", "ALLOW"))
                .unwrap_err()
                .contains("MATCH")
        );
        assert!(acl_binding(&raw("UNKNOWN", "LITERAL", "READ", "ALLOW")).is_err());
    }
}
