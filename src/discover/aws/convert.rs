//! SDK values to kcp's: times, bootstrap strings, nodes, operations,
//! `server.properties`, metric queries and pages, Cost Explorer rows, MSK
//! Connect connectors and Glue schemas.

use chrono::{DateTime, Utc};

use crate::discover::metrics::{MetricQuery, Page};
use crate::state::{Amount, CostRow, GlueSchema, MskConnector, MskNode, MskOperation};

/// `(name, connector)` of an MSK Connect `ConnectorSummary` or
/// `DescribeConnectorOutput` (the two have the same accessors), without
/// its configuration.
macro_rules! connector {
    ($c:expr) => {{
        let c = &$c;
        let capacity = c.capacity();
        let auto = capacity.and_then(|k| k.auto_scaling());
        let provisioned = capacity.and_then(|k| k.provisioned_capacity());
        let servers = c
            .kafka_cluster()
            .and_then(|k| k.apache_kafka_cluster())
            .and_then(|k| k.bootstrap_servers())
            .unwrap_or_default();
        (
            c.connector_name().unwrap_or_default().to_owned(),
            $crate::state::MskConnector {
                arn: c.connector_arn().unwrap_or_default().to_owned(),
                state: c
                    .connector_state()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                created_at: c.creation_time().and_then(convert::to_chrono),
                description: c
                    .connector_description()
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
                kafka_connect_version: c.kafka_connect_version().map(str::to_owned),
                class: String::new(),
                kind: "unknown".to_owned(),
                capacity: $crate::state::MskConnectCapacity {
                    mcu_count: provisioned
                        .map(|p| p.mcu_count())
                        .or(auto.map(|a| a.mcu_count())),
                    workers: provisioned.map(|p| p.worker_count()),
                    min_workers: auto.map(|a| a.min_worker_count()),
                    max_workers: auto.map(|a| a.max_worker_count()),
                },
                bootstrap_servers: convert::split_servers(servers),
                kafka_authentication: c
                    .kafka_cluster_client_authentication()
                    .and_then(|a| a.authentication_type())
                    .map(|t| t.as_str().to_owned()),
                encryption_in_transit: c
                    .kafka_cluster_encryption_in_transit()
                    .and_then(|e| e.encryption_type())
                    .map(|t| t.as_str().to_owned()),
                plugins: c
                    .plugins()
                    .iter()
                    .filter_map(|p| p.custom_plugin())
                    .map(|p| $crate::state::MskConnectRef {
                        arn: p.custom_plugin_arn().unwrap_or_default().to_owned(),
                        revision: p.revision(),
                    })
                    .collect(),
                worker_configuration: c.worker_configuration().map(|w| {
                    $crate::state::MskConnectRef {
                        arn: w.worker_configuration_arn().unwrap_or_default().to_owned(),
                        revision: w.revision(),
                    }
                }),
                service_execution_role_arn: c.service_execution_role_arn().map(str::to_owned),
                config: Default::default(),
                secret_keys: Vec::new(),
            },
        )
    }};
}

