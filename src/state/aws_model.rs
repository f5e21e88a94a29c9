//! The AWS platform services of an MSK region (schema version 5), as `kcp
//! discover` reads them: MSK Connect connectors (`kafkaconnect` API) and
//! AWS Glue schema registries (`glue` API). Connector configs are stored
//! without their secrets, as those of `kcp scan connectors` are (see
//! [`crate::kafka_connect::mask`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::Warning;

/// One MSK Connect connector (DescribeConnector).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskConnector {
    pub arn: String,
    /// `RUNNING`, `CREATING`, `UPDATING`, `DELETING` or `FAILED`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Kafka Connect version the workers run (e.g. `2.7.1`, `3.7.x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_connect_version: Option<String>,
    /// `connector.class`.
    pub class: String,
    /// `source` or `sink`: from the class name (`...SinkConnector`), else
    /// `sink` when the config names `topics` or `topics.regex`, else
    /// `source`. MSK Connect does not say.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub capacity: MskConnectCapacity,
    /// The Kafka cluster the connector works on.
    #[serde(default)]
    pub bootstrap_servers: Vec<String>,
    /// How the workers authenticate to Kafka: `NONE` or `IAM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_authentication: Option<String>,
    /// `PLAINTEXT` or `TLS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_in_transit: Option<String>,
    /// Custom plugins (the ZIP/JAR the connector class lives in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<MskConnectRef>,
    /// The worker configuration (converters and other `worker.properties`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_configuration: Option<MskConnectRef>,
    /// The IAM role the connector acts as (on AWS services it reads or writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_execution_role_arn: Option<String>,
    /// The connector configuration without its secrets.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Config keys whose values were left out as secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_keys: Vec<String>,
}

/// An MSK Connect connector's capacity: provisioned workers, or autoscaled
/// between a minimum and a maximum; MCUs per worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskConnectCapacity {
    /// MSK Connect units (1 vCPU, 4 GiB) per worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcu_count: Option<i32>,
    /// Workers of provisioned capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_workers: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workers: Option<i32>,
}

/// A revision of an MSK Connect custom plugin or worker configuration.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MskConnectRef {
    pub arn: String,
    pub revision: i64,
}

/// One AWS Glue schema registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlueRegistry {
    pub arn: String,
    /// `AVAILABLE` or `DELETING`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Schemas by name.
    #[serde(default)]
    pub schemas: BTreeMap<String, GlueSchema>,
    /// Calls about this registry that failed; its schemas are then the
    /// previous run's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// One schema of a Glue registry (GetSchema).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlueSchema {
    pub arn: String,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub data_format: String,
    /// Glue's compatibility mode: `NONE`, `DISABLED`, `BACKWARD`,
    /// `BACKWARD_ALL`, `FORWARD`, `FORWARD_ALL`, `FULL` or `FULL_ALL`.
    pub compatibility: String,
    /// `AVAILABLE`, `PENDING` or `DELETING`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Versions, oldest first.
    #[serde(default)]
    pub versions: Vec<GlueSchemaVersion>,
}

/// One version of a Glue schema (ListSchemaVersions, GetSchemaVersion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlueSchemaVersion {
    pub version: i64,
    /// The schema version id (a UUID): what every record written by Glue's
    /// serializers carries in its header instead of a Confluent schema id.
    pub version_id: String,
    /// `AVAILABLE`, `PENDING`, `FAILURE` or `DELETING`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// The schema text; absent when GetSchemaVersion failed (see the
    /// registry's warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

impl MskConnector {
    /// A source connector.
    pub fn is_source(&self) -> bool {
        self.kind == "source"
    }

    /// `source` or `sink`, for a connector class and config (see [`MskConnector::kind`]).
    pub fn kind_of(class: &str, config: &BTreeMap<String, String>) -> &'static str {
        let last = class
            .rsplit('.')
            .next()
            .unwrap_or(class)
            .to_ascii_lowercase();
        if last.contains("sink") {
            "sink"
        } else if last.contains("source") {
            "source"
        } else if config.contains_key("topics") || config.contains_key("topics.regex") {
            "sink"
        } else {
            "source"
        }
    }
}

impl super::MskRegion {
    /// Sorts every list of the region's platform services.
    pub(crate) fn normalize_platform(&mut self) {
        for c in self.msk_connectors.values_mut() {
            c.plugins.sort();
            c.secret_keys.sort();
        }
        for r in self.glue_registries.values_mut() {
            r.warnings.sort();
            for s in r.schemas.values_mut() {
                s.versions.sort_by_key(|v| v.version);
            }
        }
    }
}
