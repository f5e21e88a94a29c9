//! `create-asset target-infra`: the target cluster, sized from what the scan
//! and discovery measured.
//!
//! The sizing rules are assumptions written down here and in the generated
//! README with the figures they were fed, so a reader can check them:
//! throughput is the busiest day's average from CloudWatch (or the scan's
//! message rates times the record size) with 2× headroom; disk keeps 40 %
//! free; per-broker and per-unit limits come from the tables below.

use std::collections::BTreeMap;

use serde::Serialize;

use super::terraform::{AWS, CONFLUENT, Output, TfProject, Variable};
use super::{AssetError, GeneratedFile, LeftOut, Request, TargetType, hcl, render, select_topics};
use crate::report::plan::{msk_bytes_per_record, msk_cluster};
use crate::state::{KafkaCluster, MskCluster, State};

/// Throughput headroom over the busiest day's average.
const HEADROOM: f64 = 2.0;
/// Fraction of a broker's disk to fill.
const DISK_FILL: f64 = 0.6;
const MB: f64 = 1e6;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Confluent Cloud capacity per (e)CKU as Confluent publishes it for
/// planning: ingress and egress MB/s, and partitions (pre-replication) for
/// elastic (Standard) and Dedicated clusters. Check the current figures.
const CC_INGRESS_PER_UNIT: f64 = 60.0;
const CC_EGRESS_PER_UNIT: f64 = 180.0;
const CC_PARTITIONS_PER_ECKU: f64 = 3_000.0;
const CC_PARTITIONS_PER_CKU: f64 = 4_500.0;
/// Largest Standard cluster kcp proposes before switching to Dedicated.
const CC_STANDARD_MAX_ECKU: f64 = 10.0;

/// MSK broker types: name, baseline network Gbit/s, partitions per broker
/// (replicas included) as AWS recommends.
const MSK_BROKERS: &[(&str, f64, f64)] = &[
    ("kafka.m5.large", 0.75, 1_000.0),
    ("kafka.m5.xlarge", 1.25, 1_000.0),
    ("kafka.m5.2xlarge", 2.5, 2_000.0),
    ("kafka.m5.4xlarge", 5.0, 4_000.0),
    ("kafka.m5.8xlarge", 10.0, 4_000.0),
    ("kafka.m5.12xlarge", 12.0, 4_000.0),
    ("kafka.m5.16xlarge", 20.0, 4_000.0),
    ("kafka.m5.24xlarge", 25.0, 4_000.0),
];
/// Most brokers kcp proposes before moving to a bigger broker type.
const MSK_MAX_BROKERS: f64 = 12.0;

/// What the source does, as far as the state tells.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Workload {
    pub topics: usize,
    pub partitions: usize,
    pub replication_factor: u16,
    pub ingress_mbps: f64,
    pub egress_mbps: f64,
    pub stored_bytes: f64,
    /// Where the throughput figures come from.
    pub basis: String,
}

