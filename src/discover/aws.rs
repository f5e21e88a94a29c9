//! The AWS edge of `discover`: the SDK clients of one region and the calls
//! kcp makes, each turned into plain values or a recorded [`Warning`].
//!
//! Every SDK call in this file is one of [`Op`] (`policy.rs`); `kcp discover
//! --print-iam-policy` prints exactly those, and a test reads this file to
//! keep the two equal, so the calls stay here and the turning of their
//! answers into kcp's values lives in `convert.rs`. Throttling
//! (`ThrottlingException`, HTTP 429) is retried by the SDK's standard retry
//! mode with exponential backoff.

#[macro_use]
mod convert;
mod policy;

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_config::{BehaviorVersion, Region, retry::RetryConfig};
use chrono::{DateTime, Utc};

use self::convert::{
    bootstrap_map, configuration, cost_filter, cost_group, cost_rows, glue_schema, glue_time,
    metric_page, metric_query, node, operation, parse_properties, to_smithy,
};
pub(crate) use self::policy::{HasStatus, warning};
pub(crate) use self::policy::{Op, iam_policy};
use super::metrics::{MetricQuery, MetricSource, Page};
use crate::state::{
    CostRow, GlueRegistry, GlueSchema, GlueSchemaVersion, IamPolicy, MskConfigurationRef,
    MskConnector, MskNode, MskOperation, Warning,
};

/// The SDK configuration for a region: the standard credential chain (or
/// `profile`), `AWS_ENDPOINT_URL`, and six attempts per call (throttling and
/// 429 retried with backoff) unless AWS_MAX_ATTEMPTS or the profile says
/// otherwise, as for any AWS tool.
async fn load_config(region: &str, profile: Option<&str>) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(6));
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// Resolves the credentials the SDK would use; the error says why there are none.
pub(crate) async fn resolve_credentials(region: &str, profile: Option<&str>) -> Result<(), String> {
    use aws_sdk_kafka::config::ProvideCredentials;
    let config = load_config(region, profile).await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| "no credentials provider is configured".to_owned())?;
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| {
            // The error and its causes, without the SDK's debug dump.
            let mut parts = vec![e.to_string()];
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !parts.iter().any(|p| p.contains(&text)) {
                    parts.push(text);
                }
                source = s.source();
            }
            parts.join(": ")
        })
}

/// The clients of one region, and a count of the calls made through them.
pub(crate) struct RegionClients {
    pub region: String,
    kafka: aws_sdk_kafka::Client,
    cw: aws_sdk_cloudwatch::Client,
    ce: aws_sdk_costexplorer::Client,
    kafkaconnect: aws_sdk_kafkaconnect::Client,
    glue: aws_sdk_glue::Client,
    pub calls: AtomicUsize,
}

impl RegionClients {
    /// Clients from the standard credential chain (or `profile`). Honours
    /// `AWS_ENDPOINT_URL` (tests point it at moto).
    pub(crate) async fn new(region: &str, profile: Option<&str>) -> Self {
        let config = load_config(region, profile).await;
        // Cost Explorer has one endpoint, in us-east-1.
        let ce_config = aws_sdk_costexplorer::config::Builder::from(&config)
            .region(Region::new("us-east-1"))
            .build();
        RegionClients {
            region: region.to_owned(),
            kafka: aws_sdk_kafka::Client::new(&config),
            cw: aws_sdk_cloudwatch::Client::new(&config),
            ce: aws_sdk_costexplorer::Client::from_conf(ce_config),
            kafkaconnect: aws_sdk_kafkaconnect::Client::new(&config),
            glue: aws_sdk_glue::Client::new(&config),
            calls: AtomicUsize::new(0),
        }
    }

    /// Clients sharing one SDK configuration (tests give it a canned
    /// HTTP client).
    #[cfg(test)]
    pub(crate) fn from_config(region: &str, config: &aws_config::SdkConfig) -> Self {
        RegionClients {
            region: region.to_owned(),
            kafka: aws_sdk_kafka::Client::new(config),
            cw: aws_sdk_cloudwatch::Client::new(config),
            ce: aws_sdk_costexplorer::Client::new(config),
            kafkaconnect: aws_sdk_kafkaconnect::Client::new(config),
            glue: aws_sdk_glue::Client::new(config),
            calls: AtomicUsize::new(0),
        }
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one call (a page of a paginated call) and turns its failure
    /// into a warning naming `op`.
    fn counted<T, E, R>(
        &self,
        op: Op,
        answer: Result<T, aws_sdk_kafka::error::SdkError<E, R>>,
    ) -> Result<T, Warning>
    where
        E: aws_sdk_kafka::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        self.count();
        answer.map_err(|e| warning(op, &e))
    }

