//! `kcp scan connectors`: reads a Connect cluster's worker version, plugins,
//! connectors (config without secrets, type, status, tasks), the topics
//! they use and their offsets where the workers serve them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde_json::Value;

use super::KafkaConnectError as Error;
use super::client::{Worker, seg};
use super::mask;
use crate::state::{
    ConnectCluster, Connector, ConnectorOffset, ConnectorPlugin, ConnectorTask, Warning,
};

/// A connector with what its offsets and topics calls answered.
type Read = (
    String,
    Connector,
    Result<Vec<ConnectorOffset>, String>,
    Result<Vec<String>, String>,
);

/// Requests in flight at once against one Connect cluster.
const PARALLEL: usize = 8;

/// `GET /`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRoot {
    pub version: String,
    #[serde(default)]
    pub kafka_cluster_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawPlugin {
    class: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// One entry of `GET /connectors?expand=status&expand=info`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawExpanded {
    pub status: Option<RawStatus>,
    pub info: Option<RawInfo>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawInfo {
    pub config: BTreeMap<String, String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawStatus {
    pub connector: RawState,
    #[serde(default)]
    pub tasks: Vec<RawTaskState>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawState {
    pub state: String,
    #[serde(default)]
    pub worker_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawTaskState {
    pub id: u32,
    pub state: String,
    #[serde(default)]
    pub worker_id: Option<String>,
}

/// `GET /connectors/{name}/offsets`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawOffsets {
    pub offsets: Vec<RawOffset>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawOffset {
    pub partition: Value,
    pub offset: Value,
}

/// The worker's version; also the check that the URL is a Connect REST API.
pub(crate) async fn root(worker: &Worker) -> Result<RawRoot, Error> {
    let not_connect = |detail: String| Error::NotConnect {
        cluster: worker.name.clone(),
        url: worker.url().to_owned(),
        detail,
    };
    match worker.get_or_fail::<Value>("/").await? {
        Ok(v) => serde_json::from_value(v.clone())
            .map_err(|_| not_connect(format!("`/` answered {v} (no `version`)"))),
        Err(f) => Err(not_connect(format!(
            "`/` answered {} ({})",
            f.status, f.message
        ))),
    }
}

/// Every connector with its status and config, live (secrets included:
/// callers mask them before anything is stored or printed).
pub(crate) async fn connectors(worker: &Worker) -> Result<BTreeMap<String, RawExpanded>, Error> {
    worker.get("/connectors?expand=status&expand=info").await
}

/// A connector's offsets: `Ok(None)` when the worker does not serve the
/// offsets API (before Kafka 3.5 it answers 404 or 405).
pub(crate) async fn offsets(
    worker: &Worker,
    name: &str,
) -> Result<Result<Vec<ConnectorOffset>, String>, Error> {
    let path = format!("/connectors/{}/offsets", seg(name));
    Ok(match worker.get_or_fail::<RawOffsets>(&path).await? {
        Ok(raw) => Ok(raw
            .offsets
            .into_iter()
            .map(|o| ConnectorOffset {
                partition: o.partition,
                offset: o.offset,
            })
            .collect()),
        Err(f) => Err(format!("{} ({})", f.message, f.status)),
    })
}

/// The topics a connector used; `Err` when topic tracking is off.
async fn topics(worker: &Worker, name: &str) -> Result<Result<Vec<String>, String>, Error> {
    #[derive(Deserialize)]
    struct Topics {
        topics: Vec<String>,
    }
    let path = format!("/connectors/{}/topics", seg(name));
    Ok(
        match worker
            .get_or_fail::<BTreeMap<String, Topics>>(&path)
            .await?
        {
            Ok(mut map) => Ok(map.remove(name).map(|t| t.topics).unwrap_or_default()),
            Err(f) => Err(format!("{} ({})", f.message, f.status)),
        },
    )
}

/// A connector as stored: the config masked, the status flattened.
pub(crate) fn into_state(raw: RawExpanded) -> Connector {
    let config = raw
        .info
        .as_ref()
        .map(|i| i.config.clone())
        .unwrap_or_default();
    let masked = mask::mask(&config);
    let kind = raw
        .info
        .as_ref()
        .and_then(|i| i.kind.clone())
        .or_else(|| raw.status.as_ref().and_then(|s| s.kind.clone()))
        .unwrap_or_else(|| "unknown".into());
    let (state, worker_id, tasks) = match raw.status {
        Some(s) => (
            s.connector.state,
            s.connector.worker_id,
            s.tasks
                .into_iter()
                .map(|t| ConnectorTask {
                    id: t.id,
                    state: t.state,
                    worker_id: t.worker_id,
                })
                .collect(),
        ),
        None => ("UNKNOWN".into(), None, Vec::new()),
    };
    Connector {
        class: config.get("connector.class").cloned().unwrap_or_default(),
        kind,
        state,
        worker_id,
        tasks,
        config: masked.config,
        secret_keys: masked.secret_keys,
        topics: Vec::new(),
        offsets: None,
    }
}

/// Reads the whole Connect cluster.
pub async fn scan(
    worker: &Worker,
    auth_method: &str,
    now: DateTime<Utc>,
) -> Result<ConnectCluster, Error> {
    let root = root(worker).await?;
    let mut warnings = Vec::new();
    let plugins = match worker
        .get_or_fail::<Vec<RawPlugin>>("/connector-plugins")
        .await?
    {
        Ok(p) => p
            .into_iter()
            .map(|p| ConnectorPlugin {
                class: p.class,
                kind: p.kind.unwrap_or_else(|| "unknown".into()),
                version: p.version,
            })
            .collect(),
        Err(f) => {
            warnings.push(Warning {
                call: "GET /connector-plugins".into(),
                code: f.status.to_string(),
                message: f.message,
                hint: "the installed plugins are unknown; check the account's permissions".into(),
            });
            Vec::new()
        }
    };
    let raw = connectors(worker).await?;
    let read: Vec<Read> = stream::iter(raw)
        .map(|(name, raw)| async move {
            let offsets = offsets(worker, &name).await?;
            let topics = topics(worker, &name).await?;
            Ok::<_, Error>((name, into_state(raw), offsets, topics))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut out = BTreeMap::new();
    let mut offsets_api = None;
    let mut offsets_failure = None;
    let mut topics_failure = None;
    for (name, mut connector, offsets, topics) in read {
        match offsets {
            Ok(o) => {
                connector.offsets = Some(o);
                offsets_api = Some(true);
            }
            Err(why) => offsets_failure = Some(why),
        }
        match topics {
            Ok(t) => connector.topics = t,
            Err(why) => topics_failure = Some(why),
        }
        out.insert(name, connector);
    }
    if let Some(why) = offsets_failure {
        offsets_api.get_or_insert(false);
        warnings.push(Warning {
            call: "GET /connectors/{name}/offsets".into(),
            code: "unsupported".into(),
            message: why,
            hint: "this worker has no offsets API (Kafka 3.5+): source connectors' offsets cannot be read or carried".into(),
        });
    }
    if let Some(why) = topics_failure {
        warnings.push(Warning {
            call: "GET /connectors/{name}/topics".into(),
            code: "unsupported".into(),
            message: why,
            hint: "the workers do not track topics (topic.tracking.enable=false): the report cannot tell which topics connectors use beyond their configs".into(),
        });
    }
    Ok(ConnectCluster {
        url: worker.url().to_owned(),
        auth_method: auth_method.to_owned(),
        scanned_at: Some(now),
        version: Some(root.version),
        kafka_cluster_id: root.kafka_cluster_id,
        offsets_api,
        plugins,
        connectors: out,
        warnings,
        last_error: None,
    })
}
