//! `kcp discover`: the AWS MSK inventory of one or more regions, with
//! CloudWatch metrics, Cost Explorer costs, MSK Connect connectors and AWS
//! Glue schema registries ([`platform`]), merged into the state.
//!
//! [`discover`] talks to AWS (through [`aws`]) and returns per-region
//! results; [`merge`] folds them into the state (pure: clusters deleted since
//! the last run go, user-owned `notes` stay); [`template`] writes the
//! credentials-file template for `kcp scan`. A call that is denied or not
//! implemented becomes a [`Warning`] on the cluster (or region) and the run
//! goes on; the command then exits 3.

pub(crate) mod aws;
pub(crate) mod metrics;
pub mod platform;
pub(crate) mod template;

use crate::exit::{Diagnostic, ExitStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::Semaphore;

use self::aws::RegionClients;
use self::metrics::{MetricQuery, cli_command, fetch, shell_word, sum_series};
use crate::state::{
    CostData, MetricPoint, MetricSeries, MskAuth, MskCluster, MskClusterType, MskConfigurationRef,
    State, Warning,
};

/// Cost Explorer services: MSK and the services an MSK bill spills into.
pub const COST_SERVICES: &[&str] = &[
    "Amazon Managed Streaming for Apache Kafka",
    "EC2 - Other",
    "Amazon Elastic Load Balancing",
    "Amazon Virtual Private Cloud",
    "AWS Certificate Manager",
];

/// The five Cost Explorer cost metrics.
pub const COST_METRICS: &[&str] = &[
    "AmortizedCost",
    "BlendedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "UnblendedCost",
];

/// What to discover.
#[derive(Debug, Clone)]
pub struct Request {
    /// Regions to list every cluster of.
    pub regions: Vec<String>,
    /// Only these clusters (their regions are taken from the ARNs).
    pub cluster_arns: Vec<String>,
    pub skip_metrics: bool,
    pub skip_costs: bool,
    /// Metric period, seconds.
    pub period: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub profile: Option<String>,
    /// Clusters discovered at once, per region.
    pub concurrency: usize,
}

impl Request {
    /// Regions to visit: the given ones plus those of the given ARNs.
    pub fn all_regions(&self) -> Vec<String> {
        let mut set: BTreeSet<String> = self.regions.iter().cloned().collect();
        set.extend(
            self.cluster_arns
                .iter()
                .filter_map(|a| region_of(a).map(str::to_owned)),
        );
        set.into_iter().collect()
    }
}

/// The region of an ARN (`arn:aws:kafka:<region>:...`).
pub fn region_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// Problems that stop discovery before it starts.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("nothing to discover: give --region or --cluster-arn")]
    NoRegion,
    #[error(
        "`{arn}` is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<id>)"
    )]
    BadArn { arn: String },
    #[error("--start {start} must be before --end {end}")]
    EmptyWindow { start: NaiveDate, end: NaiveDate },
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
}

impl Diagnostic for DiscoverError {
    fn status(&self) -> ExitStatus {
        match self {
            DiscoverError::NoCredentials(_) => ExitStatus::Failure,
            _ => ExitStatus::BadInput,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            DiscoverError::NoRegion => "for example: kcp discover --region us-east-1".into(),
            DiscoverError::BadArn { .. } => "copy the ARN from `aws kafka list-clusters-v2`".into(),
            DiscoverError::EmptyWindow { .. } => {
                "dates are YYYY-MM-DD, UTC; --end is exclusive".into()
            }
            DiscoverError::NoCredentials(_) => "sign in (`aws sso login`), pass --profile NAME, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; `kcp discover --print-iam-policy` shows the permissions needed".into(),
        })
    }
}

/// Checks a request before any call is made.
pub fn check(req: &Request) -> Result<(), DiscoverError> {
    for arn in &req.cluster_arns {
        if !arn.starts_with("arn:")
            || !arn.contains(":kafka:")
            || !arn.contains(":cluster/")
            || region_of(arn).is_none()
        {
            return Err(DiscoverError::BadArn { arn: arn.clone() });
        }
    }
    if req.all_regions().is_empty() {
        return Err(DiscoverError::NoRegion);
    }
    if req.start >= req.end {
        return Err(DiscoverError::EmptyWindow {
            start: req.start.date_naive(),
            end: req.end.date_naive(),
        });
    }
    Ok(())
}

