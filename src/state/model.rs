//! The typed model of `kcp-state.json` (schema version [`CURRENT_SCHEMA_VERSION`]).
//!
//! Rules that keep the file diffable and safe:
//! - maps are `BTreeMap`s and lists are sorted by [`State::normalize`] before
//!   every save, so the same content always gives the same bytes;
//! - every struct refuses unknown fields, so a typo in a hand-edited file is
//!   reported instead of silently dropped;
//! - there is no field that can hold a secret: credentials stay in the
//!   credentials file and [`crate::secret::Secret`] has no `Serialize`;
//! - fields added later are `#[serde(default)]`; a change an older binary
//!   cannot read bumps the schema version and adds an upgrade step.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The schema version this build reads and writes.
pub const CURRENT_SCHEMA_VERSION: u32 = 5;

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Version of this file's layout; see `kcp state version`.
    pub schema_version: u32,
    /// When the file was first written. Reports take their dates from here, not the clock.
    pub created_at: DateTime<Utc>,
    /// When the file was last written.
    pub updated_at: DateTime<Utc>,
    /// The tool that last wrote the file.
    pub written_by: ToolInfo,
    /// Upgrades applied to this file, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrades: Vec<UpgradeRecord>,
    /// AWS MSK inventory from `kcp discover`, keyed by region name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub msk_regions: BTreeMap<String, MskRegion>,
    /// Kafka clusters scanned by `kcp scan clusters`, keyed by the name used in
    /// the credentials file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clusters: BTreeMap<String, KafkaCluster>,
    /// Confluent-compatible Schema Registries scanned by `kcp scan
    /// schema-registry`, keyed by the name used in the credentials file
    /// (schema version 2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schema_registries: BTreeMap<String, SchemaRegistry>,
    /// Kafka Connect clusters scanned by `kcp scan connectors`, keyed by the
    /// name used in the credentials file (schema version 3).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connect_clusters: BTreeMap<String, super::ConnectCluster>,
}

/// A Schema Registry as seen through the Confluent Schema Registry REST API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistry {
    /// The base URL scanned.
    pub url: String,
    /// The auth method used to scan (`none`, `basic`, `bearer`), never its secrets.
    pub auth_method: String,
    pub scanned_at: Option<DateTime<Utc>>,
    /// The global compatibility level (`BACKWARD`, `FULL_TRANSITIVE`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    /// The global mode (`READWRITE`, `READONLY`, `IMPORT`); absent when the
    /// registry does not serve `/mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Schema contexts (`/contexts`), when the registry has any besides the default `.`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<String>,
    /// Schema types the registry accepts (`AVRO`, `JSON`, `PROTOBUF`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_types: Vec<String>,
    /// Subjects by name (soft-deleted subjects are left out).
    #[serde(default)]
    pub subjects: BTreeMap<String, Subject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The last scan's error, when it failed; the previous inventory is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One subject of a Schema Registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The subject's own compatibility level, when it overrides the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    /// The subject's own mode, when it overrides the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Versions, oldest first.
    pub versions: Vec<SchemaVersion>,
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaVersion {
    pub version: u32,
    /// The schema id: what every record written with this schema carries in
    /// its first bytes.
    pub id: u32,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// The schema text as the registry returns it.
    pub schema: String,
}

/// A reference from one schema to a version of another subject.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SchemaReference {
    /// The name the referring schema uses (an Avro full name, a .proto file, a JSON `$ref`).
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// Which tool wrote the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl ToolInfo {
    /// This build.
    pub fn current() -> Self {
        ToolInfo {
            name: "kcp".to_owned(),
            version: crate::VERSION.to_owned(),
        }
    }
}

/// One applied upgrade step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRecord {
    pub from: u32,
    pub to: u32,
    pub at: DateTime<Utc>,
    /// Version of the `kcp` that applied it.
    pub by: String,
}

/// A non-fatal problem recorded during discovery or a scan: a call that was
/// denied, throttled to exhaustion or not implemented by the endpoint.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    /// The API call, e.g. `kafka:ListNodes` or `DescribeAcls`.
    pub call: String,
    /// The error code returned, e.g. `AccessDeniedException`.
    pub code: String,
    pub message: String,
    /// What the user can do about it.
    pub hint: String,
}

