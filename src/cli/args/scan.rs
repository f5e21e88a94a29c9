//! `kcp scan ...`: the Kafka, Schema Registry and Kafka Connect scans.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CredentialsFileArg;

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
