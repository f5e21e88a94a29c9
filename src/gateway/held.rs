//! What makes a switch exact and short, beside the routes: the writes each
//! client has in flight, where each client was last served, and which
//! members of a held group have started to rejoin.
//!
//! - **Writes in flight** (Produce with a response, OffsetCommit,
//!   TxnOffsetCommit) are counted per client from the moment the gateway
//!   decides where one goes (under the routes' lock, so a change of routes
//!   sees every write sent before it) until its answer comes back or its
//!   connection ends. Once a held client has none, everything it wrote
//!   upstream is written: `migrate execute` then reads the source's end
//!   offsets (producers) or the group's committed offsets (consumers)
//!   instead of waiting for them to stay unchanged.
//! - **A held member goes on consuming until it rejoins**: told to rejoin
//!   at its next Heartbeat, it revokes its partitions and sends JoinGroup,
//!   which waits (it is *parked*). Until then its other requests (Fetch,
//!   ListOffsets, Metadata ...) go where it was last served, so it
//!   consumes meanwhile instead of pausing. Once parked it stays held (its
//!   fetches too) until its route changes, even if its held JoinGroup
//!   times out and it sends another.

use std::collections::{HashMap, HashSet};

use super::routes::Cluster;
use super::server::{Shared, lock};
use super::switch::ClientKey;

/// Per-client state of a switch (locked after the routes, never before).
#[derive(Default)]
pub(crate) struct Held {
    writes: std::sync::Mutex<HashMap<ClientKey, usize>>,
    served: std::sync::Mutex<HashMap<ClientKey, Cluster>>,
    rejoining: std::sync::Mutex<HashSet<ClientKey>>,
}

impl Held {
    /// Counts a write of `key` in flight.
    pub(crate) fn write_sent(&self, key: &ClientKey) {
        *lock(&self.writes).entry(key.clone()).or_default() += 1;
    }

    fn write_done(&self, key: &ClientKey) {
        let mut writes = lock(&self.writes);
        if let Some(n) = writes.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                writes.remove(key);
            }
        }
    }

    /// Whether `key` has a write in flight.
    pub(crate) fn writing(&self, key: &ClientKey) -> bool {
        lock(&self.writes).contains_key(key)
    }

    /// Records where `key`'s request went.
    pub(crate) fn served(&self, key: &ClientKey, cluster: Cluster) {
        let mut served = lock(&self.served);
        if served.get(key) != Some(&cluster) {
            served.insert(key.clone(), cluster);
        }
    }

    /// Where a held member that has not started to rejoin is still
    /// served: where it was last; `None` once it parked (or when it was
    /// never served since the gateway started).
    pub(crate) fn still_served(&self, key: &ClientKey) -> Option<Cluster> {
        if lock(&self.rejoining).contains(key) {
            return None;
        }
        lock(&self.served).get(key).copied()
    }

    /// `key` parked (a held request to rejoin its group).
    pub(crate) fn rejoins(&self, key: &ClientKey) {
        lock(&self.rejoining).insert(key.clone());
    }

    /// After a change of routes: forgets the rejoining of clients no
    /// longer held.
    pub(crate) fn released(&self, still_held: impl Fn(&ClientKey) -> bool) {
        lock(&self.rejoining).retain(|k| still_held(k));
    }
}

/// A write in flight: counted until dropped (its answer read, or its
/// connection gone).
pub(crate) struct InFlight {
    shared: Shared,
    key: ClientKey,
}

impl InFlight {
    /// Counts `key`'s write; the caller holds the routes' lock.
    pub(crate) fn new(shared: &Shared, held: &Held, key: &ClientKey) -> InFlight {
        held.write_sent(key);
        InFlight {
            shared: shared.clone(),
            key: key.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(switch) = &self.shared.0.switch {
            switch.held.write_done(&self.key);
        }
    }
}

/// Whether a request is a write whose landing a switch waits for:
/// Produce (with a response), OffsetCommit, TxnOffsetCommit.
pub(crate) fn is_write(api_key: i16, expects_response: bool) -> bool {
    matches!(api_key, 0 | 8 | 28) && expects_response
}