/// Estimates the workload of the selected topics.
pub(crate) fn workload(
    state: &State,
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<Workload, AssetError> {
    let (selected, _) = select_topics(cluster, req)?;
    let partitions = selected.iter().map(|(_, t)| t.partitions.len()).sum();
    let replication_factor = selected
        .iter()
        .map(|(_, t)| t.replication_factor)
        .max()
        .unwrap_or(3)
        .max(1);
    let records: i64 = selected
        .iter()
        .flat_map(|(_, t)| &t.partitions)
        .filter_map(|p| Some(p.latest_offset? - p.earliest_offset?))
        .sum();
    let sized: u64 = selected
        .iter()
        .flat_map(|(_, t)| &t.partitions)
        .filter_map(|p| p.size_bytes)
        .sum();
    let msk = msk_cluster(state, cluster);
    let bytes_per_record = if sized > 0 && records > 0 {
        sized as f64 / records as f64
    } else {
        msk_bytes_per_record(state, cluster).unwrap_or(1024.0)
    };
    let stored_bytes = if sized > 0 {
        sized as f64
    } else {
        records as f64 * bytes_per_record
    };
    let busiest = |metric: &str| {
        msk.and_then(|m| {
            m.metrics
                .iter()
                .find(|s| s.metric == metric && s.topic.is_none())
                .and_then(|s| s.points.iter().map(|p| p.v).reduce(f64::max))
        })
    };
    let (ingress_mbps, egress_mbps, basis) = match (busiest("BytesInPerSec"), busiest("BytesOutPerSec")) {
        (Some(i), o) => (
            i / MB,
            o.unwrap_or(i) / MB,
            "the busiest day's average BytesInPerSec and BytesOutPerSec of the whole cluster in CloudWatch".to_owned(),
        ),
        (None, _) => {
            let rate: f64 = selected
                .iter()
                .map(|(_, t)| t.rate.map_or(0.0, |r| r.messages_per_sec))
                .sum();
            let ingress = rate * bytes_per_record / MB;
            // Each consumer group reading a topic reads its bytes once.
            let mut readers: BTreeMap<&str, usize> = BTreeMap::new();
            for g in cluster.consumer_groups.values() {
                let topics: std::collections::BTreeSet<&str> =
                    g.offsets.iter().map(|o| o.topic.as_str()).collect();
                for t in topics {
                    *readers.entry(t).or_default() += 1;
                }
            }
            let egress: f64 = selected
                .iter()
                .map(|(name, t)| {
                    t.rate.map_or(0.0, |r| r.messages_per_sec)
                        * bytes_per_record
                        * readers.get(name).copied().unwrap_or(1).max(1) as f64
                })
                .sum::<f64>()
                / MB;
            (
                ingress,
                egress,
                format!(
                    "the scan's message rates × {bytes_per_record:.0} bytes per record; egress counts one read per consumer group"
                ),
            )
        }
    };
    Ok(Workload {
        topics: selected.len(),
        partitions,
        replication_factor,
        ingress_mbps,
        egress_mbps,
        stored_bytes,
        basis,
    })
}

/// The AWS region of an MSK cluster ARN.
fn region_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// A Confluent Cloud cluster choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CcSize {
    /// `standard` or `dedicated`.
    pub cluster_type: &'static str,
    /// CKUs for Dedicated; the expected eCKUs for Standard.
    pub units: u32,
}

pub(crate) fn size_confluent(w: &Workload) -> CcSize {
    let need = |partitions_per_unit: f64| {
        (w.ingress_mbps * HEADROOM / CC_INGRESS_PER_UNIT)
            .max(w.egress_mbps * HEADROOM / CC_EGRESS_PER_UNIT)
            .max(w.partitions as f64 / partitions_per_unit)
            .ceil()
            .max(1.0)
    };
    let ecku = need(CC_PARTITIONS_PER_ECKU);
    if ecku <= CC_STANDARD_MAX_ECKU {
        CcSize {
            cluster_type: "standard",
            units: ecku as u32,
        }
    } else {
        CcSize {
            cluster_type: "dedicated",
            // Multi-zone Dedicated clusters need at least 2 CKUs.
            units: need(CC_PARTITIONS_PER_CKU).max(2.0) as u32,
        }
    }
}

/// An MSK cluster choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MskSize {
    pub instance_type: &'static str,
    pub brokers: u32,
    pub volume_gb: u32,
}

pub(crate) fn size_msk(w: &Workload, zones: u32) -> MskSize {
    let zones = zones.max(1) as f64;
    let rf = f64::from(w.replication_factor);
    let fanout = if w.ingress_mbps > 0.0 {
        w.egress_mbps / w.ingress_mbps
    } else {
        1.0
    };
    let round_up = |n: f64| ((n.max(3.0) / zones).ceil() * zones).max(3.0);
    let pick = |&(name, gbps, partitions): &(&'static str, f64, f64)| {
        // Half the baseline network for what a broker sends: replication to
        // its followers and reads by consumers.
        let per_broker_mbps = gbps * 1e9 / 8.0 / MB * 0.5 / ((rf - 1.0) + fanout).max(1.0);
        let for_throughput = w.ingress_mbps * HEADROOM / per_broker_mbps;
        let for_partitions = w.partitions as f64 * rf / partitions;
        (name, round_up(for_throughput.max(for_partitions)))
    };
    let (instance_type, brokers) = MSK_BROKERS
        .iter()
        .map(pick)
        .find(|(_, brokers)| *brokers <= MSK_MAX_BROKERS)
        .unwrap_or_else(|| pick(MSK_BROKERS.last().expect("table is not empty")));
    let per_broker = w.stored_bytes * rf / brokers / DISK_FILL / GIB;
    MskSize {
        instance_type,
        brokers: brokers as u32,
        volume_gb: (per_broker.ceil() as u32).max(100),
    }
}