/// Reports progress per region.
pub trait Progress: Sync {
    fn step(&self, region: &str, message: &str);
}

/// What one region gave.
#[derive(Debug, Clone)]
pub struct RegionResult {
    pub region: String,
    pub clusters: Vec<MskCluster>,
    /// Every cluster of the region was listed (so missing ones were deleted).
    pub listed_all: bool,
    pub costs: Option<CostData>,
    /// MSK Connect connectors and Glue registries of the region.
    pub platform: platform::Platform,
    pub warnings: Vec<Warning>,
    pub calls: usize,
}

impl RegionResult {
    /// Every warning of the region: its own, its clusters' and its Glue
    /// registries'.
    pub fn all_warnings(&self) -> impl Iterator<Item = &Warning> {
        let registries = self
            .platform
            .glue_registries
            .iter()
            .flat_map(|r| r.values());
        self.warnings
            .iter()
            .chain(self.clusters.iter().flat_map(|c| &c.warnings))
            .chain(registries.flat_map(|r| &r.warnings))
    }
}

/// Resolves credentials once, before any call, so a missing identity is one
/// clear error instead of a warning on every call.
pub async fn check_credentials(req: &Request) -> Result<(), DiscoverError> {
    let region = req
        .all_regions()
        .into_iter()
        .next()
        .ok_or(DiscoverError::NoRegion)?;
    aws::resolve_credentials(&region, req.profile.as_deref())
        .await
        .map_err(DiscoverError::NoCredentials)
}

/// Discovers every requested region, regions concurrently.
pub async fn discover(req: &Request, progress: &dyn Progress) -> Vec<RegionResult> {
    let regions = req.all_regions();
    // Regions run concurrently; each bounds its own cluster concurrency.
    join_all(
        regions
            .iter()
            .map(|region| discover_region(req, region, progress)),
    )
    .await
}

async fn discover_region(req: &Request, region: &str, progress: &dyn Progress) -> RegionResult {
    progress.step(region, "connecting");
    let clients = Arc::new(RegionClients::new(region, req.profile.as_deref()).await);
    let mut warnings = Vec::new();
    let wanted: Vec<&String> = req
        .cluster_arns
        .iter()
        .filter(|a| region_of(a) == Some(region))
        .collect();
    let explicit_only = !req.cluster_arns.is_empty() && !req.regions.iter().any(|r| r == region);
    progress.step(region, "listing clusters");
    let (infos, listed_all) = if explicit_only {
        let mut infos = Vec::new();
        for arn in &wanted {
            match clients.describe_cluster(arn).await {
                Ok(c) => infos.push(c),
                Err(w) => warnings.push(w),
            }
        }
        (infos, false)
    } else {
        match clients.list_clusters().await {
            Ok(list) => (list, true),
            Err(w) => {
                warnings.push(w);
                (Vec::new(), false)
            }
        }
    };
    progress.step(region, "MSK Connect connectors, Glue schema registries");
    let platform = platform::Platform {
        msk_connectors: platform::connectors(&clients, &mut warnings).await,
        glue_registries: platform::glue_registries(&clients, &mut warnings).await,
    };
    let configurations = match clients.configurations().await {
        Ok(c) => c,
        Err(w) => {
            warnings.push(w);
            Vec::new()
        }
    };
    let total = infos.len();
    progress.step(region, &format!("0/{total} clusters"));
    let semaphore = Semaphore::new(req.concurrency.max(1));
    let done = std::sync::atomic::AtomicUsize::new(0);
    let clusters = join_all(infos.iter().map(|info| {
        let (clients, semaphore, done, configurations) =
            (&clients, &semaphore, &done, &configurations);
        async move {
            let _permit = semaphore
                .acquire()
                .await
                .expect("semaphore is never closed");
            let cluster = discover_cluster(req, clients, info, configurations).await;
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress.step(region, &format!("{n}/{total} clusters"));
            cluster
        }
    }))
    .await;
    let costs = if req.skip_costs {
        None
    } else {
        progress.step(region, "costs");
        let (start, end) = (req.start.date_naive(), req.end.date_naive());
        match clients.costs(start, end).await {
            Ok(rows) => Some(CostData {
                start,
                end,
                granularity: "DAILY".into(),
                rows,
                query: cost_command(region, start, end),
            }),
            Err(w) => {
                warnings.push(w);
                None
            }
        }
    };
    RegionResult {
        region: region.to_owned(),
        clusters,
        listed_all,
        costs,
        platform,
        warnings,
        calls: clients.calls.load(Ordering::Relaxed),
    }
}

