//! The gateway's listeners and the state they share: which upstream
//! address each node id has (learned from the start-up probe and from
//! every response that names a broker), the listener of each node (opened
//! when a node is first seen), and the live connections, each of which can
//! be closed (at shutdown; later, to make a client reconnect after a
//! route changed).

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
use super::{BrokerRoute, Config, GatewayError, Listening, tls};
use crate::connect::{self, ClusterCredentials, ConnectOptions};

/// Where a listener's connections go upstream.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Any of the bootstrap servers.
    Bootstrap,
    /// One node, at the address it was last advertised at.
    Node(i32),
}

/// A running gateway.
pub struct Gateway {
    runtime: tokio::runtime::Runtime,
    shared: Shared,
    listening: Listening,
}

#[derive(Clone)]
struct Shared(Arc<Inner>);

struct Inner {
    bootstrap: Vec<String>,
    bind_ip: IpAddr,
    advertised_host: String,
    /// `None`: any free port per node.
    port_base: Option<u16>,
    acceptor: Option<TlsAcceptor>,
    connector: Option<TlsConnector>,
    timeout: Duration,
    nodes: Mutex<BTreeMap<i32, Node>>,
    connections: Mutex<HashMap<u64, Arc<Notify>>>,
    /// Held while a node's listener is opened, so two responses naming a
    /// new node open it once.
    opening: Mutex<()>,
    next_id: AtomicU64,
}

struct Node {
    upstream: (String, u16),
    /// The gateway's port for the node, once its listener is open.
    port: Option<u16>,
}

