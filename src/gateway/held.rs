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
//! - **A member that joins on the other cluster joins as a new member**:
//!   its member id was given by the cluster its last JoinGroup went to.

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
    /// Where each (client, group)'s last JoinGroup went.
    joined: std::sync::Mutex<HashMap<(ClientKey, String), Cluster>>,
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

    /// Records that `key`'s JoinGroup for `group` goes to `cluster`;
    /// whether its last one went to the other cluster (whose member id
    /// this one is unknown here).
    pub(crate) fn joins_elsewhere(&self, key: &ClientKey, group: &str, cluster: Cluster) -> bool {
        let before = lock(&self.joined).insert((key.clone(), group.to_owned()), cluster);
        before.is_some_and(|c| c != cluster)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> ClientKey {
        ClientKey {
            ip: "127.0.0.1".parse().unwrap(),
            client_id: id.into(),
        }
    }

    #[test]
    fn a_held_member_is_served_where_it_was_until_it_parks_and_then_until_released() {
        let held = Held::default();
        let (a, b) = (key("a"), key("b"));
        assert_eq!(held.still_served(&a), None, "never served: held");
        held.served(&a, Cluster::Source);
        held.served(&b, Cluster::Target);
        assert_eq!(held.still_served(&a), Some(Cluster::Source));
        assert_eq!(held.still_served(&b), Some(Cluster::Target));
        held.rejoins(&a);
        assert_eq!(held.still_served(&a), None, "parked once: held");
        // A change of routes that leaves `a` held keeps it held...
        held.released(|_| true);
        assert_eq!(held.still_served(&a), None);
        // ... one that releases it forgets that it rejoined.
        held.released(|k| k != &a);
        assert_eq!(held.still_served(&a), Some(Cluster::Source));
        assert_eq!(held.still_served(&b), Some(Cluster::Target));
    }

    #[test]
    fn a_join_on_the_other_cluster_than_the_last_is_told() {
        let held = Held::default();
        let a = key("a");
        assert!(
            !held.joins_elsewhere(&a, "g", Cluster::Source),
            "first join"
        );
        assert!(!held.joins_elsewhere(&a, "g", Cluster::Source));
        assert!(
            !held.joins_elsewhere(&a, "h", Cluster::Target),
            "another group"
        );
        assert!(held.joins_elsewhere(&a, "g", Cluster::Target));
        assert!(!held.joins_elsewhere(&a, "g", Cluster::Target));
        assert!(
            held.joins_elsewhere(&a, "g", Cluster::Source),
            "rolled back"
        );
    }

    #[test]
    fn writes_are_counted_until_each_is_done() {
        let held = Held::default();
        let a = key("a");
        assert!(!held.writing(&a));
        held.write_sent(&a);
        held.write_sent(&a);
        held.write_done(&a);
        assert!(held.writing(&a));
        held.write_done(&a);
        assert!(!held.writing(&a));
        held.write_done(&a);
        assert!(!held.writing(&a), "never below zero");
        assert!(is_write(0, true) && is_write(8, true) && is_write(28, true));
        assert!(!is_write(0, false), "acks=0 has no answer to wait for");
        assert!(!is_write(1, true));
    }
}
