//! Routes shared by several gateway replicas (`--routes-topic`): a
//! compacted topic on the target with one partition, one record per group
//! or topic (`Change::record`), the last one per key winning.
//!
//! A replica reads the topic from its beginning to its end before it opens
//! a listener (`open`), so a restarted one never serves a switched group
//! from the source, then follows it on a thread of its own (`follow`),
//! applying each record to the routes it serves. A change through any
//! replica's admin interface is written to the topic (`RoutesTopic::write`)
//! and answered once the replica's own follower applied it: the routes'
//! version is the offset after the last record applied, the same on every
//! replica that read as far, which is how `migrate execute` knows each
//! replica has applied a change.

use std::time::{Duration, Instant};

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::routes::{Change, Routes, RoutesError};
use super::server::Shared;
use crate::connect::{ClusterCredentials, KcpContext, client_config};

/// Writes changes to the routes topic.
pub(crate) struct RoutesTopic {
    topic: String,
    producer: FutureProducer<KcpContext>,
    timeout: Duration,
}

/// A reader of the routes topic, positioned after what `open` read.
pub(crate) struct Follower {
    topic: String,
    consumer: BaseConsumer<KcpContext>,
}

impl RoutesTopic {
    /// The routes topic's name.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// How long a change may take to be written and seen.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Writes `changes` in order, each acknowledged by every in-sync
    /// replica; the offset of the last one.
    pub(crate) async fn write(&self, changes: &[Change]) -> Result<i64, RoutesError> {
        let mut sends = Vec::with_capacity(changes.len());
        for change in changes {
            let (key, value) = change.record();
            let mut record: FutureRecord<'_, str, [u8]> =
                FutureRecord::to(&self.topic).key(key.as_str()).partition(0);
            if let Some(v) = &value {
                record = record.payload(v.as_slice());
            }
            // One request in flight (below): the records land in order.
            sends.push(
                self.producer
                    .send_result(record)
                    .map_err(|(e, _)| self.error(&e))?,
            );
        }
        let mut last = -1;
        for send in sends {
            let delivered = send
                .await
                .map_err(|_| self.error(&"the producer stopped"))?
                .map_err(|(e, _)| self.error(&e))?;
            last = last.max(delivered.offset);
        }
        Ok(last)
    }

    fn error(&self, e: &dyn std::fmt::Display) -> RoutesError {
        RoutesError::Topic {
            topic: self.topic.clone(),
            message: e.to_string(),
        }
    }
}

/// Creates the topic on `creds`' cluster if it is missing (compacted, one
/// partition), reads it to its end and returns the routes it holds, the
/// writer and the reader that follows it.
pub(crate) fn open(
    creds: &ClusterCredentials,
    topic: &str,
    timeout: Duration,
) -> Result<(Routes, RoutesTopic, Follower), RoutesError> {
    let error = |message: String| RoutesError::Topic {
        topic: topic.to_owned(),
        message,
    };
    let kafka = |what: &'static str| move |e: KafkaError| error(format!("{what}: {e}"));
    let config = client_config(creds).map_err(|e| error(e.to_string()))?;
    ensure_topic(creds, topic, timeout).map_err(error)?;
    let consumer: BaseConsumer<KcpContext> = config
        .clone()
        // librdkafka needs a group id to assign; nothing joins or commits.
        .set("group.id", "kcp-gateway-routes")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create_with_context(KcpContext::new(creds))
        .map_err(kafka("creating its reader"))?;
    let (routes, end) = read_to_end(&consumer, topic, timeout).map_err(error)?;
    let producer: FutureProducer<KcpContext> = config
        .clone()
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "0")
        .set("message.timeout.ms", timeout.as_millis().to_string())
        .create_with_context(KcpContext::new(creds))
        .map_err(kafka("creating its writer"))?;
    tracing::info!(
        version = routes.version,
        "read the routes topic `{topic}` to offset {end}: {} group(s), {} topic(s) routed",
        routes.groups.len(),
        routes.topics.len()
    );
    Ok((
        routes,
        RoutesTopic {
            topic: topic.to_owned(),
            producer,
            timeout,
        },
        Follower {
            topic: topic.to_owned(),
            consumer,
        },
    ))
}

/// Reads the topic from its beginning to the end it has now; the routes
/// it holds and that end.
fn read_to_end(
    consumer: &BaseConsumer<KcpContext>,
    topic: &str,
    timeout: Duration,
) -> Result<(Routes, i64), String> {
    let bound = timeout.max(Duration::from_secs(30));
    let deadline = Instant::now() + bound;
    // A topic just created may have no leader yet.
    let end = loop {
        match consumer.fetch_watermarks(topic, 0, timeout) {
            Ok((_, end)) => break end,
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("reading its end offset: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .and_then(|()| consumer.assign(&assignment))
        .map_err(|e| format!("assigning its partition: {e}"))?;
    let mut routes = Routes::default();
    let mut next = 0;
    while next < end {
        if Instant::now() >= deadline {
            return Err(format!("read to offset {next} of {end} within {bound:?}"));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                apply(&mut routes, topic, m.key(), m.payload(), m.offset());
                next = m.offset() + 1;
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => tracing::debug!("reading the routes topic `{topic}`: {e}"),
            None => {}
        }
    }
    routes.version = routes.version.max(u64::try_from(end).unwrap_or(0));
    Ok((routes, end))
}

fn apply(routes: &mut Routes, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>, offset: i64) {
    if let Err(e) = routes.apply_record(key.unwrap_or_default(), value, offset) {
        tracing::warn!("routes topic `{topic}`, offset {offset}: skipped ({e})");
    }
}

/// Follows the topic on a thread of its own, applying each record to the
/// routes `shared` serves, for as long as the process runs.
pub(crate) fn follow(follower: Follower, shared: Shared) {
    let spawned = std::thread::Builder::new()
        .name("kcp-gateway-routes".into())
        .spawn(move || {
            let Follower { topic, consumer } = follower;
            let mut failing = false;
            loop {
                match consumer.poll(Duration::from_millis(500)) {
                    Some(Ok(m)) => {
                        failing = false;
                        let (key, value, offset) = (m.key(), m.payload(), m.offset());
                        shared.apply_routes(|routes| apply(routes, &topic, key, value, offset));
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) | None => failing = false,
                    Some(Err(e)) if !failing => {
                        failing = true;
                        tracing::warn!("following the routes topic `{topic}`: {e}");
                    }
                    Some(Err(_)) => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the routes topic's follower: {e}");
    }
}

fn ensure_topic(creds: &ClusterCredentials, topic: &str, timeout: Duration) -> Result<(), String> {
    let admin: rdkafka::admin::AdminClient<KcpContext> = client_config(creds)
        .map_err(|e| e.to_string())?
        .create_with_context(KcpContext::new(creds))
        .map_err(|e| e.to_string())?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let options = rdkafka::admin::AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let results = runtime
        .block_on(admin.create_topics(&[new], &options))
        .map_err(|e| format!("creating it: {e}"))?;
    for r in results {
        match r {
            Ok(_) => tracing::info!("created the routes topic `{topic}` on the target"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(format!("creating it: {code}")),
        }
    }
    Ok(())
}
