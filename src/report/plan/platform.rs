//! The plan's AWS platform part, from `kcp discover`: the MSK Connect
//! connectors that work on the source cluster and the AWS Glue schemas of
//! its region, with the risks of leaving them (MSK Connect has no Connect
//! REST API to migrate from; Glue's serializers write Glue's own wire
//! format, which no Confluent-compatible registry id can stand for).

use std::collections::BTreeSet;

use serde::Serialize;

use super::Risk;
use crate::kafka_connect::transform;
use crate::report::doc::{Block, Section, Table};
use crate::state::{Connector, GlueRegistry, KafkaCluster, MskConnector, State};

/// The AWS platform part of the plan.
#[derive(Debug, Serialize)]
pub(crate) struct PlatformPlan {
    pub msk_connectors: Vec<MskConnectorRow>,
    pub glue_schemas: Vec<GlueSchemaRow>,
}

/// One MSK Connect connector working on the source cluster.
#[derive(Debug, Serialize)]
pub(crate) struct MskConnectorRow {
    pub region: String,
    pub connector: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub class: String,
    pub state: String,
    pub kafka_connect_version: Option<String>,
    /// `2 workers x 1 MCU` or `1-4 workers x 2 MCU`.
    pub capacity: String,
    pub topics: Vec<String>,
    /// Config keys whose values are secrets to provide on the target.
    pub secret_keys: Vec<String>,
    /// The source cluster's topic holding a source connector's offsets:
    /// MSK Connect's default name, unless the config names another (a
    /// worker configuration may too; kcp does not read those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsets_topic: Option<String>,
    /// The consumer group of a sink connector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
}

/// One Glue schema of the source cluster's region.
#[derive(Debug, Serialize)]
pub(crate) struct GlueSchemaRow {
    pub registry: String,
    pub schema: String,
    /// The topic of the same name (Glue's default naming), when on the source.
    pub topic: Option<String>,
    pub data_format: String,
    pub versions: usize,
    pub latest_version: Option<i64>,
    pub compatibility: String,
    /// The Confluent compatibility level it maps to; absent for `DISABLED`.
    pub confluent_compatibility: Option<String>,
}

/// Hosts of `host:port` servers.
fn hosts<'a>(servers: impl IntoIterator<Item = &'a String>) -> BTreeSet<&'a str> {
    servers
        .into_iter()
        .map(|s| s.rsplit_once(':').map_or(s.as_str(), |(h, _)| h))
        .collect()
}

/// Glue's compatibility mode as a Confluent level (`*_ALL` is `*_TRANSITIVE`).
pub(crate) fn confluent_compatibility(glue: &str) -> Option<String> {
    match glue {
        "DISABLED" => None,
        other => Some(match other.strip_suffix("_ALL") {
            Some(base) => format!("{base}_TRANSITIVE"),
            None => other.to_owned(),
        }),
    }
}

/// A connector on the source: its region, name and inventory.
type OnSource<'a> = (&'a str, &'a str, &'a MskConnector);
/// A Glue registry: its name and inventory.
type Registry<'a> = (&'a str, &'a GlueRegistry);

/// The MSK Connect connectors on the source (bootstrap hosts shared with the
/// scanned cluster or its MSK cluster) and, when the source is an MSK
/// cluster, the Glue registries of its region.
fn on_source<'a>(
    state: &'a State,
    cluster: &KafkaCluster,
) -> (Vec<OnSource<'a>>, Vec<Registry<'a>>) {
    let msk = super::msk_cluster(state, cluster);
    let mut known = hosts(&cluster.bootstrap_servers);
    if let Some(m) = msk {
        known.extend(hosts(m.bootstrap_servers.values().flatten()));
    }
    let connectors = state
        .msk_regions
        .iter()
        .flat_map(|(region, r)| {
            r.msk_connectors
                .iter()
                .map(move |(n, c)| (region.as_str(), n.as_str(), c))
        })
        .filter(|(_, _, c)| !hosts(&c.bootstrap_servers).is_disjoint(&known))
        .collect();
    let registries = msk
        .and_then(|m| {
            state
                .msk_regions
                .values()
                .find(|r| r.clusters.contains_key(&m.arn))
        })
        .map(|r| {
            r.glue_registries
                .iter()
                .map(|(n, g)| (n.as_str(), g))
                .collect()
        })
        .unwrap_or_default();
    (connectors, registries)
}

