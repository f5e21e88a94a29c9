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
use super::plan::LoadedPlan;
use super::stats::Observer;
use crate::connect::Connection;
use crate::connect::admin::{self, OffsetSpec};

fn block<F: std::future::Future>(f: F) -> Result<F::Output, ReplicatorError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplicatorError::Setup(format!("cannot start a runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// The selected source topics whose metadata reads without error, for topic
/// discovery while copying: one unavailable for now is found at a later
/// round.
pub(super) fn available_source_topics(
    conn: &Connection,
    plan: &LoadedPlan,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    let md = conn.fetch_metadata(None)?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && plan.selects(t.name()))
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect())
}

/// The selected source topics and their partition counts. A selected topic
/// whose metadata carries an error (a leader not available yet) is asked
/// for again until the connection's timeout, then stops the run: leaving
/// it out would let a copy call itself caught up without it.
pub(super) fn source_topics(
    conn: &Connection,
    plan: &LoadedPlan,
) -> Result<BTreeMap<String, i32>, ReplicatorError> {
    let deadline = Instant::now() + conn.timeout();
    loop {
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
/// topics on the source and that every existing target topic has exactly
/// its source's partition count. Returns the selected topics and their partition counts.
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
    let md = dst.fetch_metadata(None)?;
    for t in md.topics().iter().filter(|t| t.error().is_none()) {
        for (topic, partitions) in &topics {
            let have = t.partitions().len() as i32;
            if plan.target_topic(topic) == t.name() && have != *partitions {
                return Err(ReplicatorError::PartitionCount {
                    topic: t.name().to_owned(),
                    target_partitions: have,
                    source_partitions: *partitions,
                });
            }
        }
    }
    Ok(topics)
}

/// Creates the missing target topics and the offset-map topic: what a run
/// does before copying, as a step of its own.
pub fn prepare(
    plan: &LoadedPlan,
    src: &Connection,
    dst: &Connection,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let topics = preflight(plan, src, dst)?;
    prepare_target(src, dst, plan, &topics, observer)?;
    ensure_map_topic(dst, &plan.plan.replication.offset_map_topic)?;
    Ok(())
}

/// Creates missing target topics with the source's partition count and
/// carried configs; refuses target topics with another partition count.
pub(super) fn prepare_target(
    src: &Connection,
    dst: &Connection,
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let md = dst.fetch_metadata(None)?;
    let existing: HashMap<&str, (i32, bool)> = md
        .topics()
        .iter()
        .map(|t| (t.name(), (t.partitions().len() as i32, t.error().is_none())))
        .collect();
    let admin_dst = dst.admin_client()?;
    warn_log_append_time(dst, plan, topics, &existing, observer)?;
    let mut to_create = Vec::new();
    for (topic, partitions) in topics {
        let target = plan.target_topic(topic);
        match existing.get(target.as_str()) {
            Some((have, true)) if have != partitions => {
                return Err(ReplicatorError::PartitionCount {
                    topic: target,
                    target_partitions: *have,
                    source_partitions: *partitions,
                });
            }
            Some(_) => {}
            None => to_create.push((topic.clone(), target, *partitions)),
        }
    }
    if to_create.is_empty() {
        return Ok(());
    }
    // Configs to carry, from the source.
    let admin_src = src.admin_client()?;
    let specs: Vec<rdkafka::admin::ResourceSpecifier<'_>> = to_create
        .iter()
        .map(|(t, _, _)| rdkafka::admin::ResourceSpecifier::Topic(t))
        .collect();
    let described =
        block(admin_src.describe_configs(&specs, &src.admin_options()))?.unwrap_or_default();
    let mut configs: Vec<BTreeMap<String, String>> = Vec::new();
    for r in &described {
        let topic = crate::state::Topic {
            configs: r
                .as_ref()
                .map(|r| {
                    r.entries
                        .iter()
                        .map(|e| {
                            (
                                e.name.clone(),
                                crate::state::TopicConfig {
                                    value: e.value.clone(),
                                    source: crate::scan::classify::config_source(&e.source),
                                    sensitive: e.is_sensitive,
                                },
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        configs.push(crate::topic_config::to_carry(&topic));
    }
    configs.resize(to_create.len(), BTreeMap::new());
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
    let results = block(admin_dst.create_topics(&new, &dst.admin_options()))?
        .map_err(ReplicatorError::kafka("creating target topics"))?;
    for result in results {
        match result {
            Ok(name) => observer.notice(&format!("created topic `{name}` on the target")),
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
    Ok(())
}

/// Existing target topics with `message.timestamp.type=LogAppendTime`
/// replace every copied record's timestamp with the broker's append time.
fn warn_log_append_time(
    dst: &Connection,
    plan: &LoadedPlan,
    topics: &BTreeMap<String, i32>,
    existing: &HashMap<&str, (i32, bool)>,
    observer: &dyn Observer,
) -> Result<(), ReplicatorError> {
    let names: Vec<String> = topics
        .keys()
        .map(|t| plan.target_topic(t))
        .filter(|t| existing.contains_key(t.as_str()))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let specs: Vec<rdkafka::admin::ResourceSpecifier<'_>> = names
        .iter()
        .map(|t| rdkafka::admin::ResourceSpecifier::Topic(t))
        .collect();
    let admin_dst = dst.admin_client()?;
    let Ok(described) = block(admin_dst.describe_configs(&specs, &dst.admin_options()))? else {
        observer.notice("cannot read the target topics' configs; timestamps are not checked");
        return Ok(());
    };
    for (name, result) in names.iter().zip(described) {
        let log_append = result
            .ok()
            .and_then(|r| {
                r.get("message.timestamp.type")
                    .and_then(|e| e.value.clone())
            })
            .is_some_and(|v| v == "LogAppendTime");
        if log_append {
            observer.notice(&format!(
                "target topic `{name}` uses message.timestamp.type=LogAppendTime: the broker replaces the copied records' timestamps with its own; set it to CreateTime to keep them"
            ));
        }
    }
    Ok(())
}

pub(super) fn ensure_map_topic(
    dst: &Connection,
    topic: &str,
) -> Result<Vec<(i32, i64)>, ReplicatorError> {
    let md = dst.fetch_metadata(Some(topic))?;
    let exists = md
        .topics()
        .first()
        .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
    if !exists {
        let admin_dst = dst.admin_client()?;
        let new =
            NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
        let results = block(admin_dst.create_topics(&[new], &dst.admin_options()))?
            .map_err(ReplicatorError::kafka("creating the offset-map topic"))?;
        for r in results {
            if let Err((name, code)) = r
                && code != RDKafkaErrorCode::TopicAlreadyExists
            {
                return Err(ReplicatorError::Setup(format!(
                    "cannot create the offset-map topic `{name}`: {code}"
                )));
            }
        }
    }
    let md = dst.fetch_metadata(Some(topic))?;
    let partitions: Vec<(String, i32)> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| (topic.to_owned(), p.id())))
        .collect();
    // A map is several records (segments, then the head): only one
    // partition keeps them in order, and "the latest head wins" meaningful.
    if partitions.len() > 1 {
        return Err(ReplicatorError::Setup(format!(
            "the offset-map topic `{topic}` on the target has {} partitions; kcp needs exactly one. \
             Delete it (the maps are rebuilt from the provenance headers of the copied records) \
             or name a new one in the plan's `replication.offset_map_topic`",
            partitions.len()
        )));
    }
    let hw = admin::list_offsets(dst, &partitions, OffsetSpec::Latest)?;
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
    let admin_dst = dst.admin_client()?;
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
    let deadline = Instant::now() + timeout;
    for (topic, partitions) in grown {
        let target = plan.target_topic(topic);
        loop {
            let known = producer
                .client()
                .fetch_metadata(Some(&target), Duration::from_secs(1))
                .ok()
                .and_then(|md| {
                    let t = md.topics().first()?;
                    Some(t.error().is_none() && t.partitions().len() as i32 >= *partitions)
                })
                .unwrap_or(false);
            if known {
                break;
            }
            if Instant::now() >= deadline {
                return Err(ReplicatorError::Stalled {
                    what: format!(
                        "waiting for the target to show {partitions} partitions of `{target}`"
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}