/// Everything about one cluster; failed calls become warnings on it.
async fn discover_cluster(
    req: &Request,
    clients: &RegionClients,
    info: &aws_sdk_kafka::types::Cluster,
    configurations: &[(String, String, Option<i64>)],
) -> MskCluster {
    let mut c = from_cluster_info(info);
    let arn = c.arn.clone();
    let mut warns: Vec<Warning> = Vec::new();
    let mut warn = |w: Warning| warns.push(w);
    let (bootstrap, nodes, scram, vpc, ops, policy, versions) = tokio::join!(
        clients.bootstrap_brokers(&arn),
        clients.nodes(&arn),
        clients.scram_secrets(&arn),
        clients.client_vpc_connections(&arn),
        clients.operations(&arn),
        clients.cluster_policy(&arn),
        clients.compatible_versions(&arn),
    );
    let mut bootstrap_servers = BTreeMap::new();
    let mut node_list = Vec::new();
    let mut scram_secrets = Vec::new();
    let mut vpc_connections = Vec::new();
    let mut operations = Vec::new();
    let mut iam_policies = Vec::new();
    let mut compatible = Vec::new();
    match bootstrap {
        Ok(b) => bootstrap_servers.extend(b),
        Err(w) => warn(w),
    }
    match nodes {
        Ok(n) => node_list = n,
        Err(w) => warn(w),
    }
    if c.cluster_type == MskClusterType::Provisioned {
        match scram {
            Ok(s) => scram_secrets = s,
            Err(w) => warn(w),
        }
    }
    match vpc {
        Ok(v) => vpc_connections = v,
        Err(w) => warn(w),
    }
    match ops {
        Ok(o) => operations = o,
        Err(w) => warn(w),
    }
    match policy {
        Ok(p) => iam_policies.extend(p),
        Err(w) => warn(w),
    }
    match versions {
        Ok(v) => compatible = v,
        Err(w) => warn(w),
    }
    if let Some(cfg) = &mut c.configuration {
        if let Some((_, name, latest)) = configurations.iter().find(|(a, _, _)| *a == cfg.arn) {
            cfg.name = Some(name.clone()).filter(|n| !n.is_empty());
            cfg.latest_revision = latest.filter(|l| *l != cfg.revision);
        }
        match clients.server_properties(cfg).await {
            Ok(p) => c.server_properties = p.into_iter().collect(),
            Err(w) => warn(w),
        }
    }
    c.warnings.extend(warns);
    c.bootstrap_servers = bootstrap_servers;
    c.nodes = node_list;
    c.scram_secrets = scram_secrets;
    c.client_vpc_connections = vpc_connections;
    c.operations = operations;
    c.iam_policies = iam_policies;
    c.compatible_kafka_versions = compatible;
    if !req.skip_metrics {
        match cluster_metrics(req, clients, &c).await {
            Ok(m) => c.metrics = m,
            Err(w) => c.warnings.push(w),
        }
    }
    c
}

