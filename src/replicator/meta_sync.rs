//! Metadata sync while copying (plan key `replication.metadata_sync`):
//! changes of the source topics' configs, and (opt-in) the source's ACL
//! bindings, applied to the target every `interval_secs`. Partition
//! increases are not here: the copy needs them, so topic discovery
//! (`copier`, every `topic_discovery_interval_secs`) grows the target
//! topics and copies the new partitions whatever this sync is set to.
//!
//! The decisions are pure ([`config_changes`], and the ACL decisions in
//! [`acls`]); [`run`] is the thin loop on its own thread with its
//! own connections, which never stops the copy: a failed round is a notice
//! and the next round tries again.
//!
//! - Configs follow the carry rules of topic creation (`target`,
//!   `topic_config::to_carry`): a carried config whose target value
//!   differs is set (IncrementalAlterConfigs, only that config); a config
//!   the source stopped carrying since the previous round is deleted on
//!   the target when the target still holds the value it had from the
//!   source; `max.message.bytes` is raised when the source's grows (to it
//!   plus the provenance header's room), never lowered. A change the target refuses is reported
//!   once (a warning naming topic, config and reason) and not tried again
//!   until the source's value changes.
//! - ACLs (opt-in, [`acls`]): the source's bindings, principals mapped
//!   and topic names renamed as the plan says, are created on the target;
//!   only the bindings kcp created (recorded in the offset-map topic, key
//!   `acls;<source cluster id>;<target cluster id>;<plan>`) are ever
//!   deleted, when they are gone from the source.
//! - Client quotas (opt-in, [`quotas`]): one [`crate::quotas::sync_once`]
//!   pass per round, users mapped by the same principal map; the ledger of
//!   the quota keys kcp set is kept in the offset-map topic too (key
//!   `quotas;<source cluster id>;<target cluster id>;<plan>`), so a target
//!   quota kcp did not set is never removed.
//!
//! The first round runs at start, not one interval in: what changed on the
//! source while no replicator ran (or since `kcp migrate init`) reaches the
//! target at once rather than up to `interval_secs` (two minutes by
//! default) later, and under `kcp migrate execute` the source's ACLs and
//! quotas are on the target before a short backfill lets clients move
//! there; the first config round is also the baseline that later deletions
//! are judged against. Its cost is the sync's own two connections, which
//! every later round reuses, and one describe per side.

mod acls;
mod quotas;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::ReplicatorError;
use super::clients;
use super::plan::LoadedPlan;
use super::stats::Observer;
use super::target::{self, HEADER_ROOM};
use crate::connect::admin::{self, TopicConfigChange};
use crate::connect::{ClusterCredentials, ConnectOptions, Connection, connect};
use crate::exit::Diagnostic;
use crate::telemetry::{ReplicatorMetrics, SyncKind, SyncOutcome};

/// What the target should hold of one topic's configs, from its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Desired {
    /// Carried configs, `max.message.bytes` left out.
    pub(crate) carry: BTreeMap<String, String>,
    /// At least this `max.message.bytes` (the source's plus header room).
    pub(crate) min_max_message_bytes: Option<i64>,
}

/// One config of a target topic: its value and whether it is set on the
/// topic itself (a dynamic topic config, which a delete removes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetValue {
    pub(crate) value: Option<String>,
    pub(crate) on_topic: bool,
}

