//! The command-line interface, as clap types. Nothing outside `cli` sees these.
//!
//! Here: the root (`Cli`, the global flags, the commands) and what several
//! commands share (`--credentials-file`, `--timeout`, `--metrics-addr`,
//! value parsers); a file per command for the rest.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

mod asset;
mod discover;
mod gateway;
mod migrate;
mod report;
mod scan;

pub(super) use asset::{AssetKind, CreateAssetArgs, TargetType};
pub(super) use discover::{DiscoverArgs, Granularity};
pub(super) use gateway::GatewayArgs;
pub(super) use migrate::{
    MigrateCommand, MigrateConnectorsArgs, MigrateExecuteArgs, MigrateInitArgs, MigratePlanArgs,
    MigrateQuotasArgs, MigrateReplicateArgs, MigrateSchemasArgs, MigrateStatusArgs,
};
pub(super) use report::{ReportCommand, ReportFormat, WindowArgs};
pub(super) use scan::{ScanClustersArgs, ScanCommand, ScanConnectorsArgs, ScanRegistryArgs};

/// The credentials file `discover` writes and `scan`, `migrate init` and
/// `migrate schemas` read when `--credentials-file` is not given.
const CREDENTIALS_FILE: &str = "kcp-credentials.yaml";

const ROOT_EXAMPLES: &str = "\
Examples:
  # Inventory MSK clusters in two regions, with metrics and costs
  kcp discover --region us-east-1 --region eu-west-1

  # Scan every cluster named in a credentials file
  kcp scan clusters --credentials-file kcp-credentials.yaml

  # Check the state file
  kcp state validate --state-file ./kcp-state.json";

/// Plan and execute zero-downtime Kafka cluster migrations.
///
/// kcp inventories AWS MSK and any Kafka-compatible cluster into one state
/// file (`kcp-state.json`), turns it into cost, metrics and migration-plan
/// reports and Terraform assets, and drives an embedded replicator through a
/// phased cutover.
#[derive(Debug, Parser)]
#[command(name = "kcp", version, after_help = ROOT_EXAMPLES, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses `std::env::args`. A kcp variable set but empty
    /// (`KCP_STATE_FILE=`, the shell's way to clear one) counts as unset.
    pub fn try_parse_args() -> Result<Cli, clap::Error> {
        let matches = ignore_empty_env(Cli::command()).try_get_matches()?;
        Cli::from_arg_matches(&matches)
    }
}

/// `cmd` with every argument whose environment variable is empty read as if
/// the variable were unset.
fn ignore_empty_env(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.is_empty());
        if empty { arg.env(None) } else { arg }
    })
    .mut_subcommands(ignore_empty_env)
}

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The state file to read and update
    #[arg(
        long,
        global = true,
        env = "KCP_STATE_FILE",
        default_value = "kcp-state.json",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub state_file: PathBuf,

    /// More detail on stderr (-v: info, -vv: debug, -vvv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors and warnings on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Format of the data written to stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputArg::Table, value_name = "FORMAT")]
    pub output: OutputArg,

    /// Never draw progress bars (they are drawn only on a terminal anyway);
    /// KCP_NO_PROGRESS=1 (or true, yes, on) does the same
    #[arg(
        long,
        global = true,
        env = "KCP_NO_PROGRESS",
        hide_env_values = true,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub no_progress: bool,

    /// When to colour stderr (NO_COLOR is honoured in auto mode)
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,

    /// Format of the logs and status lines on stderr: json is one object
    /// per line (time, level, target, message, fields) for log shippers
    #[arg(
        long,
        global = true,
        env = "KCP_LOG_FORMAT",
        hide_env_values = true,
        value_enum,
        default_value_t = LogFormatArg::Human,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormatArg,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Lines for people
    Human,
    /// One JSON object per line
    Json,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// Tables and text for people
    Table,
    /// One JSON document for programs
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inventory AWS MSK clusters, their CloudWatch metrics and their costs
    Discover(DiscoverArgs),

    /// Scan Kafka clusters through the Kafka protocol
    #[command(subcommand)]
    Scan(ScanCommand),

    /// Turn the state file into cost, metrics and migration-plan reports
    #[command(subcommand)]
    Report(ReportCommand),

    /// Generate Terraform and deployment assets for the migration target
    CreateAsset(CreateAssetArgs),

    /// Plan and run a phased, zero-downtime cutover
    #[command(subcommand)]
    Migrate(MigrateCommand),

    /// Inspect, validate and upgrade the state file
    #[command(subcommand)]
    State(StateCommand),

    /// Serve a cluster to clients through a Kafka protocol proxy
    Gateway(GatewayArgs),

    /// Print the version of kcp, librdkafka and the state schema
    Version,

    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  kcp completions bash > /etc/bash_completion.d/kcp\n  kcp completions zsh > \"${fpath[1]}/_kcp\""
    )]
    Completions {
        /// The shell to generate completions for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `--credentials-file` with its default, as most commands that read the
/// credentials file take it (a command names what it needs from the file
/// in its own help: `mut_arg("credentials_file", ...)`). The Connect
/// commands' flag has no default.
#[derive(Debug, Args)]
pub struct CredentialsFileArg {
    /// Credentials file naming the clusters and how to authenticate
    #[arg(
        id = "credentials_file",
        long = "credentials-file",
        env = "KCP_CREDENTIALS_FILE",
        default_value = CREDENTIALS_FILE,
        value_name = "PATH",
        hide_env_values = true
    )]
    pub path: PathBuf,
}

/// The connection and request timeout of a command that talks to clusters.
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// Seconds to wait for each cluster to connect and for each request
    #[arg(long = "timeout", default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub secs: u64,
}

impl TimeoutArgs {
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }
}

/// The metrics and health listener of a long-running command.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics (/metrics) and health checks (/healthz,
    /// /readyz) on this address, e.g. 127.0.0.1:9464 (off by default)
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

/// `kcp state ...`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Show the schema version of the state file and of this kcp
    #[command(
        after_help = "Examples:\n  kcp state version\n  kcp state version --state-file old.json --output json"
    )]
    Version,
    /// Rewrite the state file in the current schema (keeps a .bak copy)
    #[command(after_help = "Examples:\n  kcp state upgrade\n  kcp state upgrade --dry-run")]
    Upgrade {
        /// Show what would change, write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the state file and explain any problem
    #[command(
        after_help = "Examples:\n  kcp state validate\n  kcp state validate --state-file state-examples/msk-region.json"
    )]
    Validate,
    /// Print the JSON Schema of the state file this kcp writes
    #[command(after_help = "Examples:\n  kcp state schema > kcp-state.schema.json")]
    Schema,
}

/// A calendar date, `YYYY-MM-DD` (a real one: not 2026-02-30).
fn parse_date(value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| format!("`{value}` is not a date; use YYYY-MM-DD, for example 2026-10-01"))
}

/// A finite number above zero.
fn parse_positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!("`{value}` is not a positive number")),
    }
}