/// `host:port,host:port` as a list.
pub(super) fn split_servers(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Sets a connector's class, type and config (secrets left out).
pub(super) fn set_config(
    c: &mut MskConnector,
    config: Option<&std::collections::HashMap<String, String>>,
) {
    let config: std::collections::BTreeMap<String, String> = config
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    c.class = config.get("connector.class").cloned().unwrap_or_default();
    c.kind = MskConnector::kind_of(&c.class, &config).to_owned();
    let masked = crate::kafka_connect::mask::mask(&config);
    c.config = masked.config;
    c.secret_keys = masked.secret_keys;
}

/// A Glue time (ISO 8601 text).
pub(super) fn glue_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `(name, schema)` of a GetSchema answer, without versions.
pub(super) fn glue_schema(
    out: &aws_sdk_glue::operation::get_schema::GetSchemaOutput,
) -> (String, GlueSchema) {
    (
        out.schema_name().unwrap_or_default().to_owned(),
        GlueSchema {
            arn: out.schema_arn().unwrap_or_default().to_owned(),
            data_format: out
                .data_format()
                .map(|f| f.as_str().to_owned())
                .unwrap_or_default(),
            compatibility: out
                .compatibility()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            status: out
                .schema_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            description: out
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            versions: Vec::new(),
        },
    )
}

pub(super) fn to_chrono(t: &aws_sdk_kafka::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

pub(super) fn to_smithy(t: DateTime<Utc>) -> aws_sdk_kafka::primitives::DateTime {
    aws_sdk_kafka::primitives::DateTime::from_secs(t.timestamp())
}

/// Bootstrap strings by auth method, split into servers.
pub(super) fn bootstrap_map(
    out: &aws_sdk_kafka::operation::get_bootstrap_brokers::GetBootstrapBrokersOutput,
) -> Vec<(String, Vec<String>)> {
    let fields = [
        ("plaintext", out.bootstrap_broker_string()),
        ("tls", out.bootstrap_broker_string_tls()),
        ("sasl_scram", out.bootstrap_broker_string_sasl_scram()),
        ("sasl_iam", out.bootstrap_broker_string_sasl_iam()),
        ("public_tls", out.bootstrap_broker_string_public_tls()),
        (
            "public_sasl_scram",
            out.bootstrap_broker_string_public_sasl_scram(),
        ),
        (
            "public_sasl_iam",
            out.bootstrap_broker_string_public_sasl_iam(),
        ),
        (
            "vpc_connectivity_tls",
            out.bootstrap_broker_string_vpc_connectivity_tls(),
        ),
        (
            "vpc_connectivity_sasl_scram",
            out.bootstrap_broker_string_vpc_connectivity_sasl_scram(),
        ),
        (
            "vpc_connectivity_sasl_iam",
            out.bootstrap_broker_string_vpc_connectivity_sasl_iam(),
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(method, s)| {
            let servers: Vec<String> = s?
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect();
            (!servers.is_empty()).then(|| (method.to_owned(), servers))
        })
        .collect()
}

pub(super) fn node(n: &aws_sdk_kafka::types::NodeInfo) -> Option<MskNode> {
    let b = n.broker_node_info()?;
    Some(MskNode {
        broker_id: b.broker_id()? as u32,
        instance_type: n.instance_type().map(str::to_owned),
        client_subnet: b.client_subnet().map(str::to_owned),
        endpoints: b.endpoints().to_vec(),
    })
}

/// `key=value` lines; comments and blanks skipped.
pub(super) fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let (k, v) = l.split_once(['=', ':'])?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// A ListClusterOperationsV2 entry.
pub(super) fn operation(o: &aws_sdk_kafka::types::ClusterOperationV2Summary) -> MskOperation {
    MskOperation {
        operation_type: o.operation_type().unwrap_or_default().to_owned(),
        state: o.operation_state().unwrap_or_default().to_owned(),
        start_time: o.start_time().and_then(to_chrono),
        end_time: o.end_time().and_then(to_chrono),
    }
}

/// A configuration's ARN, name and latest revision.
pub(super) fn configuration(
    c: &aws_sdk_kafka::types::Configuration,
) -> (String, String, Option<i64>) {
    (
        c.arn().unwrap_or_default().to_owned(),
        c.name().unwrap_or_default().to_owned(),
        c.latest_revision().and_then(|r| r.revision()),
    )
}

/// A GetMetricData query of the `AWS/Kafka` namespace.
pub(super) fn metric_query(q: &MetricQuery) -> aws_sdk_cloudwatch::types::MetricDataQuery {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let dimensions = q
        .dimensions
        .iter()
        .map(|(n, v)| Dimension::builder().name(n).value(v).build())
        .collect();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/Kafka")
                        .metric_name(&q.metric)
                        .set_dimensions(Some(dimensions))
                        .build(),
                )
                .period(q.period as i32)
                .stat(&q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// A GetMetricData answer: points per query id, and the next page's token.
pub(super) fn metric_page(
    out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput,
) -> Page {
    Page {
        series: out
            .metric_data_results()
            .iter()
            .map(|r| {
                let points = r
                    .timestamps()
                    .iter()
                    .zip(r.values())
                    .filter_map(|(t, v)| Some((to_chrono(t)?, *v)))
                    .collect();
                (r.id().unwrap_or_default().to_owned(), points)
            })
            .collect(),
        next_token: out
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    }
}

/// Cost Explorer's filter: one region, the MSK services.
pub(super) fn cost_filter(region: &str) -> aws_sdk_costexplorer::types::Expression {
    use aws_sdk_costexplorer::types::{Dimension, DimensionValues, Expression};
    let dim = |key: Dimension, values: &[&str]| {
        Expression::builder()
            .dimensions(
                DimensionValues::builder()
                    .key(key)
                    .set_values(Some(values.iter().map(|v| (*v).to_owned()).collect()))
                    .build(),
            )
            .build()
    };
    Expression::builder()
        .and(dim(Dimension::Region, &[region]))
        .and(dim(Dimension::Service, crate::discover::COST_SERVICES))
        .build()
}

/// Cost Explorer's grouping by a dimension (`SERVICE`, `USAGE_TYPE`).
pub(super) fn cost_group(key: &str) -> aws_sdk_costexplorer::types::GroupDefinition {
    use aws_sdk_costexplorer::types::{GroupDefinition, GroupDefinitionType};
    GroupDefinition::builder()
        .r#type(GroupDefinitionType::Dimension)
        .key(key)
        .build()
}

/// The rows of one day of a GetCostAndUsage answer (none without a date).
pub(super) fn cost_rows(result: &aws_sdk_costexplorer::types::ResultByTime) -> Vec<CostRow> {
    let Some(date) = result
        .time_period()
        .and_then(|p| p.start().parse::<chrono::NaiveDate>().ok())
    else {
        return Vec::new();
    };
    result
        .groups()
        .iter()
        .map(|group| {
            let keys = group.keys();
            let metrics = group
                .metrics()
                .map(|m| {
                    m.iter()
                        .filter_map(|(name, v)| {
                            Some((
                                name.clone(),
                                Amount {
                                    amount: v.amount()?.parse().ok()?,
                                    unit: v.unit().unwrap_or("USD").to_owned(),
                                },
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            CostRow {
                date,
                service: keys.first().cloned().unwrap_or_default(),
                usage_type: keys.get(1).cloned().unwrap_or_default(),
                metrics,
            }
        })
        .collect()
}
