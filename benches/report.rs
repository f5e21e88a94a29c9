//! Benchmark: report generation on a large state.
//!
//!     cargo bench --bench report
//!
//! Builds a state with 50 MSK clusters (365 daily points for six series
//! each, a year of costs) and 50 scanned clusters of 1,000 partitions each
//! (50,000 partitions, 20 groups per cluster), writes it to a file, then
//! times loading it and rendering every report in every format, and prints
//! the total against the 2 s target.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use kcp::report::{self, Filters, Format, Kind};
use kcp::state::*;

fn state() -> State {
    let created = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut state = State::new(created);
    let start = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap();
    let mut region = MskRegion {
        discovered_at: Some(created),
        ..Default::default()
    };
    for c in 0..50 {
        let name = format!("cluster-{c:02}");
        let arn = format!(
            "arn:aws:kafka:us-east-1:123456789012:cluster/{name}/{c:08}-0000-0000-0000-000000000000-1"
        );
        let metrics = [
            "BytesInPerSec",
            "BytesOutPerSec",
            "MessagesInPerSec",
            "PartitionCount",
            "ClientConnectionCount",
            "KafkaDataLogsDiskUsed",
        ]
        .iter()
        .enumerate()
        .map(|(i, metric)| MetricSeries {
            metric: (*metric).to_owned(),
            statistic: "Average".into(),
            period_seconds: 86_400,
            unit: "Count".into(),
            topic: None,
            points: (0..365)
                .map(|d| MetricPoint {
                    t: created - Duration::days(365 - d),
                    v: (1000 * (i + 1)) as f64 + (d % 7) as f64 * 10.0,
                })
                .collect(),
            query: format!("aws cloudwatch get-metric-data --metric {metric}"),
        })
        .collect();
        region.clusters.insert(
            arn.clone(),
            MskCluster {
                iam_policies: Vec::new(),
                configuration: None,
                nodes: Vec::new(),
                scram_secrets: Vec::new(),
                client_vpc_connections: Vec::new(),
                operations: Vec::new(),
                compatible_kafka_versions: Vec::new(),
                name: name.clone(),
                arn: arn.clone(),
                cluster_type: MskClusterType::Provisioned,
                state: "ACTIVE".into(),
                created_at: Some(created),
                kafka_version: Some("3.6.0".into()),
                broker_count: Some(6),
                instance_type: Some("kafka.m5.2xlarge".into()),
                storage_gb_per_broker: Some(1000),
                availability_zones: vec!["use1-az1".into()],
                auth: MskAuth {
                    iam: true,
                    sasl_scram: true,
                    tls: false,
                    unauthenticated: false,
                },
                bootstrap_servers: BTreeMap::new(),
                server_properties: BTreeMap::new(),
                tags: BTreeMap::new(),
                metrics,
                warnings: Vec::new(),
                notes: None,
            },
        );
        let mut cluster = KafkaCluster {
            bootstrap_servers: vec![format!("b-1.{name}:9096")],
            auth_method: "sasl_scram".into(),
            msk_arn: Some(arn),
            ..Default::default()
        };
        for t in 0..100 {
            let topic = format!("topic-{t:03}");
            let partitions = (0..10)
                .map(|p| Partition {
                    id: p,
                    leader: Some(1),
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 2, 3],
                    earliest_offset: Some(0),
                    latest_offset: Some(1_000_000 + i64::from(p)),
                    size_bytes: None,
                })
                .collect();
            let mut configs = BTreeMap::new();
            configs.insert(
                "retention.ms".to_owned(),
                TopicConfig {
                    value: Some("604800000".into()),
                    source: ConfigSource::DynamicTopic,
                    sensitive: false,
                },
            );
            cluster.topics.insert(
                topic,
                Topic {
                    kind: TopicKind::User,
                    replication_factor: 3,
                    partitions,
                    configs,
                    rate: None,
                },
            );
        }
        for g in 0..20 {
            let offsets = (0..10)
                .map(|p| GroupOffset {
                    topic: format!("topic-{:03}", g * 5),
                    partition: p,
                    committed: 999_000,
                    lag: Some(1_000),
                })
                .collect();
            cluster.consumer_groups.insert(
                format!("group-{g:02}"),
                ConsumerGroup {
                    offsets,
                    ..Default::default()
                },
            );
        }
        state.clusters.insert(name, cluster);
    }
    let rows = (0..365)
        .flat_map(|d| {
            (0..10).map(move |u| CostRow {
                date: start + Duration::days(d),
                service: if u < 7 {
                    "Amazon Managed Streaming for Apache Kafka".into()
                } else {
                    "EC2 - Other".into()
                },
                usage_type: format!("USE1-Usage-{u}"),
                metrics: [
                    "UnblendedCost",
                    "BlendedCost",
                    "AmortizedCost",
                    "NetUnblendedCost",
                    "NetAmortizedCost",
                ]
                .iter()
                .map(|m| {
                    (
                        (*m).to_owned(),
                        Amount {
                            amount: 12.5 + u as f64,
                            unit: "USD".into(),
                        },
                    )
                })
                .collect(),
            })
        })
        .collect();
    region.costs = Some(CostData {
        start,
        end: start + Duration::days(365),
        granularity: "DAILY".into(),
        rows,
        query: "aws ce get-cost-and-usage".into(),
    });
    state.msk_regions.insert("us-east-1".into(), region);
    state
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kcp-state.json");
    let mut big = state();
    let partitions: usize = big
        .clusters
        .values()
        .flat_map(|c| c.topics.values())
        .map(|t| t.partitions.len())
        .sum();
    StateFile::open(&path, Access::Exclusive)
        .unwrap()
        .save(&mut big, Utc::now())
        .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();

    let started = Instant::now();
    let loaded = StateFile::open(&path, Access::Shared)
        .unwrap()
        .load(Utc::now())
        .unwrap()
        .state;
    let load = started.elapsed();
    let filters = Filters::default();
    let mut total_bytes = 0;
    let mut timings = Vec::new();
    let kinds = [
        ("costs", Kind::Costs),
        ("metrics", Kind::Metrics),
        (
            "plan",
            Kind::Plan {
                source: "cluster-00".into(),
                target: "confluent-cloud".into(),
                replication_mbps: None,
                source_registry: None,
                target_registry: None,
                source_connect: Vec::new(),
                target_connect: None,
            },
        ),
    ];
    for (name, kind) in &kinds {
        for (fname, format) in [
            ("md", Format::Markdown),
            ("json", Format::Json),
            ("csv", Format::Csv),
            ("html", Format::Html),
        ] {
            let t = Instant::now();
            total_bytes += report::render(&loaded, kind, &filters, format)
                .unwrap()
                .len();
            timings.push((format!("{name}/{fname}"), t.elapsed()));
        }
    }
    let render: std::time::Duration = timings.iter().map(|(_, d)| *d).sum();
    println!(
        "state: 50 MSK clusters, 50 scanned clusters, {partitions} partitions, {:.1} MB on disk",
        size as f64 / 1e6
    );
    println!("load + validate: {:.3} s", load.as_secs_f64());
    for (name, d) in &timings {
        println!("  {name:<13} {:.3} s", d.as_secs_f64());
    }
    let total = load + render;
    println!(
        "all 12 reports: {:.3} s rendering, {:.1} MB output",
        render.as_secs_f64(),
        total_bytes as f64 / 1e6
    );
    println!(
        "load + every report in every format: {:.3} s; target 2 s; ratio to target {:.2}",
        total.as_secs_f64(),
        total.as_secs_f64() / 2.0
    );
}
