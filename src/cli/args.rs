//! The command-line interface, as clap types. Nothing outside `cli` sees these.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

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

/// `kcp gateway`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kcp gateway --cluster prod --listen 127.0.0.1:19092\n  kcp gateway --cluster prod --listen 0.0.0.0:19092 --advertised-host gw.example.com --tls-cert gw.pem --tls-key gw-key.pem\n  kcp gateway --cluster prod --target-cluster cloud --admin-addr 127.0.0.1:19080 --routes-file routes.json\n  kcp gateway --cluster prod --target-cluster cloud --listen 0.0.0.0:19092 --advertised-host gw.example.com --admin-addr 0.0.0.0:19080 --routes-topic kcp-gateway.prod.routes"
)]
pub struct GatewayArgs {
    /// Credentials file naming the cluster and how to reach it
    #[arg(
        long,
        env = "KCP_CREDENTIALS_FILE",
        default_value = CREDENTIALS_FILE,
        value_name = "PATH",
        hide_env_values = true
    )]
    pub credentials_file: PathBuf,

    /// The cluster to serve (a name from the credentials file)
    #[arg(long, value_name = "NAME")]
    pub cluster: String,

    /// Where clients bootstrap (port 0: any free port)
    #[arg(long, default_value = "127.0.0.1:19092", value_name = "HOST:PORT")]
    pub listen: String,

    /// The host clients reach the gateway at (default: the --listen host)
    #[arg(long, value_name = "HOST")]
    pub advertised_host: Option<String>,

    /// Broker N is served on this port + N (default: the --listen port + 1; 0: any free port)
    #[arg(long, value_name = "PORT")]
    pub broker_port_base: Option<u16>,

    /// The gateway's TLS certificate chain (PEM): clients must connect with TLS
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM, unencrypted)
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Seconds to wait for the cluster at start and for each upstream connection
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,

    /// The cluster clients are switched to (a name from the credentials file)
    #[arg(long, value_name = "NAME")]
    pub target_cluster: Option<String>,

    /// The target's broker N is served on this port + N (default: --broker-port-base + 100; 0: any free port)
    #[arg(long, value_name = "PORT", requires = "target_cluster")]
    pub target_broker_port_base: Option<u16>,

    /// Where the admin interface listens (routes; needs --target-cluster)
    #[arg(long, value_name = "HOST:PORT", requires = "target_cluster")]
    pub admin_addr: Option<String>,

    /// The file routes are saved to and resumed from at start (needs --target-cluster)
    #[arg(long, value_name = "PATH", requires = "target_cluster")]
    pub routes_file: Option<PathBuf>,

    /// A compacted topic on the target where several gateway replicas share the routes, e.g. kcp-gateway.<name>.routes (needs --target-cluster)
    #[arg(
        long,
        value_name = "TOPIC",
        requires = "target_cluster",
        conflicts_with = "routes_file"
    )]
    pub routes_topic: Option<String>,

    /// Milliseconds a held client's request may wait before its connection is closed
    #[arg(long, default_value_t = 15_000, value_name = "MS")]
    pub hold_timeout_ms: u64,
}

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

/// `kcp scan ...`.
#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// Scan brokers, topics, configs, ACLs, consumer groups and offsets
    #[command(
        after_help = "Examples:\n  kcp scan clusters --credentials-file kcp-credentials.yaml\n  kcp scan clusters --credentials-file creds.yaml --cluster prod --rate-window 30"
    )]
    Clusters(ScanClustersArgs),
    /// Scan Confluent-compatible Schema Registries: subjects, versions, ids,
    /// types, references, compatibility levels, modes and contexts
    #[command(
        after_help = "Examples:\n  kcp scan schema-registry --credentials-file kcp-credentials.yaml\n  kcp scan schema-registry --credentials-file creds.yaml --registry prod-sr --output json"
    )]
    SchemaRegistry(ScanRegistryArgs),
    /// Scan Kafka Connect clusters: connectors, configs (secrets left out),
    /// tasks, status, plugins and source connectors' offsets
    #[command(
        after_help = "Examples:\n  kcp scan connectors --credentials-file kcp-credentials.yaml\n  kcp scan connectors --credentials-file creds.yaml --connect-cluster prod-connect --output json"
    )]
    Connectors(ScanConnectorsArgs),
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

/// `kcp scan connectors`.
#[derive(Debug, Args)]
pub struct ScanConnectorsArgs {
    /// Credentials file naming the Connect clusters (`connect_clusters:`)
    #[arg(
        long,
        env = "KCP_CREDENTIALS_FILE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub credentials_file: PathBuf,