/// The state's view of a `Cluster` from ListClustersV2/DescribeClusterV2.
pub(crate) fn from_cluster_info(info: &aws_sdk_kafka::types::Cluster) -> MskCluster {
    use aws_sdk_kafka::types::ClusterType;
    let provisioned = info.provisioned();
    let serverless = info.serverless();
    let auth = match (
        provisioned.and_then(|p| p.client_authentication()),
        serverless,
    ) {
        (Some(a), _) => MskAuth {
            iam: a
                .sasl()
                .and_then(|s| s.iam())
                .and_then(|i| i.enabled())
                .unwrap_or(false),
            sasl_scram: a
                .sasl()
                .and_then(|s| s.scram())
                .and_then(|i| i.enabled())
                .unwrap_or(false),
            tls: a.tls().and_then(|t| t.enabled()).unwrap_or(false),
            unauthenticated: a
                .unauthenticated()
                .and_then(|u| u.enabled())
                .unwrap_or(false),
        },
        // Serverless clusters authenticate with IAM only.
        (None, Some(_)) => MskAuth {
            iam: true,
            ..MskAuth::default()
        },
        (None, None) => MskAuth::default(),
    };
    let software = provisioned.and_then(|p| p.current_broker_software_info());
    let group = provisioned.and_then(|p| p.broker_node_group_info());
    MskCluster {
        name: info.cluster_name().unwrap_or_default().to_owned(),
        arn: info.cluster_arn().unwrap_or_default().to_owned(),
        cluster_type: match info.cluster_type() {
            Some(ClusterType::Serverless) => MskClusterType::Serverless,
            _ => MskClusterType::Provisioned,
        },
        state: info
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        created_at: info
            .creation_time()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        kafka_version: software.and_then(|s| s.kafka_version()).map(str::to_owned),
        broker_count: provisioned
            .and_then(|p| p.number_of_broker_nodes())
            .map(|n| n as u32),
        instance_type: group.and_then(|g| g.instance_type()).map(str::to_owned),
        storage_gb_per_broker: group
            .and_then(|g| g.storage_info())
            .and_then(|s| s.ebs_storage_info())
            .and_then(|e| e.volume_size())
            .map(|v| v as u32),
        availability_zones: group.map(|g| g.zone_ids().to_vec()).unwrap_or_default(),
        auth,
        bootstrap_servers: BTreeMap::new(),
        server_properties: BTreeMap::new(),
        tags: info
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        iam_policies: Vec::new(),
        configuration: software.and_then(|s| {
            Some(MskConfigurationRef {
                arn: s
                    .configuration_arn()
                    .filter(|a| a.starts_with("arn:"))?
                    .to_owned(),
                revision: s.configuration_revision()?,
                name: None,
                latest_revision: None,
            })
        }),
        nodes: Vec::new(),
        scram_secrets: Vec::new(),
        client_vpc_connections: Vec::new(),
        operations: Vec::new(),
        compatible_kafka_versions: Vec::new(),
        metrics: Vec::new(),
        warnings: Vec::new(),
        notes: None,
    }
}