    /// ListClustersV2, every page.
    pub(crate) async fn list_clusters(
        &self,
    ) -> Result<Vec<aws_sdk_kafka::types::Cluster>, Warning> {
        let mut out = Vec::new();
        let mut pages = self.kafka.list_clusters_v2().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListClustersV2, page)?;
            out.extend(page.cluster_info_list().iter().cloned());
        }
        Ok(out)
    }

    pub(crate) async fn describe_cluster(
        &self,
        arn: &str,
    ) -> Result<aws_sdk_kafka::types::Cluster, Warning> {
        let out = self.counted(
            Op::DescribeClusterV2,
            self.kafka
                .describe_cluster_v2()
                .cluster_arn(arn)
                .send()
                .await,
        )?;
        out.cluster_info().cloned().ok_or_else(|| Warning {
            call: Op::DescribeClusterV2.action(),
            code: "Empty".into(),
            message: format!("no cluster info for {arn}"),
            hint: "check the ARN".into(),
        })
    }

    /// Bootstrap servers per auth method (`plaintext`, `tls`, `sasl_scram`,
    /// `sasl_iam`, `public_*`, `vpc_connectivity_*`).
    pub(crate) async fn bootstrap_brokers(
        &self,
        arn: &str,
    ) -> Result<Vec<(String, Vec<String>)>, Warning> {
        let out = self.counted(
            Op::GetBootstrapBrokers,
            self.kafka
                .get_bootstrap_brokers()
                .cluster_arn(arn)
                .send()
                .await,
        )?;
        Ok(bootstrap_map(&out))
    }

    pub(crate) async fn nodes(&self, arn: &str) -> Result<Vec<MskNode>, Warning> {
        let mut out = Vec::new();
        let mut pages = self
            .kafka
            .list_nodes()
            .cluster_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListNodes, page)?;
            out.extend(page.node_info_list().iter().filter_map(node));
        }
        Ok(out)
    }

    pub(crate) async fn scram_secrets(&self, arn: &str) -> Result<Vec<String>, Warning> {
        let mut out = Vec::new();
        let mut pages = self
            .kafka
            .list_scram_secrets()
            .cluster_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListScramSecrets, page)?;
            out.extend(page.secret_arn_list().iter().cloned());
        }
        Ok(out)
    }

    pub(crate) async fn client_vpc_connections(&self, arn: &str) -> Result<Vec<String>, Warning> {
        let mut out = Vec::new();
        let mut pages = self
            .kafka
            .list_client_vpc_connections()
            .cluster_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListClientVpcConnections, page)?;
            out.extend(
                page.client_vpc_connections()
                    .iter()
                    .filter_map(|c| c.vpc_connection_arn().map(str::to_owned)),
            );
        }
        Ok(out)
    }

    pub(crate) async fn operations(&self, arn: &str) -> Result<Vec<MskOperation>, Warning> {
        let mut out = Vec::new();
        let mut pages = self
            .kafka
            .list_cluster_operations_v2()
            .cluster_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListClusterOperationsV2, page)?;
            out.extend(page.cluster_operation_info_list().iter().map(operation));
        }
        Ok(out)
    }

    /// The cluster policy, if the cluster has one.
    pub(crate) async fn cluster_policy(&self, arn: &str) -> Result<Option<IamPolicy>, Warning> {
        self.count();
        match self
            .kafka
            .get_cluster_policy()
            .cluster_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.policy().and_then(|p| {
                serde_json::from_str(p).ok().map(|document| IamPolicy {
                    source: "cluster-policy".into(),
                    attached_to: None,
                    document,
                })
            })),
            // No policy is not a problem.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(warning(Op::GetClusterPolicy, &e)),
        }
    }

    pub(crate) async fn compatible_versions(&self, arn: &str) -> Result<Vec<String>, Warning> {
        let out = self.counted(
            Op::GetCompatibleKafkaVersions,
            self.kafka
                .get_compatible_kafka_versions()
                .cluster_arn(arn)
                .send()
                .await,
        )?;
        let mut versions: Vec<String> = out
            .compatible_kafka_versions()
            .iter()
            .flat_map(|v| v.target_versions().iter().cloned())
            .collect();
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    /// The region's MSK configurations: ARN → (name, latest revision).
    pub(crate) async fn configurations(
        &self,
    ) -> Result<Vec<(String, String, Option<i64>)>, Warning> {
        let mut out = Vec::new();
        let mut pages = self.kafka.list_configurations().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListConfigurations, page)?;
            out.extend(page.configurations().iter().map(configuration));
        }
        Ok(out)
    }

    /// A configuration revision's `server.properties`.
    pub(crate) async fn server_properties(
        &self,
        configuration: &MskConfigurationRef,
    ) -> Result<Vec<(String, String)>, Warning> {
        let out = self.counted(
            Op::DescribeConfigurationRevision,
            self.kafka
                .describe_configuration_revision()
                .arn(&configuration.arn)
                .revision(configuration.revision)
                .send()
                .await,
        )?;
        let text = out
            .server_properties()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default();
        Ok(parse_properties(&text))
    }

    /// Topics with per-topic metrics of a (serverless) cluster.
    pub(crate) async fn metric_topics(&self, cluster: &str) -> Result<Vec<String>, Warning> {
        use aws_sdk_cloudwatch::types::DimensionFilter;
        let mut topics = Vec::new();
        let mut pages = self
            .cw
            .list_metrics()
            .namespace("AWS/Kafka")
            .metric_name("BytesInPerSec")
            .dimensions(
                DimensionFilter::builder()
                    .name("Cluster Name")
                    .value(cluster)
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListMetrics, page)?;
            for m in page.metrics() {
                if let Some(t) = m
                    .dimensions()
                    .iter()
                    .find(|d| d.name() == Some("Topic"))
                    .and_then(|d| d.value())
                {
                    topics.push(t.to_owned());
                }
            }
        }
        topics.sort();
        topics.dedup();
        Ok(topics)
    }

    /// Cost Explorer rows for MSK and its companion services in this region.
    pub(crate) async fn costs(
        &self,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
    ) -> Result<Vec<CostRow>, Warning> {
        use aws_sdk_costexplorer::types::{DateInterval, Granularity};
        let period = DateInterval::builder()
            .start(start.to_string())
            .end(end.to_string())
            .build()
            .expect("start and end are set");
        let filter = cost_filter(&self.region);
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let metrics = super::COST_METRICS.iter().map(|m| (*m).to_owned());
            let mut req = self
                .ce
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Daily)
                .set_metrics(Some(metrics.collect()))
                .group_by(cost_group("SERVICE"))
                .group_by(cost_group("USAGE_TYPE"))
                .filter(filter.clone());
            if let Some(t) = &token {
                req = req.next_page_token(t);
            }
            let out = self.counted(Op::GetCostAndUsage, req.send().await)?;
            rows.extend(out.results_by_time().iter().flat_map(cost_rows));
            match out.next_page_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(rows)
    }
}