impl Gateway {
    /// Probes the cluster (failing fast on a wrong address or credentials),
    /// then opens the bootstrap listener and one listener per broker.
    pub fn start(config: &Config, creds: &ClusterCredentials) -> Result<Gateway, GatewayError> {
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
        let acceptor = match &config.tls {
            Some((cert, key)) => Some(TlsAcceptor::from(Arc::new(tls::server_config(cert, key)?))),
            None => None,
        };
        let connector = tls::client_config(&creds.auth)?.map(|c| TlsConnector::from(Arc::new(c)));
        let probe = connect::connect(
            creds,
            ConnectOptions {
                timeout: config.timeout,
            },
        )?;
        let brokers = probe.metadata().brokers.clone();
        drop(probe);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("kcp-gateway")
            .enable_all()
            .build()
            .map_err(GatewayError::Runtime)?;
        let shared = Shared(Arc::new(Inner {
            bootstrap: creds.bootstrap_servers.clone(),
            bind_ip: listen.ip(),
            advertised_host,
            port_base,
            acceptor,
            connector,
            timeout: config.timeout,
            nodes: Mutex::new(BTreeMap::new()),
            connections: Mutex::new(HashMap::new()),
            opening: Mutex::new(()),
            next_id: AtomicU64::new(0),
        }));
        let listening = runtime.block_on(async {
            let bootstrap = shared.listen(listen, "the bootstrap listener", Target::Bootstrap)?;
            let mut routes = Vec::new();
            for b in &brokers {
                shared.learn(b.id, &b.host, b.port);
                let port = shared.open_node(b.id)?;
                routes.push(BrokerRoute {
                    node_id: b.id,
                    gateway: format!("{}:{port}", shared.0.advertised_host),
                    upstream: format!("{}:{}", b.host, b.port),
                });
            }
            Ok::<_, GatewayError>(Listening {
                cluster: creds.name.clone(),
                bootstrap: format!("{}:{}", shared.0.advertised_host, bootstrap.port()),
                tls: shared.0.acceptor.is_some(),
                brokers: routes,
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

fn resolve_listen(addr: &str) -> Result<SocketAddr, GatewayError> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| GatewayError::Address {
            addr: addr.to_owned(),
        })
}

impl Shared {
    /// Records where node `id` is upstream.
    fn learn(&self, id: i32, host: &str, port: u16) {
        let mut nodes = self.0.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let node = nodes.entry(id).or_insert_with(|| Node {
            upstream: (host.to_owned(), port),
            port: None,
        });
        if node.upstream.0 != host || node.upstream.1 != port {
            tracing::info!(node = id, "node {id} is now advertised at {host}:{port}");
            node.upstream = (host.to_owned(), port);
        }
    }

    /// Opens node `id`'s listener unless open; its port.
    fn open_node(&self, id: i32) -> Result<u16, GatewayError> {
        if let Some(port) = self.node_port(id) {
            return Ok(port);
        }
        let _opening = self
            .0
            .opening
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(port) = self.node_port(id) {
            return Ok(port);
        }
        let port = match self.0.port_base {
            None => 0,
            Some(base) => i32::from(base)
                .checked_add(id)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| GatewayError::Config {
                    message: format!(
                        "node {id}'s port would be {base} + {id}, beyond 65535: choose a lower --broker-port-base"
                    ),
                })?,
        };
        let addr = SocketAddr::new(self.0.bind_ip, port);
        let local = self.listen(addr, &format!("node {id}"), Target::Node(id))?;
        let mut nodes = self.0.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(node) = nodes.get_mut(&id) {
            node.port = Some(local.port());
        }
        Ok(local.port())
    }

    fn node_port(&self, id: i32) -> Option<u16> {
        let nodes = self.0.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.get(&id).and_then(|n| n.port)
    }

    fn upstream_of(&self, id: i32) -> Option<(String, u16)> {
        let nodes = self.0.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.get(&id).map(|n| n.upstream.clone())
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
        self.0
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, close.clone());
        match self.connect_both(socket, target).await {
            Ok((client, upstream)) => {
                let advertise: Arc<dyn Advertise + Send + Sync> = Arc::new(self.clone());
                match conn::proxy(client, upstream, advertise, close).await {
                    Ok(end) => {
                        tracing::debug!("connection from {peer} ({target:?}) ended: {end:?}")
                    }
                    Err(e) => tracing::warn!("connection from {peer} ({target:?}) closed: {e}"),
                }
            }
            Err(e) => tracing::warn!("connection from {peer} ({target:?}) refused: {e}"),
        }
        self.0
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// The client's side (after TLS, if the gateway has a certificate) and
    /// the upstream side (after TLS, if the cluster's auth has it).
    async fn connect_both(
        &self,
        socket: TcpStream,
        target: Target,
    ) -> std::io::Result<(Box<dyn Stream>, Box<dyn Stream>)> {
        let timeout = self.0.timeout;
        let client: Box<dyn Stream> = match &self.0.acceptor {
            Some(acceptor) => Box::new(within(timeout, acceptor.accept(socket)).await?),
            None => Box::new(socket),
        };
        let (host, tcp) = within(timeout, self.connect_upstream(target)).await?;
        let upstream: Box<dyn Stream> = match &self.0.connector {
            Some(connector) => {
                Box::new(within(timeout, connector.connect(tls::server_name(&host)?, tcp)).await?)
            }
            None => Box::new(tcp),
        };
        Ok((client, upstream))
    }

    async fn connect_upstream(&self, target: Target) -> std::io::Result<(String, TcpStream)> {
        let candidates = match target {
            Target::Bootstrap => self
                .0
                .bootstrap
                .iter()
                // An entry may itself be a librdkafka list `h1:p1,h2:p2`.
                .flat_map(|s| s.split(','))
                .filter_map(|s| s.trim().rsplit_once(':'))
                .filter_map(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                .collect(),
            Target::Node(id) => self.upstream_of(id).into_iter().collect::<Vec<_>>(),
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
        let connections = self
            .0
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for close in connections.values() {
            close.notify_one();
        }
    }
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

impl Advertise for Shared {
    fn advertise(&self, node_id: i32, host: &str, port: i32) -> (String, i32) {
        self.learn(node_id, host, u16::try_from(port).unwrap_or(0));
        let port = match self.open_node(node_id) {
            Ok(port) => i32::from(port),
            Err(e) => {
                // The client is told an address nothing listens on: it
                // retries, and the error says why.
                tracing::error!("cannot serve node {node_id}: {e}");
                -1
            }
        };
        (self.0.advertised_host.clone(), port)
    }
}
