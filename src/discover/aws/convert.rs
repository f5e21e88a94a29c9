//! SDK values to kcp's: times, bootstrap strings, nodes, operations,
//! `server.properties`, metric queries and pages, Cost Explorer rows.

use chrono::{DateTime, Utc};

use crate::discover::metrics::{MetricQuery, Page};
use crate::state::{Amount, CostRow, MskNode, MskOperation};

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
