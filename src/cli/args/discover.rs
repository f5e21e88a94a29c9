//! `kcp discover`: the AWS inventory's flags.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use super::{CREDENTIALS_FILE, parse_date};

/// `kcp discover`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kcp discover --region us-east-1\n  kcp discover --cluster-arn arn:aws:kafka:eu-west-1:123456789012:cluster/orders/1a2b --skip-costs\n  kcp discover --print-iam-policy"
)]
pub struct DiscoverArgs {
    /// AWS region to inventory (repeatable)
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// Only this MSK cluster (repeatable)
    #[arg(long = "cluster-arn", value_name = "ARN")]
    pub cluster_arns: Vec<String>,

    /// Do not read CloudWatch metrics
    #[arg(long)]
    pub skip_metrics: bool,

    /// Do not read Cost Explorer costs
    #[arg(long)]
    pub skip_costs: bool,

    /// Metric period; sets the default look-back (1m: 15 days, 5m: 63 days, 1h and 1d: 365 days)
    #[arg(long, value_enum, default_value_t = Granularity::OneHour, value_name = "PERIOD")]
    pub metrics_granularity: Granularity,

    /// Start of the metrics and costs window (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub start: Option<NaiveDate>,

    /// End of the metrics and costs window (YYYY-MM-DD, UTC, exclusive)
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub end: Option<NaiveDate>,

    /// AWS profile to use instead of the default credential chain
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Where to write the credentials-file template for `kcp scan`
    #[arg(long, default_value = CREDENTIALS_FILE, value_name = "PATH")]
    pub credentials_out: PathBuf,

    /// Print the least-privilege IAM policy for this command and exit
    #[arg(long)]
    pub print_iam_policy: bool,
}

/// `--metrics-granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Granularity {
    #[value(name = "1m")]
    OneMinute,
    #[value(name = "5m")]
    FiveMinutes,
    #[value(name = "1h")]
    OneHour,
    #[value(name = "1d")]
    OneDay,
}
