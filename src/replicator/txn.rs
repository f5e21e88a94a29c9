//! Target transactions (`replication.transactions`, on by default for a
//! single copier): the
//! fence against a copier that was frozen, cut off or started twice.
//!
//! Every copier of a plan uses the same transactional id, so the newest
//! one's `InitProducerId` aborts the previous one's open transaction and
//! bumps the producer epoch: whatever the previous one still sends is
//! refused by the brokers, and nothing it wrote since its last commit
//! becomes visible to `read_committed` readers (every target reader of kcp
//! is one). Copies and offset-map checkpoints are committed together at each
//! checkpoint; a restart resumes from the committed records only.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaError};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::ReplicatorError;
use super::clients::{CopyContext, DELIVERY_TIMEOUT};
use super::plan::LoadedPlan;

/// The plan's transactional id on the target.
pub(super) fn transactional_id(plan: &LoadedPlan) -> String {
    format!("kcp-replicator.{}", plan.plan.name)
}

/// A producer's transactions, when the plan asks for them.
#[derive(Clone, Copy)]
pub(super) struct Transactions<'a> {
    producer: &'a BaseProducer<CopyContext>,
    plan: &'a LoadedPlan,
    timeout: Duration,
}

impl<'a> Transactions<'a> {
    /// `None` when the plan does not use transactions.
    pub(super) fn of(
        producer: &'a BaseProducer<CopyContext>,
        plan: &'a LoadedPlan,
        timeout: Duration,
    ) -> Option<Self> {
        plan.plan
            .replication
            .uses_transactions()
            .then_some(Transactions {
                producer,
                plan,
                timeout,
            })
    }

    /// Fences every earlier copier of the plan (their open transaction is
    /// aborted), then opens the first transaction. Must come before anything
    /// is read from the target: only then is what it holds final.
    pub(super) fn init(&self) -> Result<(), ReplicatorError> {
        self.producer
            .init_transactions(self.timeout * 3)
            .map_err(|e| match code_of(&e) {
                Some(code) if refused(code) => ReplicatorError::TransactionsUnavailable {
                    transactional_id: transactional_id(self.plan),
                    reason: e.to_string(),
                },
                _ => self.error("starting target transactions", e),
            })?;
        self.begin()
    }

    fn begin(&self) -> Result<(), ReplicatorError> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.error("beginning a target transaction", e))
    }

    /// Commits what was sent since the last commit (flushing it first) and
    /// opens the next transaction. An abortable failure aborts: the run
    /// then starts over from what the target committed. A commit that
    /// times out is resumed for as long as a record is retried
    /// ([`DELIVERY_TIMEOUT`]): a coordinator coming back after an outage
    /// first reloads its transactions.
    pub(super) fn commit(&self) -> Result<(), ReplicatorError> {
        let deadline = Instant::now() + DELIVERY_TIMEOUT + self.timeout;
        loop {
            match self.producer.commit_transaction(self.timeout * 3) {
                Ok(()) => return self.begin(),
                Err(KafkaError::Transaction(e))
                    if e.is_retriable() && Instant::now() < deadline => {}
                Err(KafkaError::Transaction(e)) if e.txn_requires_abort() => {
                    let _ = self.producer.abort_transaction(self.timeout * 3);
                    return Err(ReplicatorError::Aborted {
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(self.error("committing a target transaction", e)),
            }
        }
    }

    /// Aborts the open transaction, if it can (a run that stops on an
    /// error): its records never become visible either way.
    pub(super) fn abort(&self) {
        let _ = self.producer.abort_transaction(self.timeout);
    }

    /// The producer was fenced: its fatal error says so.
    pub(super) fn fenced(&self) -> bool {
        self.producer
            .client()
            .fatal_error()
            .is_some_and(|(code, _)| is_fencing(code))
    }

    /// An error of a transactional call: fencing is named, the rest is a
    /// Kafka error of `operation`.
    fn error(&self, operation: &str, e: KafkaError) -> ReplicatorError {
        if code_of(&e).is_some_and(is_fencing) || self.fenced() {
            return self.fenced_error();
        }
        ReplicatorError::kafka(operation)(e)
    }

    /// The error a fenced copier stops with.
    pub(super) fn fenced_error(&self) -> ReplicatorError {
        ReplicatorError::Fenced {
            plan: self.plan.plan.name.clone(),
            transactional_id: transactional_id(self.plan),
        }
    }
}

fn code_of(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    match e {
        KafkaError::Transaction(t) => Some(RDKafkaError::code(t)),
        other => other.rdkafka_error_code(),
    }
}

/// Codes that mean "this target or principal cannot use transactions".
fn refused(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::UnsupportedVersion
            | RDKafkaErrorCode::UnsupportedFeature
            | RDKafkaErrorCode::InvalidTransactionTimeout
    )
}

/// Codes that mean "a newer producer with this transactional id exists".
fn is_fencing(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::Fenced
    )
}