/// MSK inventory of one AWS region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskRegion {
    pub discovered_at: Option<DateTime<Utc>>,
    /// Clusters keyed by ARN.
    #[serde(default)]
    pub clusters: BTreeMap<String, MskCluster>,
    /// Cost Explorer results for the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<CostData>,
    /// MSK Connect connectors of the region, keyed by name (schema version 5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub msk_connectors: BTreeMap<String, super::MskConnector>,
    /// AWS Glue schema registries of the region, keyed by name (schema version 5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub glue_registries: BTreeMap<String, super::GlueRegistry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// Provisioned or serverless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MskClusterType {
    Provisioned,
    Serverless,
}

/// One MSK cluster as reported by the MSK API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskCluster {
    pub name: String,
    pub arn: String,
    pub cluster_type: MskClusterType,
    /// `ACTIVE`, `CREATING`, ...
    pub state: String,
    pub created_at: Option<DateTime<Utc>>,
    pub kafka_version: Option<String>,
    pub broker_count: Option<u32>,
    pub instance_type: Option<String>,
    /// EBS volume size per broker.
    pub storage_gb_per_broker: Option<u32>,
    #[serde(default)]
    pub availability_zones: Vec<String>,
    #[serde(default)]
    pub auth: MskAuth,
    /// Bootstrap servers per auth method (`plaintext`, `tls`, `sasl_scram`, `sasl_iam`, ...).
    #[serde(default)]
    pub bootstrap_servers: BTreeMap<String, Vec<String>>,
    /// The cluster's `server.properties`, from its MSK configuration revision.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_properties: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// IAM policies granting `kafka-cluster:*` actions on the cluster: its
    /// resource-based cluster policy and the policies of known clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iam_policies: Vec<IamPolicy>,
    /// The MSK configuration the brokers run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<MskConfigurationRef>,
    /// Brokers as `ListNodes` reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<MskNode>,
    /// ARNs of the Secrets Manager secrets holding SASL/SCRAM users (no secret values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scram_secrets: Vec<String>,
    /// ARNs of client VPC connections (multi-VPC private connectivity).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_vpc_connections: Vec<String>,
    /// Recent cluster operations (upgrades, scaling, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<MskOperation>,
    /// Kafka versions the cluster can be upgraded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatible_kafka_versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSeries>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Free text owned by the user; kept when discovery runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// An IAM policy document that grants access to an MSK cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IamPolicy {
    /// Where it comes from: `cluster-policy`, or the policy's ARN or name.
    pub source: String,
    /// For an identity-based policy, the IAM role or user it is attached to
    /// (a cluster policy names its principals in each statement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to: Option<String>,
    /// The policy document as AWS returns it (JSON).
    pub document: serde_json::Value,
}

/// The MSK configuration (server.properties) a cluster uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskConfigurationRef {
    pub arn: String,
    pub revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The configuration's newest revision, when it is not the one in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<i64>,
}

/// One broker of an MSK cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskNode {
    pub broker_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_subnet: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// One MSK cluster operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MskOperation {
    pub operation_type: String,
    pub state: String,
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
}

/// Which client authentication methods an MSK cluster has enabled.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MskAuth {
    pub iam: bool,
    pub sasl_scram: bool,
    pub tls: bool,
    pub unauthenticated: bool,
}

/// A metric time series with the query that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricSeries {
    /// e.g. `BytesInPerSec`.
    pub metric: String,
    /// e.g. `Average`, `Sum`.
    pub statistic: String,
    pub period_seconds: u32,
    /// Unit after any conversion, e.g. `Bytes/Second`, `GB`.
    pub unit: String,
    /// A topic name for per-topic series, otherwise absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub points: Vec<MetricPoint>,
    /// The query, runnable as an `aws cloudwatch get-metric-data` command.
    pub query: String,
}

/// One datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricPoint {
    pub t: DateTime<Utc>,
    pub v: f64,
}

