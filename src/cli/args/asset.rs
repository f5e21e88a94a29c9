//! `kcp create-asset`: what to generate, for which target.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

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
