//! The target producer's side of the copy loop: sending with backpressure,
//! and delivery reports applied to the slots' maps. A failed delivery stops
//! the run with the most telling failure among those reported (a gapless
//! producer fails everything after the record at fault).
//!
//! Waits for acknowledgements poll in [`POLL_SLICE`]s: rdkafka's
//! `BaseProducer::poll` serves events until its whole timeout has passed,
//! and its `flush` polls in slices of 100 ms, so a wait for one report
//! would last a whole timeout. [`flush`] is the prompt flush.

use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::ReplicatorError;
use super::clients::CopyContext;
use super::slot::Slot;

/// How long a wait for acknowledgements polls the producer at a time: a
/// report is served at most this long after it arrives.
pub(super) const POLL_SLICE: Duration = Duration::from_millis(1);

/// Waits until everything sent is acknowledged (librdkafka's flush, which
/// also sends batches still lingering), serving delivery reports, for at
/// most `timeout`; returns within a [`POLL_SLICE`] of the last report.
pub(super) fn flush<C: ProducerContext>(
    producer: &BaseProducer<C>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        // A zero timeout only checks (and sends what lingers).
        match producer.flush(Duration::ZERO) {
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                if Instant::now() < deadline =>
            {
                producer.poll(POLL_SLICE);
            }
            done => return done,
        }
    }
}

/// A fatal error of the producer, which fails every send and delivery after
/// its cause.
pub(super) fn is_fatal(e: &ReplicatorError) -> bool {
    // A transactional producer whose transaction must be aborted (a record
    // failed for good) refuses every send with `State` instead.
    matches!(e, ReplicatorError::Kafka { source, .. }
    if matches!(
        source.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Fatal | RDKafkaErrorCode::State)
    ))
}

/// Applies delivery reports: a copy's target offset goes into its map; a
/// failed or unconfirmed delivery stops the run (which resumes from the
/// target's truth). When several fail, the most telling failure is
/// reported: a gapless producer fails everything after a record that could
/// not be written (`Fatal`), in whatever order the reports of different
/// partitions arrive.
pub(super) fn apply_deliveries(
    producer: &BaseProducer<CopyContext>,
    slots: &mut [Slot],
) -> Result<(), ReplicatorError> {
    let mut failure: Option<Failure> = None;
    let mut reports = producer.context().take_deliveries()?;
    loop {
        for (slot, src, outcome) in reports {
            if let Some(f) = apply_delivery(slots, slot, src, outcome) {
                failure = Some(match failure {
                    Some(known) if known.rank <= f.rank => known,
                    _ => f,
                });
            }
        }
        match &failure {
            None => return Ok(()),
            // The cause of a fatal error is in a report still to come:
            // nothing may be in flight when the restart reads the target's
            // tail anyway.
            Some(f) if f.rank > Failure::SPECIFIC => {
                let _ = flush(producer, Duration::from_secs(30));
                producer.poll(Duration::ZERO);
                reports = producer.context().take_deliveries()?;
                if reports.is_empty() {
                    break;
                }
            }
            // A transactional producer holds what follows the refused
            // record until its transaction is aborted, which drops it all:
            // a flush would only wait out its timeout.
            Some(_) if producer.context().is_transactional() => break,
            Some(_) => {
                let _ = flush(producer, Duration::from_secs(30));
                break;
            }
        }
    }
    Err(failure.expect("a failure stops the loop").error)
}

/// Waits until every copy and checkpoint sent is acknowledged, applying the
/// reports as they come in. A record refused for good stops the wait at
/// once with its own error, where librdkafka's flush would wait out its
/// timeout (a transactional producer holds what follows the refused record)
/// and say only that it timed out.
pub(super) fn settle(
    producer: &BaseProducer<CopyContext>,
    slots: &mut [Slot],
    timeout: Duration,
    operation: &str,
) -> Result<(), ReplicatorError> {
    let deadline = Instant::now() + timeout;
    loop {
        apply_deliveries(producer, slots)?;
        if producer.in_flight_count() == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ReplicatorError::Kafka {
                operation: operation.to_owned(),
                source: Box::new(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)),
            });
        }
        producer.poll(POLL_SLICE);
    }
}

