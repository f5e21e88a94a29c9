//! Switching clients between the source and the target: the routes and
//! what the gateway knows of each client (`Switch`), and a client
//! connection when there are two clusters (`proxy`).
//!
//! A connection serves one cluster, its *home*: the cluster of the broker
//! its port presents, or, on the bootstrap port, its client's cluster at its
//! first request. Each request is looked at before it goes upstream: its
//! client id, and the groups or topics it names, tell which client it is
//! and so which route applies (`routes.rs`). Then:
//! - connection set-up (ApiVersions, SASL) always goes to the home cluster;
//! - the client is held: a Heartbeat is answered REBALANCE_IN_PROGRESS
//!   by the gateway (the member revokes its partitions and rejoins, and
//!   its JoinGroup then waits: the client is *parked*); other requests
//!   wait (up to `--hold-timeout`, then the connection is closed and the
//!   client retries), except a group's commit or leave, which pass, and
//!   the fetches (and ListOffsets, Metadata) of a member not parked yet,
//!   which go where it was served (`held.rs`);
//! - the client is on the home cluster: it goes there;
//! - it is on the other cluster: the request goes to one of that
//!   cluster's bootstrap brokers over a second upstream connection opened
//!   for it. Any broker answers Metadata and FindCoordinator (their
//!   answers name that cluster's brokers at their gateway ports); one that
//!   is not a partition's leader or a group's coordinator says so, and the
//!   client looks again and connects to the right broker's port.
//!
//! Connections are not closed when a route changes (a client whose every
//! connection drops reports "all brokers down"): each request follows the
//! route the moment it is sent, and clients move their connections as
//! they learn the other cluster's brokers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::conn::{ConnError, End, Stream, forward_response};
use super::frame::{FrameReader, MAX_REQUEST, MAX_RESPONSE, RequestInfo, request_info};
use super::held::{self, Held, InFlight};
use super::producer_id;
use super::request::{self, Kind};
use super::routes::{Change, Client, Cluster, Route, Routes, RoutesError};
use super::routes_topic::RoutesTopic;
use super::server::{Shared, Target, lock};

/// A client: the IP it connects from and its `client.id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientKey {
    pub(crate) ip: IpAddr,
    pub(crate) client_id: String,
}

/// What the gateway knows of its clients' producer ids.
#[derive(Default)]
struct ProducerIds {
    /// Where each client last sent InitProducerId.
    origin: HashMap<ClientKey, Cluster>,
    /// (client, its id) -> the id the target gave the gateway for it.
    on_target: HashMap<(ClientKey, i64), i64>,
}

/// Where routes are kept.
pub(crate) enum Store {
    /// In memory only.
    Memory,
    /// `--routes-file`: saved before a change is answered.
    File(PathBuf),
    /// `--routes-topic`: written to the topic, applied when read back.
    Topic(RoutesTopic),
}

/// The routes, what is known of each client, and a signal for held
/// requests that a route changed.
pub(crate) struct Switch {
    routes: Mutex<Routes>,
    store: Store,
    pub(crate) clients: Mutex<HashMap<ClientKey, Client>>,
    /// Clients with a held request to (re)join a group (FindCoordinator,
    /// JoinGroup, SyncGroup): they consume nothing until released.
    pub(crate) parked: Mutex<HashMap<ClientKey, usize>>,
    /// Producer ids (`producer_id.rs`): the cluster each client last asked
    /// for one, and the target's id the gateway took for a client's id
    /// from elsewhere.
    producer_ids: Mutex<ProducerIds>,
    /// Writes in flight, where clients were served, who rejoins (`held.rs`).
    pub(crate) held: Held,
    changed: watch::Sender<u64>,
    hold_timeout: Duration,
}

impl Switch {
    pub(crate) fn new(routes: Routes, store: Store, hold_timeout: Duration) -> Switch {
        let (changed, _) = watch::channel(routes.version);
        Switch {
            routes: Mutex::new(routes),
            store,
            clients: Mutex::new(HashMap::new()),
            parked: Mutex::new(HashMap::new()),
            producer_ids: Mutex::new(ProducerIds::default()),
            held: Held::default(),
            changed,
            hold_timeout,
        }
    }

    pub(crate) fn routes(&self) -> Routes {
        lock(&self.routes).clone()
    }