/// What the `target-infra` templates read.
#[derive(Debug, Default, Serialize)]
struct Context {
    source: String,
    cluster_type: &'static str,
    // msk
    scram: bool,
    iam: bool,
    tls: bool,
    unauthenticated: bool,
    server_properties: Vec<String>,
}

/// The facts every target type's project is built from.
struct Target<'a> {
    workload: Workload,
    msk: Option<&'a MskCluster>,
    /// The source's AWS region, when it is an MSK cluster.
    region: Option<&'a str>,
    /// The target cluster's name.
    name: String,
    /// The README sentence giving the figures the sizing was fed.
    measured: String,
}

pub(crate) fn generate(
    state: &State,
    cluster: &KafkaCluster,
    req: &Request,
) -> Result<(Vec<GeneratedFile>, Vec<LeftOut>), AssetError> {
    let workload = workload(state, cluster, req)?;
    let target = Target {
        measured: measured(&workload),
        workload,
        msk: msk_cluster(state, cluster),
        region: cluster.msk_arn.as_deref().and_then(region_of),
        name: req.target_name(),
    };
    let mut left_out = Vec::new();
    let mut project = TfProject::new(
        "target-infra",
        req.target_type.name(),
        &req.source,
        format!("Target cluster `{}` for `{}`", target.name, req.source),
    );
    let context = Context {
        source: req.source.clone(),
        ..Context::default()
    };
    match req.target_type {
        TargetType::ConfluentCloud => confluent_cloud(&mut project, &target, context)?,
        TargetType::Msk => msk(&mut project, &target, cluster, context, &mut left_out)?,
        TargetType::Kafka => {
            return Err(AssetError::Unsupported {
                kind: "target-infra",
                target: "kafka",
                why: "a generic Kafka target has no provisioning API; use `--target-type msk` or `confluent-cloud`, or create the cluster yourself and generate `topics` and `acls` for it",
            });
        }
    }
    project.left_out = left_out.clone();
    Ok((project.files()?, left_out))
}

/// The README sentence giving the figures the sizing was fed.
fn measured(w: &Workload) -> String {
    format!(
        "Sized for {} topic(s) with {} partition(s) (replication factor {}), {:.2} MB/s in and {:.2} MB/s out ({}), and {:.1} GB stored.",
        w.topics,
        w.partitions,
        w.replication_factor,
        w.ingress_mbps,
        w.egress_mbps,
        w.basis,
        w.stored_bytes / 1e9
    )
}

/// A Confluent Cloud project: an environment, a sized cluster and a service
/// account with an API key for kcp.
fn confluent_cloud(
    project: &mut TfProject,
    target: &Target<'_>,
    mut context: Context,
) -> Result<(), AssetError> {
    let size = size_confluent(&target.workload);
    let dedicated = size.cluster_type == "dedicated";
    context.cluster_type = size.cluster_type;
    project.about.push(format!(
        "`main.tf` creates an environment, a {} Kafka cluster, and a service account with CloudClusterAdmin on it and an API key, for kcp to create topics and ACLs and to replicate. The environment and cluster have `prevent_destroy` set.",
        size.cluster_type
    ));
    project.about.push(format!(
        "{} kcp assumes {CC_INGRESS_PER_UNIT} MB/s in, {CC_EGRESS_PER_UNIT} MB/s out and {CC_PARTITIONS_PER_ECKU} (Standard) or {CC_PARTITIONS_PER_CKU} (Dedicated) partitions per unit, with {HEADROOM}× headroom on throughput: that needs {} {}. Check the figures against Confluent's current cluster limits.",
        target.measured,
        size.units,
        if dedicated { "CKU(s)" } else { "eCKU(s), within a Standard cluster's elastic range" }
    ));
    project.providers.push(CONFLUENT);
    project.variables = confluent_variables(target, &size);
    project.main = render("target-infra/confluent-cloud.tf.j2", &context)?;
    project.outputs = confluent_outputs();
    Ok(())
}

