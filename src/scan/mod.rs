//! `kcp scan clusters`: reads a Kafka cluster through the Kafka protocol and
//! turns it into the state's [`KafkaCluster`]: brokers, topics with
//! partitions, offsets and configs, ACLs, client quotas (over
//! [`crate::connect::wire`]), consumer groups with committed offsets and
//! lag, and a message-rate sample.
//!
//! Requests are batched so scan time grows with partitions, not with round
//! trips: one metadata request, one DescribeConfigs for all topics, one
//! ListOffsets per bound (librdkafka splits it per leader), one
//! ListConsumerGroupOffsets per group, all groups in flight at once.
//!
//! A call the broker refuses or does not implement does not stop the scan:
//! it becomes a [`Warning`] on the cluster. Only a failed connection fails
//! the cluster. Merging into the state ([`merge`]) is pure; [`run`] is a
//! whole scan (lock, clusters a few at a time, merge, save).

pub(crate) mod classify;
mod run;

pub use run::{Outcome, Scanned, run};

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::admin::ResourceSpecifier;

use crate::connect::admin::{self, AdminError, OffsetSpec};
use crate::connect::wire::QuotaClient;
use crate::connect::{ClusterCredentials, ConnectError, ConnectOptions, Connection, connect};
use crate::state::{
    Broker, ConsumerGroup, GroupMember, GroupOffset, KafkaCluster, Partition, State, Topic,
    TopicConfig, TopicPartitionRef, TopicRate, Warning,
};

/// How to scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Connection and per-request timeout.
    pub timeout: Duration,
    /// Time between the two offset snapshots of the rate sample; zero skips it.
    pub rate_window: Duration,
}

/// Receives progress; implemented by the command layer (progress bars).
pub trait Progress: Sync {
    /// The scan of `cluster` moved on to `step`.
    fn step(&self, cluster: &str, step: &str);
    /// The scan of `cluster` ended.
    fn finished(&self, _cluster: &str, _ok: bool) {}
}

/// DescribeConfigs resources per request.
const CONFIG_BATCH: usize = 1000;
/// Groups per DescribeConsumerGroups request.
const GROUP_BATCH: usize = 100;

