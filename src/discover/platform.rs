//! The region's platform services next to its MSK clusters: MSK Connect
//! connectors and AWS Glue schema registries. [`connectors`] and
//! [`glue_registries`] ask AWS (through [`super::aws`]); a failed call
//! becomes a [`Warning`] and the rest goes on. [`merge`] folds them into a
//! region of the state (pure): a listing that failed keeps the previous
//! run's inventory, a registry whose schemas could not be listed keeps its
//! previous schemas.

use std::collections::BTreeMap;

use super::aws::RegionClients;
use crate::state::{GlueRegistry, MskConnector, MskRegion, Warning};

/// What a region's platform services gave: `None` when the listing failed.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub msk_connectors: Option<BTreeMap<String, MskConnector>>,
    pub glue_registries: Option<BTreeMap<String, GlueRegistry>>,
}

/// Every MSK Connect connector of the region, described. A connector whose
/// DescribeConnector fails is kept as ListConnectors shows it (no config).
pub(crate) async fn connectors(
    clients: &RegionClients,
    warnings: &mut Vec<Warning>,
) -> Option<BTreeMap<String, MskConnector>> {
    let listed = match clients.list_connectors().await {
        Ok(l) => l,
        Err(w) => {
            warnings.push(w);
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for (name, summary) in listed {
        let c = match clients.describe_connector(&summary.arn).await {
            Ok(c) => c,
            Err(w) => {
                warnings.push(w);
                summary
            }
        };
        out.insert(name, c);
    }
    Some(out)
}

/// Every Glue schema registry of the region with its schemas and their
/// versions' definitions. Failures below the listing of registries are
/// recorded on the registry.
pub(crate) async fn glue_registries(
    clients: &RegionClients,
    warnings: &mut Vec<Warning>,
) -> Option<BTreeMap<String, GlueRegistry>> {
    let listed = match clients.list_registries().await {
        Ok(l) => l,
        Err(w) => {
            warnings.push(w);
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for (name, mut registry) in listed {
        match clients.list_schemas(&name).await {
            Ok(arns) => {
                for arn in arns {
                    schema(clients, &arn, &mut registry).await;
                }
            }
            Err(w) => registry.warnings.push(w),
        }
        out.insert(name, registry);
    }
    Some(out)
}

/// One schema with its versions into `registry`.
async fn schema(clients: &RegionClients, arn: &str, registry: &mut GlueRegistry) {
    let (name, mut schema) = match clients.get_schema(arn).await {
        Ok(s) => s,
        Err(w) => {
            registry.warnings.push(w);
            return;
        }
    };
    match clients.list_schema_versions(arn).await {
        Ok(versions) => schema.versions = versions,
        Err(w) => registry.warnings.push(w),
    }
    for v in &mut schema.versions {
        match clients.schema_definition(&v.version_id).await {
            Ok(d) => v.definition = Some(d),
            Err(w) => registry.warnings.push(w),
        }
    }
    registry.schemas.insert(name, schema);
}

/// Folds a region's platform services into its state: what was listed
/// replaces what was there; a registry with warnings keeps the previous
/// run's schemas it could not read again.
pub fn merge(region: &mut MskRegion, platform: &Platform) {
    if let Some(connectors) = &platform.msk_connectors {
        region.msk_connectors = connectors.clone();
    }
    if let Some(registries) = &platform.glue_registries {
        let mut merged = registries.clone();
        for (name, r) in &mut merged {
            if r.warnings.is_empty() {
                continue;
            }
            if let Some(old) = region.glue_registries.get(name) {
                for (schema, s) in &old.schemas {
                    r.schemas.entry(schema.clone()).or_insert_with(|| s.clone());
                }
            }
        }
        region.glue_registries = merged;
    }
}

#[cfg(test)]
mod tests {
    //! The SDK's canned HTTP client answers with bodies shaped as the AWS
    //! API reference shows them: moto has no MSK Connect, and serves no
    //! ListSchemas or ListSchemaVersions.
    use super::*;
    use crate::state::GlueSchema;
    use aws_smithy_http_client::test_util::infallible_client_fn;

    const SINK: &str = "arn:aws:kafkaconnect:us-east-1:123456789012:connector/orders-s3-sink/6f3c0a2e-5b1d-4c1e-9a67-1f0e2d3c4b5a-2";
    const CDC: &str = "arn:aws:kafkaconnect:us-east-1:123456789012:connector/inventory-cdc/0b1f9d7c-2a4e-4f3b-8c5d-6e7f8a9b0c1d-3";

    /// The fields ListConnectors and DescribeConnector share, of one connector.
    fn connector_json(arn: &str, name: &str, capacity: &str) -> String {
        format!(
            r#""capacity":{capacity},"connectorArn":"{arn}","connectorDescription":"","connectorName":"{name}","connectorState":"RUNNING","creationTime":"2026-10-01T09:00:00.000Z","currentVersion":"K3AEJ7JIE2KBAN","kafkaCluster":{{"apacheKafkaCluster":{{"bootstrapServers":"b-1.orders.x1.c2.kafka.us-east-1.amazonaws.com:9098,b-2.orders.x1.c2.kafka.us-east-1.amazonaws.com:9098","vpc":{{"securityGroups":["sg-0a1b"],"subnets":["subnet-a","subnet-b"]}}}}}},"kafkaClusterClientAuthentication":{{"authenticationType":"IAM"}},"kafkaClusterEncryptionInTransit":{{"encryptionType":"TLS"}},"kafkaConnectVersion":"2.7.1","logDelivery":{{"workerLogDelivery":{{"cloudWatchLogs":{{"enabled":true,"logGroup":"msk-connect"}}}}}},"plugins":[{{"customPlugin":{{"customPluginArn":"arn:aws:kafkaconnect:us-east-1:123456789012:custom-plugin/{name}-plugin/1a2b-1","revision":1}}}}],"serviceExecutionRoleArn":"arn:aws:iam::123456789012:role/msk-connect-{name}","workerConfiguration":{{"revision":2,"workerConfigurationArn":"arn:aws:kafkaconnect:us-east-1:123456789012:worker-configuration/avro/3c4d-1"}}"#
        )
    }

    const AUTOSCALED: &str = r#"{"autoScaling":{"maxWorkerCount":4,"mcuCount":2,"minWorkerCount":1,"scaleInPolicy":{"cpuUtilizationPercentage":20},"scaleOutPolicy":{"cpuUtilizationPercentage":80}}}"#;
    const PROVISIONED: &str = r#"{"provisionedCapacity":{"mcuCount":1,"workerCount":2}}"#;
    const AVRO_V1: &str = r#"{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"#;
    const AVRO_V2: &str = r#"{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null}]}"#;

    /// AWS as the API reference shows it; `deny` names calls answered with
    /// AccessDeniedException.
    fn clients(deny: &'static [&'static str]) -> RegionClients {
        let http = infallible_client_fn(move |req: http::Request<_>| {
            let uri = req.uri().to_string();
            let target = req
                .headers()
                .get("x-amz-target")
                .and_then(|t| t.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).into_owned();
            let op = if let Some(t) = target.strip_prefix("AWSGlue.") {
                t.to_owned()
            } else if uri.contains("/v1/connectors/") {
                "DescribeConnector".to_owned()
            } else {
                "ListConnectors".to_owned()
            };
            if deny.contains(&op.as_str()) {
                let (status, body) = if target.is_empty() {
                    (403, r#"{"message":"User: arn:aws:iam::123456789012:user/kcp is not authorized to perform: kafkaconnect:DescribeConnector"}"#.to_owned())
                } else {
                    (
                        400,
                        format!(
                            r#"{{"__type":"AccessDeniedException","Message":"User: arn:aws:iam::123456789012:user/kcp is not authorized to perform: glue:{op}"}}"#
                        ),
                    )
                };
                return http::Response::builder()
                    .status(status)
                    .header("x-amzn-errortype", "AccessDeniedException:")
                    .body(body)
                    .unwrap();
            }
            let answer = match op.as_str() {
                "ListConnectors" => format!(
                    r#"{{"connectors":[{{{}}},{{{}}}]}}"#,
                    connector_json(SINK, "orders-s3-sink", AUTOSCALED),
                    connector_json(CDC, "inventory-cdc", PROVISIONED)
                ),
                "DescribeConnector" if uri.contains("orders-s3-sink") => format!(
                    r#"{{{},"connectorConfiguration":{{"connector.class":"io.confluent.connect.s3.S3SinkConnector","tasks.max":"2","topics":"orders","s3.bucket.name":"orders-archive","s3.region":"us-east-1","format.class":"io.confluent.connect.s3.format.parquet.ParquetFormat","flush.size":"1000"}},"stateDescription":{{"code":"","message":""}}}}"#,
                    connector_json(SINK, "orders-s3-sink", AUTOSCALED)
                ),
                "DescribeConnector" => format!(
                    r#"{{{},"connectorConfiguration":{{"connector.class":"io.debezium.connector.mysql.MySqlConnector","tasks.max":"1","database.hostname":"inventory.cluster-x.us-east-1.rds.amazonaws.com","database.user":"cdc","database.password":"hunter2","topic.prefix":"inventory"}}}}"#,
                    connector_json(CDC, "inventory-cdc", PROVISIONED)
                ),
                "ListRegistries" => r#"{"Registries":[{"RegistryName":"orders","RegistryArn":"arn:aws:glue:us-east-1:123456789012:registry/orders","Description":"Order events","Status":"AVAILABLE","CreatedTime":"2026-09-01T08:00:00.000Z","UpdatedTime":"2026-09-01T08:00:00.000Z"}]}"#.to_owned(),
                "ListSchemas" => r#"{"Schemas":[{"RegistryName":"orders","SchemaName":"orders-value","SchemaArn":"arn:aws:glue:us-east-1:123456789012:schema/orders/orders-value","Description":"","SchemaStatus":"AVAILABLE","CreatedTime":"2026-09-01T08:01:00.000Z","UpdatedTime":"2026-09-20T10:00:00.000Z"}]}"#.to_owned(),
                "GetSchema" => r#"{"RegistryName":"orders","RegistryArn":"arn:aws:glue:us-east-1:123456789012:registry/orders","SchemaName":"orders-value","SchemaArn":"arn:aws:glue:us-east-1:123456789012:schema/orders/orders-value","Description":"","DataFormat":"AVRO","Compatibility":"BACKWARD_ALL","SchemaCheckpoint":2,"LatestSchemaVersion":2,"NextSchemaVersion":3,"SchemaStatus":"AVAILABLE","CreatedTime":"2026-09-01T08:01:00.000Z","UpdatedTime":"2026-09-20T10:00:00.000Z"}"#.to_owned(),
                "ListSchemaVersions" => r#"{"Schemas":[{"SchemaArn":"arn:aws:glue:us-east-1:123456789012:schema/orders/orders-value","SchemaVersionId":"b2d8c4f0-1a2b-4c3d-9e8f-000000000002","VersionNumber":2,"Status":"AVAILABLE","CreatedTime":"2026-09-20T10:00:00.000Z"},{"SchemaArn":"arn:aws:glue:us-east-1:123456789012:schema/orders/orders-value","SchemaVersionId":"b2d8c4f0-1a2b-4c3d-9e8f-000000000001","VersionNumber":1,"Status":"AVAILABLE","CreatedTime":"2026-09-01T08:01:00.000Z"}]}"#.to_owned(),
                "GetSchemaVersion" => {
                    let n = if body.contains("000000000001") { 1 } else { 2 };
                    let definition = if n == 1 { AVRO_V1 } else { AVRO_V2 };
                    format!(
                        r#"{{"SchemaVersionId":"b2d8c4f0-1a2b-4c3d-9e8f-00000000000{n}","SchemaDefinition":"{definition}","DataFormat":"AVRO","SchemaArn":"arn:aws:glue:us-east-1:123456789012:schema/orders/orders-value","VersionNumber":{n},"Status":"AVAILABLE","CreatedTime":"2026-09-01T08:01:00.000Z"}}"#
                    )
                }
                other => panic!("unexpected call {other} {uri}"),
            };
            http::Response::builder().status(200).body(answer).unwrap()
        });
        RegionClients::from_config("us-east-1", &super::super::aws::canned_config(http))
    }

    #[tokio::test]
    async fn connectors_and_glue_schemas_are_read() {
        let c = clients(&[]);
        let mut warnings = Vec::new();
        let found = connectors(&c, &mut warnings).await.unwrap();
        let registries = glue_registries(&c, &mut warnings).await.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            found.keys().collect::<Vec<_>>(),
            ["inventory-cdc", "orders-s3-sink"]
        );
        let sink = &found["orders-s3-sink"];
        assert_eq!(
            (sink.kind.as_str(), sink.state.as_str()),
            ("sink", "RUNNING")
        );
        assert_eq!(sink.class, "io.confluent.connect.s3.S3SinkConnector");
        assert_eq!(sink.config["topics"], "orders");
        assert_eq!(sink.bootstrap_servers.len(), 2);
        assert_eq!(sink.kafka_authentication.as_deref(), Some("IAM"));
        assert_eq!(sink.encryption_in_transit.as_deref(), Some("TLS"));
        assert_eq!(
            (
                sink.capacity.mcu_count,
                sink.capacity.min_workers,
                sink.capacity.max_workers,
                sink.capacity.workers
            ),
            (Some(2), Some(1), Some(4), None)
        );
        assert_eq!(sink.plugins[0].revision, 1);
        assert_eq!(sink.worker_configuration.as_ref().unwrap().revision, 2);
        assert_eq!(sink.description, None, "empty descriptions are left out");
        assert_eq!(
            sink.created_at.unwrap().to_rfc3339(),
            "2026-10-01T09:00:00+00:00"
        );
        let cdc = &found["inventory-cdc"];
        assert_eq!(cdc.kind, "source");
        assert_eq!(cdc.capacity.workers, Some(2));
        assert_eq!(cdc.secret_keys, ["database.password"]);
        assert!(!cdc.config.values().any(|v| v.contains("hunter2")));

        let orders = &registries["orders"];
        assert_eq!(orders.description.as_deref(), Some("Order events"));
        let schema = &orders.schemas["orders-value"];
        assert_eq!(
            (schema.data_format.as_str(), schema.compatibility.as_str()),
            ("AVRO", "BACKWARD_ALL")
        );
        let mut versions = schema.versions.clone();
        versions.sort_by_key(|v| v.version);
        assert_eq!(
            versions[0].version_id,
            "b2d8c4f0-1a2b-4c3d-9e8f-000000000001"
        );
        let v1: serde_json::Value =
            serde_json::from_str(versions[0].definition.as_deref().unwrap()).unwrap();
        assert_eq!(v1["name"], "Order");
        let v2: serde_json::Value =
            serde_json::from_str(versions[1].definition.as_deref().unwrap()).unwrap();
        assert_eq!(v2["fields"][1]["name"], "note");
        // 1 ListConnectors, 2 DescribeConnector, ListRegistries, ListSchemas,
        // GetSchema, ListSchemaVersions, 2 GetSchemaVersion.
        assert_eq!(c.calls.load(std::sync::atomic::Ordering::Relaxed), 9);
    }

    #[tokio::test]
    async fn denied_calls_become_warnings_naming_the_action_and_nothing_else_is_lost() {
        let c = clients(&["DescribeConnector", "ListSchemas"]);
        let mut warnings = Vec::new();
        let found = connectors(&c, &mut warnings).await.unwrap();
        let registries = glue_registries(&c, &mut warnings).await.unwrap();
        // Both connectors stay, as ListConnectors shows them.
        assert_eq!(found.len(), 2);
        assert_eq!(found["orders-s3-sink"].state, "RUNNING");
        assert!(found["orders-s3-sink"].config.is_empty());
        assert_eq!(warnings.len(), 2);
        for w in &warnings {
            assert_eq!(w.call, "kafkaconnect:DescribeConnector");
            assert_eq!(w.code, "AccessDeniedException");
            assert!(
                w.hint.contains("grant kafkaconnect:DescribeConnector"),
                "{w:?}"
            );
        }
        let orders = &registries["orders"];
        assert!(orders.schemas.is_empty());
        assert_eq!(orders.warnings.len(), 1);
        assert_eq!(orders.warnings[0].call, "glue:ListSchemas");
        assert!(orders.warnings[0].hint.contains("grant glue:ListSchemas"));

        // A denied listing: nothing, and one warning each.
        let c = clients(&["ListConnectors", "ListRegistries"]);
        let mut warnings = Vec::new();
        assert!(connectors(&c, &mut warnings).await.is_none());
        assert!(glue_registries(&c, &mut warnings).await.is_none());
        let calls: Vec<&str> = warnings.iter().map(|w| w.call.as_str()).collect();
        assert_eq!(
            calls,
            ["kafkaconnect:ListConnectors", "glue:ListRegistries"]
        );
    }

    fn registry(schemas: &[&str], warned: bool) -> GlueRegistry {
        GlueRegistry {
            arn: "arn:aws:glue:us-east-1:1:registry/r".into(),
            status: "AVAILABLE".into(),
            schemas: schemas
                .iter()
                .map(|s| ((*s).to_owned(), GlueSchema::default()))
                .collect(),
            warnings: if warned {
                vec![Warning {
                    call: "glue:ListSchemas".into(),
                    code: "AccessDeniedException".into(),
                    message: "denied".into(),
                    hint: "grant".into(),
                }]
            } else {
                Vec::new()
            },
            ..GlueRegistry::default()
        }
    }

    #[test]
    fn a_failed_listing_keeps_what_was_there() {
        let mut region = MskRegion::default();
        region
            .msk_connectors
            .insert("c".into(), MskConnector::default());
        region
            .glue_registries
            .insert("r".into(), registry(&["a", "b"], false));
        region
            .glue_registries
            .insert("gone".into(), registry(&["x"], false));
        merge(&mut region, &Platform::default());
        assert_eq!(region.msk_connectors.len(), 1);
        assert_eq!(region.glue_registries.len(), 2);
        // Registries listed again: `gone` goes; `r` could not list its
        // schemas, so it keeps the previous ones.
        let again = Platform {
            msk_connectors: Some(BTreeMap::new()),
            glue_registries: Some(BTreeMap::from([("r".to_owned(), registry(&[], true))])),
        };
        merge(&mut region, &again);
        assert!(region.msk_connectors.is_empty());
        assert_eq!(
            region.glue_registries.keys().collect::<Vec<_>>(),
            ["r"],
            "deleted registries go"
        );
        assert_eq!(region.glue_registries["r"].schemas.len(), 2);
        assert_eq!(region.glue_registries["r"].warnings.len(), 1);
    }
}