/// A failed delivery and how much it says: lower ranks win.
struct Failure {
    rank: u8,
    error: ReplicatorError,
}

impl Failure {
    /// Ranks up to this one name the record at fault.
    const SPECIFIC: u8 = 1;
}

/// Applies one delivery report to its slot; returns the failure, if any.
fn apply_delivery(
    slots: &mut [Slot],
    slot: usize,
    src: i64,
    outcome: Result<i64, (KafkaError, Option<i64>)>,
) -> Option<Failure> {
    if slot == usize::MAX {
        // An offset-map checkpoint.
        let (e, _) = outcome.err()?;
        return Some(Failure {
            rank: 3,
            error: ReplicatorError::Kafka {
                operation: "writing offset maps".into(),
                source: Box::new(e),
            },
        });
    }
    let s = &mut slots[slot];
    s.in_flight -= 1;
    match outcome {
        // A success without an offset cannot go in the map: whether the
        // record landed is unknown, so stop and let the restart read the
        // target's truth (provenance headers).
        Ok(dst) if dst < 0 => Some(Failure {
            rank: 1,
            error: ReplicatorError::Unconfirmed {
                topic: s.topic.clone(),
                partition: s.partition,
                offset: src,
                reported: dst,
            },
        }),
        Ok(dst) => {
            s.map.record_copy(src, dst);
            s.copied += 1;
            s.dirty = true;
            s.confirmed = true;
            None
        }
        Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) => {
            Some(Failure {
                rank: 0,
                error: ReplicatorError::RecordTooLarge {
                    topic: s.topic.clone(),
                    partition: s.partition,
                    offset: src,
                    target_topic: s.target_topic.clone(),
                },
            })
        }
        // The broker's validation refused this record (its timestamp out
        // of the topic's bounds, most often); `target` names why.
        Err((e, timestamp))
            if matches!(
                e.rdkafka_error_code(),
                Some(RDKafkaErrorCode::InvalidTimestamp | RDKafkaErrorCode::InvalidRecord)
            ) =>
        {
            Some(Failure {
                rank: 0,
                error: ReplicatorError::RecordRefused {
                    topic: s.topic.clone(),
                    partition: s.partition,
                    offset: src,
                    target_topic: s.target_topic.clone(),
                    timestamp,
                    reason: String::new(),
                },
            })
        }
        // The idempotent producer already retried; a record that did not
        // land stops the run, which resumes from the target's truth. A
        // record refused only because another in its batch was (the
        // broker refuses whole batches) says least.
        Err((e, _)) => Some(Failure {
            rank: match e.rdkafka_error_code() {
                Some(RDKafkaErrorCode::Fatal | RDKafkaErrorCode::InvalidDifferentRecord) => 3,
                _ => 2,
            },
            error: ReplicatorError::Kafka {
                operation: format!("copying {}-{} offset {src}", s.topic, s.partition),
                source: Box::new(e),
            },
        }),
    }
}

/// Sends a record, waiting while the producer queue is full; `on_wait`
/// runs after each wait (to apply delivery reports).
pub(super) fn send_waiting<K: ToBytes + ?Sized, P: ToBytes + ?Sized>(
    producer: &BaseProducer<CopyContext>,
    mut record: BaseRecord<'_, K, P, Box<(usize, i64)>>,
    operation: &str,
    mut on_wait: impl FnMut(&BaseProducer<CopyContext>) -> Result<(), ReplicatorError>,
) -> Result<(), ReplicatorError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(50));
                on_wait(producer)?;
            }
            Err((e, _)) => {
                return Err(ReplicatorError::Kafka {
                    operation: operation.to_owned(),
                    source: Box::new(e),
                });
            }
        }
    }
}
