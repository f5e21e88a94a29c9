//! The target side before and while copying: which source topics the plan
//! selects, checks that change nothing (`preflight`), target topics created
//! with the source's partition count and carried configs, grown when the
//! source grows, and the offset-map topic.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::ReplicatorError;
use super::clients::{CopyContext, cluster_id};
use super::internal_topics::{self, await_leaders, block, poll_until};
use super::plan::LoadedPlan;
use super::stats::Observer;
use crate::connect::Connection;
use crate::connect::admin::{self, OffsetSpec};

/// The selected source topics whose metadata reads without error, and the
/// last selected one whose metadata carries an error (a leader not
/// available yet), if any.
type SourceTopics = (BTreeMap<String, i32>, Option<(String, RDKafkaErrorCode)>);

fn read_source_topics(
    conn: &Connection,
    plan: &LoadedPlan,
) -> Result<SourceTopics, ReplicatorError> {
    let md = conn.fetch_metadata(None)?;
    let mut topics = BTreeMap::new();
    let mut unavailable = None;
    for t in md.topics().iter().filter(|t| plan.selects(t.name())) {
        match t.error() {
            None => {
                topics.insert(t.name().to_owned(), t.partitions().len() as i32);
            }
            Some(e) => unavailable = Some((t.name().to_owned(), RDKafkaErrorCode::from(e))),
        }
    }
    Ok((topics, unavailable))
}

/// The selected source topics whose metadata reads without error, for topic
/// discovery while copying: one unavailable for now is found at a later
/// round.
pub(super) fn available_source_topics(
    conn: &Connection,
    plan: &LoadedPlan,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    Ok(read_source_topics(conn, plan)?.0)
}