/// MSK Connect and AWS Glue Schema Registry.
impl RegionClients {
    /// ListConnectors, every page: the connectors by name, as the summaries
    /// show them (everything but their configuration).
    pub(crate) async fn list_connectors(&self) -> Result<Vec<(String, MskConnector)>, Warning> {
        let mut out = Vec::new();
        let mut pages = self.kafkaconnect.list_connectors().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListConnectors, page)?;
            out.extend(page.connectors().iter().map(|c| connector!(c)));
        }
        Ok(out)
    }

    /// DescribeConnector: the connector with its configuration (secrets left out).
    pub(crate) async fn describe_connector(&self, arn: &str) -> Result<MskConnector, Warning> {
        let out = self.counted(
            Op::DescribeConnector,
            self.kafkaconnect
                .describe_connector()
                .connector_arn(arn)
                .send()
                .await,
        )?;
        let (_, mut c) = connector!(out);
        convert::set_config(&mut c, out.connector_configuration());
        Ok(c)
    }

    /// ListRegistries, every page: the registries by name, without schemas.
    pub(crate) async fn list_registries(&self) -> Result<Vec<(String, GlueRegistry)>, Warning> {
        let mut out = Vec::new();
        let mut pages = self.glue.list_registries().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListRegistries, page)?;
            out.extend(page.registries().iter().map(|r| {
                (
                    r.registry_name().unwrap_or_default().to_owned(),
                    GlueRegistry {
                        arn: r.registry_arn().unwrap_or_default().to_owned(),
                        status: r
                            .status()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        description: r.description().filter(|d| !d.is_empty()).map(str::to_owned),
                        ..GlueRegistry::default()
                    },
                )
            }));
        }
        Ok(out)
    }

    /// ListSchemas of a registry, every page: the schemas' ARNs.
    pub(crate) async fn list_schemas(&self, registry: &str) -> Result<Vec<String>, Warning> {
        use aws_sdk_glue::types::RegistryId;
        let mut out = Vec::new();
        let mut pages = self
            .glue
            .list_schemas()
            .registry_id(RegistryId::builder().registry_name(registry).build())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListSchemas, page)?;
            out.extend(
                page.schemas()
                    .iter()
                    .filter_map(|s| s.schema_arn().map(str::to_owned)),
            );
        }
        Ok(out)
    }

    /// GetSchema: the schema's name, format and compatibility, without versions.
    pub(crate) async fn get_schema(&self, arn: &str) -> Result<(String, GlueSchema), Warning> {
        use aws_sdk_glue::types::SchemaId;
        let out = self.counted(
            Op::GetSchema,
            self.glue
                .get_schema()
                .schema_id(SchemaId::builder().schema_arn(arn).build())
                .send()
                .await,
        )?;
        Ok(glue_schema(&out))
    }

    /// ListSchemaVersions of a schema, every page, without their definitions.
    pub(crate) async fn list_schema_versions(
        &self,
        arn: &str,
    ) -> Result<Vec<GlueSchemaVersion>, Warning> {
        use aws_sdk_glue::types::SchemaId;
        let mut out = Vec::new();
        let mut pages = self
            .glue
            .list_schema_versions()
            .schema_id(SchemaId::builder().schema_arn(arn).build())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.counted(Op::ListSchemaVersions, page)?;
            out.extend(page.schemas().iter().map(|v| {
                GlueSchemaVersion {
                    version: v.version_number().unwrap_or_default(),
                    version_id: v.schema_version_id().unwrap_or_default().to_owned(),
                    status: v
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    created_at: glue_time(v.created_time()),
                    definition: None,
                }
            }));
        }
        Ok(out)
    }

    /// GetSchemaVersion: a version's definition.
    pub(crate) async fn schema_definition(&self, version_id: &str) -> Result<String, Warning> {
        let out = self.counted(
            Op::GetSchemaVersion,
            self.glue
                .get_schema_version()
                .schema_version_id(version_id)
                .send()
                .await,
        )?;
        Ok(out.schema_definition().unwrap_or_default().to_owned())
    }
}