/// Connects to one cluster and scans it. Blocking; run clusters on their
/// own threads to scan them concurrently.
pub fn scan_cluster(
    creds: &ClusterCredentials,
    options: &ScanOptions,
    progress: &dyn Progress,
    started_at: DateTime<Utc>,
) -> Result<KafkaCluster, ConnectError> {
    let name = creds.name.as_str();
    let started = Instant::now();
    // What -vv shows of each step: what it found, and when.
    let found = |what: String| {
        tracing::debug!(
            "cluster `{name}`: {what} ({} ms)",
            started.elapsed().as_millis()
        );
    };
    progress.step(name, "connecting");
    let conn = connect(
        creds,
        ConnectOptions {
            timeout: options.timeout,
        },
    )?;
    found(format!(
        "connected; metadata lists {} broker(s)",
        conn.metadata().brokers.len()
    ));
    let mut cluster = creds.state_entry();
    cluster.scanned_at = Some(started_at);
    let mut warnings = Vec::new();

    progress.step(name, "describing the cluster");
    match admin::describe_cluster(&conn) {
        Ok(desc) => {
            cluster.cluster_id = desc.cluster_id;
            cluster.controller_id = desc.controller_id;
            cluster.brokers = desc
                .nodes
                .into_iter()
                .map(|n| Broker {
                    id: n.id,
                    host: n.host,
                    port: n.port,
                    rack: n.rack,
                })
                .collect();
        }
        Err(e) => {
            warnings.push(warning(
                &e,
                "cluster id, controller and racks are unknown; brokers come from metadata",
            ));
            cluster.brokers = conn
                .metadata()
                .brokers
                .iter()
                .map(|b| Broker {
                    id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: None,
                })
                .collect();
        }
    }

    found(format!(
        "cluster described: id {}, {} broker(s)",
        cluster.cluster_id.as_deref().unwrap_or("unknown"),
        cluster.brokers.len()
    ));
    progress.step(name, "reading topics");
    cluster.topics = read_topics(&conn, &mut warnings)?;
    found(format!("{} topics read", cluster.topics.len()));
    progress.step(name, "reading topic configs");
    read_configs(&conn, &mut cluster.topics, &mut warnings);
    found("topic configs read".into());
    progress.step(name, "reading offsets");
    let partitions: Vec<(String, i32)> = cluster
        .topics
        .iter()
        .flat_map(|(t, topic)| topic.partitions.iter().map(move |p| (t.clone(), p.id)))
        .collect();
    let first_latest = Instant::now();
    let latest = read_offsets(&conn, &partitions, &mut cluster.topics, &mut warnings);
    found(format!("offsets read for {} partitions", partitions.len()));

    progress.step(name, "reading ACLs");
    match admin::describe_acls(&conn) {
        Ok(raw) => {
            for acl in &raw {
                match classify::acl_binding(acl) {
                    Ok(binding) => cluster.acls.push(binding),
                    Err(reason) => warnings.push(Warning {
                        call: "DescribeAcls".into(),
                        code: "UNSUPPORTED".into(),
                        message: format!(
                            "ACL on `{}` for `{}` skipped: {reason}",
                            acl.resource_name, acl.principal
                        ),
                        hint: "report this ACL to the kcp developers".into(),
                    }),
                }
            }
        }
        Err(e) if e.code() == "SECURITY_DISABLED" => {
            // No authorizer on the cluster: there are no ACLs to migrate.
        }
        Err(e) => warnings.push(warning(
            &e,
            "ACLs are not in the state; check that the scanning principal may Describe the cluster",
        )),
    }

    found(format!("{} ACL bindings read", cluster.acls.len()));
    progress.step(name, "reading client quotas");
    read_quotas(creds, options, &mut cluster, &mut warnings);
    found(format!(
        "{} client quotas read",
        cluster.client_quotas.len()
    ));
    progress.step(name, "reading consumer groups");
    cluster.consumer_groups = read_groups(&conn, &latest, &mut warnings);
    found(format!(
        "{} consumer groups read",
        cluster.consumer_groups.len()
    ));

    if !options.rate_window.is_zero() {
        progress.step(name, "sampling message rates");
        let wait = options.rate_window.saturating_sub(first_latest.elapsed());
        std::thread::sleep(wait);
        let window = first_latest.elapsed();
        match admin::list_offsets(&conn, &partitions, OffsetSpec::Latest) {
            Ok(second) => {
                apply_rates(&mut cluster.topics, &latest, &second, window);
                found(format!("rates sampled over {} ms", window.as_millis()));
            }
            Err(e) => warnings.push(warning(&e, "message rates are unknown")),
        }
    }
    found(format!("done, {} warning(s)", warnings.len()));
    cluster.warnings = warnings;
    progress.step(name, "done");
    Ok(cluster)
}

/// Client quotas over kcp's own protocol client (librdkafka has no
/// DescribeClientQuotas); a failure, or an auth method that client does not
/// support, is a warning: the rest of the scan stands.
fn read_quotas(
    creds: &ClusterCredentials,
    options: &ScanOptions,
    cluster: &mut KafkaCluster,
    warnings: &mut Vec<Warning>,
) {
    let described = QuotaClient::connect(creds, options.timeout)
        .and_then(|mut client| client.describe_client_quotas());
    match described {
        Ok(entries) => {
            let (quotas, refused) = crate::quotas::from_wire(entries);
            cluster.client_quotas = quotas;
            warnings.extend(refused.into_iter().map(|reason| Warning {
                call: "DescribeClientQuotas".into(),
                code: "UNSUPPORTED".into(),
                message: format!("{reason} skipped"),
                hint: "report this quota to the kcp developers".into(),
            }));
        }
        Err(e) => warnings.push(Warning {
            call: "DescribeClientQuotas".into(),
            code: e.code(),
            message: e.to_string(),
            hint: "client quotas are not in the state; `kcp create-asset quotas` and `kcp migrate quotas` will not see them".into(),
        }),
    }
}