/// Cluster-wide metrics (per-broker series summed) or, for serverless
/// clusters, per-topic series.
async fn cluster_metrics(
    req: &Request,
    clients: &RegionClients,
    c: &MskCluster,
) -> Result<Vec<MetricSeries>, Warning> {
    let cluster_dim = ("Cluster Name".to_owned(), c.name.clone());
    // One stored series per group: (metric, topic, stat, unit, queries to sum).
    type Group<'a> = (String, Option<String>, &'a str, &'a str, Vec<MetricQuery>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut next_id = 0;
    let mut query = |metric: &str, stat: &str, dims: Vec<(String, String)>| {
        next_id += 1;
        MetricQuery {
            id: format!("q{next_id}"),
            metric: metric.to_owned(),
            dimensions: dims,
            stat: stat.to_owned(),
            period: req.period,
        }
    };
    match c.cluster_type {
        MskClusterType::Provisioned => {
            let brokers: Vec<u32> = if c.nodes.is_empty() {
                (1..=c.broker_count.unwrap_or(0)).collect()
            } else {
                c.nodes.iter().map(|n| n.broker_id).collect()
            };
            for (metric, stat, unit) in [
                ("BytesInPerSec", "Average", "Bytes/Second"),
                ("BytesOutPerSec", "Average", "Bytes/Second"),
                ("MessagesInPerSec", "Average", "Count/Second"),
                ("PartitionCount", "Maximum", "Count"),
                ("ClientConnectionCount", "Maximum", "Count"),
                ("KafkaDataLogsDiskUsed", "Maximum", "GB"),
                ("RemoteLogSizeBytes", "Average", "Bytes"),
            ] {
                let qs = brokers
                    .iter()
                    .map(|b| {
                        query(
                            metric,
                            stat,
                            vec![cluster_dim.clone(), ("Broker ID".into(), b.to_string())],
                        )
                    })
                    .collect();
                groups.push((metric.to_owned(), None, stat, unit, qs));
            }
            groups.push((
                "GlobalPartitionCount".into(),
                None,
                "Maximum",
                "Count",
                vec![query(
                    "GlobalPartitionCount",
                    "Maximum",
                    vec![cluster_dim.clone()],
                )],
            ));
        }
        MskClusterType::Serverless => {
            for topic in clients.metric_topics(&c.name).await? {
                for (metric, unit) in [
                    ("BytesInPerSec", "Bytes/Second"),
                    ("BytesOutPerSec", "Bytes/Second"),
                    ("MessagesInPerSec", "Count/Second"),
                ] {
                    let q = query(
                        metric,
                        "Average",
                        vec![cluster_dim.clone(), ("Topic".into(), topic.clone())],
                    );
                    groups.push((
                        metric.to_owned(),
                        Some(topic.clone()),
                        "Average",
                        unit,
                        vec![q],
                    ));
                }
            }
        }
    }
    let all: Vec<MetricQuery> = groups.iter().flat_map(|g| g.4.iter().cloned()).collect();
    let (series, _) = fetch(clients, &all, req.start, req.end).await?;
    let volume = f64::from(c.storage_gb_per_broker.unwrap_or(0));
    let mut out = Vec::new();
    for (metric, topic, stat, unit, qs) in groups {
        let mut parts: Vec<Vec<(DateTime<Utc>, f64)>> = qs
            .iter()
            .map(|q| series.get(&q.id).cloned().unwrap_or_default())
            .collect();
        if metric == "KafkaDataLogsDiskUsed" {
            // Percent of each broker's EBS volume → GB used.
            for p in &mut parts {
                for (_, v) in p.iter_mut() {
                    *v = *v / 100.0 * volume;
                }
            }
        }
        let total = sum_series(parts.iter());
        if total.is_empty() {
            continue;
        }
        out.push(MetricSeries {
            metric,
            statistic: stat.to_owned(),
            period_seconds: req.period,
            unit: unit.to_owned(),
            topic,
            points: total
                .into_iter()
                .map(|(t, v)| MetricPoint {
                    t,
                    v: (v * 1000.0).round() / 1000.0,
                })
                .collect(),
            query: cli_command(&clients.region, &qs, req.start, req.end),
        });
    }
    Ok(out)
}

/// The `aws ce get-cost-and-usage` command behind a region's costs.
pub fn cost_command(region: &str, start: NaiveDate, end: NaiveDate) -> String {
    let filter = serde_json::json!({"And": [
        {"Dimensions": {"Key": "REGION", "Values": [region]}},
        {"Dimensions": {"Key": "SERVICE", "Values": COST_SERVICES}},
    ]});
    format!(
        "aws ce get-cost-and-usage --time-period Start={start},End={end} --granularity DAILY --metrics {} --group-by Type=DIMENSION,Key=SERVICE Type=DIMENSION,Key=USAGE_TYPE --filter {}",
        COST_METRICS.join(" "),
        shell_word(&filter.to_string())
    )
}

/// Folds results into the state. Clusters of a fully listed region that
/// were not found are removed; each cluster keeps its user-owned `notes`;
/// `--skip-metrics` and `--skip-costs` keep what was there.
pub fn merge(state: &mut State, results: &[RegionResult], req: &Request, now: DateTime<Utc>) {
    for r in results {
        let region = state.msk_regions.entry(r.region.clone()).or_default();
        region.discovered_at = Some(now);
        region.warnings = r.warnings.clone();
        platform::merge(region, &r.platform);
        if r.listed_all {
            let found: BTreeSet<&str> = r.clusters.iter().map(|c| c.arn.as_str()).collect();
            region
                .clusters
                .retain(|arn, _| found.contains(arn.as_str()));
        }
        for c in &r.clusters {
            let mut c = c.clone();
            if let Some(old) = region.clusters.get(&c.arn) {
                c.notes = old.notes.clone();
                if req.skip_metrics {
                    c.metrics = old.metrics.clone();
                }
            }
            region.clusters.insert(c.arn.clone(), c);
        }
        if let Some(costs) = &r.costs {
            region.costs = Some(costs.clone());
        }
    }
}

