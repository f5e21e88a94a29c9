//! `cutover.mode: gateway`: the steps that move clients through `kcp
//! gateway`'s admin interface instead of hooks. The step ids stay those of
//! the hook mode (so the migration state records and resumes them the same
//! way); each call sets a route, which is idempotent, so a step re-run
//! after a crash of kcp does what it did once.
//!
//! - a wave's stop: its groups `held`; kcp waits until the gateway reports
//!   their clients parked (told to rejoin at their next heartbeat, they
//!   revoked their partitions and wait to join again; until then they go
//!   on consuming) with no commit in flight: their committed offsets are
//!   then final. Those that do not park within 10 s are disconnected, and
//!   then (or when the gateway knows none of a group's clients) kcp waits
//!   until the committed offsets stay unchanged for 0.5 s;
//! - a wave's offsets: the usual exact move;
//! - a wave's start: its groups routed to the target;
//! - the producers' stop: the plan's topics `held` (produce requests wait
//!   in the gateway); once the produce requests sent before are answered
//!   (the gateway counts them), the source's end offsets bound every
//!   acknowledged record;
//! - the drain: the usual, polled faster, and until the end offsets read
//!   again are those copied to;
//! - the producers' start: the topics routed to the target.
//!
//! Rollback routes back: groups and topics to the source (groups that ran
//! on the target are held and their offsets moved back first).
//!
//! With several gateway replicas (`cutover.gateway.admin` a list, or a
//! name resolving to each replica) a route is set through the first and a
//! step goes on only once every replica serves it; a group counts as
//! parked when it is on every replica.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::actions::ends_to_json;
use super::execute::{ExecuteError, Run, Wait};
use super::offsets::Laps;
use super::steps::Step;
use crate::connect::admin::{self, OffsetSpec};
use crate::gateway::{Gateways, Route};
use crate::replicator::{self, CutoverMode, ReplicatorError};

/// How long a group's committed offsets must stay unchanged after its
/// clients were held and disconnected.
const SETTLE: Duration = Duration::from_millis(500);
/// How long kcp waits for a held group's clients to park (they do at
/// their next heartbeat) before it disconnects them.
const PARK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often kcp asks while clients are paused.
pub(super) const POLL: Duration = Duration::from_millis(20);
/// How long every replica has to apply a route set through another.
const REPLICAS_APPLY: Duration = Duration::from_secs(30);

impl Run<'_, '_> {
    /// Whether clients move through a gateway.
    pub(super) fn gateway_mode(&self) -> bool {
        self.cutover().mode == CutoverMode::Gateway
    }

    /// The gateway's replicas, resolved again at each step (a replica
    /// may have come or gone).
    fn gateway_admin(&self) -> Result<Gateways, ExecuteError> {
        let urls = self
            .cutover()
            .gateway
            .map(|g| g.admin.urls())
            .unwrap_or_default();
        Ok(Gateways::new(&urls, self.cx.timeout)?)
    }

    /// Holds a wave's groups and waits until their clients are parked
    /// with no commit in flight (then their committed offsets are final);
    /// clients that do not park are disconnected.
    pub(super) fn gateway_hold_groups(
        &mut self,
        step: &Step,
        groups: &[String],
    ) -> Result<Value, ExecuteError> {
        let mut laps = Laps::start();
        let gw = self.gateway_admin()?;
        let routes = gw.set(groups, &[], Route::Held, REPLICAS_APPLY)?;
        laps.lap("held");
        self.cx.operator.notice(&format!(
            "gateway: {} held (routes version {}{}); waiting for their clients to park",
            groups.join(", "),
            routes.version,
            replicas(&gw)
        ));
        let started = Instant::now();
        // A group no replica knows a client of (a gateway restarted since,
        // clients not connected yet) says nothing of commits in flight.
        let mut unknown = false;
        let parked = self.wait_every(step, None, POLL, |_run| {
            let mut waiting = Vec::new();
            unknown = false;
            for group in groups {
                let status = gw.group_status(group)?;
                unknown |= status.iter().all(|(_, clients, _, _)| *clients == 0);
                for (url, clients, parked, writing) in status {
                    if parked < clients || writing > 0 {
                        let at = if gw.len() > 1 {
                            format!(" at {url}")
                        } else {
                            String::new()
                        };
                        waiting.push(format!(
                            "{group}: {parked} of {clients}{at}, {writing} committing"
                        ));
                    }
                }
            }
            if waiting.is_empty() {
                return Ok(Wait::Done(true));
            }
            if started.elapsed() >= PARK_TIMEOUT {
                return Ok(Wait::Done(false));
            }
            Ok(Wait::Pending(format!(
                "clients parked: {}",
                waiting.join(", ")
            )))
        })?;
        laps.lap("parked");
        // Clients that did not park (a consumer that uses assign(), or one
        // whose heartbeat did not come) are disconnected.
        let mut closed = 0;
        if !parked {
            for group in groups {
                closed += gw.close_group(group)?;
            }
            self.cx.operator.notice(&format!(
                "gateway: not every client of {} parked within {} s: {closed} connection(s) closed",
                groups.join(", "),
                PARK_TIMEOUT.as_secs()
            ));
        }
        // Parked with nothing in flight: the committed offsets are final.
        // Otherwise (connections closed, or clients unknown) they are
        // taken as final once they stay unchanged for a while.
        if !parked || unknown {
            self.wait_commits_settled(step, groups)?;
            laps.lap("settled");
        }
        tracing::debug!(groups = %groups.join(","), laps = %laps, "gateway: wave stopped");
        Ok(
            json!({ "held": groups, "parked_after_ms": started.elapsed().as_millis() as u64, "connections_closed": closed }),
        )
    }

