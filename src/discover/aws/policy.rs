//! The calls `discover` makes, as [`Op`]s: the least-privilege IAM policy
//! is built from them, and an SDK failure of one becomes a [`Warning`] that
//! names it, with a hint.

use crate::state::Warning;

/// Every AWS operation `discover` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    ListClustersV2,
    DescribeClusterV2,
    GetBootstrapBrokers,
    ListNodes,
    ListScramSecrets,
    ListClientVpcConnections,
    ListClusterOperationsV2,
    GetClusterPolicy,
    GetCompatibleKafkaVersions,
    ListConfigurations,
    DescribeConfigurationRevision,
    GetMetricData,
    ListMetrics,
    GetCostAndUsage,
    ListConnectors,
    DescribeConnector,
    ListRegistries,
    ListSchemas,
    GetSchema,
    ListSchemaVersions,
    GetSchemaVersion,
}

impl Op {
    pub(crate) const ALL: &'static [Op] = &[
        Op::ListClustersV2,
        Op::DescribeClusterV2,
        Op::GetBootstrapBrokers,
        Op::ListNodes,
        Op::ListScramSecrets,
        Op::ListClientVpcConnections,
        Op::ListClusterOperationsV2,
        Op::GetClusterPolicy,
        Op::GetCompatibleKafkaVersions,
        Op::ListConfigurations,
        Op::DescribeConfigurationRevision,
        Op::GetMetricData,
        Op::ListMetrics,
        Op::GetCostAndUsage,
        Op::ListConnectors,
        Op::DescribeConnector,
        Op::ListRegistries,
        Op::ListSchemas,
        Op::GetSchema,
        Op::ListSchemaVersions,
        Op::GetSchemaVersion,
    ];

    /// The IAM action, e.g. `kafka:ListClustersV2`.
    pub(crate) fn action(self) -> String {
        let service = match self {
            Op::GetMetricData | Op::ListMetrics => "cloudwatch",
            Op::GetCostAndUsage => "ce",
            Op::ListConnectors | Op::DescribeConnector => "kafkaconnect",
            Op::ListRegistries
            | Op::ListSchemas
            | Op::GetSchema
            | Op::ListSchemaVersions
            | Op::GetSchemaVersion => "glue",
            _ => "kafka",
        };
        format!("{service}:{self:?}")
    }
}

/// The least-privilege IAM policy for `discover` (JSON).
pub(crate) fn iam_policy() -> serde_json::Value {
    let actions = |service: &str| -> Vec<String> {
        Op::ALL
            .iter()
            .map(|op| op.action())
            .filter(|a| a.starts_with(&format!("{service}:")))
            .collect()
    };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "KcpDiscoverMsk", "Effect": "Allow", "Action": actions("kafka"), "Resource": "*" },
            { "Sid": "KcpDiscoverMetrics", "Effect": "Allow", "Action": actions("cloudwatch"), "Resource": "*" },
            { "Sid": "KcpDiscoverCosts", "Effect": "Allow", "Action": actions("ce"), "Resource": "*" },
            { "Sid": "KcpDiscoverMskConnect", "Effect": "Allow", "Action": actions("kafkaconnect"), "Resource": "*" },
            { "Sid": "KcpDiscoverGlueSchemas", "Effect": "Allow", "Action": actions("glue"), "Resource": "*" }
        ]
    })
}

/// Turns an SDK error into a warning: the call, a code, the message, a hint.
pub(crate) fn warning<E, R>(op: Op, err: &aws_sdk_kafka::error::SdkError<E, R>) -> Warning
where
    E: aws_sdk_kafka::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    use aws_sdk_kafka::error::ProvideErrorMetadata;
    let status = err.raw_response().map(HasStatus::status);
    let code = err
        .code()
        .map(str::to_owned)
        .or_else(|| match status {
            Some(404 | 500 | 501) => Some("NotImplemented".into()),
            Some(s) => Some(format!("HTTP{s}")),
            None => None,
        })
        .unwrap_or_else(|| "Error".into());
    let action = op.action();
    let message = match (err.message(), status) {
        (Some(m), _) => m.to_owned(),
        (None, Some(s)) if err.code().is_none() => {
            format!("HTTP {s} without an AWS error: the endpoint does not serve {action}")
        }
        _ => format!("{}", aws_sdk_kafka::error::DisplayErrorContext(err)),
    };
    let hint = if code.contains("AccessDenied") || code.contains("Unauthorized") {
        format!(
            "grant {action} to the identity running discover (`kcp discover --print-iam-policy` prints the whole policy)"
        )
    } else if code == "NotImplemented" {
        format!(
            "the endpoint does not implement {action}; what it returns is missing from the state"
        )
    } else if code.contains("Throttl") || status == Some(429) {
        "still throttled after the SDK's retries; run discover again later".to_owned()
    } else {
        "the rest of the cluster was discovered; run again to retry this call".to_owned()
    };
    Warning {
        call: action,
        code,
        message: message
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect(),
        hint,
    }
}

/// The HTTP status of a raw response.
pub(crate) trait HasStatus {
    fn status(&self) -> u16;
}

// Every SDK's `HttpResponse` is the one of aws-smithy-runtime-api, so this
// one impl serves the kafkaconnect and glue clients too.
impl HasStatus for aws_sdk_kafka::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
