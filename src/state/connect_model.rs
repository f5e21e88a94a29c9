//! The Kafka Connect part of the state file (schema version 3): Connect
//! clusters as `kcp scan connectors` reads them through the Connect REST API.
//! Connector configs are stored without their secrets: a key that looks
//! like a password, secret, token, key or credential (and
//! `sasl.jaas.config`) is left out of `config` and named in `secret_keys`;
//! `${...}` config-provider references are kept as they are.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Warning;

/// A Kafka Connect cluster (its workers share a `group.id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectCluster {
    /// The REST URL scanned.
    pub url: String,
    /// The auth method used to scan (`none`, `basic`, `bearer`), never its secrets.
    pub auth_method: String,
    pub scanned_at: Option<DateTime<Utc>>,
    /// The worker's Kafka version (`GET /`), e.g. `3.9.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The id of the Kafka cluster the workers store their state in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_cluster_id: Option<String>,
    /// Whether the workers serve `GET /connectors/{name}/offsets` (Kafka 3.5+,
    /// KIP-875); absent when there was no connector to ask about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets_api: Option<bool>,
    /// The connector plugins installed on the worker that answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<ConnectorPlugin>,
    /// Connectors by name.
    #[serde(default)]
    pub connectors: BTreeMap<String, Connector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The last scan's error, when it failed; the previous inventory is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A connector plugin (`GET /connector-plugins`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPlugin {
    pub class: String,
    /// `source` or `sink`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One connector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// `connector.class`.
    pub class: String,
    /// `source` or `sink` (`unknown` when the worker cannot tell).
    #[serde(rename = "type")]
    pub kind: String,
    /// `RUNNING`, `PAUSED`, `STOPPED`, `FAILED`, `UNASSIGNED` or `RESTARTING`.
    pub state: String,
    /// The worker running the connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ConnectorTask>,
    /// The config without its secrets.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Config keys whose values were left out as secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_keys: Vec<String>,
    /// Topics the connector used (`GET /connectors/{name}/topics`), when tracked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// The connector's offsets (`GET /connectors/{name}/offsets`); absent
    /// when the worker does not serve them. A source connector's partitions
    /// and offsets are its own JSON maps; a sink's are Kafka topic
    /// partitions and consumer offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets: Option<Vec<ConnectorOffset>>,
}

/// One task's status.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ConnectorTask {
    pub id: u32,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

/// One offset of a connector, as the offsets API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorOffset {
    pub partition: serde_json::Value,
    pub offset: serde_json::Value,
}

impl Connector {
    /// A source connector.
    pub fn is_source(&self) -> bool {
        self.kind == "source"
    }
}

impl ConnectCluster {
    /// Sorts every list (see [`super::State::normalize`]).
    pub(crate) fn normalize(&mut self) {
        self.warnings.sort();
        self.plugins.sort();
        for c in self.connectors.values_mut() {
            c.tasks.sort();
            c.secret_keys.sort();
            c.topics.sort();
            if let Some(offsets) = &mut c.offsets {
                offsets.sort_by_key(|o| o.partition.to_string());
            }
        }
    }
}

impl super::State {
    /// The Connect clusters that keep their state in the Kafka cluster with
    /// id `kafka_cluster_id` (what runs on a source cluster).
    pub fn connect_clusters_on(&self, kafka_cluster_id: Option<&str>) -> Vec<String> {
        let Some(id) = kafka_cluster_id else {
            return Vec::new();
        };
        self.connect_clusters
            .iter()
            .filter(|(_, c)| c.kafka_cluster_id.as_deref() == Some(id))
            .map(|(n, _)| n.clone())
            .collect()
    }
}
