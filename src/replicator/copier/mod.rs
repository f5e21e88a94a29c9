//! The copy loop: records from the source consumer to the target producer,
//! maps updated from delivery reports, periodic checkpoints, end offsets,
//! stats and topic discovery, then a drain that leaves nothing unrecorded.
//!
//! [`Copier::run`] polls; each event has one handler: [`Copier::on_record`],
//! [`Copier::on_deliveries`], [`Copier::on_group_events`],
//! [`Copier::on_poll_error`], and [`Copier::tick`] for everything on a
//! timer. [`Copier::drain`] ends a run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Timestamp};

mod checkpoint;
mod partitions;

use super::ReplicatorError;
use super::clients::{CopyContext, DELIVERY_TIMEOUT};
use super::deliveries::{self, POLL_SLICE, apply_deliveries, is_fatal, send_waiting, settle};
use super::end_offsets::EndOffsets;
use super::engine::RunOptions;
use super::group::GroupState;
use super::lease::Lease;
use super::map_store::Maps;
use super::plan::LoadedPlan;
use super::provenance::{HEADER, Provenance};
use super::slot::{self, Slot};
use super::stats::{self, Observer, Summary};
use super::target;
use super::throttle::Throttle;
use super::txn::Transactions;
use crate::connect::{Connection, KcpContext};
use crate::telemetry::{Cluster, ErrorKind, ReplicatorMetrics};

/// The clients and settings a copy works with, set up by the engine.
pub(super) struct Links<'a> {
    pub(super) src: &'a Connection,
    pub(super) dst: &'a Connection,
    pub(super) plan: &'a LoadedPlan,
    /// A group-less reader of the target (map topic, provenance).
    pub(super) reader: &'a BaseConsumer<KcpContext>,
    pub(super) src_id: &'a str,
    pub(super) dst_id: &'a str,
    pub(super) consumer: &'a BaseConsumer<CopyContext>,
    pub(super) producer: &'a BaseProducer<CopyContext>,
    /// Scale-out: partitions come from the group's rebalances.
    pub(super) group: Option<Arc<GroupState>>,
    /// The plan's lease (assign mode), kept alive at every tick.
    pub(super) lease: Option<&'a Lease>,
    pub(super) options: &'a RunOptions,
    pub(super) observer: &'a dyn Observer,
}

/// When each periodic task last ran.
struct Timers {
    checkpoint: Instant,
    stats: Instant,
    discovery: Instant,
    watermarks: Instant,
    /// Metrics published (`--metrics-addr`).
    publish: Instant,
    /// The lease's consumer served.
    lease: Instant,
    /// The last notice of a transient source error (one per 10 s).
    transient: Option<Instant>,
    /// Reads of the source's end offsets, and the time they took on their
    /// thread (logged at debug when the loop ends).
    end_offset_reads: (u32, Duration),
}

/// Records and bytes since the last stats sample.
struct Window {
    since: Instant,
    copied_before: u64,
    bytes: u64,
}

/// One run's copy: the slots and everything that changes while copying.
pub(super) struct Copier<'a> {
    links: Links<'a>,
    started: Instant,
    topics: BTreeMap<String, i32>,
    maps: Maps,
    slots: Vec<Slot>,
    index: HashMap<String, Vec<Option<usize>>>,
    target_topics: Vec<String>,
    bytes: u64,
    skipped: u64,
    caught_up: bool,
    /// A poll of the source found nothing to copy since the last read of
    /// its end offsets: the copy may be caught up.
    ran_dry: bool,
    timers: Timers,
    window: Window,
    throttle: Option<Throttle>,
    /// The plan's target transactions, committed at each checkpoint.
    txn: Option<Transactions<'a>>,
    metrics: Option<Arc<ReplicatorMetrics>>,
    /// The provenance header value of the record being copied (one buffer
    /// for the run: no allocation per record).
    provenance: String,
}

/// How often the copy loop publishes its metrics.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// How often the copy loop serves the lease's consumer (its heartbeats are
/// librdkafka's own; a poll per record cost 0.1-0.2 µs of a record's 2 µs).
const LEASE_EVERY: Duration = Duration::from_millis(100);

impl Drop for Copier<'_> {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.stopped();
        }
    }
}