    /// Only this Connect cluster from the credentials file (repeatable; default: all)
    #[arg(long = "connect-cluster", value_name = "NAME")]
    pub connect_clusters: Vec<String>,

    /// Seconds to wait for each request
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `kcp scan schema-registry`.
#[derive(Debug, Args)]
#[command(mut_arg("credentials_file", |a| a.help("Credentials file naming the registries (`schema_registries:`)")))]
pub struct ScanRegistryArgs {
    #[command(flatten)]
    pub credentials: CredentialsFileArg,

    /// Only this registry from the credentials file (repeatable; default: all)
    #[arg(long = "registry", value_name = "NAME")]
    pub registries: Vec<String>,

    /// Seconds to wait for each request
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `kcp scan clusters`.
#[derive(Debug, Args)]
pub struct ScanClustersArgs {
    #[command(flatten)]
    pub credentials: CredentialsFileArg,

    /// Only this cluster from the credentials file (repeatable; default: all)
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,

    /// Seconds between the two offset snapshots that give message rates
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub rate_window: u64,

    /// Seconds to wait for a cluster to connect and for each request
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
}

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

/// `kcp create-asset`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kcp create-asset topics --source prod --target-type confluent-cloud --out ./assets/topics\n  kcp create-asset acls --source prod --target-type kafka --out ./assets/acls --dry-run\n  kcp create-asset gateway --source prod --target-type msk --target cloud --out ./assets/gateway"
)]
pub struct CreateAssetArgs {
    /// What to generate
    #[arg(value_enum)]
    pub kind: AssetKind,
    /// The scanned source cluster (a name from the state file)
    #[arg(long, value_name = "CLUSTER")]
    pub source: String,
    /// The kind of target
    #[arg(long, value_enum, value_name = "TYPE")]
    pub target_type: TargetType,
    /// Only topics matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub topics_include: Option<String>,
    /// Leave out topics matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub topics_exclude: Option<String>,
    /// Name of the target: the new cluster's name (target-infra) or the
    /// target's name in the credentials file (replicator, gateway) [default: <source>-target]
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// YAML file mapping source principals to target principals or service accounts (acls, quotas)
    #[arg(long, value_name = "FILE")]
    pub principal_map: Option<PathBuf>,
    /// The source's Kafka Connect cluster, a name from the state (connectors;
    /// repeatable) [default: those keeping their state in the source cluster]
    #[arg(long = "connect-cluster", value_name = "NAME")]
    pub connect_clusters: Vec<String>,
    /// Prefix of target topic names, as the plan file's `rename.prefix` (connectors)
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Suffix of target topic names, as the plan file's `rename.suffix` (connectors)
    #[arg(long, value_name = "SUFFIX", default_value = "")]
    pub topic_suffix: String,
    /// Directory to write the generated project to
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,
    /// List the files that would be written (refusing what the run refuses), write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Asset kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssetKind {
    /// The target cluster itself
    TargetInfra,
    /// The topics, with their configs
    Topics,
    /// The ACLs, translated for the target
    Acls,
    /// Deployment of the replicator workers
    Replicator,
    /// Kafka Connect connector configs and source offsets for the target
    Connectors,
    /// Client quotas (by user, client id, IP) as Terraform and a
    /// kafka-configs script
    Quotas,
    /// Kubernetes Deployment of kcp gateway replicas sharing their routes
    Gateway,
}

/// Target types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetType {
    /// Confluent Cloud (confluentinc/confluent provider)
    ConfluentCloud,
    /// AWS MSK (hashicorp/aws provider)
    Msk,
    /// Any Kafka-compatible cluster (Mongey/kafka provider)
    Kafka,
}