/// The configs to change on the target, by target topic name. `previous`
/// is what the source carried at the last round (empty at the first);
/// `refused` the values (`None`: a delete) the target refused already.
pub(crate) fn config_changes(
    desired: &BTreeMap<String, Desired>,
    previous: &BTreeMap<String, Desired>,
    target: &BTreeMap<String, BTreeMap<String, TargetValue>>,
    refused: &HashMap<(String, String), Option<String>>,
) -> Vec<TopicConfigChange> {
    let mut out = Vec::new();
    let mut push = |topic: &str, name: &str, value: Option<String>| {
        let key = (topic.to_owned(), name.to_owned());
        if refused.get(&key) != Some(&value) {
            out.push(TopicConfigChange {
                topic: topic.to_owned(),
                name: name.to_owned(),
                value,
            });
        }
    };
    for (topic, want) in desired {
        let Some(have) = target.get(topic) else {
            continue;
        };
        let value_of = |name: &str| have.get(name).and_then(|v| v.value.as_deref());
        for (name, value) in &want.carry {
            if value_of(name) != Some(value) {
                push(topic, name, Some(value.clone()));
            }
        }
        // Raised when the source's limit grew since the last round: an
        // existing target topic's limit is checked at start (refused when
        // below the source's, reported when without the header's room)
        // and otherwise left as its owner set it.
        let was = previous.get(topic).and_then(|p| p.min_max_message_bytes);
        if let (Some(min), Some(was)) = (want.min_max_message_bytes, was)
            && was < min
        {
            let current = value_of("max.message.bytes").and_then(|v| v.parse::<i64>().ok());
            if current.is_none_or(|c| c < min) {
                push(topic, "max.message.bytes", Some(min.to_string()));
            }
        }
        for (name, was) in previous.get(topic).map(|p| &p.carry).into_iter().flatten() {
            let still_ours = have
                .get(name)
                .is_some_and(|v| v.on_topic && v.value.as_ref() == Some(was));
            if !want.carry.contains_key(name) && still_ours {
                push(topic, name, None);
            }
        }
    }
    out
}

/// Changes in batches naming each topic at most once (a request naming a
/// topic twice is refused, and a topic's changes in one request succeed or
/// fail together: one config each keeps a refusal to its own config).
pub(crate) fn batches(changes: Vec<TopicConfigChange>) -> Vec<Vec<TopicConfigChange>> {
    let mut out: Vec<Vec<TopicConfigChange>> = Vec::new();
    for change in changes {
        match out
            .iter_mut()
            .find(|b| b.iter().all(|c| c.topic != change.topic))
        {
            Some(batch) => batch.push(change),
            None => out.push(vec![change]),
        }
    }
    out
}

/// Keys of the offset-map topic that are ACL records, not maps.
pub(crate) const ACL_KEY_PREFIX: &str = "acls;";

/// Keys of the offset-map topic that are quota ledgers, not maps.
pub(crate) const QUOTA_KEY_PREFIX: &str = "quotas;";

/// Whether a key of the offset-map topic is one of the sync's records.
pub(crate) fn is_sync_record(key: &[u8]) -> bool {
    key.starts_with(ACL_KEY_PREFIX.as_bytes()) || key.starts_with(QUOTA_KEY_PREFIX.as_bytes())
}

/// Where the loop works: its own connections and clients.
struct Sync<'a> {
    plan: &'a LoadedPlan,
    src: Connection,
    dst: Connection,
    observer: &'a dyn Observer,
    /// Configs: the source's at the last round, and refused changes.
    previous: BTreeMap<String, Desired>,
    refused: HashMap<(String, String), Option<String>>,
    /// ACLs: the state of their rounds.
    acls: acls::AclSync,
    producer: Option<BaseProducer<Acked>>,
    /// Quotas: the state of their rounds.
    quotas: quotas::QuotaSync,
    source_creds: &'a ClusterCredentials,
    target_creds: &'a ClusterCredentials,
    timeout: Duration,
    metrics: Option<&'a ReplicatorMetrics>,
    /// The last round's failure, reported when it changes.
    failed: [Option<String>; 3],
}

