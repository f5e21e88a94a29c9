//! The gateway's listeners and the state they share: for each cluster
//! behind it (the source; the target when switching), which upstream
//! address each node id has (learned from the start-up probe and from
//! every response that names a broker) and the listener of each node
//! (opened when a node is first seen); the live connections, each of which
//! can be closed (at shutdown, and when its client's route moved to the
//! other cluster); and the routes (`switch.rs`).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::conn::{self, Stream};
use super::rewrite::Advertise;
use super::routes::{Cluster, Routes};
use super::switch::{Store, Switch};
use super::{BrokerRoute, Config, GatewayError, Listening, admin, routes_topic, tls};
use crate::connect::{self, ClusterCredentials, ConnectOptions};

/// Where a listener's connections go upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// Any of the bootstrap servers (of the client's cluster, when
    /// switching).
    Bootstrap,
    /// One node of a cluster, at the address it was last advertised at.
    Node(Cluster, i32),
}

/// A running gateway.
pub struct Gateway {
    runtime: tokio::runtime::Runtime,
    shared: Shared,
    listening: Listening,
}

#[derive(Clone)]
pub(super) struct Shared(pub(super) Arc<Inner>);

pub(super) struct Inner {
    bind_ip: IpAddr,
    advertised_host: String,
    acceptor: Option<TlsAcceptor>,
    pub(super) timeout: Duration,
    /// The source, then the target when switching.
    upstreams: Vec<Upstream>,
    pub(super) connections: Mutex<HashMap<u64, Connection>>,
    /// Held while a node's listener is opened, so two responses naming a
    /// new node open it once.
    opening: Mutex<()>,
    next_id: AtomicU64,
    /// Routes and clients, when there is a target.
    pub(super) switch: Option<Switch>,
}

/// One cluster behind the gateway.
struct Upstream {
    bootstrap: Vec<String>,
    connector: Option<TlsConnector>,
    /// `None`: any free port per node.
    port_base: Option<u16>,
    nodes: Mutex<BTreeMap<i32, Node>>,
}

/// A live client connection.
pub(super) struct Connection {
    pub(super) close: Arc<Notify>,
    /// When switching: its client and the cluster it is connected to, once
    /// known.
    pub(super) client: Option<super::switch::ClientKey>,
    pub(super) home: Option<Cluster>,
}

struct Node {
    upstream: (String, u16),
    /// The gateway's port for the node, once its listener is open.
    port: Option<u16>,
}

