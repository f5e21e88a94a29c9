//! `create-asset topics`: every selected topic with the source's partition
//! count and the configs the target accepts. Confluent Cloud takes an
//! allow-list of configs and chooses the replication factor itself; a Kafka
//! target (Mongey/kafka provider, also used for MSK) takes any Apache Kafka
//! topic config and the source's replication factor unless overridden.

use std::collections::BTreeMap;

use serde::Serialize;

use super::terraform::{CONFLUENT, KAFKA, Output, TfProject, Variable};
use super::{AssetError, GeneratedFile, LeftOut, Request, TargetType, hcl, render, select_topics};
use crate::report::plan::CONFLUENT_CLOUD_TOPIC_CONFIGS;
use crate::state::KafkaCluster;
use crate::topic_config;

#[derive(Debug, Serialize)]
struct TopicEntry {
    name: String,
    partitions: usize,
    replication_factor: u16,
    config: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct Context<'a> {
    source: &'a str,
    topics: Vec<TopicEntry>,
}

pub(crate) fn generate(
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<(Vec<GeneratedFile>, Vec<LeftOut>), AssetError> {
    let (selected, mut left_out) = select_topics(cluster, req)?;
    let allow =
        (req.target_type == TargetType::ConfluentCloud).then_some(CONFLUENT_CLOUD_TOPIC_CONFIGS);
    let mut topics = Vec::with_capacity(selected.len());
    for (name, topic) in selected {
        let mut config = BTreeMap::new();
        for (key, value) in topic_config::to_carry(topic) {
            match topic_config::rejection(&key, allow) {
                Some(reason) => left_out.push(LeftOut {
                    subject: format!("topic {name}: config {key}={value}"),
                    reason: reason.to_owned(),
                }),
                None => {
                    config.insert(key, value);
                }
            }
        }
        topics.push(TopicEntry {
            name: name.to_owned(),
            partitions: topic.partitions.len(),
            replication_factor: topic.replication_factor,
            config,
        });
    }
    let context = Context {
        source: &req.source,
        topics,
    };
    let count = context.topics.len();
    let partitions: usize = context.topics.iter().map(|t| t.partitions).sum();
    let mut project = TfProject::new(
        "topics",
        req.target_type.name(),
        &req.source,
        format!("Topics of `{}` for the target", req.source),
    );
    project.about.push(format!(
        "`main.tf` creates {count} topic(s) with {partitions} partition(s) in all, each with the partition count it has on the source, so that kcp's replicator can copy every partition to the partition of the same number. Topics have `prevent_destroy` set: removing one from Terraform does not delete its data."
    ));
    match req.target_type {
        TargetType::ConfluentCloud => {
            project.about.push("Confluent Cloud sets the replication factor itself; only the configs it lets users set are carried (the others are listed under *Left out*).".into());
            project.providers.push(CONFLUENT);
            project.variables = confluent_kafka_variables();
            project.main = render("topics/confluent-cloud.tf.j2", &context)?;
            project.outputs.push(Output::new(
                "topic_ids",
                "{ for name, t in confluent_kafka_topic.this : name => t.id }",
                "The created topics, by name",
            ));
        }
        TargetType::Kafka | TargetType::Msk => {
            project.about.push("The Mongey/kafka provider talks to the target over the Kafka protocol, so this works for any Kafka-compatible target, MSK included. Each topic keeps the source's replication factor unless `replication_factor` is set.".into());
            project.providers.push(KAFKA);
            project.variables = kafka_provider_variables(&cluster.auth_method);
            project.variables.push(Variable::with_default(
                "replication_factor",
                "number",
                "Replication factor for every topic; null keeps each topic's factor from the source",
                "null".into(),
            ));
            project.main = render("topics/kafka.tf.j2", &context)?;
            project.outputs.push(Output::new(
                "topic_names",
                "sort(keys(kafka_topic.this))",
                "The created topics",
            ));
        }
    }
    project.left_out = left_out.clone();
    Ok((project.files()?, left_out))
}

/// Variables of the Confluent provider's cluster-scoped configuration.
pub(crate) fn confluent_kafka_variables() -> Vec<Variable> {
    vec![
        Variable::required(
            "kafka_cluster_id",
            "string",
            "Id of the target Confluent Cloud Kafka cluster (lkc-...)",
            hcl::quote("lkc-abc123"),
        ),
        Variable::required(
            "kafka_rest_endpoint",
            "string",
            "REST endpoint of the target cluster",
            hcl::quote("https://pkc-abc123.us-east-1.aws.confluent.cloud:443"),
        ),
        Variable::secret(
            "kafka_api_key",
            "Kafka API key with rights to manage the cluster",
        ),
        Variable::secret("kafka_api_secret", "Secret of the Kafka API key"),
    ]
}

/// Variables of the Mongey/kafka provider, defaults mirroring the source's
/// authentication method (the usual choice for the new cluster).
pub(crate) fn kafka_provider_variables(source_auth: &str) -> Vec<Variable> {
    let (tls, mechanism) = match source_auth {
        "plaintext" => (false, "plain"),
        "tls" | "mtls" => (true, "plain"),
        "sasl_plain" => (true, "plain"),
        "msk_iam" => (true, "aws-iam"),
        _ => (true, "scram-sha512"),
    };
    vec![
        Variable::required(
            "bootstrap_servers",
            "list(string)",
            "Bootstrap servers of the target cluster",
            "[\"broker-1.example.com:9092\"]".into(),
        ),
        Variable::with_default(
            "tls_enabled",
            "bool",
            "Connect to the target over TLS",
            tls.to_string(),
        ),
        Variable::with_default(
            "sasl_mechanism",
            "string",
            "SASL mechanism: plain, scram-sha256, scram-sha512 or aws-iam",
            hcl::quote(mechanism),
        ),
        Variable::with_default(
            "sasl_username",
            "string",
            "SASL user name (null for no SASL)",
            "null".into(),
        ),
        Variable {
            default: Some("null".into()),
            ..Variable::secret("sasl_password", "SASL password (null for no SASL)")
        },
    ]
}