/// `kcp migrate ...`.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Write a migration plan for a source and a target
    #[command(
        after_help = "Examples:\n  kcp migrate init --source prod --target new --credentials-file creds.yaml --plan-out plan.yaml"
    )]
    Init(MigrateInitArgs),
    /// Run (or resume) the migration described by a plan
    #[command(
        after_help = "Examples:\n  kcp migrate execute --plan plan.yaml\n  kcp migrate execute --plan plan.yaml --dry-run"
    )]
    Execute(MigrateExecuteArgs),
    /// Show the phase, lag and progress of a migration
    #[command(after_help = "Examples:\n  kcp migrate status --plan plan.yaml --watch")]
    Status(MigrateStatusArgs),
    /// Undo a migration that has not passed the point of no return
    #[command(after_help = "Examples:\n  kcp migrate rollback --plan plan.yaml")]
    Rollback(MigratePlanArgs),
    /// Run only the replicator for a plan (scale out by running several)
    #[command(
        after_help = "Examples:\n  kcp migrate replicate --plan plan.yaml --max-bytes-per-sec 50000000"
    )]
    Replicate(MigrateReplicateArgs),
    /// Copy schemas to the target registry keeping their ids, then verify
    #[command(
        after_help = "Examples:\n  kcp migrate schemas --credentials-file creds.yaml --source prod-sr --target new-sr --dry-run\n  kcp migrate schemas --credentials-file creds.yaml --source prod-sr --target new-sr --subjects '^orders-'\n  kcp migrate schemas --credentials-file creds.yaml --source prod-sr --target new-sr --verify-only"
    )]
    Schemas(MigrateSchemasArgs),
    /// Re-create connectors on the target Connect cluster and carry source
    /// connectors' offsets
    #[command(
        after_help = "Examples:\n  kcp migrate connectors --credentials-file creds.yaml --source prod-connect --target new-connect --dry-run\n  kcp migrate connectors --credentials-file creds.yaml --source prod-connect --target new-connect --stop-source\n  kcp migrate connectors --credentials-file creds.yaml --source prod-connect --target new-connect --connectors 'jdbc-.*' --topic-prefix dc1."
    )]
    Connectors(MigrateConnectorsArgs),
    /// Apply the source cluster's client quotas to the target, once
    #[command(
        after_help = "Examples:\n  kcp migrate quotas --credentials-file creds.yaml --source prod --target new --dry-run\n  kcp migrate quotas --credentials-file creds.yaml --source prod --target new --principal-map principals.yaml"
    )]
    Quotas(MigrateQuotasArgs),
}

