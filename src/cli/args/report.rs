//! `kcp report ...`: the costs, metrics and plan reports.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};

use super::{parse_date, parse_positive};

/// `kcp report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Costs per region, service and usage type
    #[command(
        after_help = "Examples:\n  kcp report costs --format md --out costs.md\n  kcp report costs --region us-east-1 --start 2026-10-01 --end 2026-11-01 --format csv"
    )]
    Costs(ReportArgs),
    /// Metrics per cluster: averages, peaks and percentiles
    #[command(
        after_help = "Examples:\n  kcp report metrics --cluster orders --format html --out metrics.html"
    )]
    Metrics(ReportArgs),
    /// The migration plan for a source and a target
    #[command(
        after_help = "Examples:\n  kcp report plan --source prod-msk --target confluent-cloud --format md"
    )]
    Plan(PlanArgs),
}

/// Flags of the costs and metrics reports: the window and filters, and
/// the output.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub output: ReportOutputArgs,
}

/// The date window and filters of the costs and metrics reports.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Start of the window (YYYY-MM-DD)
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub start: Option<NaiveDate>,
    /// End of the window (YYYY-MM-DD, exclusive)
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub end: Option<NaiveDate>,
    /// Only this region (repeatable)
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Only this cluster (repeatable)
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
}

/// Where a report goes and in which format.
#[derive(Debug, Args)]
pub struct ReportOutputArgs {
    /// Report format [default: md; json with --output json]
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write to this file instead of stdout
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// `kcp report plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The source cluster (a name from the state file)
    #[arg(long, value_name = "CLUSTER")]
    pub source: String,
    /// The target cluster or target type
    #[arg(long, value_name = "TARGET")]
    pub target: String,
    /// Replication throughput to assume for copy-time estimates (MB/s)
    #[arg(long, value_name = "MBPS", value_parser = parse_positive)]
    pub replication_mbps: Option<f64>,
    /// The source's Schema Registry (a name from the state): adds the
    /// schemas section
    #[arg(long, value_name = "REGISTRY")]
    pub source_registry: Option<String>,
    /// The target's Schema Registry (a name from the state): checks the ids
    /// the copy needs against it
    #[arg(long, value_name = "REGISTRY", requires = "source_registry")]
    pub target_registry: Option<String>,
    /// The source's Kafka Connect cluster (a name from the state; repeatable)
    /// [default: every scanned one that keeps its state in the source cluster]
    #[arg(long, value_name = "CONNECT")]
    pub source_connect: Vec<String>,
    /// The target's Kafka Connect cluster (a name from the state): checks
    /// plugins, names and versions against it
    #[arg(long, value_name = "CONNECT")]
    pub target_connect: Option<String>,
    #[command(flatten)]
    pub output: ReportOutputArgs,
}

/// `--format` of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
    Csv,
    Html,
}