fn connector_row(region: &str, name: &str, c: &MskConnector) -> MskConnectorRow {
    let as_connect = Connector {
        class: c.class.clone(),
        kind: c.kind.clone(),
        config: c.config.clone(),
        ..Connector::default()
    };
    let mcu = c.capacity.mcu_count.unwrap_or(1);
    let capacity = match (
        c.capacity.workers,
        c.capacity.min_workers,
        c.capacity.max_workers,
    ) {
        (Some(w), _, _) => format!("{w} workers x {mcu} MCU"),
        (None, Some(lo), Some(hi)) => format!("{lo}-{hi} workers x {mcu} MCU"),
        _ => "unknown".to_owned(),
    };
    let id = c.arn.rsplit('/').next().unwrap_or_default();
    MskConnectorRow {
        region: region.to_owned(),
        connector: name.to_owned(),
        kind: c.kind.clone(),
        class: c.class.clone(),
        state: c.state.clone(),
        kafka_connect_version: c.kafka_connect_version.clone(),
        capacity,
        topics: transform::topics_of(&as_connect).into_iter().collect(),
        secret_keys: c.secret_keys.clone(),
        offsets_topic: c.is_source().then(|| {
            c.config
                .get("offset.storage.topic")
                .cloned()
                .unwrap_or_else(|| format!("__amazon_msk_connect_offsets_{name}_{id}"))
        }),
        consumer_group: (c.kind == "sink").then(|| transform::sink_group(name, &c.config)),
    }
}

fn connector_risk(r: &MskConnectorRow) -> Risk {
    let secrets = if r.secret_keys.is_empty() {
        String::new()
    } else {
        format!(" (secrets to provide: {})", r.secret_keys.join(", "))
    };
    let offsets = match (&r.offsets_topic, &r.consumer_group) {
        (Some(topic), _) => format!(
            "; its source offsets are in the source cluster's topic `{topic}`: carry them into the target connector's offsets, or it starts over"
        ),
        (None, Some(group)) => format!(
            "; as a sink it resumes from its consumer group `{group}` once the waves move that group's offsets"
        ),
        // DescribeConnector failed: no config, so neither is known.
        (None, None) => "; run `kcp discover` with kafkaconnect:DescribeConnector granted to read its config first".to_owned(),
    };
    Risk {
        severity: "medium",
        kind: "msk_connect_connector",
        subject: format!("{}/{}", r.region, r.connector),
        reason: format!(
            "{} connector `{}` ({}) runs on MSK Connect against the source cluster; MSK Connect has no Kafka Connect REST API, so `kcp migrate connectors` can neither read nor re-create it",
            r.kind, r.connector, r.class
        ),
        action: format!(
            "re-create it on the target's Connect (a Confluent Cloud connector or self-managed workers with the plugin of its MSK Connect custom plugin) from the config in the state{secrets}{offsets}; delete the MSK Connect connector at its cutover wave"
        ),
    }
}