/// The variables of a Confluent Cloud project (`cku` for Dedicated only).
fn confluent_variables(target: &Target<'_>, size: &CcSize) -> Vec<Variable> {
    let mut variables = cloud_api_key_variables("Cloud API key (organization admin)").to_vec();
    variables.extend([
        Variable::with_default(
            "environment_name",
            "string",
            "Display name of the new environment",
            hcl::quote(&format!("{}-env", target.name)),
        ),
        Variable::with_default(
            "cluster_name",
            "string",
            "Display name of the new cluster",
            hcl::quote(&target.name),
        ),
        Variable::with_default(
            "cloud",
            "string",
            "Cloud provider: AWS, GCP or AZURE",
            hcl::quote("AWS"),
        ),
        region_variable(target.region, "Cloud region"),
        Variable::with_default(
            "availability",
            "string",
            "SINGLE_ZONE or MULTI_ZONE",
            hcl::quote("MULTI_ZONE"),
        ),
    ]);
    if size.cluster_type == "dedicated" {
        variables.push(Variable::with_default(
            "cku",
            "number",
            "CKUs of the Dedicated cluster",
            size.units.to_string(),
        ));
    }
    variables
}

/// The Cloud API key variables of a Confluent Cloud project; `key` describes
/// the key (what it must be allowed to do).
pub(super) fn cloud_api_key_variables(key: &str) -> [Variable; 2] {
    [
        Variable::secret("confluent_cloud_api_key", key),
        Variable::secret("confluent_cloud_api_secret", "Secret of the Cloud API key"),
    ]
}

/// The outputs of a Confluent Cloud project: ids, endpoints, kcp's API key.
fn confluent_outputs() -> Vec<Output> {
    vec![
        Output::new(
            "environment_id",
            "confluent_environment.this.id",
            "Id of the environment",
        ),
        Output::new(
            "kafka_cluster_id",
            "confluent_kafka_cluster.this.id",
            "Id of the Kafka cluster (lkc-...)",
        ),
        Output::new(
            "bootstrap_endpoint",
            "confluent_kafka_cluster.this.bootstrap_endpoint",
            "Bootstrap servers for clients and kcp",
        ),
        Output::new(
            "rest_endpoint",
            "confluent_kafka_cluster.this.rest_endpoint",
            "REST endpoint (for the topics and acls assets)",
        ),
        Output::new(
            "kcp_api_key",
            "confluent_api_key.kcp.id",
            "Kafka API key of the kcp service account",
        ),
        Output {
            sensitive: true,
            ..Output::new(
                "kcp_api_secret",
                "confluent_api_key.kcp.secret",
                "Secret of that API key (`terraform output -raw kcp_api_secret`)",
            )
        },
    ]
}

/// An MSK project: a sized cluster, a configuration carrying the source's
/// server properties, authentication mirroring the source.
fn msk(
    project: &mut TfProject,
    target: &Target<'_>,
    cluster: &KafkaCluster,
    mut context: Context,
    left_out: &mut Vec<LeftOut>,
) -> Result<(), AssetError> {
    let msk = target.msk;
    let zones = msk.map_or(3, |m| m.availability_zones.len().max(1) as u32);
    let size = size_msk(&target.workload, if zones == 2 { 2 } else { 3 });
    mirror_auth(&mut context, msk, &cluster.auth_method, left_out);
    context.server_properties = server_properties(msk, &context);
    let version = msk
        .and_then(|m| m.kafka_version.clone())
        .or_else(|| cluster.kafka_version.clone())
        .unwrap_or_else(|| "3.7.x".into());
    project.about.extend(msk_about(target, &size, &context));
    project.providers.push(AWS);
    project.variables = msk_variables(target, &size, &version, &context);
    project.main = render("target-infra/msk.tf.j2", &context)?;
    project.outputs = msk_outputs();
    Ok(())
}