/// An SDK configuration whose HTTP client is `http`.
#[cfg(test)]
pub(crate) fn canned_config(
    http: aws_sdk_kafka::config::SharedHttpClient,
) -> aws_config::SdkConfig {
    let creds = aws_sdk_kafka::config::Credentials::new("a", "b", None, None, "test");
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kafka::config::SharedCredentialsProvider::new(creds))
        .http_client(http)
        .build()
}

impl MetricSource for RegionClients {
    type Error = Warning;

    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<String>,
    ) -> Result<Page, Warning> {
        let out = self.counted(
            Op::GetMetricData,
            self.cw
                .get_metric_data()
                .set_metric_data_queries(Some(queries.iter().map(metric_query).collect()))
                .start_time(to_smithy(start))
                .end_time(to_smithy(end))
                .set_next_token(next_token)
                .send()
                .await,
        )?;
        Ok(metric_page(&out))
    }
}

#[cfg(test)]
mod tests {
    //! Parsing of real MSK response bodies through the SDK, with the SDK's
    //! own canned HTTP client (moto does not implement these calls).
    use super::*;
    use aws_smithy_http_client::test_util::infallible_client_fn;

    const ARN: &str = "arn:aws:kafka:us-east-1:123456789012:cluster/orders/5a4f-2";

