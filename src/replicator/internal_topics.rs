//! kcp's own topics on the target: the claims topic (see `claims`) and
//! the plan's offset-map topic. Both are compacted with one partition. A
//! run creates the missing ones in one request before it claims anything
//! and waits until they are led, so that its first write to them does
//! not wait for a metadata retry. Also home of the two admin helpers the
//! target's preparation shares: [`block`], [`await_leaders`] and
//! [`poll_until`].

use std::time::{Duration, Instant};

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use super::ReplicatorError;
use super::claims::CLAIMS_TOPIC;
use crate::connect::Connection;

/// What each of kcp's topics is, in messages.
pub(super) const CLAIMS: &str = "claims";
pub(super) const OFFSET_MAP: &str = "offset-map";

/// Both of kcp's topics for a plan whose maps go to `map_topic`.
pub(super) fn ensure_both(dst: &Connection, map_topic: &str) -> Result<(), ReplicatorError> {
    ensure(dst, &[(CLAIMS_TOPIC, CLAIMS), (map_topic, OFFSET_MAP)])
}

/// Creates those of `topics` (name, what it is for the error message)
/// that the target lacks, in one CreateTopics, and waits for their
/// leaders.
pub(super) fn ensure(dst: &Connection, topics: &[(&str, &str)]) -> Result<(), ReplicatorError> {
    let mut missing = Vec::new();
    for &(name, what) in topics {
        let md = dst.fetch_metadata(Some(name))?;
        let exists = md
            .topics()
            .first()
            .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
        if !exists {
            missing.push((name, what));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|(name, _)| {
            NewTopic::new(name, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact")
        })
        .collect();
    let results = block(dst.admin_client().create_topics(&new, &dst.admin_options()))?.map_err(
        ReplicatorError::kafka("creating kcp's topics on the target"),
    )?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                let what = missing
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("", |(_, w)| w);
                return Err(ReplicatorError::Setup(format!(
                    "cannot create the {what} topic `{name}` on the target: {code}"
                )));
            }
        }
    }
    await_leaders(dst, &created)
}

/// Runs an admin or delivery future to completion.
pub(super) fn block<F: std::future::Future>(f: F) -> Result<F::Output, ReplicatorError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplicatorError::Setup(format!("cannot start a runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// Waits until every partition of the `topics` just created has a leader:
/// until then, ListOffsets on them fails ("no leaders found"), which a
/// loaded broker shows for a moment after CreateTopics.
pub(super) fn await_leaders(dst: &Connection, topics: &[String]) -> Result<(), ReplicatorError> {
    for topic in topics {
        let what = || {
            format!("waiting for the partitions of the new target topic `{topic}` to get leaders")
        };
        poll_until(dst.timeout(), LEADER_POLL, what, || {
            let md = dst.fetch_metadata(Some(topic))?;
            Ok(md.topics().first().is_some_and(|t| {
                t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 0 && p.error().is_none())
            }))
        })?;
    }
    Ok(())
}

/// Asks `done` every `every` until it says yes; after `timeout`, fails as
/// stalled on `what`.
pub(super) fn poll_until(
    timeout: Duration,
    every: Duration,
    what: impl Fn() -> String,
    mut done: impl FnMut() -> Result<bool, ReplicatorError>,
) -> Result<(), ReplicatorError> {
    let deadline = Instant::now() + timeout;
    while !done()? {
        if Instant::now() >= deadline {
            return Err(ReplicatorError::Stalled { what: what() });
        }
        std::thread::sleep(every);
    }
    Ok(())
}

/// How often new partitions are checked for leaders: one metadata request
/// each time, for the fraction of a second a broker takes to elect them.
const LEADER_POLL: Duration = Duration::from_millis(20);