fn warning(e: &AdminError, consequence: &str) -> Warning {
    let call = match e {
        AdminError::Timeout { call, .. } | AdminError::Failed { call, .. } => *call,
    };
    Warning {
        call: call.to_owned(),
        code: e.code().to_owned(),
        message: e.to_string(),
        hint: consequence.to_owned(),
    }
}

fn read_topics(
    conn: &Connection,
    warnings: &mut Vec<Warning>,
) -> Result<BTreeMap<String, Topic>, ConnectError> {
    let md = conn.fetch_metadata(None)?;
    let mut topics = BTreeMap::new();
    for t in md.topics() {
        if let Some(err) = t.error() {
            warnings.push(Warning {
                call: "Metadata".into(),
                code: format!("{:?}", rdkafka::error::RDKafkaErrorCode::from(err)),
                message: format!("topic `{}` could not be described", t.name()),
                hint: "the topic is left out of the state; check the scanning principal's Describe permission".into(),
            });
            continue;
        }
        let partitions: Vec<Partition> = t
            .partitions()
            .iter()
            .map(|p| Partition {
                id: p.id(),
                leader: (p.leader() >= 0).then(|| p.leader()),
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
                earliest_offset: None,
                latest_offset: None,
                size_bytes: None,
            })
            .collect();
        let replication_factor = partitions
            .iter()
            .map(|p| p.replicas.len())
            .max()
            .unwrap_or(0);
        topics.insert(
            t.name().to_owned(),
            Topic {
                kind: classify::topic_kind(t.name()),
                replication_factor: u16::try_from(replication_factor).unwrap_or(u16::MAX),
                partitions,
                configs: BTreeMap::new(),
                rate: None,
            },
        );
    }
    for topic in topics.values_mut() {
        topic.partitions.sort_by_key(|p| p.id);
    }
    Ok(topics)
}

fn read_configs(
    conn: &Connection,
    topics: &mut BTreeMap<String, Topic>,
    warnings: &mut Vec<Warning>,
) {
    let admin_client = conn.admin_client();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            warnings.push(Warning {
                call: "DescribeConfigs".into(),
                code: "_FAIL".into(),
                message: e.to_string(),
                hint: "topic configs are not in the state".into(),
            });
            return;
        }
    };
    let names: Vec<String> = topics.keys().cloned().collect();
    let options = conn.admin_options();
    let mut failed = Vec::new();
    for chunk in names.chunks(CONFIG_BATCH) {
        let specs: Vec<ResourceSpecifier<'_>> =
            chunk.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
        let call = admin_client.describe_configs(&specs, &options);
        let result = runtime.block_on(async {
            tokio::time::timeout(conn.timeout() + Duration::from_secs(2), call).await
        });
        let results = match result {
            Ok(Ok(results)) => results,
            Ok(Err(e)) => {
                warnings.push(Warning {
                    call: "DescribeConfigs".into(),
                    code: e
                        .rdkafka_error_code()
                        .map(|c| format!("{c:?}"))
                        .unwrap_or_else(|| "_FAIL".into()),
                    message: e.to_string(),
                    hint:
                        "topic configs are not in the state; check the DescribeConfigs permission"
                            .into(),
                });
                return;
            }
            Err(_) => {
                warnings.push(Warning {
                    call: "DescribeConfigs".into(),
                    code: "_TIMED_OUT".into(),
                    message: format!("no answer within {}s", conn.timeout().as_secs()),
                    hint: "topic configs are not in the state; raise --timeout".into(),
                });
                return;
            }
        };
        for (name, result) in chunk.iter().zip(results) {
            match result {
                Ok(resource) => {
                    if let Some(topic) = topics.get_mut(name) {
                        topic.configs = resource
                            .entries
                            .iter()
                            .map(|e| {
                                (
                                    e.name.clone(),
                                    TopicConfig {
                                        // Sensitive values never reach the state.
                                        value: if e.is_sensitive {
                                            None
                                        } else {
                                            e.value.clone()
                                        },
                                        source: classify::config_source(&e.source),
                                        sensitive: e.is_sensitive,
                                    },
                                )
                            })
                            .collect();
                    }
                }
                Err(code) => failed.push(format!("{name} ({code:?})")),
            }
        }
    }
    if !failed.is_empty() {
        warnings.push(Warning {
            call: "DescribeConfigs".into(),
            code: "PARTIAL".into(),
            message: format!(
                "configs of {} topics could not be read: {}",
                failed.len(),
                failed.join(", ")
            ),
            hint: "those topics have no configs in the state".into(),
        });
    }
}

