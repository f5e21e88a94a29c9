//! `kcp gateway`: a Kafka protocol proxy that clients point at once, in
//! place of a cluster's bootstrap servers, so that a later cutover can move
//! them between clusters without a restart or a configuration change.
//!
//! This module owns the proxy: one listener for bootstrapping and one per
//! upstream broker (`server.rs`: a node's port is `broker_port_base +
//! node id`, or any free port when the base is 0), the byte-level
//! forwarding of a connection (`conn.rs`, over `frame.rs`), the responses
//! that name brokers and are rewritten to the gateway's addresses
//! (`rewrite.rs`, pure, with the `kafka-protocol` crate's message types),
//! and TLS on both sides (`tls.rs`). SASL is passed through: the client
//! authenticates against the upstream broker through the gateway.
//!
//! With a target cluster it also switches clients between the two: routes
//! per group and topic (`routes.rs`, saved to `--routes-file`, or shared by
//! several replicas through a compacted topic on the target,
//! `routes_topic.rs`), what a
//! request says about its client (`request.rs`), the routed connection
//! (`switch.rs`), the writes in flight and the held members still
//! consuming that make a switch exact and short (`held.rs`), the admin interface that changes routes (`admin.rs`) and
//! its client, which `migrate execute` uses (`client.rs`).
//! docs/gateway.md describes it, its limits and what clients must do.

mod admin;
mod client;
mod conn;
mod frame;
mod held;
mod producer_id;
mod request;
mod rewrite;
mod routes;
mod routes_topic;
mod server;
mod switch;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use client::{AdminClient, AdminError, Gateways};
pub use routes::{Change, Cluster, Route, Routes};
pub use server::Gateway;

use crate::connect::ConnectError;
use crate::exit::{Diagnostic, ExitStatus};

/// What `kcp gateway` was asked to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the bootstrap listener binds (`HOST:PORT`; port 0: any).
    pub listen: String,
    /// The host clients are told to reach brokers at; by default the
    /// listen address's host (which then may not be a wildcard).
    pub advertised_host: Option<String>,
    /// Node N listens on `broker_port_base + N`; 0: any free port each
    /// (one gateway only); by default the listen port + 1.
    pub broker_port_base: Option<u16>,
    /// The gateway's own certificate chain and key (PEM), for TLS towards
    /// clients.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Bound for connecting upstream (and the start-up probe).
    pub timeout: Duration,
    /// The target's node N listens on this + N; by default the broker port
    /// base + 100 (0: any free port).
    pub target_broker_port_base: Option<u16>,
    /// Where the admin interface listens (only with a target).
    pub admin_addr: Option<String>,
    /// Where routes are saved and resumed from (only with a target).
    pub routes_file: Option<PathBuf>,
    /// The compacted topic on the target where several replicas keep the
    /// routes they share (only with a target; not with `routes_file`).
    pub routes_topic: Option<String>,
    /// How long a held client's request may wait.
    pub hold_timeout: Duration,
}

/// Where the gateway serves, once started.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listening {
    /// The cluster's name in the credentials file.
    pub cluster: String,
    /// The target's name, when the gateway switches clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The address clients use as their bootstrap servers.
    pub bootstrap: String,
    /// Whether clients must connect with TLS.
    pub tls: bool,
    /// One entry per upstream broker known at start.
    pub brokers: Vec<BrokerRoute>,
    /// The target's brokers, on their own port range.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_brokers: Vec<BrokerRoute>,
    /// The admin interface's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
}

/// One upstream broker and where the gateway presents it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BrokerRoute {
    pub node_id: i32,
    pub gateway: String,
    pub upstream: String,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("`{addr}` is not an address to listen on (HOST:PORT)")]
    Address { addr: String },
    #[error("{message}")]
    Config { message: String },
    #[error("cannot listen on `{addr}` for {what}")]
    Bind {
        addr: SocketAddr,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {message}")]
    Tls { message: String },
    #[error("cannot start the gateway's runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

impl Diagnostic for GatewayError {
    fn status(&self) -> ExitStatus {
        match self {
            GatewayError::Address { .. }
            | GatewayError::Config { .. }
            | GatewayError::Tls { .. } => ExitStatus::BadInput,
            GatewayError::Bind { .. } | GatewayError::Runtime(_) => ExitStatus::Failure,
            GatewayError::Connect(e) => e.status(),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            GatewayError::Address { .. } => Some(
                "give a host and a port, e.g. `--listen 127.0.0.1:19092` or `--listen 0.0.0.0:19092 --advertised-host gw.example.com`".into(),
            ),
            GatewayError::Config { .. } => Some("see docs/gateway.md".into()),
            GatewayError::Bind { .. } => Some(
                "another process may be listening on that port: stop it, or choose other ports with --listen and --broker-port-base (node N listens on the base + N)".into(),
            ),
            GatewayError::Tls { .. } => Some(
                "--tls-cert and --tls-key take PEM files (chain first); the upstream's TLS settings come from the cluster's `auth` in the credentials file".into(),
            ),
            GatewayError::Runtime(_) => None,
            GatewayError::Connect(e) => e.hint(),
        }
    }
}
