//! What a topic's configs mean for a migration: which ones must be carried
//! to the target so the topic behaves the same there.
//!
//! A config is carried when it was set on the topic, or when a broker-level
//! override gives it a value other than Apache Kafka's default (MSK's
//! `min.insync.replicas=2` shapes the topic just the same). A value whose
//! source is the broker's own default is never carried: defaults change
//! between releases (Kafka 4.0 moved `message.timestamp.after.max.ms` to one
//! hour), and the target keeps its own.
//! Used by the plan report, and meant for asset generation and the
//! replicator's target-topic creation.

use std::collections::BTreeMap;

use crate::state::{ConfigSource, Topic, TopicKind};

/// Apache Kafka 3.x topic-level defaults.
pub const KAFKA_TOPIC_DEFAULTS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("delete.retention.ms", "86400000"),
    ("file.delete.delay.ms", "60000"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
    ("index.interval.bytes", "4096"),
    ("local.retention.bytes", "-2"),
    ("local.retention.ms", "-2"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("max.message.bytes", "1048588"),
    ("message.downconversion.enable", "true"),
    ("message.timestamp.after.max.ms", "9223372036854775807"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.difference.max.ms", "9223372036854775807"),
    ("message.timestamp.type", "CreateTime"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("min.compaction.lag.ms", "0"),
    ("min.insync.replicas", "1"),
    ("preallocate", "false"),
    ("remote.storage.enable", "false"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
    ("segment.index.bytes", "10485760"),
    ("segment.jitter.ms", "0"),
    ("segment.ms", "604800000"),
    ("unclean.leader.election.enable", "false"),
];

/// The Apache Kafka default of a topic config, if it is a known one.
pub fn kafka_default(key: &str) -> Option<&'static str> {
    KAFKA_TOPIC_DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// Topic configs of Apache Kafka that are not in [`KAFKA_TOPIC_DEFAULTS`]
/// but are still topic configs: the target may accept them.
const OTHER_KAFKA_TOPIC_CONFIGS: &[&str] = &[
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.format.version",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
];

/// Why a config is not carried to a target of the given kind, or `None`
/// when the target accepts it. `allow` is the target's allow-list, where it
/// has one (Confluent Cloud); otherwise any Apache Kafka topic config passes.
pub fn rejection(key: &str, allow: Option<&[&str]>) -> Option<&'static str> {
    if key.ends_with("replication.throttled.replicas") {
        return Some("replica throttling is operational state of the source brokers");
    }
    match allow {
        Some(list) if !list.contains(&key) => Some("the target does not let users set it"),
        Some(_) => None,
        None if kafka_default(key).is_none() && !OTHER_KAFKA_TOPIC_CONFIGS.contains(&key) => {
            Some("not an Apache Kafka topic config (vendor-specific)")
        }
        None => None,
    }
}

/// Topics no migration copies, by name alone: broker-internal (`__*`) and
/// kcp's own (`_kcp*`, e.g. the offset-map topic).
pub fn reserved_name(name: &str) -> bool {
    name.starts_with("__") || name.starts_with("_kcp")
}

/// Why a topic is not migrated, or `None` when it is: by its kind (see
/// [`TopicKind`]), then by [`reserved_name`].
pub fn not_migrated_reason(name: &str, kind: TopicKind) -> Option<&'static str> {
    match kind {
        TopicKind::User | TopicKind::KafkaStreams => {}
        TopicKind::Internal => return Some("broker-internal topic; the target has its own"),
        TopicKind::MirrorMaker2 => {
            return Some("MirrorMaker 2 bookkeeping of an existing replication flow");
        }
        TopicKind::Connect => {
            return Some(
                "Kafka Connect bookkeeping; Connect clusters are re-created against the target",
            );
        }
    }
    reserved_name(name).then_some("internal topic (broker or kcp bookkeeping)")
}

/// The configs to set on the target topic: set on the topic, or set by a
/// broker-level override to a value other than Kafka's default. Sensitive
/// values (never stored) are left out.
pub fn to_carry(topic: &Topic) -> BTreeMap<String, String> {
    topic
        .configs
        .iter()
        .filter(|(_, c)| !c.sensitive)
        .filter_map(|(key, c)| {
            let value = c.value.as_ref()?;
            let set_on_topic =
                matches!(c.source, ConfigSource::DynamicTopic | ConfigSource::Unknown);
            let broker_override = matches!(
                c.source,
                ConfigSource::StaticBroker
                    | ConfigSource::DynamicBroker
                    | ConfigSource::DynamicDefaultBroker
            );
            let differs = broker_override && kafka_default(key).is_some_and(|d| d != value);
            (set_on_topic || differs).then(|| (key.clone(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::TopicConfig;

    fn topic(configs: &[(&str, &str, ConfigSource)]) -> Topic {
        Topic {
            configs: configs
                .iter()
                .map(|(k, v, s)| {
                    (
                        (*k).to_owned(),
                        TopicConfig {
                            value: Some((*v).to_owned()),
                            source: *s,
                            sensitive: false,
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn carries_set_and_non_default_configs() {
        let t = topic(&[
            ("retention.ms", "86400000", ConfigSource::DynamicTopic),
            ("cleanup.policy", "compact", ConfigSource::Default),
            ("min.insync.replicas", "2", ConfigSource::StaticBroker),
            ("segment.bytes", "1073741824", ConfigSource::Default),
            ("compression.type", "producer", ConfigSource::StaticBroker),
            ("some.vendor.config", "x", ConfigSource::DynamicBroker),
            // Kafka 4.x's own default, not the 3.x one in the table: the
            // broker's default, so the target keeps its own.
            (
                "message.timestamp.after.max.ms",
                "3600000",
                ConfigSource::Default,
            ),
        ]);
        let carried = to_carry(&t);
        assert_eq!(
            carried.keys().map(String::as_str).collect::<Vec<_>>(),
            ["min.insync.replicas", "retention.ms"]
        );
    }
}