/// The selected source topics and their partition counts. A selected topic
/// whose metadata carries an error is asked for again until the
/// connection's timeout, then stops the run: leaving it out would let a
/// copy call itself caught up without it.
pub(super) fn source_topics(
    conn: &Connection,
    plan: &LoadedPlan,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    let deadline = Instant::now() + conn.timeout();
    loop {
        let (topics, unavailable) = read_source_topics(conn, plan)?;
        match unavailable {
            None => return Ok(topics),
            Some((topic, code)) if Instant::now() >= deadline => {
                return Err(ReplicatorError::TopicUnavailable {
                    topic,
                    error: code.to_string(),
                });
            }
            Some(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// The plan's selected source partitions, `(topic, partition)`.
pub fn source_partitions(
    src: &Connection,
    plan: &LoadedPlan,
) -> Result<Vec<(String, i32)>, ReplicatorError> {
    Ok(source_topics(src, plan)?
        .into_iter()
        .flat_map(|(t, n)| (0..n).map(move |p| (t.clone(), p)))
        .collect())
}

/// Checks, changing nothing, that the clusters differ, that the plan selects
/// topics on the source, that no other source claims its target topics
/// (fan-in, see `claims`) and that every existing target topic has exactly
/// its source's partition count and takes records as large as its source.
/// Returns the selected topics and their partition counts.
pub fn preflight(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    let (src_id, dst_id) = (cluster_id(src)?, cluster_id(dst)?);
    if src_id == dst_id {
        return Err(ReplicatorError::Setup(format!(
            "source and target are the same cluster (id {src_id})"
        )));
    }
    let topics = source_topics(src, plan)?;
    if topics.is_empty() {
        return Err(ReplicatorError::NothingSelected {
            cluster: plan.plan.source.clone(),
        });
    }
    super::claims::check(plan, &src_id, dst, &topics)?;
    let existing = target_topics(dst)?;
    check_partition_counts(plan, &topics, &existing)?;
    let sources = source_configs(src, &topics)?;
    check_existing_targets(dst, plan, &topics, &existing, &sources, &Quiet)?;
    Ok(topics)
}

/// An observer for checks whose notices the next step repeats.
struct Quiet;

impl Observer for Quiet {
    fn stats(&self, _: &super::stats::Stats) {}
    fn notice(&self, _: &str) {}
}

/// Claims the target topics (fan-in, see `claims`), creates the missing
/// ones and the offset-map topic: what a run does before copying, as a
/// step of its own.
pub fn prepare(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let topics = preflight(plan, src, dst)?;
    internal_topics::ensure_both(dst, &plan.plan.replication.offset_map_topic)?;
    let io = (
        &super::claims::reader(plan, dst)?,
        &super::claims::Writer::new(dst)?,
    );
    super::claims::claim(plan, &cluster_id(src)?, dst, io, &topics)?;
    prepare_target(&source_configs(src, &topics)?, dst, plan, &topics, observer)?;
    map_watermarks(dst, &plan.plan.replication.offset_map_topic)?;
    Ok(())
}

/// Room on top of the largest record batch the source accepts for what a
/// copy adds: kcp's provenance header is under 200 bytes; the rest leaves
/// room for the headers of a chained migration.
pub(super) const HEADER_ROOM: i64 = 1024;

/// What kcp needs to know of a source topic's configs.
#[derive(Debug, Default, Clone)]
pub(super) struct SourceConfigs {
    /// The configs a migration carries (`topic_config::to_carry`).
    pub(super) carry: BTreeMap<String, String>,
    /// Its `max.message.bytes`, set or default; `None` when unreadable.
    pub(super) max_message_bytes: Option<i64>,
    /// How old its records may be, in ms: `retention.ms`, or `None` for
    /// no bound (retention -1, or a compacted topic) or unreadable.
    oldest_ms: Option<i64>,
    pub(super) readable: bool,
}

/// Creates missing target topics with the source's partition count, carried
/// configs and a record size limit with room for the provenance header;
/// refuses target topics with another partition count or a record size
/// limit too small for what the source accepts. Returns the smallest record
/// size limit among the target topics, where known: the producer's batches
/// must fit in it (librdkafka does not split a batch the broker refuses).
/// `sources`: the topics' [`source_configs`], read beforehand (a run reads
/// them while it prepares the target).
pub(super) fn prepare_target(
    sources: &HashMap<String, SourceConfigs>,
    dst: &Connection,
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    observer: &dyn Observer,
) -> Result<Option<i64>, ReplicatorError> {
    let existing = target_topics(dst)?;
    check_partition_counts(plan, topics, &existing)?;
    let existing_limit = check_existing_targets(dst, plan, topics, &existing, sources, observer)?;
    let to_create: Vec<(&String, String, i32)> = topics
        .iter()
        .map(|(topic, partitions)| (topic, plan.target_topic(topic), *partitions))
        .filter(|(_, target, _)| !existing.contains_key(target))
        .collect();
    if to_create.is_empty() {
        return Ok(existing_limit);
    }
    let created_limit = to_create
        .iter()
        .filter_map(|(topic, _, _)| sources.get(*topic)?.max_message_bytes)
        .map(|max| max + HEADER_ROOM)
        .min();
    let configs: Vec<BTreeMap<String, String>> = to_create
        .iter()
        .map(|(topic, _, _)| {
            let source = sources.get(*topic).cloned().unwrap_or_default();
            let mut carry = source.carry;
            if let Some(max) = source.max_message_bytes {
                carry.insert("max.message.bytes".into(), (max + HEADER_ROOM).to_string());
            }
            carry
        })
        .collect();
    let new: Vec<NewTopic<'_>> = to_create
        .iter()
        .zip(&configs)
        .map(|((_, target, partitions), cfg)| {
            cfg.iter().fold(
                NewTopic::new(target, *partitions, TopicReplication::Fixed(-1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let results = block(dst.admin_client().create_topics(&new, &dst.admin_options()))?
        .map_err(ReplicatorError::kafka("creating target topics"))?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => {
                observer.notice(&format!("created topic `{name}` on the target"));
                created.push(name);
            }
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                observer.notice(&format!("topic `{name}` already exists on the target"))
            }
            Err((name, code)) => {
                return Err(ReplicatorError::Setup(format!(
                    "cannot create topic `{name}` on the target: {code}"
                )));
            }
        }
    }
    await_leaders(dst, &created)?;
    Ok(existing_limit.into_iter().chain(created_limit).min())
}

/// The target's topics and their partition counts (topics whose metadata
/// carries an error count as existing, with no partition count).
fn target_topics(dst: &Connection) -> Result<HashMap<String, Option<i32>>, ReplicatorError> {
    let md = dst.fetch_metadata(None)?;
    Ok(md
        .topics()
        .iter()
        .map(|t| {
            let count = t.error().is_none().then_some(t.partitions().len() as i32);
            (t.name().to_owned(), count)
        })
        .collect())
}

/// Refuses an existing target topic whose partition count differs from
/// its source's.
fn check_partition_counts(
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    existing: &HashMap<String, Option<i32>>,
) -> Result<(), ReplicatorError> {
    for (topic, partitions) in topics {
        let target = plan.target_topic(topic);
        if let Some(Some(have)) = existing.get(&target)
            && have != partitions
        {
            return Err(ReplicatorError::PartitionCount {
                topic: target,
                target_partitions: *have,
                source_partitions: *partitions,
            });
        }
    }
    Ok(())
}

/// The configs of `topics` on the source (DescribeConfigs); a topic whose
/// configs cannot be read gets none.
pub(super) fn source_configs(
    src: &Connection,
    topics: &BTreeMap<String, i32>,
) -> Result<HashMap<String, SourceConfigs>, ReplicatorError> {
    let names: Vec<&String> = topics.keys().collect();
    let described = describe(src, &names)?;
    Ok(names
        .into_iter()
        .zip(described)
        .map(|(name, entries)| {
            let Some(entries) = entries else {
                return (name.clone(), SourceConfigs::default());
            };
            let topic = crate::state::Topic {
                configs: entries
                    .iter()
                    .map(|e| {
                        let config = crate::state::TopicConfig {
                            value: e.value.clone(),
                            source: crate::scan::classify::config_source(&e.source),
                            sensitive: e.is_sensitive,
                        };
                        (e.name.clone(), config)
                    })
                    .collect(),
                ..Default::default()
            };
            let compacted =
                config_value(&entries, "cleanup.policy").is_some_and(|p| p.contains("compact"));
            let configs = SourceConfigs {
                carry: crate::topic_config::to_carry(&topic),
                max_message_bytes: config_value(&entries, "max.message.bytes")
                    .and_then(|v| v.parse().ok()),
                oldest_ms: config_value(&entries, "retention.ms")
                    .and_then(|v| v.parse::<i64>().ok())
                    .filter(|ms| *ms >= 0 && !compacted),
                readable: true,
            };
            (name.clone(), configs)
        })
        .collect())
}

/// DescribeConfigs of topics, in order; `None` for a topic that cannot be
/// described (or all of them, when the call is refused).
pub(super) fn describe(
    conn: &Connection,
    topics: &[&String],
) -> Result<Vec<Option<Vec<rdkafka::admin::ConfigEntry>>>, ReplicatorError> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let specs: Vec<rdkafka::admin::ResourceSpecifier<'_>> = topics
        .iter()
        .map(|t| rdkafka::admin::ResourceSpecifier::Topic(t))
        .collect();
    let admin = conn.admin_client();
    let mut described: Vec<Option<Vec<rdkafka::admin::ConfigEntry>>> =
        match block(admin.describe_configs(&specs, &conn.admin_options()))? {
            Ok(results) => results
                .into_iter()
                .map(|r| r.ok().map(|r| r.entries))
                .collect(),
            Err(_) => Vec::new(),
        };
    described.resize_with(topics.len(), || None);
    Ok(described)
}

fn config_value<'a>(entries: &'a [rdkafka::admin::ConfigEntry], name: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

/// Checks the existing target topics' configs against their sources':
/// a record size limit below the source's is refused, since a record that
/// does not fit would stop the copy midway, and one without
/// [`HEADER_ROOM`] above it is reported; `message.timestamp.type=LogAppendTime`, which replaces
/// every copied record's timestamp with the broker's, is reported.
fn check_existing_targets(
    dst: &Connection,
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    existing: &HashMap<String, Option<i32>>,
    sources: &HashMap<String, SourceConfigs>,
    observer: &dyn Observer,
) -> Result<Option<i64>, ReplicatorError> {
    let pairs: Vec<(&String, String)> = topics
        .keys()
        .map(|t| (t, plan.target_topic(t)))
        .filter(|(_, target)| existing.contains_key(target))
        .collect();
    let names: Vec<&String> = pairs.iter().map(|(_, target)| target).collect();
    let described = describe(dst, &names)?;
    if !pairs.is_empty() && described.iter().all(Option::is_none) {
        observer.notice("cannot read the target topics' configs; record size limits and timestamps are not checked");
    }
    let mut smallest: Option<i64> = None;
    for ((source, target), entries) in pairs.iter().zip(described) {
        let Some(entries) = entries else { continue };
        let have: Option<i64> =
            config_value(&entries, "max.message.bytes").and_then(|v| v.parse().ok());
        smallest = smallest.into_iter().chain(have).min();
        let source_max = sources.get(*source).and_then(|c| c.max_message_bytes);
        if let (Some(have), Some(source_max)) = (have, source_max) {
            // The copy back of a consumer-last migration writes to the
            // original source topics, whose copies kcp created with the
            // header room added: the records the moved producers write fit
            // what the source always took.
            let copy_back = plan.plan.replication.copy_back && have + HEADER_ROOM >= source_max;
            if have < source_max && !copy_back {
                return Err(ReplicatorError::RecordLimit {
                    topic: target.clone(),
                    limit: have,
                    needed: source_max + HEADER_ROOM,
                    source_limit: source_max,
                });
            }
            if have < source_max + HEADER_ROOM && !copy_back {
                observer.notice(&format!(
                    "target topic `{target}` takes records up to {have} bytes, as its source does: a record within {HEADER_ROOM} bytes of that limit would not fit with the provenance header, and the copy would stop there (raise max.message.bytes to {} to be safe)",
                    source_max + HEADER_ROOM
                ));
            }
        }
        if let Some(source) = sources.get(*source).filter(|c| c.readable)
            && let Some(notice) = timestamp_notice(target, &entries, source.oldest_ms)
        {
            observer.notice(&notice);
        }
        if config_value(&entries, "message.timestamp.type") == Some("LogAppendTime") {
            observer.notice(&format!(
                "target topic `{target}` uses message.timestamp.type=LogAppendTime: the broker replaces the copied records' timestamps with its own; set it to CreateTime to keep them"
            ));
        }
    }
    Ok(smallest)
}

/// A target topic that refuses records older than its source may hold
/// (`message.timestamp.before.max.ms` below the source's retention, or any
/// bound when the source keeps records forever).
fn timestamp_notice(
    target: &str,
    entries: &[rdkafka::admin::ConfigEntry],
    source_oldest_ms: Option<i64>,
) -> Option<String> {
    let before: i64 = config_value(entries, "message.timestamp.before.max.ms")?
        .parse()
        .ok()?;
    if before == i64::MAX || source_oldest_ms.is_some_and(|oldest| oldest <= before) {
        return None;
    }
    let kept = source_oldest_ms.map_or("forever".to_owned(), |ms| format!("for {ms} ms"));
    Some(format!(
        "target topic `{target}` refuses records older than {before} ms (message.timestamp.before.max.ms), but its source keeps records {kept}: an older record would stop the copy there (raise it to {} to be safe)",
        i64::MAX
    ))
}

/// Says why the target refused a record, from the target topic's
/// timestamp bounds (read when it happens) and the record's timestamp.
pub(super) fn explain_refusal(
    dst: &Connection,
    e: ReplicatorError,
    now_ms: i64,
) -> ReplicatorError {
    let ReplicatorError::RecordRefused {
        topic,
        partition,
        offset,
        target_topic,
        timestamp,
        ..
    } = e
    else {
        return e;
    };
    let bound = |entries: &[rdkafka::admin::ConfigEntry], key: &str| -> Option<i64> {
        config_value(entries, key)?.parse().ok()
    };
    let reason = describe(dst, &[&target_topic])
        .ok()
        .and_then(|mut d| d.pop().flatten())
        .map(|entries| {
            let before = bound(&entries, "message.timestamp.before.max.ms");
            let after = bound(&entries, "message.timestamp.after.max.ms");
            match timestamp {
                Some(ts) if before.is_some_and(|b| now_ms - ts > b) => format!(
                    "its timestamp {ts} is {} ms old, older than message.timestamp.before.max.ms={}",
                    now_ms - ts,
                    before.unwrap_or_default()
                ),
                Some(ts) if after.is_some_and(|a| ts - now_ms > a) => format!(
                    "its timestamp {ts} is {} ms in the future, beyond message.timestamp.after.max.ms={}",
                    ts - now_ms,
                    after.unwrap_or_default()
                ),
                Some(_) => "not its timestamp (within the topic's bounds): Kafka's record validation refused it (a compacted topic refuses a record without a key, for instance)".to_owned(),
                None => format!(
                    "most likely its timestamp, outside message.timestamp.before.max.ms={} / message.timestamp.after.max.ms={}",
                    before.map_or("?".to_owned(), |b| b.to_string()),
                    after.map_or("?".to_owned(), |a| a.to_string())
                ),
            }
        })
        .unwrap_or_default();
    ReplicatorError::RecordRefused {
        topic,
        partition,
        offset,
        target_topic,
        timestamp,
        reason,
    }
}

/// Checks that the offset-map topic (made at start-up, see
/// `internal_topics`) has one partition and returns its watermarks.
pub(super) fn map_watermarks(
    dst: &Connection,
    topic: &str,
) -> Result<Vec<(i32, i64)>, ReplicatorError> {
    let md = dst.fetch_metadata(Some(topic))?;
    let partitions: Vec<(String, i32)> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| (topic.to_owned(), p.id())))
        .collect();
    // A map is several records (segments, then the head): only one
    // partition keeps them in order, and "the latest head wins" meaningful.
    if partitions.is_empty() {
        return Err(ReplicatorError::Setup(format!(
            "the offset-map topic `{topic}` is gone from the target (deleted while kcp ran?); \
             run the replicator again: it creates the topic and rebuilds the maps from the \
             provenance headers of the copied records"
        )));
    }
    if partitions.len() > 1 {
        return Err(ReplicatorError::Setup(format!(
            "the offset-map topic `{topic}` on the target has {} partitions; kcp needs exactly one. \
             Delete it (the maps are rebuilt from the provenance headers of the copied records) \
             or name a new one in the plan's `replication.offset_map_topic`",
            partitions.len()
        )));
    }
    let hw = admin::list_offsets(dst, &partitions, OffsetSpec::LastStable)?;
    Ok(hw
        .into_iter()
        .map(|o| (o.partition, o.offset.unwrap_or(0)))
        .collect())
}

/// Grows target topics whose source gained partitions (CreatePartitions).
pub(super) fn grow_target(
    dst: &Connection,
    plan: &LoadedPlan,
    grown: &BTreeMap<String, i32>,
    known: &BTreeMap<String, i32>,
) -> Result<(), ReplicatorError> {
    let growing: Vec<(String, usize)> = grown
        .iter()
        .filter(|(t, _)| known.contains_key(*t))
        .map(|(t, n)| (plan.target_topic(t), *n as usize))
        .collect();
    if growing.is_empty() {
        return Ok(());
    }
    let admin_dst = dst.admin_client();
    let new: Vec<NewPartitions<'_>> = growing
        .iter()
        .map(|(t, n)| NewPartitions::new(t, *n))
        .collect();
    let results = block(admin_dst.create_partitions(
        &new,
        &AdminOptions::new().operation_timeout(Some(dst.timeout())),
    ))?
    .map_err(ReplicatorError::kafka("adding partitions on the target"))?;
    for r in results {
        if let Err((name, code)) = r {
            return Err(ReplicatorError::Setup(format!(
                "cannot add partitions to `{name}` on the target: {code}"
            )));
        }
    }
    Ok(())
}

/// Waits until the producer's metadata shows every grown target topic with
/// its new partition count: a record sent to a partition the producer does
/// not know yet fails at once (`UnknownPartition`), where an unknown topic
/// only waits.
pub(super) fn await_partitions(
    producer: &BaseProducer<CopyContext>,
    plan: &LoadedPlan,
    grown: &BTreeMap<String, i32>,
    timeout: Duration,
) -> Result<(), ReplicatorError> {
    for (topic, partitions) in grown {
        let target = plan.target_topic(topic);
        let what =
            || format!("waiting for the target to show {partitions} partitions of `{target}`");
        poll_until(timeout, Duration::from_millis(100), what, || {
            Ok(producer
                .client()
                .fetch_metadata(Some(&target), Duration::from_secs(1))
                .ok()
                .and_then(|md| {
                    let t = md.topics().first()?;
                    Some(t.error().is_none() && t.partitions().len() as i32 >= *partitions)
                })
                .unwrap_or(false))
        })?;
    }
    Ok(())
}