/// Fills earliest and latest offsets; returns the latest offsets by partition.
fn read_offsets(
    conn: &Connection,
    partitions: &[(String, i32)],
    topics: &mut BTreeMap<String, Topic>,
    warnings: &mut Vec<Warning>,
) -> HashMap<(String, i32), i64> {
    let mut latest = HashMap::new();
    for spec in [OffsetSpec::Earliest, OffsetSpec::Latest] {
        match admin::list_offsets(conn, partitions, spec) {
            Ok(offsets) => {
                let mut failed = Vec::new();
                for o in offsets {
                    let Some(p) = topics
                        .get_mut(&o.topic)
                        .and_then(|t| t.partitions.iter_mut().find(|p| p.id == o.partition))
                    else {
                        continue;
                    };
                    match o.offset {
                        Ok(offset) if spec == OffsetSpec::Earliest => {
                            p.earliest_offset = Some(offset)
                        }
                        Ok(offset) => {
                            p.latest_offset = Some(offset);
                            latest.insert((o.topic, o.partition), offset);
                        }
                        Err(code) => failed.push(format!("{}-{} ({code})", o.topic, o.partition)),
                    }
                }
                if !failed.is_empty() {
                    failed.sort();
                    warnings.push(Warning {
                        call: "ListOffsets".into(),
                        code: "PARTIAL".into(),
                        message: format!(
                            "{} partitions have no {spec:?} offset: {}",
                            failed.len(),
                            failed.join(", ")
                        ),
                        hint: "message counts of those partitions are unknown".into(),
                    });
                }
            }
            Err(e) => warnings.push(warning(&e, "offsets and message counts are unknown")),
        }
    }
    latest
}