/// Runs the sync every `interval_secs` until `stop`; blocking (the engine
/// runs it on a thread beside the copy).
pub(crate) fn run(
    plan: &LoadedPlan,
    (source, target): (&ClusterCredentials, &ClusterCredentials),
    (src_id, dst_id): (&str, &str),
    (timeout, metrics): (Duration, Option<&ReplicatorMetrics>),
    observer: &dyn Observer,
    stop: &AtomicBool,
) {
    let settings = &plan.plan.replication.metadata_sync;
    let every = Duration::from_secs(settings.interval_secs.max(1));
    let options = ConnectOptions { timeout };
    let (src, dst) = match (connect(source, options), connect(target, options)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            observer.warning(&format!(
                "metadata sync: cannot connect ({e}); topic configs, ACLs and quotas are not kept in sync in this run"
            ));
            return;
        }
    };
    let mut sync = Sync {
        plan,
        src,
        dst,
        observer,
        previous: BTreeMap::new(),
        refused: HashMap::new(),
        acls: acls::AclSync::new(src_id, dst_id, &plan.plan.name),
        producer: None,
        quotas: quotas::QuotaSync::new(src_id, dst_id, &plan.plan.name),
        source_creds: source,
        target_creds: target,
        timeout,
        metrics,
        failed: [None, None, None],
    };
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if settings.topic_configs {
            let result = sync.configs();
            sync.round_ended(0, "topic configs", result);
        }
        if settings.acls {
            let result = sync.acls();
            sync.round_ended(1, "ACLs", result);
        }
        if settings.quotas {
            let result = sync.quotas();
            sync.round_ended(2, "client quotas", result);
        }
        while !stop.load(Ordering::Relaxed) && started.elapsed() < every {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Sync<'_> {
    /// Reports a failed round (a warning when the failure is new, so that
    /// a missing permission is not repeated every round) and a recovery.
    fn round_ended(&mut self, i: usize, what: &str, result: Result<(), ReplicatorError>) {
        let now = result.err().map(|e| {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            format!("{e}{hint}")
        });
        match (&self.failed[i], &now) {
            (_, Some(e)) if self.failed[i].as_ref() != Some(e) => self.observer.warning(&format!(
                "metadata sync: {what} not synced: {e}; trying again every round"
            )),
            (Some(_), None) => self
                .observer
                .notice(&format!("metadata sync: {what} synced again")),
            _ => {}
        }
        self.failed[i] = now;
    }

    fn count(&self, kind: SyncKind, outcome: SyncOutcome) {
        if let Some(m) = self.metrics {
            m.sync_change(kind, outcome);
        }
    }

    /// One round of topic configs.
    fn configs(&mut self) -> Result<(), ReplicatorError> {
        let plan = self.plan;
        let topics = target::available_source_topics(&self.src, plan)?;
        let sources = target::source_configs(&self.src, &topics)?;
        // A topic unreadable this round keeps what was known of it.
        let unreadable: Vec<String> = sources
            .iter()
            .filter(|(_, c)| !c.readable)
            .map(|(t, _)| plan.target_topic(t))
            .collect();
        let desired: BTreeMap<String, Desired> = sources
            .into_iter()
            .filter(|(_, c)| c.readable)
            .map(|(topic, c)| {
                let mut carry = c.carry;
                carry.remove("max.message.bytes");
                let want = Desired {
                    carry,
                    min_max_message_bytes: c.max_message_bytes.map(|m| m + HEADER_ROOM),
                };
                (plan.target_topic(&topic), want)
            })
            .collect();
        let names: Vec<&String> = desired.keys().collect();
        let described = target::describe(&self.dst, &names)?;
        let have: BTreeMap<String, BTreeMap<String, TargetValue>> = names
            .iter()
            .zip(described)
            .filter_map(|(name, entries)| {
                let entries = entries?
                    .into_iter()
                    .map(|e| {
                        let on_topic =
                            matches!(e.source, rdkafka::admin::ConfigSource::DynamicTopic);
                        (
                            e.name,
                            TargetValue {
                                value: e.value,
                                on_topic,
                            },
                        )
                    })
                    .collect();
                Some(((*name).clone(), entries))
            })
            .collect();
        let changes = config_changes(&desired, &self.previous, &have, &self.refused);
        for batch in batches(changes) {
            let results = admin::alter_topic_configs(&self.dst, &batch)?;
            for (change, result) in batch.into_iter().zip(results) {
                self.report_config(change, result);
            }
        }
        // Only topics the target has: one created later starts from its
        // creation's configs.
        let mut previous: BTreeMap<String, Desired> = desired
            .into_iter()
            .filter(|(t, _)| have.contains_key(t))
            .collect();
        for t in unreadable {
            if let Some(known) = self.previous.remove(&t) {
                previous.insert(t, known);
            }
        }
        self.previous = previous;
        Ok(())
    }

    fn report_config(&mut self, change: TopicConfigChange, result: Result<(), String>) {
        let TopicConfigChange { topic, name, value } = change;
        let what = match &value {
            Some(v) => format!("{name}={v}"),
            None => format!("{name} (deleted: the source no longer sets it)"),
        };
        match result {
            Ok(()) => {
                let outcome = if value.is_some() {
                    SyncOutcome::applied
                } else {
                    SyncOutcome::deleted
                };
                self.count(SyncKind::topic_config, outcome);
                self.refused.remove(&(topic.clone(), name));
                self.observer.notice(&format!(
                    "metadata sync: topic `{topic}` on the target: applied {what}"
                ));
            }
            Err(reason) => {
                self.count(SyncKind::topic_config, SyncOutcome::refused);
                self.observer.warning(&format!(
                    "metadata sync: the target refused {what} on topic `{topic}`: {reason} (not tried again until the source's value changes)"
                ));
                self.refused.insert((topic, name), value);
            }
        }
    }

    /// The latest value of one of kcp's records in the offset-map topic
    /// (`None` when there is none, or it was deleted).
    fn read_record(&self, key: &str) -> Result<Option<Vec<u8>>, ReplicatorError> {
        let map_topic = &self.plan.plan.replication.offset_map_topic;
        let watermarks = target::map_watermarks(&self.dst, map_topic)?;
        let reader = clients::consumer(
            self.target_creds,
            &[
                (
                    "group.id",
                    &format!("kcp-replicator.{}.sync", self.plan.plan.name),
                ),
                ("enable.auto.commit", "false"),
                ("isolation.level", "read_committed"),
            ],
        )?;
        let ranges: Vec<_> = watermarks
            .iter()
            .map(|(p, hw)| (map_topic.clone(), *p, 0, *hw))
            .collect();
        let mut latest: Option<Option<Vec<u8>>> = None;
        let key = key.as_bytes();
        super::ranges::read_ranges(&reader, &ranges, self.timeout, |_, _, _, k, v, _| {
            if k == Some(key) {
                latest = Some(v.map(<[u8]>::to_vec));
            }
        })?;
        Ok(latest.flatten())
    }

    /// Writes one of kcp's records (`what` names it in errors) and waits
    /// until the target has it.
    fn write_record(&mut self, key: &str, value: &[u8], what: &str) -> Result<(), ReplicatorError> {
        if self.producer.is_none() {
            let mut config = crate::connect::client_config(self.target_creds)?;
            config.set("acks", "all").set("enable.idempotence", "true");
            self.producer = Some(config.create_with_context(Acked::default()).map_err(
                ReplicatorError::kafka("creating the sync records' producer"),
            )?);
        }
        let producer = self.producer.as_ref().expect("created above");
        producer.context().take();
        let topic = &self.plan.plan.replication.offset_map_topic;
        let operation = format!("writing {what}");
        producer
            .send(BaseRecord::<str, [u8]>::to(topic).key(key).payload(value))
            .map_err(|(e, _)| ReplicatorError::kafka(&operation)(e))?;
        super::deliveries::flush(producer, self.timeout)
            .map_err(ReplicatorError::kafka(&operation))?;
        match producer.context().take() {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(ReplicatorError::kafka(&operation)(e)),
            None => Err(ReplicatorError::Stalled { what: operation }),
        }
    }
}