/// Authentication mirroring the source: the MSK cluster's, else the scanned
/// auth method's nearest MSK equivalent (SASL/PLAIN becomes SCRAM, said in
/// `left_out`).
fn mirror_auth(
    context: &mut Context,
    msk: Option<&MskCluster>,
    auth_method: &str,
    left_out: &mut Vec<LeftOut>,
) {
    match msk {
        Some(m) => {
            context.scram = m.auth.sasl_scram;
            context.iam = m.auth.iam;
            context.tls = m.auth.tls;
            context.unauthenticated = m.auth.unauthenticated;
        }
        None => match auth_method {
            "plaintext" => context.unauthenticated = true,
            "tls" => context.unauthenticated = true,
            "mtls" => context.tls = true,
            "msk_iam" => context.iam = true,
            "sasl_plain" => {
                context.scram = true;
                left_out.push(LeftOut {
                    subject: "SASL/PLAIN authentication".into(),
                    reason: "MSK does not offer SASL/PLAIN; the cluster uses SASL/SCRAM instead (clients change mechanism)".into(),
                });
            }
            _ => context.scram = true,
        },
    }
}

/// The MSK configuration's `key=value` lines: the source's server
/// properties, with safe defaults where the source sets none.
fn server_properties(msk: Option<&MskCluster>, context: &Context) -> Vec<String> {
    let mut props: BTreeMap<String, String> =
        msk.map(|m| m.server_properties.clone()).unwrap_or_default();
    for (k, v) in [
        ("auto.create.topics.enable", "false"),
        ("default.replication.factor", "3"),
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "false"),
    ] {
        props.entry(k.to_owned()).or_insert_with(|| v.to_owned());
    }
    if context.scram || context.tls {
        props
            .entry("allow.everyone.if.no.acl.found".into())
            .or_insert_with(|| "false".into());
    }
    props.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The README paragraphs of an MSK project: what it creates and how it was sized.
fn msk_about(target: &Target<'_>, size: &MskSize, context: &Context) -> Vec<String> {
    let auth = [
        ("SASL/SCRAM", context.scram),
        ("IAM", context.iam),
        ("mTLS", context.tls),
        ("unauthenticated", context.unauthenticated),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(n, _)| *n)
    .collect::<Vec<_>>()
    .join(", ");
    let mut about = vec![
        format!(
            "`main.tf` creates an MSK cluster of {} × {} brokers with {} GiB of storage each, an MSK configuration carrying the source's server properties, and authentication mirroring the source ({auth}).",
            size.brokers, size.instance_type, size.volume_gb,
        ),
        format!(
            "{} kcp gives each broker half its baseline network for replication and consumer reads, at most the partitions AWS recommends per broker type (replicas included), {HEADROOM}× headroom on throughput and {:.0} % free disk, and picks the smallest broker type that needs at most {MSK_MAX_BROKERS} brokers.{}",
            target.measured,
            (1.0 - DISK_FILL) * 100.0,
            target.msk.map_or(String::new(), |m| format!(
                " The source runs {} × {} with {} GiB each.",
                m.broker_count.map_or("?".into(), |b| b.to_string()),
                m.instance_type.as_deref().unwrap_or("?"),
                m.storage_gb_per_broker
                    .map_or("?".into(), |g| g.to_string())
            ))
        ),
    ];
    if context.scram {
        about.push("SASL/SCRAM users live in AWS Secrets Manager (secret names starting with `AmazonMSK_`, encrypted with a customer managed KMS key); list their ARNs in `scram_secret_arns` to associate them.".into());
    }
    about
}

/// The variables of an MSK project (CA and SCRAM secrets when those are on).
fn msk_variables(
    target: &Target<'_>,
    size: &MskSize,
    version: &str,
    context: &Context,
) -> Vec<Variable> {
    let tags = target.msk.map(|m| m.tags.clone()).unwrap_or_default();
    let mut variables = vec![
        region_variable(target.region, "AWS region"),
        Variable::with_default("cluster_name", "string", "Name of the MSK cluster", hcl::quote(&target.name)),
        Variable::with_default("kafka_version", "string", "Apache Kafka version (the source's)", hcl::quote(version)),
        Variable::with_default("instance_type", "string", "Broker instance type (sized from the source)", hcl::quote(size.instance_type)),
        Variable::with_default("broker_count", "number", "Number of brokers, a multiple of the number of subnets", size.brokers.to_string()),
        Variable::with_default("volume_size_gb", "number", "EBS volume per broker, GiB", size.volume_gb.to_string()),
        Variable::required("client_subnets", "list(string)", "One subnet per availability zone", "[\"subnet-0123456789abcdef0\", \"subnet-0123456789abcdef1\", \"subnet-0123456789abcdef2\"]".into()),
        Variable::required("security_group_ids", "list(string)", "Security groups of the brokers", "[\"sg-0123456789abcdef0\"]".into()),
        Variable::with_default("tags", "map(string)", "Tags of the cluster (the source's)", hcl_map(&tags)),
    ];
    if context.tls {
        variables.push(Variable::with_default(
            "certificate_authority_arns",
            "list(string)",
            "ACM Private CA ARNs trusted for mTLS clients",
            "[]".into(),
        ));
    }
    if context.scram {
        variables.push(Variable::with_default(
            "scram_secret_arns",
            "list(string)",
            "Secrets Manager ARNs of the SASL/SCRAM users",
            "[]".into(),
        ));
    }
    variables
}