impl Gateway {
    /// Probes the cluster(s) (failing fast on a wrong address or
    /// credentials), then opens the bootstrap listener, one listener per
    /// broker and, when switching, the admin listener.
    pub fn start(
        config: &Config,
        creds: &ClusterCredentials,
        target: Option<&ClusterCredentials>,
    ) -> Result<Gateway, GatewayError> {
        let listen = resolve_listen(&config.listen)?;
        let advertised_host = match &config.advertised_host {
            Some(h) => h.clone(),
            None if listen.ip().is_unspecified() => {
                return Err(GatewayError::Config {
                    message: format!(
                        "`--listen {}` binds every interface: say with --advertised-host which host clients reach the gateway at",
                        config.listen
                    ),
                });
            }
            None => listen.ip().to_string(),
        };
        let port_base = match config.broker_port_base {
            Some(0) => None,
            Some(base) => Some(base),
            None if listen.port() == 0 => None,
            None => Some(listen.port().saturating_add(1)),
        };
        let target_port_base = match config.target_broker_port_base {
            Some(0) => None,
            Some(base) => Some(base),
            None => port_base.map(|b| b.saturating_add(TARGET_PORT_OFFSET)),
        };
        if target.is_none()
            && (config.admin_addr.is_some()
                || config.routes_file.is_some()
                || config.routes_topic.is_some())
        {
            return Err(GatewayError::Config {
                message: "--admin-addr, --routes-file and --routes-topic switch clients between two clusters: give the target with --target-cluster".into(),
            });
        }
        let acceptor = match &config.tls {
            Some((cert, key)) => Some(TlsAcceptor::from(Arc::new(tls::server_config(cert, key)?))),
            None => None,
        };
        let mut upstreams = vec![upstream(creds, port_base)?];
        let mut probed = vec![probe(creds, config.timeout)?];
        if let Some(t) = target {
            upstreams.push(upstream(t, target_port_base)?);
            probed.push(probe(t, config.timeout)?);
        }
        if config.routes_file.is_some() && config.routes_topic.is_some() {
            return Err(GatewayError::Config {
                message: "--routes-file and --routes-topic both keep the routes: give one".into(),
            });
        }
        let mut follower = None;
        let switch = match target {
            None => None,
            Some(t) => {
                let config_error = |e: super::routes::RoutesError| GatewayError::Config {
                    message: e.to_string(),
                };
                let (routes, store) = match (&config.routes_file, &config.routes_topic) {
                    (Some(path), _) => (
                        Routes::load(path).map_err(config_error)?,
                        Store::File(path.clone()),
                    ),
                    // Read to its end before any listener opens.
                    (None, Some(topic)) => {
                        let (routes, writer, reader) =
                            routes_topic::open(t, topic, config.timeout).map_err(config_error)?;
                        follower = Some(reader);
                        (routes, Store::Topic(writer))
                    }
                    (None, None) => (Routes::default(), Store::Memory),
                };
                Some(Switch::new(routes, store, config.hold_timeout))
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("kcp-gateway")
            .enable_all()
            .build()
            .map_err(GatewayError::Runtime)?;
        let shared = Shared(Arc::new(Inner {
            bind_ip: listen.ip(),
            advertised_host,
            acceptor,
            timeout: config.timeout,
            upstreams,
            connections: Mutex::new(HashMap::new()),
            opening: Mutex::new(()),
            next_id: AtomicU64::new(0),
            switch,
        }));
        if let Some(reader) = follower {
            routes_topic::follow(reader, shared.clone());
        }
        let listening = runtime.block_on(async {
            let bootstrap = shared.listen(listen, "the bootstrap listener", Target::Bootstrap)?;
            let mut routes = [Vec::new(), Vec::new()];
            for (cluster, brokers) in [Cluster::Source, Cluster::Target].into_iter().zip(&probed) {
                for b in brokers {
                    shared.learn(cluster, b.id, &b.host, b.port);
                    let port = shared.open_node(cluster, b.id)?;
                    routes[cluster.index()].push(BrokerRoute {
                        node_id: b.id,
                        gateway: format!("{}:{port}", shared.0.advertised_host),
                        upstream: format!("{}:{}", b.host, b.port),
                    });
                }
            }
            let admin = match &config.admin_addr {
                Some(addr) => Some(admin::serve(addr, shared.clone())?.to_string()),
                None => None,
            };
            let [brokers, target_brokers] = routes;
            Ok::<_, GatewayError>(Listening {
                cluster: creds.name.clone(),
                target: target.map(|t| t.name.clone()),
                bootstrap: format!("{}:{}", shared.0.advertised_host, bootstrap.port()),
                tls: shared.0.acceptor.is_some(),
                brokers,
                target_brokers,
                admin,
            })
        })?;
        Ok(Gateway {
            runtime,
            shared,
            listening,
        })
    }

    /// Where the gateway serves.
    pub fn listening(&self) -> &Listening {
        &self.listening
    }

    /// Serves until `stop` is set, then closes every connection.
    pub fn run_until(self, stop: &AtomicBool) {
        self.runtime.block_on(async {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        self.shared.close_all();
        self.runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

/// The target's node N listens on the source's base + this + N by default.
const TARGET_PORT_OFFSET: u16 = 100;

fn upstream(creds: &ClusterCredentials, port_base: Option<u16>) -> Result<Upstream, GatewayError> {
    Ok(Upstream {
        bootstrap: creds.bootstrap_servers.clone(),
        connector: tls::client_config(&creds.auth)?.map(|c| TlsConnector::from(Arc::new(c))),
        port_base,
        nodes: Mutex::new(BTreeMap::new()),
    })
}

fn probe(
    creds: &ClusterCredentials,
    timeout: Duration,
) -> Result<Vec<crate::connect::MetadataBroker>, GatewayError> {
    let probe = connect::connect(creds, ConnectOptions { timeout })?;
    Ok(probe.metadata().brokers.clone())
}

pub(super) fn resolve_listen(addr: &str) -> Result<SocketAddr, GatewayError> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| GatewayError::Address {
            addr: addr.to_owned(),
        })
}

impl Shared {
    fn upstream(&self, cluster: Cluster) -> &Upstream {
        // A target is only ever named when there is one.
        &self.0.upstreams[cluster.index().min(self.0.upstreams.len() - 1)]
    }

    /// Records where node `id` of `cluster` is upstream.
    fn learn(&self, cluster: Cluster, id: i32, host: &str, port: u16) {
        let mut nodes = lock(&self.upstream(cluster).nodes);
        let node = nodes.entry(id).or_insert_with(|| Node {
            upstream: (host.to_owned(), port),
            port: None,
        });
        if node.upstream.0 != host || node.upstream.1 != port {
            tracing::info!(
                node = id,
                "{cluster:?} node {id} is now advertised at {host}:{port}"
            );
            node.upstream = (host.to_owned(), port);
        }
    }

    /// Opens the listener of `cluster`'s node `id` unless open; its port.
    fn open_node(&self, cluster: Cluster, id: i32) -> Result<u16, GatewayError> {
        if let Some(port) = self.node_port(cluster, id) {
            return Ok(port);
        }
        let _opening = lock(&self.0.opening);
        if let Some(port) = self.node_port(cluster, id) {
            return Ok(port);
        }
        let port = match self.upstream(cluster).port_base {
            None => 0,
            Some(base) => i32::from(base)
                .checked_add(id)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| GatewayError::Config {
                    message: format!(
                        "node {id}'s port would be {base} + {id}, beyond 65535: choose a lower --broker-port-base (--target-broker-port-base for the target)"
                    ),
                })?,
        };
        let addr = SocketAddr::new(self.0.bind_ip, port);
        let what = match cluster {
            Cluster::Source => format!("node {id}"),
            Cluster::Target => format!("the target's node {id}"),
        };
        let local = self.listen(addr, &what, Target::Node(cluster, id))?;
        if let Some(node) = lock(&self.upstream(cluster).nodes).get_mut(&id) {
            node.port = Some(local.port());
        }
        Ok(local.port())
    }

    fn node_port(&self, cluster: Cluster, id: i32) -> Option<u16> {
        lock(&self.upstream(cluster).nodes)
            .get(&id)
            .and_then(|n| n.port)
    }

    fn upstream_of(&self, cluster: Cluster, id: i32) -> Option<(String, u16)> {
        lock(&self.upstream(cluster).nodes)
            .get(&id)
            .map(|n| n.upstream.clone())
    }

    /// Binds a listener (in the runtime) and serves it in a task.
    fn listen(
        &self,
        addr: SocketAddr,
        what: &str,
        target: Target,
    ) -> Result<SocketAddr, GatewayError> {
        let bind_error = |source| GatewayError::Bind {
            addr,
            what: what.to_owned(),
            source,
        };
        let std_listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let local = std_listener.local_addr().map_err(bind_error)?;
        let listener = TcpListener::from_std(std_listener).map_err(bind_error)?;
        tracing::debug!("listening on {local} for {what}");
        tokio::spawn(self.clone().accept(listener, target));
        Ok(local)
    }

    async fn accept(self, listener: TcpListener, target: Target) {
        loop {
            match listener.accept().await {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    tokio::spawn(self.clone().serve(socket, peer, target));
                }
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn serve(self, socket: TcpStream, peer: SocketAddr, target: Target) {
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        lock(&self.0.connections).insert(
            id,
            Connection {
                close: close.clone(),
                client: None,
                home: None,
            },
        );
        let result = if self.0.switch.is_some() {
            match self.accept_client(socket).await {
                Ok(client) => super::switch::proxy(&self, id, client, peer, target, close).await,
                Err(e) => Err(e.into()),
            }
        } else {
            self.transparent(socket, target, close).await
        };
        match result {
            Ok(end) => tracing::debug!("connection from {peer} ({target:?}) ended: {end:?}"),
            Err(e) => tracing::warn!("connection from {peer} ({target:?}) closed: {e}"),
        }
        lock(&self.0.connections).remove(&id);
    }

    /// One cluster, no routes: every connection has one upstream.
    async fn transparent(
        &self,
        socket: TcpStream,
        target: Target,
        close: Arc<Notify>,
    ) -> Result<conn::End, conn::ConnError> {
        let client = self.accept_client(socket).await?;
        let upstream = self.connect_upstream(Cluster::Source, target).await?;
        let advertise: Arc<dyn Advertise + Send + Sync> =
            Arc::new(self.advertiser(Cluster::Source));
        conn::proxy(client, upstream, advertise, close).await
    }

    /// How `cluster`'s brokers are presented.
    pub(super) fn advertiser(&self, cluster: Cluster) -> ClusterAdvertise {
        ClusterAdvertise {
            shared: self.clone(),
            cluster,
        }
    }

    /// The client's side, after TLS if the gateway has a certificate.
    async fn accept_client(&self, socket: TcpStream) -> std::io::Result<Box<dyn Stream>> {
        Ok(match &self.0.acceptor {
            Some(acceptor) => Box::new(within(self.0.timeout, acceptor.accept(socket)).await?),
            None => Box::new(socket),
        })
    }

    /// A connection to `cluster` (one of its bootstrap servers, or a node),
    /// after TLS if the cluster's auth has it.
    pub(super) async fn connect_upstream(
        &self,
        cluster: Cluster,
        target: Target,
    ) -> std::io::Result<Box<dyn Stream>> {
        let timeout = self.0.timeout;
        let (host, tcp) = within(timeout, self.connect_tcp(cluster, target)).await?;
        Ok(match &self.upstream(cluster).connector {
            Some(connector) => {
                Box::new(within(timeout, connector.connect(tls::server_name(&host)?, tcp)).await?)
            }
            None => Box::new(tcp),
        })
    }

    async fn connect_tcp(
        &self,
        cluster: Cluster,
        target: Target,
    ) -> std::io::Result<(String, TcpStream)> {
        let candidates = match target {
            Target::Bootstrap => self
                .upstream(cluster)
                .bootstrap
                .iter()
                // An entry may itself be a librdkafka list `h1:p1,h2:p2`.
                .flat_map(|s| s.split(','))
                .filter_map(|s| s.trim().rsplit_once(':'))
                .filter_map(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                .collect(),
            Target::Node(c, id) => self.upstream_of(c, id).into_iter().collect::<Vec<_>>(),
        };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no upstream address");
        for (host, port) in candidates {
            match TcpStream::connect((host.as_str(), port)).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok((host, tcp));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Closes every connection: their clients reconnect.
    fn close_all(&self) {
        for c in lock(&self.0.connections).values() {
            c.close.notify_one();
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn within<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(timeout, f).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )
    })?
}

/// Presents one cluster's brokers at the gateway's ports for it.
pub(super) struct ClusterAdvertise {
    shared: Shared,
    cluster: Cluster,
}

impl Advertise for ClusterAdvertise {
    fn advertise(&self, node_id: i32, host: &str, port: i32) -> (String, i32) {
        let shared = &self.shared;
        shared.learn(
            self.cluster,
            node_id,
            host,
            u16::try_from(port).unwrap_or(0),
        );
        let port = match shared.open_node(self.cluster, node_id) {
            Ok(port) => i32::from(port),
            Err(e) => {
                // The client is told an address nothing listens on: it
                // retries, and the error says why.
                tracing::error!("cannot serve {:?} node {node_id}: {e}", self.cluster);
                -1
            }
        };
        (shared.0.advertised_host.clone(), port)
    }
}