    /// A group's known member clients, how many of them are parked and
    /// how many have a write (a commit) in flight.
    pub(crate) fn group_status(&self, group: &str) -> (usize, usize, usize) {
        let members: Vec<ClientKey> = lock(&self.clients)
            .iter()
            .filter(|(_, c)| c.groups.contains(group))
            .map(|(k, _)| k.clone())
            .collect();
        let parked = lock(&self.parked);
        let n = members
            .iter()
            .filter(|k| parked.get(*k).is_some_and(|n| *n > 0))
            .count();
        drop(parked);
        let writing = members.iter().filter(|k| self.held.writing(k)).count();
        (members.len(), n, writing)
    }

    /// The clients whose route is held, and how many of them have a write
    /// in flight (a Produce sent before the hold, not answered yet).
    pub(crate) fn held_status(&self) -> (usize, usize) {
        let clients = lock(&self.clients).clone();
        let routes = self.routes();
        let held: Vec<&ClientKey> = clients
            .iter()
            .filter(|(_, c)| routes.of_client(c) == Route::Held)
            .map(|(k, _)| k)
            .collect();
        let writing = held.iter().filter(|k| self.held.writing(k)).count();
        (held.len(), writing)
    }

    fn park(&self, key: &ClientKey, by: isize) {
        let mut parked = lock(&self.parked);
        let n = parked.entry(key.clone()).or_default();
        *n = n.saturating_add_signed(by);
        if *n == 0 {
            parked.remove(key);
        }
    }

    /// Where a request goes now. Decided under the routes' lock, and a
    /// write is counted in flight before it is released: a change of
    /// routes, once made, sees every write sent before it.
    fn place(
        &self,
        shared: &Shared,
        key: Option<&ClientKey>,
        home: Option<Cluster>,
        info: RequestInfo,
    ) -> Placed {
        let kind = request::kind(info.api_key);
        let client = key.map(|k| lock(&self.clients).get(k).cloned().unwrap_or_default());
        let routes = lock(&self.routes);
        let route = client
            .as_ref()
            .map_or(Route::Source, |c| routes.of_client(c));
        let go = match (route.cluster(), home) {
            (_, Some(home)) if kind == Kind::Setup => Some(home),
            (Some(cluster), _) => Some(cluster),
            (None, _) if info.api_key == HEARTBEAT => return Placed::Rejoin,
            (None, Some(home)) if kind == Kind::Passes => Some(home),
            // A held member that has not parked yet goes on consuming
            // where it was until it hears it must rejoin (`held.rs`).
            (None, _) => match (key, &client) {
                (Some(k), Some(c)) if !c.groups.is_empty() && consumes(info.api_key) => {
                    self.held.still_served(k)
                }
                _ => None,
            },
        };
        let Some(cluster) = go else {
            return Placed::Wait;
        };
        let in_flight = match key {
            Some(k) if held::is_write(info.api_key, info.expects_response) => {
                Some(InFlight::new(shared, &self.held, k))
            }
            _ => None,
        };
        drop(routes);
        if let (Some(k), Kind::Routed) = (key, kind) {
            self.held.served(k, cluster);
        }
        Placed::Go(cluster, in_flight)
    }

    /// Makes `changes` and returns the routes once they apply here: with
    /// a file, saved before anyone is told; with the routes topic, written
    /// to it and applied when this replica's follower reads them back (as
    /// every other replica does). Held requests are woken.
    pub(crate) async fn update(&self, changes: &[Change]) -> Result<Routes, RoutesError> {
        let topic = match &self.store {
            Store::Topic(topic) => topic,
            Store::Memory | Store::File(_) => return self.update_here(changes),
        };
        let last = topic.write(changes).await?;
        let want = u64::try_from(last + 1).unwrap_or(0);
        let mut changed = self.changed.subscribe();
        let seen = tokio::time::timeout(
            topic.timeout(),
            changed.wait_for(|version| *version >= want),
        )
        .await;
        match seen {
            Ok(Ok(_)) => Ok(self.routes()),
            _ => Err(RoutesError::Topic {
                topic: topic.topic().to_owned(),
                message: format!(
                    "written up to offset {last}, but this gateway has not read it back within {:?}",
                    topic.timeout()
                ),
            }),
        }
    }