/// The terminal summary of a run.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub regions: Vec<RegionSummary>,
    pub clusters: Vec<ClusterSummary>,
    pub aws_calls: usize,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct RegionSummary {
    pub region: String,
    pub clusters: usize,
    /// UnblendedCost over the last 30 days of the window, USD.
    pub cost_30d_usd: Option<f64>,
    /// MSK Connect connectors (absent when they could not be listed).
    pub msk_connectors: Option<usize>,
    /// AWS Glue schema registries and their schemas (absent when they could
    /// not be listed).
    pub glue_registries: Option<usize>,
    pub glue_schemas: Option<usize>,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct ClusterSummary {
    pub region: String,
    pub name: String,
    #[serde(rename = "type")]
    pub cluster_type: String,
    pub state: String,
    pub kafka_version: Option<String>,
    pub brokers: Option<u32>,
    pub auth: Vec<&'static str>,
    pub partitions: Option<u64>,
    pub topics: Option<usize>,
    pub warnings: usize,
}

/// Builds the summary of what this run found.
pub fn summarize(results: &[RegionResult]) -> Summary {
    let mut clusters = Vec::new();
    let mut regions = Vec::new();
    let mut warnings = 0;
    for r in results {
        warnings += r.all_warnings().count();
        for c in &r.clusters {
            let latest = |metric: &str| {
                c.metrics
                    .iter()
                    .find(|s| s.metric == metric && s.topic.is_none())
                    .and_then(|s| s.points.last())
                    .map(|p| p.v.round() as u64)
            };
            let topics: BTreeSet<&str> = c
                .metrics
                .iter()
                .filter_map(|s| s.topic.as_deref())
                .collect();
            clusters.push(ClusterSummary {
                region: r.region.clone(),
                name: c.name.clone(),
                cluster_type: match c.cluster_type {
                    MskClusterType::Provisioned => "provisioned".into(),
                    MskClusterType::Serverless => "serverless".into(),
                },
                state: c.state.clone(),
                kafka_version: c.kafka_version.clone(),
                brokers: c.broker_count,
                auth: [
                    ("iam", c.auth.iam),
                    ("scram", c.auth.sasl_scram),
                    ("tls", c.auth.tls),
                    ("none", c.auth.unauthenticated),
                ]
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(n, _)| n)
                .collect(),
                partitions: latest("GlobalPartitionCount").or_else(|| latest("PartitionCount")),
                topics: (!topics.is_empty()).then_some(topics.len()),
                warnings: c.warnings.len(),
            });
        }
        let cost_30d_usd = r.costs.as_ref().map(|costs| {
            let from = costs.end - chrono::Duration::days(30);
            costs
                .rows
                .iter()
                .filter(|row| row.date >= from)
                .filter_map(|row| row.metrics.get("UnblendedCost"))
                .map(|a| a.amount)
                .fold(0.0, |a, b| a + b)
        });
        regions.push(RegionSummary {
            region: r.region.clone(),
            clusters: r.clusters.len(),
            cost_30d_usd: cost_30d_usd.map(|c| (c * 100.0).round() / 100.0),
            msk_connectors: r.platform.msk_connectors.as_ref().map(BTreeMap::len),
            glue_registries: r.platform.glue_registries.as_ref().map(BTreeMap::len),
            glue_schemas: r
                .platform
                .glue_registries
                .as_ref()
                .map(|g| g.values().map(|r| r.schemas.len()).sum()),
            warnings: r.all_warnings().count(),
        });
    }
    Summary {
        regions,
        clusters,
        aws_calls: results.iter().map(|r| r.calls).sum(),
        warnings,
    }
}