fn schema_rows(registries: &[Registry<'_>], cluster: &KafkaCluster) -> Vec<GlueSchemaRow> {
    let mut rows = Vec::new();
    for (registry, g) in registries {
        for (name, s) in &g.schemas {
            let topic = [
                Some(name.as_str()),
                name.strip_suffix("-value"),
                name.strip_suffix("-key"),
            ]
            .into_iter()
            .flatten()
            .find(|t| cluster.topics.contains_key(*t))
            .map(str::to_owned);
            rows.push(GlueSchemaRow {
                registry: (*registry).to_owned(),
                schema: name.clone(),
                topic,
                data_format: s.data_format.clone(),
                versions: s.versions.len(),
                latest_version: s.versions.iter().map(|v| v.version).max(),
                compatibility: s.compatibility.clone(),
                confluent_compatibility: confluent_compatibility(&s.compatibility),
            });
        }
    }
    rows
}

fn schema_risks(rows: &[GlueSchemaRow]) -> Vec<Risk> {
    let mut risks = Vec::new();
    let registries: BTreeSet<&str> = rows.iter().map(|r| r.registry.as_str()).collect();
    for registry in registries {
        let of: Vec<&GlueSchemaRow> = rows.iter().filter(|r| r.registry == registry).collect();
        let versions: usize = of.iter().map(|r| r.versions).sum();
        risks.push(Risk {
            severity: "high",
            kind: "glue_schema_wire_format",
            subject: registry.to_owned(),
            reason: format!(
                "{} Glue schema{} ({versions} version{}) in registry `{registry}`: records written by the AWS Glue Schema Registry serializers start with Glue's header (header version 3, a compression byte, the 16-byte schema version id), not Confluent's magic byte 0 and a 4-byte schema id, so they cannot be copied id-for-id into a Confluent-compatible registry and Confluent deserializers cannot read them",
                of.len(),
                if of.len() == 1 { "" } else { "s" },
                if versions == 1 { "" } else { "s" },
            ),
            action: "register each version's definition, oldest first, in the target registry under the topic's subject (`<topic>-value`) with the mapped compatibility (kcp does not copy Glue schemas); move consumers first to Glue's deserializer with Confluent's as its secondary deserializer, then producers to Confluent's serializers against the target registry; records already written keep Glue's header, so keep the Glue registry readable until they have aged out of retention".into(),
        });
    }
    let disabled: Vec<String> = rows
        .iter()
        .filter(|r| r.confluent_compatibility.is_none())
        .map(|r| format!("{}/{}", r.registry, r.schema))
        .collect();
    if !disabled.is_empty() {
        risks.push(Risk {
            severity: "low",
            kind: "glue_compatibility_disabled",
            subject: disabled.join(", "),
            reason:
                "Glue compatibility DISABLED (no new versions) has no Confluent compatibility level"
                    .into(),
            action: "put the subject in READONLY mode on the target instead".into(),
        });
    }
    risks
}

/// Builds the AWS platform part and its risks; `None` when the state has
/// neither MSK Connect connectors on the source nor Glue schemas in its region.
pub(super) fn plan(state: &State, cluster: &KafkaCluster) -> Option<(PlatformPlan, Vec<Risk>)> {
    let (connectors, registries) = on_source(state, cluster);
    let msk_connectors: Vec<MskConnectorRow> = connectors
        .iter()
        .map(|(region, name, c)| connector_row(region, name, c))
        .collect();
    let glue_schemas = schema_rows(&registries, cluster);
    if msk_connectors.is_empty() && glue_schemas.is_empty() {
        return None;
    }
    let mut risks: Vec<Risk> = msk_connectors.iter().map(connector_risk).collect();
    risks.extend(schema_risks(&glue_schemas));
    Some((
        PlatformPlan {
            msk_connectors,
            glue_schemas,
        },
        risks,
    ))
}

impl PlatformPlan {
    /// The document section: MSK Connect connectors, then Glue schemas.
    pub(super) fn section(&self) -> Section {
        let mut s = Section::new("AWS platform: MSK Connect and Glue schemas", 2);
        if !self.msk_connectors.is_empty() {
            s.blocks.push(Block::Paragraph(format!(
                "{} MSK Connect connector{} work{} on the source cluster. MSK Connect has no Kafka Connect REST API: re-create each on the target's Connect from its config in the state (see the risks).",
                self.msk_connectors.len(),
                if self.msk_connectors.len() == 1 { "" } else { "s" },
                if self.msk_connectors.len() == 1 { "s" } else { "" },
            )));
            let mut t = Table::new(&[
                "Region",
                "Connector",
                "Type",
                "Class",
                "State",
                "Connect",
                "Capacity",
                "Topics",
                "Offsets / group",
                "Secrets",
            ]);
            for r in &self.msk_connectors {
                t.row(vec![
                    r.region.clone(),
                    r.connector.clone(),
                    r.kind.clone(),
                    r.class.rsplit('.').next().unwrap_or(&r.class).to_owned(),
                    r.state.clone(),
                    r.kafka_connect_version
                        .clone()
                        .unwrap_or_else(|| "-".into()),
                    r.capacity.clone(),
                    r.topics.join(", "),
                    r.offsets_topic
                        .clone()
                        .or_else(|| r.consumer_group.clone())
                        .unwrap_or_else(|| "-".into()),
                    r.secret_keys.join(", "),
                ]);
            }
            s.blocks.push(Block::Table(t));
        }
        if !self.glue_schemas.is_empty() {
            s.blocks.push(Block::Paragraph(format!(
                "{} AWS Glue schema{} in the source cluster's region. Glue's serializers write Glue's own header (a schema version UUID), not a Confluent schema id: the definitions are registered anew on the target, and clients move serializers (see the risks).",
                self.glue_schemas.len(),
                if self.glue_schemas.len() == 1 { "" } else { "s" },
            )));
            let mut t = Table::new(&[
                "Registry",
                "Schema",
                "Topic",
                "Format",
                ">Versions",
                ">Latest",
                "Glue compatibility",
                "Confluent compatibility",
            ]);
            for r in &self.glue_schemas {
                t.row(vec![
                    r.registry.clone(),
                    r.schema.clone(),
                    r.topic.clone().unwrap_or_else(|| "-".into()),
                    r.data_format.clone(),
                    r.versions.to_string(),
                    r.latest_version.map(|v| v.to_string()).unwrap_or_default(),
                    r.compatibility.clone(),
                    r.confluent_compatibility
                        .clone()
                        .unwrap_or_else(|| "READONLY mode".into()),
                ]);
            }
            s.blocks.push(Block::Table(t));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{GlueSchema, GlueSchemaVersion, MskCluster, MskRegion};
    use std::collections::BTreeMap;

    #[test]
    fn compatibility_maps_to_confluent_levels() {
        assert_eq!(
            confluent_compatibility("BACKWARD_ALL").as_deref(),
            Some("BACKWARD_TRANSITIVE")
        );
        assert_eq!(confluent_compatibility("FULL").as_deref(), Some("FULL"));
        assert_eq!(confluent_compatibility("NONE").as_deref(), Some("NONE"));
        assert_eq!(confluent_compatibility("DISABLED"), None);
    }

    #[test]
    fn connectors_on_the_source_and_glue_schemas_of_its_region() {
        let mut state = State::new(chrono::Utc::now());
        let arn = "arn:aws:kafka:us-east-1:1:cluster/orders/x";
        let mut cluster = KafkaCluster {
            msk_arn: Some(arn.into()),
            ..KafkaCluster::default()
        };
        cluster.topics.insert("orders".into(), Default::default());
        let mut region = MskRegion::default();
        let mut msk: MskCluster = serde_json::from_value(serde_json::json!({
            "name": "orders", "arn": arn, "cluster_type": "provisioned", "state": "ACTIVE",
            "created_at": null, "kafka_version": null, "broker_count": null,
            "instance_type": null, "storage_gb_per_broker": null
        }))
        .unwrap();
        msk.bootstrap_servers
            .insert("sasl_iam".into(), vec!["b-1.orders:9098".into()]);
        region.clusters.insert(arn.into(), msk);
        let connector = |servers: &str, class: &str, config: &[(&str, &str)]| {
            let config: BTreeMap<String, String> = config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            MskConnector {
                arn: "arn:aws:kafkaconnect:us-east-1:1:connector/c/abc-1".into(),
                state: "RUNNING".into(),
                class: class.into(),
                kind: MskConnector::kind_of(class, &config).into(),
                bootstrap_servers: vec![servers.into()],
                capacity: crate::state::MskConnectCapacity {
                    mcu_count: Some(2),
                    min_workers: Some(1),
                    max_workers: Some(4),
                    ..Default::default()
                },
                config,
                ..MskConnector::default()
            }
        };
        region.msk_connectors.insert(
            "cdc".into(),
            connector(
                "b-1.orders:9098",
                "io.debezium.connector.mysql.MySqlConnector",
                &[("topic.prefix", "inventory")],
            ),
        );
        region.msk_connectors.insert(
            "s3".into(),
            connector(
                "b-1.orders:9098",
                "io.confluent.connect.s3.S3SinkConnector",
                &[("topics", "orders")],
            ),
        );
        region.msk_connectors.insert(
            "elsewhere".into(),
            connector("b-1.other:9098", "x.FileSinkConnector", &[]),
        );
        let version = |n: i64| GlueSchemaVersion {
            version: n,
            version_id: format!("id-{n}"),
            status: "AVAILABLE".into(),
            created_at: None,
            definition: Some("\"string\"".into()),
        };
        let mut glue = GlueRegistry::default();
        glue.schemas.insert(
            "orders".into(),
            GlueSchema {
                data_format: "AVRO".into(),
                compatibility: "BACKWARD_ALL".into(),
                versions: vec![version(1), version(2)],
                ..GlueSchema::default()
            },
        );
        glue.schemas.insert(
            "frozen".into(),
            GlueSchema {
                data_format: "JSON".into(),
                compatibility: "DISABLED".into(),
                versions: vec![version(1)],
                ..GlueSchema::default()
            },
        );
        region.glue_registries.insert("events".into(), glue);
        state.msk_regions.insert("us-east-1".into(), region);

        let (p, risks) = plan(&state, &cluster).unwrap();
        let names: Vec<&str> = p
            .msk_connectors
            .iter()
            .map(|r| r.connector.as_str())
            .collect();
        assert_eq!(names, ["cdc", "s3"], "only those on the source");
        assert_eq!(p.msk_connectors[0].kind, "source");
        assert_eq!(
            p.msk_connectors[0].offsets_topic.as_deref(),
            Some("__amazon_msk_connect_offsets_cdc_abc-1")
        );
        assert_eq!(p.msk_connectors[1].topics, ["orders"]);
        assert_eq!(p.msk_connectors[1].capacity, "1-4 workers x 2 MCU");
        let orders = p
            .glue_schemas
            .iter()
            .find(|r| r.schema == "orders")
            .unwrap();
        assert_eq!(orders.topic.as_deref(), Some("orders"));
        assert_eq!((orders.versions, orders.latest_version), (2, Some(2)));
        assert_eq!(
            orders.confluent_compatibility.as_deref(),
            Some("BACKWARD_TRANSITIVE")
        );
        let kinds: Vec<&str> = risks.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                "msk_connect_connector",
                "msk_connect_connector",
                "glue_schema_wire_format",
                "glue_compatibility_disabled"
            ]
        );
        assert!(risks[2].reason.contains("cannot be copied id-for-id"));
        assert!(risks[2].action.contains("secondary deserializer"));
        assert!(risks[1].action.contains("consumer group `connect-s3`"));

        // A connector DescribeConnector could not read: no config, no kind.
        let mut unread = connector("b-1.orders:9098", "", &[]);
        unread.kind = "unknown".into();
        state
            .msk_regions
            .get_mut("us-east-1")
            .unwrap()
            .msk_connectors
            .insert("unread".into(), unread);
        let (p, risks) = plan(&state, &cluster).unwrap();
        let row = p
            .msk_connectors
            .iter()
            .find(|r| r.connector == "unread")
            .unwrap();
        assert_eq!((&row.offsets_topic, &row.consumer_group), (&None, &None));
        assert!(
            risks
                .iter()
                .any(|r| r.subject == "us-east-1/unread" && r.action.contains("DescribeConnector"))
        );

        // A source that is not on MSK and shares no host: nothing.
        let other = KafkaCluster {
            bootstrap_servers: vec!["kafka-1.dc1:9092".into()],
            ..KafkaCluster::default()
        };
        assert!(plan(&state, &other).is_none());
    }
}