    fn update_here(&self, changes: &[Change]) -> Result<Routes, RoutesError> {
        let mut routes = lock(&self.routes);
        let mut next = routes.clone();
        let mut changed = false;
        for change in changes {
            changed |= change.apply(&mut next);
        }
        if changed {
            if let Store::File(path) = &self.store {
                next.save(path)?;
            }
            *routes = next;
            self.release_rejoining(&routes);
            self.changed.send_replace(routes.version);
        }
        Ok(routes.clone())
    }

    /// Forgets the rejoining of members no longer held.
    fn release_rejoining(&self, routes: &Routes) {
        let clients = lock(&self.clients);
        self.held.released(|k| {
            clients
                .get(k)
                .is_some_and(|c| routes.of_client(c) == Route::Held)
        });
    }

    /// Applies what the routes topic's follower read and wakes the held
    /// requests.
    pub(crate) fn apply(&self, read: impl FnOnce(&mut Routes)) {
        let mut routes = lock(&self.routes);
        read(&mut routes);
        self.release_rejoining(&routes);
        self.changed.send_replace(routes.version);
    }

    /// Records the groups and topics a client named.
    fn learn(&self, key: &ClientKey, names: request::Names) {
        if names.groups.is_empty() && names.topics.is_empty() {
            return;
        }
        let mut clients = lock(&self.clients);
        let client = clients.entry(key.clone()).or_default();
        client.groups.extend(names.groups);
        client.topics.extend(names.topics);
    }
}

impl Shared {
    fn switch(&self) -> &Switch {
        self.0
            .switch
            .as_ref()
            .expect("routed connections exist only with a target")
    }

    /// Applies what the routes topic's follower read.
    pub(crate) fn apply_routes(&self, read: impl FnOnce(&mut Routes)) {
        self.switch().apply(read);
    }

    /// Closes every connection of the clients in `group`; how many.
    pub(crate) fn close_group(&self, group: &str) -> usize {
        let members: Vec<ClientKey> = lock(&self.switch().clients)
            .iter()
            .filter(|(_, c)| c.groups.contains(group))
            .map(|(k, _)| k.clone())
            .collect();
        let connections = lock(&self.0.connections);
        let mut closed = 0;
        for c in connections.values() {
            if c.client.as_ref().is_some_and(|k| members.contains(k)) {
                c.close.notify_one();
                closed += 1;
            }
        }
        closed
    }

    fn set_connection(&self, id: u64, key: &ClientKey, home: Option<Cluster>) {
        if let Some(c) = lock(&self.0.connections).get_mut(&id) {
            c.client = Some(key.clone());
            c.home = home;
        }
    }
}

/// What the response side reads next: a request's answer from one of the
/// connection's upstreams, or a new upstream to read from.
enum Pending {
    /// A request sent upstream; a write stays counted in flight until its
    /// answer is read.
    Request(RequestInfo, Cluster, Option<InFlight>),
    /// A response the gateway made itself.
    Local(Bytes),
    /// The answer to a request of the gateway's own (correlation id),
    /// handed to it instead of the client.
    Internal(i32, Cluster, oneshot::Sender<Bytes>),
    Opened(Cluster, Reader),
}

type Writer = BufWriter<WriteHalf<Box<dyn Stream>>>;
type Reader = FrameReader<ReadHalf<Box<dyn Stream>>>;

/// Proxies a client connection of a gateway with a target.
pub(crate) async fn proxy(
    shared: &Shared,
    id: u64,
    client: Box<dyn Stream>,
    peer: SocketAddr,
    target: Target,
    close: Arc<Notify>,
) -> Result<End, ConnError> {
    let (client_r, client_w) = tokio::io::split(client);
    let (pending_tx, pending_rx) = mpsc::unbounded_channel();
    let requests = Requests {
        shared,
        id,
        ip: peer.ip(),
        target,
        home: match target {
            Target::Bootstrap => None,
            Target::Node(cluster, _) => Some(cluster),
        },
        key: None,
        upstreams: [None, None],
        pending: pending_tx,
    };
    let responses = responses(
        BufWriter::with_capacity(64 * 1024, client_w),
        pending_rx,
        shared,
    );
    tokio::select! {
        r = requests.run(FrameReader::new(client_r, MAX_REQUEST)) => r,
        r = responses => r.map(|()| End::UpstreamClosed),
        () = close.notified() => Ok(End::Closed),
    }
}

