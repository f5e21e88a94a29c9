//! `kcp migrate ...`: planning, running and undoing a migration, and the
//! one-off copies (schemas, connectors, quotas).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CredentialsFileArg, MetricsArgs, TimeoutArgs};

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