    /// Routes groups (`route`: the target to switch, the source to roll
    /// back).
    pub(super) fn gateway_route_groups(
        &mut self,
        groups: &[String],
        route: Route,
    ) -> Result<Value, ExecuteError> {
        let gw = self.gateway_admin()?;
        let routes = gw.set(groups, &[], route, REPLICAS_APPLY)?;
        self.cx.operator.notice(&format!(
            "gateway: {} routed to the {route:?} (routes version {}{})",
            groups.join(", "),
            routes.version,
            replicas(&gw)
        ));
        Ok(json!({ "groups": groups, "route": route, "version": routes.version }))
    }

    /// Holds produce requests for the plan's topics, waits until those
    /// sent before are answered, and reads the source's end offsets: every
    /// record acknowledged on the source is below them.
    pub(super) fn gateway_hold_producers(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let mut laps = Laps::start();
        let topics = self.plan_topics()?;
        let gw = self.gateway_admin()?;
        let routes = gw.set(&[], &topics, Route::Held, REPLICAS_APPLY)?;
        laps.lap("held");
        self.cx.operator.notice(&format!(
            "gateway: producers of {} topic(s) held (routes version {}{})",
            topics.len(),
            routes.version,
            replicas(&gw)
        ));
        self.wait_every(step, None, POLL, |_run| {
            let writing = gw.held_writing()?;
            if writing == 0 {
                return Ok(Wait::Done(()));
            }
            Ok(Wait::Pending(format!(
                "{writing} held client(s) with a produce request in flight"
            )))
        })?;
        laps.lap("answered");
        let ends = self.source_ends(OffsetSpec::Latest)?;
        laps.lap("ends");
        tracing::debug!(laps = %laps, "gateway: producers stopped");
        Ok(json!({ "held_topics": topics.len(), "source_ends": ends_to_json(&ends) }))
    }

    /// Routes the plan's topics' producers (`route`: the target to switch,
    /// the source to roll back).
    pub(super) fn gateway_route_producers(&mut self, route: Route) -> Result<Value, ExecuteError> {
        let topics = self.plan_topics()?;
        let gw = self.gateway_admin()?;
        let routes = gw.set(&[], &topics, route, REPLICAS_APPLY)?;
        self.cx.operator.notice(&format!(
            "gateway: producers of {} topic(s) routed to the {route:?} (routes version {}{})",
            topics.len(),
            routes.version,
            replicas(&gw)
        ));
        Ok(json!({ "topics": topics.len(), "route": route, "version": routes.version }))
    }

    fn plan_topics(&mut self) -> Result<Vec<String>, ExecuteError> {
        let plan = self.cx.plan;
        let (src, _) = self.conns()?;
        Ok(replicator::source_partitions(src, plan)?
            .into_iter()
            .map(|(t, _)| t)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect())
    }

    /// Waits until `groups`' committed offsets on the source stay
    /// unchanged for [`SETTLE`]: a commit that was on its way when the
    /// clients were held lands before the offsets are moved.
    fn wait_commits_settled(&mut self, step: &Step, groups: &[String]) -> Result<(), ExecuteError> {
        let mut last: Option<(Vec<String>, Instant)> = None;
        self.wait(step, None, |run| {
            let (src, _) = run.conns()?;
            let mut now = Vec::new();
            for (group, result) in groups.iter().zip(admin::list_group_offsets(src, groups)) {
                for o in result.map_err(ReplicatorError::from)? {
                    now.push(format!(
                        "{group}/{}/{}={:?}",
                        o.topic,
                        o.partition,
                        o.offset.ok()
                    ));
                }
            }
            now.sort();
            match &last {
                Some((prev, since)) if *prev == now && since.elapsed() >= SETTLE => {
                    return Ok(Wait::Done(()));
                }
                Some((prev, _)) if *prev == now => {}
                _ => last = Some((now, Instant::now())),
            }
            Ok(Wait::Pending("waiting for the groups' last commits".into()))
        })
    }
}

/// `, on N replicas` when there are several.
fn replicas(gw: &Gateways) -> String {
    if gw.len() > 1 {
        format!(", on {} replicas", gw.len())
    } else {
        String::new()
    }
}