struct Requests<'a> {
    shared: &'a Shared,
    id: u64,
    ip: IpAddr,
    target: Target,
    home: Option<Cluster>,
    key: Option<ClientKey>,
    upstreams: [Option<Writer>; 2],
    pending: mpsc::UnboundedSender<Pending>,
}

impl Requests<'_> {
    async fn run(mut self, mut reader: Reader) -> Result<End, ConnError> {
        while let Some(frame) = reader.next().await? {
            if let Some(end) = self.forward(frame).await? {
                return Ok(end);
            }
            while let Some(frame) = reader.buffered()? {
                if let Some(end) = self.forward(frame).await? {
                    return Ok(end);
                }
            }
            self.flush().await?;
        }
        Ok(End::ClientClosed)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        for w in self.upstreams.iter_mut().flatten() {
            w.flush().await?;
        }
        Ok(())
    }

    /// Routes one request; `Some` when the connection is to end.
    async fn forward(&mut self, frame: Bytes) -> Result<Option<End>, ConnError> {
        let info = request_info(&frame).ok_or(ConnError::NotARequest)?;
        self.learn(&frame, info);
        let shared = self.shared;
        let switch = shared.switch();
        let mut changed = switch.changed.subscribe();
        let deadline = tokio::time::Instant::now() + switch.hold_timeout;
        // A KIP-848 member's heartbeat: its group and member epoch.
        let beat = (info.api_key == CONSUMER_GROUP_HEARTBEAT)
            .then(|| request::consumer_heartbeat(&frame, info.api_version))
            .flatten();
        let (cluster, in_flight) = loop {
            match switch.place(shared, self.key.as_ref(), self.home, info) {
                Placed::Go(cluster, in_flight) => break (cluster, in_flight),
                Placed::Rejoin => {
                    // A held group's member is told to rejoin: it stops
                    // consuming (revokes its partitions) and its JoinGroup
                    // waits here until the group is routed.
                    return self.answer(request::rebalance_in_progress(&frame, info.api_version));
                }
                Placed::Wait if beat.as_ref().is_some_and(|(_, epoch)| *epoch > 0) => {
                    // A held KIP-848 member is fenced: it gives up its
                    // partitions and joins again (epoch 0), which parks.
                    return self.answer(request::fenced_member_epoch(&frame, info.api_version));
                }
                Placed::Wait => {
                    // Held: what was written so far must reach the broker.
                    self.flush().await?;
                    let parks = matches!(info.api_key, 10 | 11 | 14)
                        || beat.as_ref().is_some_and(|(_, epoch)| *epoch == 0);
                    if let (true, Some(key)) = (parks, &self.key) {
                        switch.park(key, 1);
                        switch.held.rejoins(key);
                    }
                    let woken = tokio::time::timeout_at(deadline, changed.changed()).await;
                    if let (true, Some(key)) = (parks, &self.key) {
                        switch.park(key, -1);
                    }
                    match woken {
                        Ok(Ok(())) => {}
                        // Too long, or the gateway is stopping.
                        _ => return Ok(Some(End::HeldTooLong)),
                    }
                }
            }
        };
        let home = match self.home {
            Some(home) => home,
            None => {
                self.home = Some(cluster);
                if let Some(key) = &self.key {
                    self.shared.set_connection(self.id, key, self.home);
                }
                cluster
            }
        };
        // On the other cluster than the connection's, a request goes to
        // one of its bootstrap brokers: any broker answers Metadata and
        // FindCoordinator, and one that is not the partition's leader or
        // the group's coordinator says so (NOT_LEADER_OR_FOLLOWER,
        // NOT_COORDINATOR), so the client looks again and connects to the
        // right broker's gateway port.
        if self.member_elsewhere(beat.as_ref(), cluster) {
            // Its epoch is the other cluster's: that cluster would fail
            // it for good (GROUP_ID_NOT_FOUND); fenced, it joins here.
            return self.answer(request::fenced_member_epoch(&frame, info.api_version));
        }
        self.open(cluster, cluster == home).await?;
        let frame = self.own_producer_id(frame, info, cluster).await?;
        let frame = self.own_member_id(frame, info, cluster);
        if info.expects_response {
            // The receiver lives as long as this future's sibling.
            let _ = self
                .pending
                .send(Pending::Request(info, cluster, in_flight));
        }
        if let Some(writer) = &mut self.upstreams[cluster.index()] {
            writer.write_all(&frame).await?;
        }
        Ok(None)
    }

    /// An idempotent producer's id is valid on the cluster that gave it
    /// only (`producer_id.rs`): a Produce request going to the target
    /// with an id the client did not get from the target gets an id the
    /// gateway took from the target for it (the same one for as long as
    /// the client uses its id; a new one after a restart of the gateway).
    async fn own_producer_id(
        &mut self,
        frame: Bytes,
        info: RequestInfo,
        cluster: Cluster,
    ) -> Result<Bytes, ConnError> {
        let Some(key) = self.key.clone() else {
            return Ok(frame);
        };
        let ids = &self.shared.switch().producer_ids;
        if info.api_key == INIT_PRODUCER_ID {
            lock(ids).origin.insert(key, cluster);
            return Ok(frame);
        }
        if info.api_key != PRODUCE
            || cluster != Cluster::Target
            || lock(ids).origin.get(&key) == Some(&Cluster::Target)
        {
            return Ok(frame);
        }
        let Some(id) = producer_id::idempotent_producer_id(&frame, info.api_version) else {
            return Ok(frame);
        };
        let known = lock(ids).on_target.get(&(key.clone(), id)).copied();
        let mapped = match known {
            Some(mapped) => mapped,
            None => {
                // Two connections of the client may both ask: the first
                // answer stays.
                let fresh = self.new_producer_id(cluster).await?;
                let mapped = *lock(ids)
                    .on_target
                    .entry((key.clone(), id))
                    .or_insert(fresh);
                tracing::info!(client = %key.client_id, id, mapped, "a switched producer's id replaced by one of the target");
                mapped
            }
        };
        Ok(producer_id::rewrite_produce(&frame, info.api_version, mapped).unwrap_or(frame))
    }

    /// A JoinGroup going to the other cluster than the client's last one
    /// for its group goes without its member id (`held.rs`).
    fn own_member_id(&self, frame: Bytes, info: RequestInfo, cluster: Cluster) -> Bytes {
        let Some(key) = &self.key else {
            return frame;
        };
        if info.api_key != JOIN_GROUP {
            return frame;
        }
        let Some((group, with_id)) = request::join_group(&frame, info.api_version) else {
            return frame;
        };
        let held = &self.shared.switch().held;
        if !held.joins_elsewhere(key, &group, cluster) || !with_id {
            return frame;
        }
        tracing::debug!(client = %key.client_id, group, ?cluster, "a member joins on the other cluster as a new member");
        request::join_as_new_member(&frame, info.api_version).unwrap_or(frame)
    }

    /// Whether a KIP-848 member's heartbeat (`beat`: group, epoch) goes
    /// to `cluster` with an epoch from the other cluster (its last
    /// heartbeat for the group went there). Records where it goes.
    fn member_elsewhere(&self, beat: Option<&(String, i32)>, cluster: Cluster) -> bool {
        let (Some(key), Some((group, epoch))) = (&self.key, beat) else {
            return false;
        };
        let held = &self.shared.switch().held;
        held.joins_elsewhere(key, group, cluster) && *epoch > 0
    }

    /// Sends the gateway's own `answer` to the client.
    fn answer(&self, answer: Option<Bytes>) -> Result<Option<End>, ConnError> {
        let answer = answer.ok_or(ConnError::NotARequest)?;
        let _ = self.pending.send(Pending::Local(answer));
        Ok(None)
    }

    /// Asks `cluster` (over this connection's upstream there, open) for a
    /// new idempotent producer id.
    async fn new_producer_id(&mut self, cluster: Cluster) -> Result<i64, ConnError> {
        const CORRELATION_ID: i32 = i32::MIN;
        let request =
            producer_id::init_producer_id_request(CORRELATION_ID).ok_or(ConnError::NotARequest)?;
        let Some(writer) = &mut self.upstreams[cluster.index()] else {
            return Err(ConnError::ProducerId(-1));
        };
        let (answer, answered) = oneshot::channel();
        let _ = self
            .pending
            .send(Pending::Internal(CORRELATION_ID, cluster, answer));
        writer.write_all(&request).await?;
        writer.flush().await?;
        let response = answered.await.map_err(|_| ConnError::ProducerId(-1))?;
        producer_id::init_producer_id_response(&response).map_err(ConnError::ProducerId)
    }

    /// Learns the client's key from the request and what it names.
    fn learn(&mut self, frame: &Bytes, info: RequestInfo) {
        if self.key.is_some() && !names_something(info.api_key) {
            return;
        }
        let Some(names) = request::names(frame, info.api_key, info.api_version) else {
            return;
        };
        let key = ClientKey {
            ip: self.ip,
            client_id: names.client_id.clone(),
        };
        if self.key.as_ref() != Some(&key) {
            self.shared.set_connection(self.id, &key, self.home);
            self.key = Some(key.clone());
        }
        self.shared.switch().learn(&key, names);
    }

    /// Opens the connection's upstream to `cluster` unless open: the
    /// port's node for the home cluster, else a bootstrap server.
    async fn open(&mut self, cluster: Cluster, home: bool) -> Result<(), ConnError> {
        let slot = cluster.index();
        if self.upstreams[slot].is_none() {
            let target = match self.target {
                Target::Node(c, id) if home && c == cluster => Target::Node(c, id),
                _ => Target::Bootstrap,
            };
            let stream = self.shared.connect_upstream(cluster, target).await?;
            let (r, w) = tokio::io::split(stream);
            let _ = self
                .pending
                .send(Pending::Opened(cluster, FrameReader::new(r, MAX_RESPONSE)));
            self.upstreams[slot] = Some(BufWriter::with_capacity(64 * 1024, w));
        }
        Ok(())
    }
}