fn read_groups(
    conn: &Connection,
    latest: &HashMap<(String, i32), i64>,
    warnings: &mut Vec<Warning>,
) -> BTreeMap<String, ConsumerGroup> {
    let mut groups = BTreeMap::new();
    let listings = match admin::list_consumer_groups(conn) {
        Ok((listings, errors)) => {
            for error in errors {
                warnings.push(Warning {
                    call: "ListConsumerGroups".into(),
                    code: "PARTIAL".into(),
                    message: error,
                    hint: "groups coordinated by that broker may be missing".into(),
                });
            }
            listings
        }
        Err(e) => {
            warnings.push(warning(&e, "consumer groups are not in the state"));
            return groups;
        }
    };
    let ids: Vec<String> = listings.iter().map(|g| g.group_id.clone()).collect();
    for listing in &listings {
        let state = (listing.state != "Unknown").then(|| listing.state.clone());
        groups.insert(
            listing.group_id.clone(),
            ConsumerGroup {
                state,
                ..Default::default()
            },
        );
    }

    // Descriptions (state, members, assignments). Groups the broker will not
    // describe (no Describe ACL, no such API) keep the listing's data.
    // Groups that could not be described, by error text.
    let mut undescribed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in ids.chunks(GROUP_BATCH) {
        match admin::describe_consumer_groups(conn, chunk) {
            Ok(descriptions) => {
                for d in descriptions {
                    let Some(group) = groups.get_mut(&d.group_id) else {
                        continue;
                    };
                    if let Some(error) = d.error {
                        undescribed.entry(error).or_default().push(d.group_id);
                        continue;
                    }
                    group.state = Some(d.state);
                    // librdkafka's group description does not carry the protocol
                    // type (consumer, connect, ...), so none is invented here.
                    group.protocol = Some(d.partition_assignor).filter(|s| !s.is_empty());
                    group.members = d
                        .members
                        .into_iter()
                        .map(|m| GroupMember {
                            member_id: m.member_id,
                            client_id: m.client_id,
                            host: m.host,
                            assignments: m
                                .assignment
                                .into_iter()
                                .map(|(topic, partition)| TopicPartitionRef { topic, partition })
                                .collect(),
                        })
                        .collect();
                }
            }
            Err(e) => {
                warnings.push(warning(&e, "group states, members and assignments are not in the state; committed offsets and lag are recorded"));
                break;
            }
        }
    }
    for (error, ids) in undescribed {
        warnings.push(Warning {
            call: "DescribeConsumerGroups".into(),
            code: "GROUP_ERROR".into(),
            message: format!(
                "{} groups could not be described ({error}): {}",
                ids.len(),
                ids.join(", ")
            ),
            hint:
                "their members and assignments are not in the state; committed offsets and lag are recorded"
                    .into(),
        });
    }

    // Committed offsets and lag, every group in flight at once.
    for (id, result) in ids.iter().zip(admin::list_group_offsets(conn, &ids)) {
        let Some(group) = groups.get_mut(id) else {
            continue;
        };
        match result {
            Ok(offsets) => {
                group.offsets = offsets
                    .into_iter()
                    .filter_map(|o| {
                        let committed = o.offset.ok().filter(|c| *c >= 0)?;
                        let lag = latest
                            .get(&(o.topic.clone(), o.partition))
                            .map(|l| (l - committed).max(0));
                        Some(GroupOffset {
                            topic: o.topic,
                            partition: o.partition,
                            committed,
                            lag,
                        })
                    })
                    .collect();
            }
            Err(e) => warnings.push(warning(
                &e,
                &format!("committed offsets of group `{id}` are not in the state"),
            )),
        }
    }
    groups
}

/// Messages per second per topic from two latest-offset snapshots.
fn apply_rates(
    topics: &mut BTreeMap<String, Topic>,
    first: &HashMap<(String, i32), i64>,
    second: &[admin::PartitionOffset],
    window: Duration,
) {
    let secs = window.as_secs_f64().max(f64::EPSILON);
    let mut delta: HashMap<&str, i64> = HashMap::new();
    for o in second {
        if let (Ok(after), Some(before)) = (&o.offset, first.get(&(o.topic.clone(), o.partition))) {
            *delta.entry(o.topic.as_str()).or_default() += (after - before).max(0);
        }
    }
    for (name, topic) in topics.iter_mut() {
        if let Some(d) = delta.get(name.as_str()) {
            let rate = (*d as f64 / secs * 1000.0).round() / 1000.0;
            topic.rate = Some(TopicRate {
                messages_per_sec: rate,
                window_secs: (secs * 1000.0).round() / 1000.0,
                idle: *d == 0,
            });
        }
    }
}

/// Records the outcome of a cluster's scan in the state. A successful scan
/// replaces the cluster's inventory (so deleted topics, ACLs and groups
/// disappear) and keeps user-owned fields; a failed one keeps the previous
/// inventory (or starts from `creds` for a new cluster) and records the error.
pub fn merge(state: &mut State, creds: &ClusterCredentials, outcome: Result<KafkaCluster, String>) {
    let name = creds.name.as_str();
    match outcome {
        Ok(mut scanned) => {
            if let Some(previous) = state.clusters.get(name) {
                scanned.notes = previous.notes.clone();
                if scanned.msk_arn.is_none() {
                    scanned.msk_arn = previous.msk_arn.clone();
                }
                if scanned.kafka_version.is_none() {
                    scanned.kafka_version = previous.kafka_version.clone();
                }
            }
            if scanned.kafka_version.is_none() {
                scanned.kafka_version = msk_kafka_version(state, scanned.msk_arn.as_deref());
            }
            state.clusters.insert(name.to_owned(), scanned);
        }
        Err(error) => {
            let entry = state
                .clusters
                .entry(name.to_owned())
                .or_insert_with(|| creds.state_entry());
            entry.scan_error = Some(error);
        }
    }
}