    fn clients() -> RegionClients {
        let http = infallible_client_fn(|req: http::Request<_>| {
            let uri = req.uri().to_string();
            let body = if uri.contains("/bootstrap-brokers") {
                r#"{"bootstrapBrokerStringSaslScram":"b-1.orders:9096,b-2.orders:9096","bootstrapBrokerStringSaslIam":"b-1.orders:9098","bootstrapBrokerStringPublicSaslIam":"b-1-public.orders:9198"}"#.to_owned()
            } else if uri.contains("/nodes") && !uri.contains("nextToken") {
                r#"{"nodeInfoList":[{"brokerNodeInfo":{"brokerId":1.0,"clientSubnet":"subnet-a","endpoints":["b-1.orders"]},"instanceType":"kafka.m5.large","nodeType":"BROKER"}],"nextToken":"page2"}"#.to_owned()
            } else if uri.contains("/nodes") {
                r#"{"nodeInfoList":[{"brokerNodeInfo":{"brokerId":2.0,"clientSubnet":"subnet-b","endpoints":["b-2.orders"]},"instanceType":"kafka.m5.large","nodeType":"BROKER"}]}"#.to_owned()
            } else if uri.contains("/scram-secrets") {
                r#"{"secretArnList":["arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_orders-abc"]}"#.to_owned()
            } else if uri.contains("/client-vpc-connections") {
                r#"{"clientVpcConnections":[{"vpcConnectionArn":"arn:aws:kafka:us-east-1:123456789012:vpc-connection/x","owner":"210987654321","authentication":"SASL_IAM"}]}"#.to_owned()
            } else if uri.contains("/operations") {
                r#"{"clusterOperationInfoList":[{"clusterArn":"x","clusterType":"PROVISIONED","operationArn":"op","operationType":"UPDATE_BROKER_STORAGE","operationState":"UPDATE_COMPLETE","startTime":"2026-11-02T10:00:00.000Z","endTime":"2026-11-02T10:40:00.000Z"}]}"#.to_owned()
            } else if uri.contains("/policy") {
                r#"{"currentVersion":"v1","policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:role/app\"},\"Action\":\"kafka-cluster:ReadData\",\"Resource\":\"*\"}]}"}"#.to_owned()
            } else if uri.contains("/compatible-kafka-versions") {
                r#"{"compatibleKafkaVersions":[{"sourceVersion":"3.6.0","targetVersions":["3.7.x","3.8.x"]}]}"#.to_owned()
            } else if uri.contains("/revisions/") {
                // server.properties is base64 in the JSON body.
                r#"{"arn":"cfg","revision":3,"serverProperties":"YXV0by5jcmVhdGUudG9waWNzLmVuYWJsZT1mYWxzZQojIGNvbW1lbnQKbG9nLnJldGVudGlvbi5ob3Vycz0xNjgK"}"#.to_owned()
            } else {
                return http::Response::builder()
                    .status(404)
                    .body(String::new())
                    .unwrap();
            };
            http::Response::builder().status(200).body(body).unwrap()
        });
        RegionClients::from_config("us-east-1", &canned_config(http))
    }

    #[tokio::test]
    async fn parses_what_moto_cannot_serve() {
        let c = clients();
        let bootstrap = c.bootstrap_brokers(ARN).await.unwrap();
        assert_eq!(
            bootstrap,
            [
                (
                    "sasl_scram".to_owned(),
                    vec!["b-1.orders:9096".to_owned(), "b-2.orders:9096".to_owned()]
                ),
                ("sasl_iam".to_owned(), vec!["b-1.orders:9098".to_owned()]),
                (
                    "public_sasl_iam".to_owned(),
                    vec!["b-1-public.orders:9198".to_owned()]
                ),
            ]
        );
        let nodes = c.nodes(ARN).await.unwrap();
        assert_eq!(
            nodes.iter().map(|n| n.broker_id).collect::<Vec<_>>(),
            [1, 2],
            "both pages"
        );
        assert_eq!(nodes[1].client_subnet.as_deref(), Some("subnet-b"));
        assert_eq!(nodes[0].endpoints, ["b-1.orders"]);
        assert_eq!(
            c.scram_secrets(ARN).await.unwrap(),
            ["arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_orders-abc"]
        );
        assert_eq!(
            c.client_vpc_connections(ARN).await.unwrap(),
            ["arn:aws:kafka:us-east-1:123456789012:vpc-connection/x"]
        );
        let ops = c.operations(ARN).await.unwrap();
        assert_eq!(ops[0].operation_type, "UPDATE_BROKER_STORAGE");
        assert_eq!(ops[0].state, "UPDATE_COMPLETE");
        assert_eq!(
            ops[0].start_time.unwrap().to_rfc3339(),
            "2026-11-02T10:00:00+00:00"
        );
        let policy = c.cluster_policy(ARN).await.unwrap().unwrap();
        assert_eq!(
            policy.document["Statement"][0]["Action"],
            "kafka-cluster:ReadData"
        );
        assert_eq!(
            c.compatible_versions(ARN).await.unwrap(),
            ["3.7.x", "3.8.x"]
        );
        let props = c
            .server_properties(&MskConfigurationRef {
                arn: "cfg".into(),
                revision: 3,
                name: None,
                latest_revision: None,
            })
            .await
            .unwrap();
        assert_eq!(
            props,
            [
                ("auto.create.topics.enable".to_owned(), "false".to_owned()),
                ("log.retention.hours".to_owned(), "168".to_owned())
            ]
        );
        // One call per page.
        assert_eq!(c.calls.load(Ordering::Relaxed), 9);
    }

    #[test]
    fn the_policy_names_every_operation() {
        let p = iam_policy();
        let n: usize = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Action"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, Op::ALL.len());
    }
}