/// Cost Explorer results for one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostData {
    pub start: NaiveDate,
    /// Exclusive, as in Cost Explorer.
    pub end: NaiveDate,
    /// `DAILY` or `MONTHLY`.
    pub granularity: String,
    pub rows: Vec<CostRow>,
    /// The query, runnable as an `aws ce get-cost-and-usage` command.
    pub query: String,
}

/// The cost of one usage type of one service on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostRow {
    pub date: NaiveDate,
    pub service: String,
    pub usage_type: String,
    /// Keyed by metric: `UnblendedCost`, `BlendedCost`, `AmortizedCost`,
    /// `NetUnblendedCost`, `NetAmortizedCost`.
    pub metrics: BTreeMap<String, Amount>,
}

/// An amount with its unit (`USD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    pub amount: f64,
    pub unit: String,
}

/// A Kafka cluster as seen through the Kafka protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaCluster {
    pub bootstrap_servers: Vec<String>,
    /// The auth method used to scan (`plaintext`, `sasl_scram`, ...), never its secrets.
    pub auth_method: String,
    /// Set when the cluster is an MSK cluster found by `kcp discover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msk_arn: Option<String>,
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    #[serde(default)]
    pub brokers: Vec<Broker>,
    pub kafka_version: Option<String>,
    pub scanned_at: Option<DateTime<Utc>>,
    /// The error of the last scan, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    #[serde(default)]
    pub topics: BTreeMap<String, Topic>,
    #[serde(default)]
    pub acls: Vec<AclBinding>,
    #[serde(default)]
    pub consumer_groups: BTreeMap<String, ConsumerGroup>,
    /// Client quotas (KIP-546) by user, client id and IP, defaults included
    /// (schema version 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_quotas: Vec<ClientQuota>,
    /// Free text owned by the user; kept when the cluster is scanned again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// What a topic is for.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TopicKind {
    /// An application topic.
    #[default]
    User,
    /// A broker-internal topic (`__consumer_offsets`, `__transaction_state`, ...).
    Internal,
    /// MirrorMaker 2 internal topics (`mm2-offset-syncs.*`, `*.checkpoints.internal`, heartbeats).
    MirrorMaker2,
    /// Kafka Streams internal topics (`*-changelog`, `*-repartition`).
    KafkaStreams,
    /// Kafka Connect internal topics (configs, offsets, status).
    Connect,
}

/// A topic with its partitions and configs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    #[serde(default)]
    pub kind: TopicKind,
    pub replication_factor: u16,
    pub partitions: Vec<Partition>,
    #[serde(default)]
    pub configs: BTreeMap<String, TopicConfig>,
    /// Message rate from two offset snapshots taken during the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<TopicRate>,
}

/// One partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub id: i32,
    pub leader: Option<i32>,
    #[serde(default)]
    pub replicas: Vec<i32>,
    #[serde(default)]
    pub isr: Vec<i32>,
    pub earliest_offset: Option<i64>,
    pub latest_offset: Option<i64>,
    /// On-disk size where the broker reports log dirs or it could be estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// Where a config value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    Default,
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Unknown,
}

/// One topic config entry. Sensitive values are never stored (`value` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub value: Option<String>,
    pub source: ConfigSource,
    #[serde(default)]
    pub sensitive: bool,
}

/// A rate sample for a topic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicRate {
    pub messages_per_sec: f64,
    pub window_secs: f64,
    /// No new message during the window.
    pub idle: bool,
}

/// An ACL binding (resource pattern + access control entry).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AclBinding {
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: AclPatternType,
    /// e.g. `User:alice`.
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// ACL resource types.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AclResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

/// ACL pattern types.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AclPatternType {
    Literal,
    Prefixed,
}

/// ACL operations.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

/// Allow or deny.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AclPermission {
    Allow,
    Deny,
}

/// A client quota: an entity and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientQuota {
    pub entity: QuotaEntity,
    /// Quota keys (`producer_byte_rate`, `consumer_byte_rate`,
    /// `request_percentage`, `controller_mutation_rate`,
    /// `connection_creation_rate`) and their values.
    pub values: BTreeMap<String, f64>,
}