/// The outputs of an MSK project: the ARN and the bootstrap servers.
fn msk_outputs() -> Vec<Output> {
    vec![
        Output::new(
            "cluster_arn",
            "aws_msk_cluster.this.arn",
            "ARN of the MSK cluster",
        ),
        Output::new(
            "bootstrap_brokers_sasl_scram",
            "aws_msk_cluster.this.bootstrap_brokers_sasl_scram",
            "Bootstrap servers for SASL/SCRAM",
        ),
        Output::new(
            "bootstrap_brokers_sasl_iam",
            "aws_msk_cluster.this.bootstrap_brokers_sasl_iam",
            "Bootstrap servers for IAM",
        ),
        Output::new(
            "bootstrap_brokers_tls",
            "aws_msk_cluster.this.bootstrap_brokers_tls",
            "Bootstrap servers for TLS",
        ),
    ]
}

/// The `region` variable: the source's region as default when known.
fn region_variable(region: Option<&str>, description: &str) -> Variable {
    match region {
        Some(r) => Variable::with_default(
            "region",
            "string",
            &format!("{description} (the source's region)"),
            hcl::quote(r),
        ),
        None => Variable::required("region", "string", description, hcl::quote("us-east-1")),
    }
}

/// A one-line HCL object from a string map.
fn hcl_map(m: &BTreeMap<String, String>) -> String {
    if m.is_empty() {
        return "{}".into();
    }
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{} = {}", hcl::quote(k), hcl::quote(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(ingress: f64, egress: f64, partitions: usize, stored_gb: f64) -> Workload {
        Workload {
            topics: 1,
            partitions,
            replication_factor: 3,
            ingress_mbps: ingress,
            egress_mbps: egress,
            stored_bytes: stored_gb * 1e9,
            basis: String::new(),
        }
    }

    #[test]
    fn confluent_sizes_grow_with_the_workload() {
        assert_eq!(
            size_confluent(&w(1.0, 2.0, 100, 1.0)),
            CcSize {
                cluster_type: "standard",
                units: 1
            }
        );
        assert_eq!(size_confluent(&w(100.0, 150.0, 500, 1.0)).units, 4);
        let big = size_confluent(&w(400.0, 1200.0, 20_000, 1.0));
        assert_eq!(big.cluster_type, "dedicated");
        assert_eq!(big.units, 14);
    }

    #[test]
    fn msk_picks_the_smallest_type_that_fits() {
        let small = size_msk(&w(1.0, 2.0, 100, 10.0), 3);
        assert_eq!(
            small,
            MskSize {
                instance_type: "kafka.m5.large",
                brokers: 3,
                volume_gb: 100
            }
        );
        // 5,000 partitions × RF 3 over m5.large's 1,000 each → 15 brokers,
        // too many: the next type with 2,000 each needs 8 → 9 (3 zones).
        let many = size_msk(&w(1.0, 2.0, 5_000, 10.0), 3);
        assert_eq!((many.instance_type, many.brokers), ("kafka.m5.2xlarge", 9));
        let disk = size_msk(&w(1.0, 1.0, 10, 2_000.0), 3);
        assert_eq!(
            disk.volume_gb,
            (2_000e9 * 3.0 / 3.0 / 0.6 / GIB).ceil() as u32
        );
    }
}