/// The Kafka version MSK reports for a cluster, where discovery found it.
fn msk_kafka_version(state: &State, arn: Option<&str>) -> Option<String> {
    let arn = arn?;
    state
        .msk_regions
        .values()
        .find_map(|r| r.clusters.get(arn))
        .and_then(|c| c.kafka_version.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(partitions: i32) -> Topic {
        Topic {
            replication_factor: 1,
            partitions: (0..partitions)
                .map(|id| Partition {
                    id,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn merge_replaces_inventory_and_keeps_user_fields() {
        let creds = crate::connect::CredentialsFile::parse(
            std::path::Path::new("c.yaml"),
            "clusters:\n  - name: c\n    bootstrap_servers: [\"k:1\"]\n    auth: { method: plaintext }\n",
            |_| None,
        )
        .unwrap()
        .clusters
        .remove(0);
        let mut state = State::new(Utc::now());
        let mut old = KafkaCluster {
            bootstrap_servers: vec!["k:1".into()],
            auth_method: "plaintext".into(),
            ..Default::default()
        };
        old.topics.insert("deleted".into(), topic(1));
        old.notes = Some("owned by team blue".into());
        state.clusters.insert("c".into(), old);

        let mut scanned = KafkaCluster {
            bootstrap_servers: vec!["k:1".into()],
            auth_method: "plaintext".into(),
            ..Default::default()
        };
        scanned.topics.insert("kept".into(), topic(2));
        merge(&mut state, &creds, Ok(scanned));
        let c = &state.clusters["c"];
        assert!(!c.topics.contains_key("deleted"));
        assert!(c.topics.contains_key("kept"));
        assert_eq!(c.notes.as_deref(), Some("owned by team blue"));

        merge(&mut state, &creds, Err("unreachable".into()));
        let c = &state.clusters["c"];
        assert_eq!(c.scan_error.as_deref(), Some("unreachable"));
        assert!(
            c.topics.contains_key("kept"),
            "a failed scan keeps the last inventory"
        );

        let mut fresh = State::new(Utc::now());
        merge(&mut fresh, &creds, Err("refused".into()));
        assert_eq!(
            fresh.clusters["c"].bootstrap_servers,
            ["k:1"],
            "a failed new cluster is still addressable"
        );
    }

    #[test]
    fn rates_sum_partitions_and_mark_idle_topics() {
        let mut topics = BTreeMap::new();
        topics.insert("busy".to_owned(), topic(2));
        topics.insert("idle".to_owned(), topic(1));
        let first: HashMap<(String, i32), i64> = [
            (("busy".into(), 0), 100),
            (("busy".into(), 1), 50),
            (("idle".into(), 0), 7),
        ]
        .into_iter()
        .collect();
        let second = vec![
            admin::PartitionOffset {
                topic: "busy".into(),
                partition: 0,
                offset: Ok(130),
            },
            admin::PartitionOffset {
                topic: "busy".into(),
                partition: 1,
                offset: Ok(60),
            },
            admin::PartitionOffset {
                topic: "idle".into(),
                partition: 0,
                offset: Ok(7),
            },
        ];
        apply_rates(&mut topics, &first, &second, Duration::from_secs(10));
        let busy = topics["busy"].rate.unwrap();
        assert_eq!(busy.messages_per_sec, 4.0);
        assert!(!busy.idle);
        assert!(topics["idle"].rate.unwrap().idle);
    }
}
