//! Reading bounded offset ranges of several partitions with one consumer:
//! how the offset maps, their repair and resume's hole check read the
//! target (and the source) between two known offsets.
//!
//! A range ends at an offset that may hold no record the consumer delivers:
//! a transaction marker (every partition copied with transactions ends with
//! one) or an aborted batch. Such a range is done when the consumer's
//! position has passed its end. Positions are checked on a short interval
//! whether or not records arrive, and a finished partition is paused: a
//! partition that keeps delivering (producers that moved to the target
//! write there) neither hides the others' ends nor keeps the wait alive.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Offset, TopicPartitionList};

use super::ReplicatorError;
use crate::connect::KcpContext;

/// How often positions are compared with the ranges' ends.
const POSITION_CHECK: Duration = Duration::from_millis(50);

/// Headers of a record, owned: `(key, value)`.
pub(crate) type OwnedHeaders = Vec<(String, Option<Vec<u8>>)>;

/// Reads every `(topic, partition, from, until)` range (`until` exclusive),
/// calling `visit(topic, partition, offset, key, value, headers)` for each
/// record in it. `consumer` must have no group and no assignment; it is
/// unassigned afterwards. Fails with [`ReplicatorError::Stalled`] when no
/// range makes progress for `timeout`.
pub(crate) fn read_ranges(
    consumer: &BaseConsumer<KcpContext>,
    ranges: &[(String, i32, i64, i64)],
    timeout: Duration,
    mut visit: impl FnMut(&str, i32, i64, Option<&[u8]>, Option<&[u8]>, OwnedHeaders),
) -> Result<(), ReplicatorError> {
    let mut pending = Pending::default();
    let mut list = TopicPartitionList::new();
    for (topic, partition, from, until) in ranges {
        if from < until {
            list.add_partition_offset(topic, *partition, Offset::Offset(*from))
                .map_err(ReplicatorError::kafka("assigning"))?;
            pending.ends.insert((topic.clone(), *partition), *until);
        }
    }
    if pending.ends.is_empty() {
        return Ok(());
    }
    prime_leaders(consumer, ranges, timeout);
    consumer
        .assign(&list)
        .map_err(ReplicatorError::kafka("assigning"))?;
    // A partition stays paused across assignments: undo an earlier read's.
    consumer
        .resume(&list)
        .map_err(ReplicatorError::kafka("resuming"))?;
    let mut deadline = Instant::now() + timeout;
    let mut checked = Instant::now();
    while !pending.ends.is_empty() {
        let idle = match consumer.poll(POSITION_CHECK) {
            Some(Ok(m)) => {
                let key = (m.topic().to_owned(), m.partition());
                if let Some(until) = pending.ends.get(&key).copied() {
                    deadline = Instant::now() + timeout;
                    if m.offset() < until {
                        visit(
                            m.topic(),
                            m.partition(),
                            m.offset(),
                            m.key(),
                            m.payload(),
                            owned_headers(&m),
                        );
                    }
                    if m.offset() + 1 >= until {
                        pending.finish(consumer, key)?;
                    }
                }
                false
            }
            // A connection lost for a moment (librdkafka reconnects): the
            // read goes on, bounded by the deadline like any other wait.
            Some(Err(rdkafka::error::KafkaError::MessageConsumption(code)))
                if super::clients::transient(code) =>
            {
                tracing::debug!("reading the target: {code}, retrying");
                true
            }
            Some(Err(e)) => {
                return Err(ReplicatorError::Kafka {
                    operation: "reading the target".into(),
                    source: Box::new(e),
                });
            }
            None => true,
        };
        if idle || checked.elapsed() >= POSITION_CHECK {
            checked = Instant::now();
            if pending.finish_passed(consumer)? {
                deadline = Instant::now() + timeout;
            }
            if Instant::now() > deadline {
                return Err(ReplicatorError::Stalled {
                    what: format!(
                        "reading {} partitions of the target ({:?})",
                        pending.ends.len(),
                        pending.ends.keys().take(3).collect::<Vec<_>>()
                    ),
                });
            }
        }
    }
    consumer
        .unassign()
        .map_err(ReplicatorError::kafka("unassigning"))?;
    Ok(())
}

/// Topics up to which [`prime_leaders`] asks for each topic's metadata;
/// beyond, one request for every topic's is cheaper than as many round
/// trips.
const PRIME_TOPICS: usize = 8;

/// Asks for the leaders of the ranges' topics before they are assigned.
/// A consumer learns the leaders of partitions assigned to it from a
/// metadata refresh it schedules itself, which delayed the first fetch of
/// each read by ~0.9 s (and every cutover offsets step by as much); asking
/// first lets the first fetch go out at once. Only the topics read are
/// asked for while they are few: a cluster's whole metadata can be large,
/// and a map load reads two or three times. A failure here only loses that
/// head start, so it is not an error.
fn prime_leaders(
    consumer: &BaseConsumer<KcpContext>,
    ranges: &[(String, i32, i64, i64)],
    timeout: Duration,
) {
    let topics: BTreeSet<&str> = ranges
        .iter()
        .filter(|(_, _, from, until)| from < until)
        .map(|(topic, ..)| topic.as_str())
        .collect();
    if topics.len() > PRIME_TOPICS {
        let _ = consumer.fetch_metadata(None, timeout);
        return;
    }
    for topic in topics {
        let _ = consumer.fetch_metadata(Some(topic), timeout);
    }
}

/// The ranges not read to their end yet: `(topic, partition)` → end.
#[derive(Default)]
struct Pending {
    ends: HashMap<(String, i32), i64>,
}

impl Pending {
    /// Marks a range done and stops fetching its partition.
    fn finish(
        &mut self,
        consumer: &BaseConsumer<KcpContext>,
        key: (String, i32),
    ) -> Result<(), ReplicatorError> {
        let mut list = TopicPartitionList::new();
        list.add_partition(&key.0, key.1);
        self.ends.remove(&key);
        consumer.pause(&list).map_err(ReplicatorError::kafka(
            "pausing a partition read to its end",
        ))
    }

    /// Finishes every range whose partition's position is at or past its
    /// end (the offsets left were gaps). True when one was.
    fn finish_passed(
        &mut self,
        consumer: &BaseConsumer<KcpContext>,
    ) -> Result<bool, ReplicatorError> {
        let positions = consumer
            .position()
            .map_err(ReplicatorError::kafka("reading positions"))?;
        let passed: Vec<(String, i32)> = positions
            .elements()
            .iter()
            .filter_map(|e| {
                let key = (e.topic().to_owned(), e.partition());
                match e.offset() {
                    Offset::Offset(pos) if self.ends.get(&key).is_some_and(|end| pos >= *end) => {
                        Some(key)
                    }
                    _ => None,
                }
            })
            .collect();
        let any = !passed.is_empty();
        for key in passed {
            self.finish(consumer, key)?;
        }
        Ok(any)
    }
}

fn owned_headers(m: &rdkafka::message::BorrowedMessage<'_>) -> OwnedHeaders {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}