/// Where a request goes (`Switch::place`).
enum Placed {
    Go(Cluster, Option<InFlight>),
    /// A held member's Heartbeat: answered `REBALANCE_IN_PROGRESS`.
    Rejoin,
    /// Held.
    Wait,
}

/// What a consumer sends while it consumes (Fetch, ListOffsets, Metadata,
/// OffsetForLeaderEpoch): a held member sends them where it was until it
/// parks.
fn consumes(api_key: i16) -> bool {
    matches!(api_key, 1 | 2 | 3 | 23)
}

const HEARTBEAT: i16 = 12;
const CONSUMER_GROUP_HEARTBEAT: i16 = 68;
const JOIN_GROUP: i16 = 11;
const PRODUCE: i16 = 0;
const INIT_PRODUCER_ID: i16 = 22;

/// Whether a request may name a group or topics.
fn names_something(api_key: i16) -> bool {
    matches!(api_key, 3 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 28 | 68)
}

/// Upstreams to client, in request order.
async fn responses<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut pending: mpsc::UnboundedReceiver<Pending>,
    shared: &Shared,
) -> Result<(), ConnError> {
    let mut readers: [Option<Reader>; 2] = [None, None];
    let advertise = [
        shared.advertiser(Cluster::Source),
        shared.advertiser(Cluster::Target),
    ];
    while let Some(next) = pending.recv().await {
        let (info, cluster, in_flight) = match next {
            Pending::Opened(cluster, reader) => {
                readers[cluster.index()] = Some(reader);
                continue;
            }
            Pending::Request(info, cluster, in_flight) => (info, cluster, in_flight),
            Pending::Local(frame) => {
                writer.write_all(&frame).await?;
                writer.flush().await?;
                continue;
            }
            Pending::Internal(correlation_id, cluster, answer) => {
                let reader = readers[cluster.index()]
                    .as_mut()
                    .ok_or(ConnError::Unexpected(correlation_id))?;
                let Some(frame) = reader.next().await? else {
                    return Ok(());
                };
                let got = super::conn::correlation_id(&frame);
                if got != correlation_id {
                    return Err(ConnError::OutOfOrder {
                        got,
                        expected: correlation_id,
                    });
                }
                let _ = answer.send(frame);
                continue;
            }
        };
        let reader = readers[cluster.index()]
            .as_mut()
            .ok_or(ConnError::Unexpected(info.correlation_id))?;
        let Some(frame) = reader.next().await? else {
            return Ok(());
        };
        // Answered: the write landed (or failed) upstream.
        drop(in_flight);
        forward_response(frame, &mut writer, info, &advertise[cluster.index()]).await?;
        writer.flush().await?;
    }
    Ok(())
}