/// The ACL record producer's context: the delivery report of the record.
#[derive(Default)]
struct Acked(std::sync::Mutex<Option<Result<(), rdkafka::error::KafkaError>>>);

impl Acked {
    fn take(&self) -> Option<Result<(), rdkafka::error::KafkaError>> {
        self.0.lock().ok()?.take()
    }
}

impl rdkafka::ClientContext for Acked {}

impl rdkafka::producer::ProducerContext for Acked {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(carry: &[(&str, &str)], max: Option<i64>) -> Desired {
        Desired {
            carry: carry
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            min_max_message_bytes: max,
        }
    }

    fn target(configs: &[(&str, &str, bool)]) -> BTreeMap<String, TargetValue> {
        configs
            .iter()
            .map(|(k, v, on_topic)| {
                let value = Some((*v).to_owned());
                (
                    (*k).to_owned(),
                    TargetValue {
                        value,
                        on_topic: *on_topic,
                    },
                )
            })
            .collect()
    }

    fn change(topic: &str, name: &str, value: Option<&str>) -> TopicConfigChange {
        TopicConfigChange {
            topic: topic.into(),
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn a_changed_config_is_set_and_an_equal_one_left_alone() {
        let want = BTreeMap::from([(
            "t".to_owned(),
            desired(
                &[("retention.ms", "1000"), ("cleanup.policy", "compact")],
                None,
            ),
        )]);
        let have = BTreeMap::from([(
            "t".to_owned(),
            target(&[
                ("retention.ms", "604800000", false),
                ("cleanup.policy", "compact", true),
            ]),
        )]);
        let changes = config_changes(&want, &BTreeMap::new(), &have, &HashMap::new());
        assert_eq!(changes, [change("t", "retention.ms", Some("1000"))]);
    }

    #[test]
    fn max_message_bytes_is_raised_when_the_source_limit_grows() {
        let want = BTreeMap::from([
            ("low".to_owned(), desired(&[], Some(2_000_000))),
            ("high".to_owned(), desired(&[], Some(2_000_000))),
        ]);
        let have = BTreeMap::from([
            (
                "low".to_owned(),
                target(&[("max.message.bytes", "1049612", true)]),
            ),
            (
                "high".to_owned(),
                target(&[("max.message.bytes", "5000000", true)]),
            ),
        ]);
        // The first round leaves an existing target's limit as it is (the
        // start-up check judged it).
        assert!(config_changes(&want, &BTreeMap::new(), &have, &HashMap::new()).is_empty());
        let before = BTreeMap::from([
            ("low".to_owned(), desired(&[], Some(1_049_612))),
            ("high".to_owned(), desired(&[], Some(1_049_612))),
        ]);
        let changes = config_changes(&want, &before, &have, &HashMap::new());
        assert_eq!(
            changes,
            [change("low", "max.message.bytes", Some("2000000"))],
            "raised where too low, never lowered"
        );
        // A source limit that shrank changes nothing.
        assert!(config_changes(&before, &want, &have, &HashMap::new()).is_empty());
    }

    #[test]
    fn a_config_the_source_dropped_is_deleted_only_if_the_target_still_follows_it() {
        let previous = BTreeMap::from([(
            "t".to_owned(),
            desired(&[("retention.ms", "1000"), ("segment.ms", "5000")], None),
        )]);
        let want = BTreeMap::from([("t".to_owned(), desired(&[], None))]);
        // retention.ms still holds the source's old value: deleted;
        // segment.ms was changed on the target by someone else: kept.
        let have = BTreeMap::from([(
            "t".to_owned(),
            target(&[("retention.ms", "1000", true), ("segment.ms", "7000", true)]),
        )]);
        let changes = config_changes(&want, &previous, &have, &HashMap::new());
        assert_eq!(changes, [change("t", "retention.ms", None)]);
        // Nothing is deleted at a first round (no previous round).
        assert!(config_changes(&want, &BTreeMap::new(), &have, &HashMap::new()).is_empty());
    }

    #[test]
    fn a_refused_value_is_not_tried_again_until_the_source_changes_it() {
        let want =
            |v: &str| BTreeMap::from([("t".to_owned(), desired(&[("retention.ms", v)], None))]);
        let have = BTreeMap::from([("t".to_owned(), target(&[("retention.ms", "1", true)]))]);
        let refused = HashMap::from([(
            ("t".to_owned(), "retention.ms".to_owned()),
            Some("2".to_owned()),
        )]);
        assert!(config_changes(&want("2"), &BTreeMap::new(), &have, &refused).is_empty());
        assert_eq!(
            config_changes(&want("3"), &BTreeMap::new(), &have, &refused),
            [change("t", "retention.ms", Some("3"))]
        );
    }

    #[test]
    fn a_topic_missing_on_the_target_is_left_to_topic_creation() {
        let want = BTreeMap::from([("new".to_owned(), desired(&[("retention.ms", "1")], None))]);
        assert!(
            config_changes(&want, &BTreeMap::new(), &BTreeMap::new(), &HashMap::new()).is_empty()
        );
    }

    #[test]
    fn batches_name_each_topic_once() {
        let b = batches(vec![
            change("a", "x", Some("1")),
            change("a", "y", Some("2")),
            change("b", "x", Some("3")),
        ]);
        assert_eq!(
            b,
            [
                vec![change("a", "x", Some("1")), change("b", "x", Some("3"))],
                vec![change("a", "y", Some("2"))]
            ]
        );
    }
}