/// What the loop does after a tick.
#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    CaughtUp,
}

impl<'a> Copier<'a> {
    /// A copy of `topics` resuming from `maps`; in assign mode the
    /// partitions are assigned here, with scale-out the group's first
    /// rebalance brings them.
    pub(super) fn start(
        links: Links<'a>,
        topics: BTreeMap<String, i32>,
        maps: Maps,
        started: Instant,
    ) -> Result<Self, ReplicatorError> {
        let now = Instant::now();
        let throttle = links
            .options
            .max_bytes_per_sec
            .or(links.plan.plan.replication.max_bytes_per_sec)
            .map(Throttle::new);
        let txn = Transactions::of(links.producer, links.plan, links.options.timeout);
        let metrics = links.options.metrics.clone();
        let mut copier = Copier {
            links,
            started,
            topics: BTreeMap::new(),
            maps,
            slots: Vec::new(),
            index: HashMap::new(),
            target_topics: Vec::new(),
            bytes: 0,
            skipped: 0,
            caught_up: false,
            ran_dry: false,
            timers: Timers {
                checkpoint: now,
                stats: now,
                discovery: now,
                watermarks: now - Duration::from_secs(60),
                publish: now,
                lease: now,
                transient: None,
                end_offset_reads: (0, Duration::ZERO),
            },
            window: Window {
                since: now,
                copied_before: 0,
                bytes: 0,
            },
            throttle,
            txn,
            metrics,
            provenance: String::new(),
        };
        copier.add_topics(topics)?;
        // Where each partition starts goes out before any copy, so that a
        // crash before the first periodic checkpoint still leaves a map.
        // With transactions it goes into the first one, with the first
        // copies: a crash aborts both, and waiting for its commit here
        // would only delay the copy (40-80 ms).
        copier.write_maps()?;
        if let Some(m) = &copier.metrics {
            m.health.copy_loop(true);
            copier.publish();
        }
        Ok(copier)
    }

    /// Copies until `stop` is set or, with `until_caught_up`, until every
    /// partition is copied; then drains.
    pub(super) fn run(mut self, stop: &AtomicBool) -> Result<Summary, ReplicatorError> {
        let (txn, dst, src) = (self.txn, self.links.dst, self.links.src);
        let end = slot::copy_end(self.links.plan);
        // The end offsets' reader stops with the copy loop, before the
        // drain.
        let copied = std::thread::scope(|scope| {
            let mut ends = EndOffsets::start(scope, src, end);
            self.copy(stop, &mut ends)
        });
        let result = match copied {
            Ok(()) => self.drain(stop.load(Ordering::Relaxed)),
            Err(e) if is_fatal(&e) => Err(self.cause_of_fatal(e)),
            Err(e) => Err(e),
        }
        .map_err(|e| target::explain_refusal(dst, e, chrono::Utc::now().timestamp_millis()));
        let Some(txn) = txn else {
            return result;
        };
        // A fenced producer fails every call with whatever error came
        // first; the fencing is the cause. Any other failure leaves an open
        // transaction, aborted so that its records never show.
        result.map_err(|e| match e {
            ReplicatorError::Fenced { .. } => e,
            _ if txn.fenced() => txn.fenced_error(),
            _ => {
                txn.abort();
                e
            }
        })
    }

    /// The copy loop, until stopped or caught up.
    fn copy(&mut self, stop: &AtomicBool, ends: &mut EndOffsets) -> Result<(), ReplicatorError> {
        let consumer = self.links.consumer;
        while !stop.load(Ordering::Relaxed) {
            // Delivery reports first (acks before new work).
            self.on_deliveries()?;
            let polled = consumer.poll(Duration::from_millis(50));
            // A rebalance served by that poll: its flush's deliveries
            // first, then the new assignment.
            self.on_group_events()?;
            match polled {
                Some(Ok(m)) => self.on_record(&m)?,
                Some(Err(e)) => self.on_poll_error(e)?,
                None => self.ran_dry = true,
            }
            if self.tick(ends)? == Flow::CaughtUp {
                self.caught_up = true;
                break;
            }
        }
        Ok(())
    }

