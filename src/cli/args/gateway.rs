//! `kcp gateway`: the Kafka protocol proxy's flags.

use std::path::PathBuf;

use clap::Args;

use super::CREDENTIALS_FILE;

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
