//! One copier per plan: a lease held as membership of a consumer group on
//! the target (`kcp-replicator.<plan>.lease`), so that a second
//! `kcp migrate replicate` of the plan, or `execute` beside a forgotten
//! `replicate`, is refused instead of copying everything twice.
//!
//! A copier joins the group before it writes anything and stays in it
//! while it runs (heartbeats from librdkafka; the copy loop serves its
//! consumer every 100 ms). A new copier that finds members waits for one
//! session (a killed copier's membership expires then) and is refused,
//! naming them, if they are still there. Two copiers started within the
//! same second can both pass; with `transactions: true` the later one
//! fences the earlier then. Scale-out plans share their partitions on
//! purpose and take no lease.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::ReplicatorError;
use super::clients;
use super::plan::LoadedPlan;
use super::stats::Observer;
use crate::connect::admin;
use crate::connect::{Connection, KcpContext};

/// How long a member stays after its process died.
const SESSION: Duration = Duration::from_secs(6);
/// How often the lease group is described while this process joins it.
const JOIN_POLL: Duration = Duration::from_millis(25);

/// The plan's lease group on the target.
pub(super) fn lease_group(plan: &LoadedPlan) -> String {
    format!("kcp-replicator.{}.lease", plan.plan.name)
}

/// A held lease: dropped (closing the consumer) when the run ends.
pub(super) struct Lease {
    consumer: BaseConsumer<KcpContext>,
}

impl Lease {
    /// Takes the plan's lease, waiting up to a session for a dead holder's
    /// membership to expire; refuses while another copier holds it.
    pub(super) fn take(
        dst: &Connection,
        plan: &LoadedPlan,
        observer: &dyn Observer,
    ) -> Result<Lease, ReplicatorError> {
        let group = lease_group(plan);
        let deadline = Instant::now() + SESSION + Duration::from_secs(3);
        let mut told = false;
        let mut described = true;
        loop {
            let Some(holders) = holders(dst, &group) else {
                observer.notice("this cluster cannot describe consumer groups: a second copier of this plan is not detected");
                described = false;
                break;
            };
            if holders.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(ReplicatorError::AnotherCopier {
                    plan: plan.plan.name.clone(),
                    holders: holders.join(", "),
                });
            }
            if !told {
                observer.notice(&format!(
                    "another copier of this plan holds its lease ({}); waiting up to {} s for its session to end",
                    holders.join(", "),
                    SESSION.as_secs() + 3
                ));
                told = true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let client_id = format!(
            "kcp-replicator@{}:{}",
            hostname().unwrap_or_else(|| "?".into()),
            std::process::id()
        );
        let consumer = clients::consumer(
            dst.credentials(),
            &[
                ("group.id", &group),
                ("client.id", &client_id),
                ("enable.auto.commit", "false"),
                ("session.timeout.ms", &SESSION.as_millis().to_string()),
                ("heartbeat.interval.ms", "1000"),
                // It never reads: where it would start does not matter.
                ("auto.offset.reset", "latest"),
            ],
        )?;
        let map_topic = plan.plan.replication.offset_map_topic.as_str();
        consumer
            .subscribe(&[map_topic])
            .map_err(ReplicatorError::kafka("joining the plan's lease group"))?;
        let lease = Lease { consumer };
        if !described {
            return Ok(lease);
        }
        // Held once the group lists this process; anyone else listed then
        // joined at the same moment: both stop rather than both copy.
        let me = format!("{client_id} (");
        let wait = dst.timeout().max(Duration::from_secs(10)) * 3;
        let deadline = Instant::now() + wait;
        loop {
            lease.keep();
            let Some(members) = holders(dst, &group) else {
                return Ok(lease);
            };
            if members.iter().any(|m| m.starts_with(&me)) {
                let others: Vec<String> = members
                    .into_iter()
                    .filter(|m| !m.starts_with(&me))
                    .collect();
                if !others.is_empty() {
                    return Err(ReplicatorError::AnotherCopier {
                        plan: plan.plan.name.clone(),
                        holders: others.join(", "),
                    });
                }
                return Ok(lease);
            }
            if Instant::now() >= deadline {
                return Err(ReplicatorError::Setup(format!(
                    "could not join the plan's lease group `{group}` on the target within {} s (is its group coordinator available?)",
                    wait.as_secs()
                )));
            }
            std::thread::sleep(JOIN_POLL);
        }
    }

    /// Keeps the membership alive: serves the group's events and stops
    /// any fetching the assignment would start.
    pub(super) fn keep(&self) {
        if self
            .consumer
            .poll(Duration::ZERO)
            .is_some_and(|m| m.is_ok())
            && let Ok(assigned) = self.consumer.assignment()
        {
            let _ = self.consumer.pause(&assigned);
        }
    }
}

/// The members of the lease group, as `client.id (host)`; `None` when the
/// cluster cannot describe the group (the check is then skipped). A
/// coordinator still loading reads as no member yet.
fn holders(dst: &Connection, group: &str) -> Option<Vec<String>> {
    let groups = match admin::describe_consumer_groups(dst, &[group.to_owned()]) {
        Ok(groups) => groups,
        Err(e) => {
            tracing::warn!("cannot describe the plan's lease group `{group}`: {e}");
            return None;
        }
    };
    let mut out = Vec::new();
    for g in groups {
        match g.error_code.as_deref() {
            None => out.extend(
                g.members
                    .into_iter()
                    .map(|m| format!("{} ({})", m.client_id, m.host.trim_start_matches('/'))),
            ),
            Some(code) if admin::coordinator_not_ready(code) => {}
            Some(code) => {
                tracing::warn!("cannot describe the plan's lease group `{group}`: {code}");
                return None;
            }
        }
    }
    Some(out)
}

/// This host's name, for the lease holder's client id.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