/// Whom a quota applies to: a user, a client id, both (a quota for that
/// client id of that user), or an IP. Each part is a name or the default
/// of its type.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct QuotaEntity {
    /// The user (the principal's name, without `User:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<QuotaName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<QuotaName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<QuotaName>,
}

/// One part of a quota entity: `"default"` or `{"name": "..."}`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QuotaName {
    /// The default entity of its type (`--entity-default`).
    Default,
    Name(String),
}

impl QuotaEntity {
    /// How the entity is shown: `user alice, default client-id`.
    pub fn describe(&self) -> String {
        let part = |kind: &str, n: &Option<QuotaName>| {
            n.as_ref().map(|n| match n {
                QuotaName::Default => format!("default {kind}"),
                QuotaName::Name(name) => format!("{kind} {name}"),
            })
        };
        [
            part("user", &self.user),
            part("client-id", &self.client_id),
            part("ip", &self.ip),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// A consumer group with its committed offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerGroup {
    /// `Stable`, `Empty`, `Dead`, ... or absent when the broker could not describe it.
    pub state: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    #[serde(default)]
    pub members: Vec<GroupMember>,
    #[serde(default)]
    pub offsets: Vec<GroupOffset>,
}

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    #[serde(default)]
    pub assignments: Vec<TopicPartitionRef>,
}

/// A topic partition.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TopicPartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// A committed offset and the lag against the partition's latest offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub lag: Option<i64>,
}

impl State {
    /// A new, empty state created at `now` by this build.
    pub fn new(now: DateTime<Utc>) -> Self {
        State {
            schema_version: CURRENT_SCHEMA_VERSION,
            created_at: now,
            updated_at: now,
            written_by: ToolInfo::current(),
            upgrades: Vec::new(),
            msk_regions: BTreeMap::new(),
            clusters: BTreeMap::new(),
            schema_registries: BTreeMap::new(),
            connect_clusters: BTreeMap::new(),
        }
    }

    /// Sorts every list so that equal content serializes to equal bytes.
    pub fn normalize(&mut self) {
        for cluster in self.connect_clusters.values_mut() {
            cluster.normalize();
        }
        for registry in self.schema_registries.values_mut() {
            registry.warnings.sort();
            registry.contexts.sort();
            registry.schema_types.sort();
            for subject in registry.subjects.values_mut() {
                subject.versions.sort_by_key(|v| v.version);
            }
        }
        for region in self.msk_regions.values_mut() {
            region.warnings.sort();
            region.normalize_platform();
            if let Some(costs) = &mut region.costs {
                costs.rows.sort_by(|a, b| {
                    (a.date, &a.service, &a.usage_type).cmp(&(b.date, &b.service, &b.usage_type))
                });
            }
            for cluster in region.clusters.values_mut() {
                cluster.availability_zones.sort();
                cluster.warnings.sort();
                cluster.iam_policies.sort_by(|a, b| a.source.cmp(&b.source));
                for servers in cluster.bootstrap_servers.values_mut() {
                    servers.sort();
                }
                cluster.metrics.sort_by(|a, b| {
                    (&a.metric, &a.topic, &a.statistic, a.period_seconds).cmp(&(
                        &b.metric,
                        &b.topic,
                        &b.statistic,
                        b.period_seconds,
                    ))
                });
                for series in &mut cluster.metrics {
                    series.points.sort_by_key(|p| p.t);
                }
            }
        }
        for cluster in self.clusters.values_mut() {
            cluster
                .client_quotas
                .sort_by(|a, b| a.entity.cmp(&b.entity));
            cluster.brokers.sort_by_key(|b| b.id);
            cluster.warnings.sort();
            cluster.acls.sort();
            cluster.acls.dedup();
            for topic in cluster.topics.values_mut() {
                topic.partitions.sort_by_key(|p| p.id);
                // Replica order is meaningful (the first is the preferred
                // leader), so only the ISR is sorted.
                for p in &mut topic.partitions {
                    p.isr.sort_unstable();
                }
            }
            for group in cluster.consumer_groups.values_mut() {
                group.members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
                for m in &mut group.members {
                    m.assignments.sort();
                }
                group
                    .offsets
                    .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            }
        }
    }
}
