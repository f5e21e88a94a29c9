//! Checkpoints: the offset maps that changed, sent to the map topic and,
//! with transactions, committed with every copy sent so far.

use std::time::Instant;

use rdkafka::producer::BaseRecord;

use super::super::ReplicatorError;
use super::super::clients::DELIVERY_TIMEOUT;
use super::super::deliveries::{send_waiting, settle};
use super::super::map_store;
use super::Copier;

impl Copier<'_> {
    /// Writes the maps that changed; with transactions, commits them with
    /// every copy sent so far.
    pub(super) fn checkpoint(&mut self) -> Result<(), ReplicatorError> {
        let wrote = self.write_maps()?;
        if let Some(m) = &self.metrics {
            m.checkpoint(wrote, chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        }
        if let Some(txn) = self.txn {
            // Every report in before the commit: a record refused for good
            // is named, never hidden behind the commit's timed-out flush.
            // A target that is away is waited for as long as librdkafka
            // retries the records in flight: it reports each one by then.
            let timeout = DELIVERY_TIMEOUT + self.links.options.timeout;
            let started = Instant::now();
            settle(
                self.links.producer,
                &mut self.slots,
                timeout,
                "committing a target transaction",
            )?;
            let flushed = started.elapsed();
            txn.commit()?;
            tracing::debug!(flush = ?flushed, commit = ?(started.elapsed() - flushed), "target transaction committed");
        }
        let observer = self.links.observer;
        if observer.maps_wanted() {
            observer.maps(
                self.slots
                    .iter()
                    .filter(|s| s.active)
                    .map(|s| ((s.topic.clone(), s.partition), s.map.clone()))
                    .collect(),
            );
        }
        Ok(())
    }

    /// Sends the maps that changed (active partitions only: a revoked
    /// partition's map is the next owner's to write); returns whether
    /// there were any.
    pub(super) fn write_maps(&mut self) -> Result<bool, ReplicatorError> {
        let map_topic = &self.links.plan.plan.replication.offset_map_topic;
        let mut wrote = false;
        for s in self.slots.iter_mut().filter(|s| s.dirty && s.active) {
            wrote = true;
            // New segments first, then the head that names them.
            let key = map_store::MapKey {
                source_cluster: self.links.src_id,
                topic: &s.topic,
                partition: s.partition,
                target_cluster: self.links.dst_id,
                target_topic: &s.target_topic,
            };
            let records = map_store::encode(&key, &mut s.map)
                .map_err(|e| ReplicatorError::Setup(format!("cannot encode an offset map: {e}")))?;
            for (key, value) in &records {
                let record: BaseRecord<'_, str, [u8], Box<(usize, i64)>> =
                    BaseRecord::with_opaque_to(map_topic, Box::new((usize::MAX, 0)))
                        .key(key.as_str())
                        .payload(value.as_slice());
                send_waiting(self.links.producer, record, "writing offset maps", |_| {
                    Ok(())
                })?;
            }
            s.dirty = false;
        }
        Ok(wrote)
    }
}