    /// A fatal producer error (any send or delivery after a record failed
    /// for good, with the producer gapless) says nothing of its cause: the
    /// failed record's own delivery report does.
    fn cause_of_fatal(&mut self, fatal: ReplicatorError) -> ReplicatorError {
        let producer = self.links.producer;
        let _ = deliveries::flush(producer, Duration::from_secs(5));
        producer.poll(Duration::ZERO);
        match apply_deliveries(producer, &mut self.slots) {
            Err(cause) if !is_fatal(&cause) => cause,
            _ => fatal,
        }
    }

    /// Copies one source record, or skips it (a record not ours, one
    /// fetched again before a seek, or one that came from the target).
    fn on_record(&mut self, m: &BorrowedMessage<'_>) -> Result<(), ReplicatorError> {
        if self.bytes == 0 {
            tracing::debug!(elapsed = ?self.started.elapsed(), "first record read from the source");
        }
        // The topic's name is read (and checked) once per record.
        let topic = m.topic();
        let Some(i) = self.slot_of(topic, m.partition()) else {
            return Ok(());
        };
        // Not ours (any more), or fetched before a seek: never copy a
        // record twice.
        if !self.slots[i].active || m.offset() < self.slots[i].map.src_end {
            return Ok(());
        }
        self.slots[i].next_read = m.offset() + 1;
        let headers = m.headers();
        let header_iter = || {
            headers
                .into_iter()
                .flat_map(|h| h.iter())
                .map(|h| (h.key, h.value))
        };
        // A record that came from the target (another replicator running
        // the other way) is not copied back: no cycles.
        if Provenance::names(header_iter(), self.links.dst_id) {
            self.skipped += 1;
            let slot = &mut self.slots[i];
            slot.skipped += 1;
            if slot.in_flight == 0 {
                slot.map.advance_source(m.offset() + 1);
                slot.dirty = true;
            }
            return Ok(());
        }
        // Without transactions a partition's first copy is acknowledged
        // before the next is sent (see `Slot::confirmed`). With them, a
        // copy refused for good aborts its transaction, and whatever
        // landed behind it with it: nothing to wait for.
        if !self.slots[i].confirmed && self.txn.is_none() {
            self.await_first_copy(i)?;
        }
        let partition = self.slots[i].partition;
        Provenance::write_header_value(
            &mut self.provenance,
            self.links.src_id,
            topic,
            partition,
            m.offset(),
        );
        // Every header as it came, earlier hops' provenance included (a
        // chained migration); this copy's goes last. One by one into a
        // list of the right size: `BorrowedHeaders::detach` then an insert
        // costs about 1,000 instructions more per record (callgrind).
        let mut out = OwnedHeaders::new_with_capacity(headers.map_or(0, |h| h.count()) + 1);
        for (key, value) in header_iter() {
            out = out.insert(Header { key, value });
        }
        out = out.insert(Header {
            key: HEADER,
            value: Some(self.provenance.as_bytes()),
        });
        let mut record: BaseRecord<'_, [u8], [u8], Box<(usize, i64)>> =
            BaseRecord::with_opaque_to(&self.target_topics[i], Box::new((i, m.offset())))
                .partition(partition)
                .headers(out);
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        if let Some(v) = m.payload() {
            record = record.payload(v);
        }
        let ts = match m.timestamp() {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
            Timestamp::NotAvailable => None,
        };
        if let Some(t) = ts {
            record = record.timestamp(t);
        }
        let size = (m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len)) as u64;
        // Backpressure: serve deliveries until there is room. The target
        // names live apart from `slots`, so that `slots` can take delivery
        // reports while this record waits for queue room.
        let slots = &mut self.slots;
        let metrics = self.metrics.as_deref();
        let mut waits = 0;
        send_waiting(
            self.links.producer,
            record,
            "producing to the target",
            |p| {
                waits += 1;
                if let Some(m) = metrics {
                    // Waiting for the target is the loop going round.
                    m.health.beat();
                }
                apply_deliveries(p, slots)
            },
        )?;
        if waits > 0
            && let Some(m) = metrics
        {
            m.backpressure(waits);
        }
        let slot = &mut self.slots[i];
        slot.in_flight += 1;
        slot.last_timestamp = ts;
        slot.bytes += size;
        self.bytes += size;
        self.window.bytes += size;
        if let Some(throttle) = self.throttle.as_mut() {
            let wait = throttle.take(size, Instant::now());
            if !wait.is_zero() {
                let wait = wait.min(Duration::from_secs(1));
                std::thread::sleep(wait);
                if let Some(m) = metrics {
                    m.throttled(wait.as_secs_f64());
                }
            }
        }
        Ok(())
    }

    /// Waits until the partition's copies in flight are acknowledged, while
    /// none has been yet (see `Slot::confirmed`): one round trip per
    /// partition and producer.
    fn await_first_copy(&mut self, i: usize) -> Result<(), ReplicatorError> {
        let producer = self.links.producer;
        let mut waited = false;
        while self.slots[i].in_flight > 0 && !self.slots[i].confirmed {
            producer.poll(POLL_SLICE);
            apply_deliveries(producer, &mut self.slots)?;
            if let Some(m) = &self.metrics {
                // Waiting for the target is the loop going round.
                m.health.beat();
            }
            waited = true;
        }
        if waited && let Some(throttle) = self.throttle.as_mut() {
            throttle.rest(Instant::now());
        }
        Ok(())
    }

    /// The slot of a source partition, without allocating per record.
    fn slot_of(&self, topic: &str, partition: i32) -> Option<usize> {
        self.index
            .get(topic)?
            .get(usize::try_from(partition).ok()?)
            .copied()
            .flatten()
    }

    /// Applies the producer's delivery reports to the maps.
    fn on_deliveries(&mut self) -> Result<(), ReplicatorError> {
        self.links.producer.poll(Duration::ZERO);
        apply_deliveries(self.links.producer, &mut self.slots)
    }

    /// Applies what the scale-out group's rebalances did since the last
    /// call (nothing in assign mode).
    fn on_group_events(&mut self) -> Result<(), ReplicatorError> {
        let Some(group) = &self.links.group else {
            return Ok(());
        };
        let events = group.take()?;
        if !events.is_empty() {
            apply_deliveries(self.links.producer, &mut self.slots)?;
            slot::apply_group_events(events, &mut self.slots, self.links.observer);
            self.reindex();
        }
        Ok(())
    }

    /// A failed poll: transient errors are retried by librdkafka, records
    /// deleted before they were read follow the plan, anything else stops.
    fn on_poll_error(&mut self, e: KafkaError) -> Result<(), ReplicatorError> {
        match e {
            // librdkafka recovers from these by itself (a broker down, a
            // leader moving): say so and keep polling.
            KafkaError::MessageConsumption(code) if super::clients::transient(code) => {
                if let Some(m) = &self.metrics {
                    m.error(ErrorKind::source_retriable);
                    if code == RDKafkaErrorCode::AllBrokersDown {
                        m.health.lost(Cluster::Source, &code.to_string());
                    }
                }
                if self
                    .timers
                    .transient
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
                {
                    self.links
                        .observer
                        .notice(&format!("reading the source: {code}; retrying"));
                    self.timers.transient = Some(Instant::now());
                }
                Ok(())
            }
            // A fetch below the log start: records deleted before they were
            // read.
            KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset) => {
                self.skip_deleted()
            }
            e => Err(ReplicatorError::kafka("reading the source")(e)),
        }
    }

    /// Everything on a timer: checkpoints, end offsets (and whether the
    /// copy is caught up), stats, topic discovery.
    fn tick(&mut self, ends: &mut EndOffsets) -> Result<Flow, ReplicatorError> {
        let settings = &self.links.plan.plan.replication;
        let options = self.links.options;
        // One clock read per round: this runs after every record.
        let now = Instant::now();
        let due = |last: Instant, every: Duration| now.saturating_duration_since(last) >= every;
        if let Some(lease) = self.links.lease
            && due(self.timers.lease, LEASE_EVERY)
        {
            lease.keep();
            self.timers.lease = now;
        }
        if due(
            self.timers.checkpoint,
            Duration::from_millis(settings.checkpoint_interval_ms),
        ) || self.links.observer.checkpoint_wanted()
        {
            let pos = slot::positions(self.links.consumer)?;
            slot::advance_idle_positions(&pos, &mut self.slots);
            self.checkpoint()?;
            self.timers.checkpoint = Instant::now();
        }
        // A run that ends once caught up reads the source's end offsets
        // often once the source has nothing more to give: the time between
        // copying the last record and noticing is all idle. While records
        // flow it is not caught up. Reads run on their own thread; the
        // answer is applied at a later tick.
        let watermarks_every = if options.until_caught_up && self.ran_dry {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(2)
        };
        if !ends.pending() && due(self.timers.watermarks, watermarks_every) {
            self.ran_dry = false;
            ends.ask(slot::active_partitions(&self.slots));
            self.timers.watermarks = now;
        }
        if let Some(answer) = ends.answer() {
            let reads = &mut self.timers.end_offset_reads;
            *reads = (reads.0 + 1, reads.1 + answer.took);
            let read = slot::apply_end_offsets(answer.ends, &mut self.slots, self.links.observer);
            if let Some(m) = &self.metrics {
                match read {
                    Ok(()) => m.health.answered(Cluster::Source),
                    Err(e) => {
                        m.error(ErrorKind::end_offsets);
                        m.health.lost(Cluster::Source, &e);
                    }
                }
                self.probe_target(m);
            }
            if options.until_caught_up && self.is_caught_up()? {
                return Ok(Flow::CaughtUp);
            }
        }
        if due(self.timers.stats, options.stats_interval) || self.links.observer.stats_wanted() {
            self.report_stats();
        }
        if due(self.timers.publish, PUBLISH_EVERY) {
            self.publish();
        }
        let discovery_every = Duration::from_secs(settings.topic_discovery_interval_secs.max(1));
        if due(self.timers.discovery, discovery_every) {
            self.discover()?;
            self.timers.discovery = Instant::now();
        }
        Ok(Flow::Go)
    }

    /// Publishes the slots' metrics (`--metrics-addr`).
    fn publish(&mut self) {
        if let Some(m) = &self.metrics {
            stats::publish(m, &mut self.slots, chrono::Utc::now().timestamp_millis());
        }
        self.timers.publish = Instant::now();
    }

    /// A target taken for gone (all brokers down) is asked for the map
    /// topic's metadata: an answer means it is back, even with nothing to
    /// deliver.
    fn probe_target(&self, m: &ReplicatorMetrics) {
        if m.health.is_up(Cluster::Target) {
            return;
        }
        let topic = &self.links.plan.plan.replication.offset_map_topic;
        if self
            .links
            .dst
            .consumer()
            .fetch_metadata(Some(topic), Duration::from_secs(1))
            .is_ok()
        {
            m.health.answered(Cluster::Target);
        }
    }

    /// Every active partition copied up to the source's end offset as last
    /// read, with nothing in flight.
    fn is_caught_up(&mut self) -> Result<bool, ReplicatorError> {
        // Positions move only when the consumer is polled: one read serves
        // both checks.
        let pos = slot::positions(self.links.consumer)?;
        if self.slots.iter().any(|s| s.in_flight > 0) && slot::read_to_end(&pos, &self.slots) {
            // Nothing more to read: wait for the last copies' reports now
            // rather than poll and look again later.
            settle(
                self.links.producer,
                &mut self.slots,
                DELIVERY_TIMEOUT + self.links.options.timeout,
                "flushing the target producer",
            )?;
        }
        slot::advance_idle_positions(&pos, &mut self.slots);
        let mut active = self.slots.iter().filter(|s| s.active).peekable();
        Ok(active.peek().is_some()
            && active.all(|s| {
                s.in_flight == 0 && s.high_watermark.is_some_and(|hw| s.map.src_end >= hw)
            }))
    }

    fn report_stats(&mut self) {
        let copied: u64 = self.slots.iter().map(|s| s.copied).sum();
        let secs = self.window.since.elapsed().as_secs_f64().max(1e-3);
        self.links.observer.stats(&stats::sample(
            &self.slots,
            self.started,
            copied,
            self.bytes,
            self.skipped,
            (copied - self.window.copied_before) as f64 / secs,
            self.window.bytes as f64 / secs,
        ));
        self.window = Window {
            since: Instant::now(),
            copied_before: copied,
            bytes: 0,
        };
        self.timers.stats = Instant::now();
    }

    /// Stops fetching, flushes, applies the last deliveries and writes the
    /// last checkpoint.
    fn drain(mut self, interrupted: bool) -> Result<Summary, ReplicatorError> {
        let links = &self.links;
        let (reads, took) = self.timers.end_offset_reads;
        tracing::debug!(elapsed = ?self.started.elapsed(), caught_up = self.caught_up, end_offset_reads = reads, end_offset_time = ?took, "copy loop left, draining");
        if links.group.is_some() {
            // Stop fetching but stay in the group until the maps are
            // written: leaving (when the consumer closes) hands the
            // partitions over.
            if let Ok(assigned) = links.consumer.assignment() {
                links.consumer.pause(&assigned).ok();
            }
        } else {
            links.consumer.unassign().ok();
        }
        let (producer, timeout) = (links.producer, links.options.timeout);
        settle(
            producer,
            &mut self.slots,
            timeout * 3,
            "flushing the target producer",
        )?;
        self.checkpoint()?;
        deliveries::flush(producer, timeout)
            .map_err(ReplicatorError::kafka("flushing the offset maps"))?;
        if self.links.group.is_some() {
            self.links.consumer.unsubscribe();
        }
        self.publish();
        let total: u64 = self.slots.iter().map(|s| s.copied).sum();
        let final_stats = stats::sample(
            &self.slots,
            self.started,
            total,
            self.bytes,
            self.skipped,
            0.0,
            0.0,
        );
        self.links.observer.stats(&final_stats);
        let active = self.slots.iter().filter(|s| s.active);
        Ok(Summary {
            copied: total,
            bytes: self.bytes,
            skipped_cycles: self.skipped,
            deleted_before_copy: self.slots.iter().map(|s| s.deleted).sum(),
            lag_at_end: active
                .clone()
                .map(|s| {
                    s.high_watermark
                        .map(|hw| u64::try_from(hw - s.map.src_end).unwrap_or(0))
                })
                .sum(),
            partitions: active.count(),
            caught_up: self.caught_up,
            interrupted,
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// The plan's consumer group on the source (positions are never committed
/// there; scale-out shares partitions through it).
pub(super) fn replicator_group(plan: &LoadedPlan) -> String {
    format!("kcp-replicator.{}", plan.plan.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::ClusterCredentials;
    use crate::replicator::OffsetMap;
    use rdkafka::Offset;
    use rdkafka::producer::Producer;

    fn creds(name: &str, bootstrap: String) -> ClusterCredentials {
        ClusterCredentials::plaintext(name, bootstrap)
    }

    fn plan() -> LoadedPlan {
        LoadedPlan::parse(
            std::path::Path::new("plan.yaml"),
            "version: 1\nname: t\ncredentials_file: c.yaml\nsource: a\ntarget: b\n",
        )
        .unwrap()
    }

    /// A delivery report that is a success without an offset (librdkafka's
    /// implicit acknowledgement) stops the attempt and leaves the map as it
    /// was, instead of recording a copy at offset -1001.
    #[test]
    fn an_acknowledgement_without_an_offset_is_not_recorded() {
        let target = rdkafka::mocking::MockCluster::new(1).unwrap();
        let creds = creds("b", target.bootstrap_servers());
        let producer = super::super::clients::target_producer(&creds, &plan(), None).unwrap();
        let mut map = OffsetMap::default();
        map.record_copy(0, 0);
        let mut slots = vec![Slot {
            topic: "orders".into(),
            target_topic: "orders".into(),
            partition: 0,
            map: map.clone(),
            active: true,
            in_flight: 2,
            copied: 1,
            bytes: 0,
            skipped: 0,
            dirty: false,
            high_watermark: None,
            last_timestamp: None,
            next_read: 0,
            deleted: 0,
            confirmed: true,
            meter: None,
        }];
        for delivery in [(0, 1, Ok(1)), (0, 2, Ok(Offset::Invalid.to_raw().unwrap()))] {
            producer.context().push_delivery(delivery);
        }
        let err = apply_deliveries(&producer, &mut slots).unwrap_err();
        assert!(
            matches!(
                err,
                ReplicatorError::Unconfirmed {
                    offset: 2,
                    reported: -1001,
                    ..
                }
            ),
            "{err:?}"
        );
        map.record_copy(1, 1);
        assert_eq!(slots[0].map, map, "only the confirmed copy is recorded");
        assert_eq!(slots[0].copied, 2);
    }
}