/// `kcp migrate quotas`.
#[derive(Debug, Args)]
#[command(mut_arg("credentials_file", |a| a.help("Credentials file naming both clusters")))]
pub struct MigrateQuotasArgs {
    #[command(flatten)]
    pub credentials: CredentialsFileArg,
    /// The source cluster (a name from the credentials file)
    #[arg(long, value_name = "CLUSTER")]
    pub source: String,
    /// The target cluster (a name from the credentials file)
    #[arg(long, value_name = "CLUSTER")]
    pub target: String,
    /// YAML file mapping source principals to target principals, as for
    /// `create-asset acls` (user quotas follow it)
    #[arg(long, value_name = "FILE")]
    pub principal_map: Option<PathBuf>,
    /// List what would change on the target; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for each connection and request
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `kcp migrate schemas`.
#[derive(Debug, Args)]
#[command(mut_arg("credentials_file", |a| a.help("Credentials file naming both registries (`schema_registries:`)")))]
pub struct MigrateSchemasArgs {
    #[command(flatten)]
    pub credentials: CredentialsFileArg,
    /// The source registry (a name from the credentials file)
    #[arg(long, value_name = "REGISTRY")]
    pub source: String,
    /// The target registry (a name from the credentials file)
    #[arg(long, value_name = "REGISTRY")]
    pub target: String,
    /// Only subjects matching this regular expression (subjects they
    /// reference are copied too)
    #[arg(long, value_name = "REGEX")]
    pub subjects: Option<String>,
    /// Leave out subjects matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub exclude_subjects: Option<String>,
    /// Check the target and list what would be copied; write nothing
    #[arg(long, conflicts_with = "verify_only")]
    pub dry_run: bool,
    /// Only compare the target with the source (subjects, versions, ids, schema text)
    #[arg(long)]
    pub verify_only: bool,
    /// For a target without IMPORT mode: register without explicit ids and
    /// stop at the first id the target assigns differently
    #[arg(long)]
    pub without_import_mode: bool,
    /// Seconds to wait for each request
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `kcp migrate connectors`.
#[derive(Debug, Args)]
pub struct MigrateConnectorsArgs {
    /// Credentials file naming both Connect clusters (`connect_clusters:`)
    #[arg(
        long,
        env = "KCP_CREDENTIALS_FILE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub credentials_file: PathBuf,
    /// The source Connect cluster (a name from the credentials file)
    #[arg(long, value_name = "CONNECT")]
    pub source: String,
    /// The target Connect cluster (a name from the credentials file)
    #[arg(long, value_name = "CONNECT")]
    pub target: String,
    /// Only connectors whose whole name matches this regular expression
    #[arg(long, value_name = "REGEX")]
    pub connectors: Option<String>,
    /// Prefix of target topic names, as the plan file's `rename.prefix`
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Suffix of target topic names, as the plan file's `rename.suffix`
    #[arg(long, value_name = "SUFFIX", default_value = "")]
    pub topic_suffix: String,
    /// The Kafka cluster the source connectors work with (a name under
    /// `clusters:`): with --target-cluster, every `*bootstrap.servers`
    /// value naming its servers is replaced by the target's
    #[arg(long, value_name = "CLUSTER", requires = "target_cluster")]
    pub source_cluster: Option<String>,
    /// The Kafka cluster the target Connect cluster works with (a name
    /// under `clusters:`)
    #[arg(long, value_name = "CLUSTER", requires = "source_cluster")]
    pub target_cluster: Option<String>,
    /// Stop running source connectors whose offsets are carried (their
    /// offsets must not move while they are copied)
    #[arg(long)]
    pub stop_source: bool,
    /// Do not carry source connectors' offsets: they start over on the target
    #[arg(long)]
    pub skip_offsets: bool,
    /// Check both sides and list what would be done; write and stop nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for each request
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `kcp migrate init`.
#[derive(Debug, Args)]
#[command(mut_arg("credentials_file", |a| a.help("Credentials file naming both clusters")))]
pub struct MigrateInitArgs {
    /// The source cluster (a name from the credentials file)
    #[arg(long, value_name = "CLUSTER")]
    pub source: String,
    /// The target cluster (a name from the credentials file)
    #[arg(long, value_name = "CLUSTER")]
    pub target: String,
    #[command(flatten)]
    pub credentials: CredentialsFileArg,
    /// Only topics matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub topics_include: Option<String>,
    /// Only consumer groups matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub groups_include: Option<String>,
    /// Where to write the plan
    #[arg(long, default_value = "kcp-migration.yaml", value_name = "PATH")]
    pub plan_out: PathBuf,
    /// The target Schema Registry of the plan's `cutover.schemas` (a name
    /// under `schema_registries:`); without it, that section is drafted
    /// commented out when the state has a scanned registry
    #[arg(long, value_name = "REGISTRY")]
    pub target_registry: Option<String>,
    /// The target Connect cluster of the plan's `cutover.connectors` (a
    /// name under `connect_clusters:`); without it, that section is drafted
    /// commented out when the state has the source's Connect cluster
    #[arg(long, value_name = "CONNECT_CLUSTER")]
    pub target_connect: Option<String>,
    /// Consumer-last: the waves holding a consumer group matching this
    /// regular expression move after the producers (`after_producers:
    /// true`); kcp copies what the producers write to the target back to
    /// the source until they move
    #[arg(long, value_name = "REGEX")]
    pub consumers_last: Option<String>,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
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

/// A plan file.
#[derive(Debug, Args)]
pub struct MigratePlanArgs {
    /// The migration plan file
    #[arg(long, value_name = "PATH")]
    pub plan: PathBuf,
    /// Do not ask for confirmation before irreversible steps
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

/// `kcp migrate execute`.
#[derive(Debug, Args)]
pub struct MigrateExecuteArgs {
    #[command(flatten)]
    pub plan: MigratePlanArgs,
    /// Make the checks the run makes first (preflight included), print the steps it would run; run nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// The metrics and health listener of a long-running command.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics (/metrics) and health checks (/healthz,
    /// /readyz) on this address, e.g. 127.0.0.1:9464 (off by default)
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

/// `kcp migrate status`.
#[derive(Debug, Args)]
pub struct MigrateStatusArgs {
    /// The migration plan file
    #[arg(long, value_name = "PATH")]
    pub plan: PathBuf,
    /// Refresh until interrupted
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

/// `kcp migrate replicate`.
#[derive(Debug, Args)]
pub struct MigrateReplicateArgs {
    /// The migration plan file
    #[arg(long, value_name = "PATH")]
    pub plan: PathBuf,
    /// Throttle the copy to this many bytes per second
    #[arg(long, value_name = "BYTES")]
    pub max_bytes_per_sec: Option<u64>,
    /// Stop once every partition is copied up to the source's end
    #[arg(long)]
    pub until_caught_up: bool,
    /// Seconds to wait for each cluster to connect and for each request
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
    /// Milliseconds between stats (JSON lines with `--output json`)
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub stats_interval_ms: u64,
    #[command(flatten)]
    pub metrics: MetricsArgs,
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
