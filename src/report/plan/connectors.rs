//! The plan's connectors part: the Kafka Connect clusters that work on the
//! source cluster, what runs where, what must be re-created on the target
//! Connect cluster, which source connectors need their offsets carried, and
//! the risks of that (a plugin the target lacks, workers without the
//! offsets API, a connector on topics that are not migrated).

use std::collections::BTreeSet;

use serde::Serialize;

use super::Risk;
use crate::kafka_connect::transform;
use crate::report::ReportError;
use crate::state::{ConnectCluster, Connector, KafkaCluster, State};

/// The connectors part of the plan.
#[derive(Debug, Serialize)]
pub(crate) struct ConnectorsPlan {
    /// The source's Connect clusters (names in the state).
    pub source_connect: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_connect: Option<String>,
    pub connectors: usize,
    pub sources: usize,
    pub sinks: usize,
    /// Source connectors whose offsets must be carried.
    pub offsets_to_carry: usize,
    pub rows: Vec<ConnectorRow>,
}

/// One connector of a source Connect cluster.
#[derive(Debug, Serialize)]
pub(crate) struct ConnectorRow {
    pub connect_cluster: String,
    pub connector: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub class: String,
    pub state: String,
    pub tasks: usize,
    pub tasks_running: usize,
    /// The workers running the connector and its tasks.
    pub workers: Vec<String>,
    pub topics: Vec<String>,
    /// `re-create`, `already on the target`, `on the target with another config`.
    pub action: String,
    /// Source partitions whose offsets are carried (source connectors).
    pub offsets_to_carry: usize,
    /// The consumer group of a sink connector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// Config keys whose values are secrets to provide on the target.
    pub secret_keys: Vec<String>,
}

fn connect<'a>(state: &'a State, name: &str) -> Result<&'a ConnectCluster, ReportError> {
    state
        .connect_clusters
        .get(name)
        .ok_or_else(|| ReportError::UnknownConnectCluster {
            name: name.to_owned(),
            known: state.connect_clusters.keys().cloned().collect(),
        })
}

/// The Connect clusters of the source: those named, or else every scanned
/// one that keeps its state in the source cluster.
pub(super) fn source_clusters(
    state: &State,
    cluster: &KafkaCluster,
    named: &[String],
) -> Result<Vec<String>, ReportError> {
    if !named.is_empty() {
        for n in named {
            connect(state, n)?;
        }
        return Ok(named.to_vec());
    }
    Ok(state.connect_clusters_on(cluster.cluster_id.as_deref()))
}

fn row(
    cluster_name: &str,
    name: &str,
    c: &Connector,
    target: Option<&ConnectCluster>,
) -> ConnectorRow {
    let mut workers: BTreeSet<String> =
        c.tasks.iter().filter_map(|t| t.worker_id.clone()).collect();
    workers.extend(c.worker_id.clone());
    let action = match target.and_then(|t| t.connectors.get(name)) {
        None => "re-create",
        Some(there) if there.config == c.config => "already on the target",
        Some(_) => "on the target with another config",
    };
    ConnectorRow {
        connect_cluster: cluster_name.to_owned(),
        connector: name.to_owned(),
        kind: c.kind.clone(),
        class: c.class.clone(),
        state: c.state.clone(),
        tasks: c.tasks.len(),
        tasks_running: c.tasks.iter().filter(|t| t.state == "RUNNING").count(),
        workers: workers.into_iter().collect(),
        topics: transform::topics_of(c).into_iter().collect(),
        action: action.to_owned(),
        offsets_to_carry: if c.is_source() {
            c.offsets.as_ref().map_or(0, Vec::len)
        } else {
            0
        },
        consumer_group: (c.kind == "sink").then(|| transform::sink_group(name, &c.config)),
        secret_keys: c.secret_keys.clone(),
    }
}

/// Builds the connectors part and its risks; `migrated` are the topics the
/// plan copies.
pub(super) fn plan(
    state: &State,
    cluster: &KafkaCluster,
    sources: &[String],
    target: Option<&str>,
    migrated: &BTreeSet<&str>,
) -> Result<(ConnectorsPlan, Vec<Risk>), ReportError> {
    let dst = target.map(|t| connect(state, t)).transpose()?;
    let mut rows = Vec::new();
    let mut risks = Vec::new();
    for source in sources {
        let src = connect(state, source)?;
        for (name, c) in &src.connectors {
            let r = row(source, name, c, dst);
            risks.extend(connector_risks(src, dst, target, &r, c, cluster, migrated));
            rows.push(r);
        }
        if src.offsets_api == Some(false) && src.connectors.values().any(Connector::is_source) {
            risks.push(Risk {
                severity: "high",
                kind: "connect_no_offsets_api",
                subject: source.clone(),
                reason: format!(
                    "the workers of `{source}` (Kafka {}) do not serve the offsets API, so source connectors' offsets cannot be read; re-created on the target they start over",
                    src.version.as_deref().unwrap_or("unknown")
                ),
                action: "upgrade the source workers to Kafka 3.5 or newer before the migration, or plan for each source connector to re-read its source (duplicates) or to start from now (gaps)".into(),
            });
        }
    }
    if let Some(dst) = dst
        && rows.iter().any(|r| r.offsets_to_carry > 0)
        && !crate::kafka_connect::version_at_least(dst.version.as_deref(), 3, 7)
    {
        risks.push(Risk {
            severity: "high",
            kind: "connect_target_cannot_take_offsets",
            subject: target.unwrap_or_default().to_owned(),
            reason: format!(
                "the target Connect cluster runs Kafka {}; carrying offsets needs 3.7 or newer (connectors created STOPPED, then their offsets written)",
                dst.version.as_deref().unwrap_or("unknown")
            ),
            action: "upgrade the target workers to Kafka 3.7 or newer, or run `kcp migrate connectors --skip-offsets` and accept that source connectors start over".into(),
        });
    }
    let count = |kind: &str| rows.iter().filter(|r| r.kind == kind).count();
    Ok((
        ConnectorsPlan {
            source_connect: sources.to_vec(),
            target_connect: target.map(str::to_owned),
            connectors: rows.len(),
            sources: count("source"),
            sinks: count("sink"),
            offsets_to_carry: rows.iter().filter(|r| r.offsets_to_carry > 0).count(),
            rows,
        },
        risks,
    ))
}

fn connector_risks(
    src: &ConnectCluster,
    dst: Option<&ConnectCluster>,
    target: Option<&str>,
    r: &ConnectorRow,
    c: &Connector,
    cluster: &KafkaCluster,
    migrated: &BTreeSet<&str>,
) -> Vec<Risk> {
    let mut risks = Vec::new();
    let subject = format!("{}/{}", r.connect_cluster, r.connector);
    if let Some(dst) = dst
        && !dst.plugins.is_empty()
        && !dst.plugins.iter().any(|p| p.class == c.class)
    {
        risks.push(Risk {
            severity: "high",
            kind: "connector_plugin_missing",
            subject: subject.clone(),
            reason: format!(
                "the target Connect cluster `{}` has no plugin `{}`",
                target.unwrap_or_default(),
                c.class
            ),
            action: "install the plugin on every target worker (plugin.path) and restart them before `kcp migrate connectors`".into(),
        });
    }
    if r.action == "on the target with another config" {
        risks.push(Risk {
            severity: "high",
            kind: "connector_name_taken",
            subject: subject.clone(),
            reason: "the target Connect cluster already has a connector of this name with another config".into(),
            action: "delete or rename it on the target; `kcp migrate connectors` refuses to overwrite it".into(),
        });
    }
    let unmigrated: Vec<&str> = r
        .topics
        .iter()
        .filter(|t| cluster.topics.contains_key(t.as_str()) && !migrated.contains(t.as_str()))
        .map(String::as_str)
        .collect();
    if !unmigrated.is_empty() {
        risks.push(Risk {
            severity: "medium",
            kind: "connector_topics_not_migrated",
            subject: subject.clone(),
            reason: format!(
                "the connector uses topics the plan does not migrate: {}",
                unmigrated.join(", ")
            ),
            action: "migrate those topics too, or leave the connector on the source".into(),
        });
    }
    if c.state == "FAILED" || c.tasks.iter().any(|t| t.state == "FAILED") {
        risks.push(Risk {
            severity: "medium",
            kind: "connector_failed",
            subject: subject.clone(),
            reason: "the connector or one of its tasks is FAILED on the source".into(),
            action: "fix it on the source first: a broken connector re-created on the target fails the same way".into(),
        });
    }
    if c.is_source() && c.offsets.is_none() && src.offsets_api != Some(false) {
        risks.push(Risk {
            severity: "medium",
            kind: "connector_offsets_unknown",
            subject: subject.clone(),
            reason: "the scan did not read this source connector's offsets".into(),
            action: "scan the Connect cluster again (`kcp scan connectors`) before the migration"
                .into(),
        });
    }
    if !c.secret_keys.is_empty() {
        risks.push(Risk {
            severity: "low",
            kind: "connector_secrets",
            subject,
            reason: format!(
                "secrets in the config are not in the state: {}",
                c.secret_keys.join(", ")
            ),
            action: "`kcp migrate connectors` copies them from the source workers; files from `kcp create-asset connectors` hold `${env:...}` placeholders to fill on the target (a config provider, or substitution before they are posted)".into(),
        });
    }
    risks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ConnectorOffset, ConnectorPlugin, ConnectorTask, Topic};

    fn connector(kind: &str, class: &str, topic: &str, state: &str) -> Connector {
        Connector {
            class: class.into(),
            kind: kind.into(),
            state: state.into(),
            tasks: vec![ConnectorTask {
                id: 0,
                state: state.into(),
                worker_id: Some("w1:8083".into()),
            }],
            config: [("topic".to_owned(), topic.to_owned())].into(),
            offsets: (kind == "source").then(|| {
                vec![ConnectorOffset {
                    partition: serde_json::json!({"f": 1}),
                    offset: serde_json::json!({"p": 2}),
                }]
            }),
            ..Default::default()
        }
    }

    fn state() -> (State, KafkaCluster) {
        let mut state = State::new(chrono::Utc::now());
        let cluster = KafkaCluster {
            cluster_id: Some("kid".into()),
            topics: [
                ("orders".to_owned(), Topic::default()),
                ("audit".to_owned(), Topic::default()),
            ]
            .into(),
            ..Default::default()
        };
        let src = ConnectCluster {
            version: Some("3.4.0".into()),
            kafka_cluster_id: Some("kid".into()),
            offsets_api: Some(false),
            connectors: [
                (
                    "jdbc-in".to_owned(),
                    connector("source", "x.JdbcSource", "orders", "RUNNING"),
                ),
                (
                    "s3-out".to_owned(),
                    connector("sink", "x.S3Sink", "audit", "FAILED"),
                ),
            ]
            .into(),
            ..Default::default()
        };
        let mut taken = connector("sink", "x.S3Sink", "elsewhere", "RUNNING");
        taken.offsets = None;
        let dst = ConnectCluster {
            version: Some("3.6.1".into()),
            plugins: vec![ConnectorPlugin {
                class: "x.S3Sink".into(),
                kind: "sink".into(),
                version: None,
            }],
            connectors: [("s3-out".to_owned(), taken)].into(),
            ..Default::default()
        };
        state.connect_clusters.insert("src".into(), src);
        state.connect_clusters.insert("dst".into(), dst);
        (state, cluster)
    }

    #[test]
    fn finds_the_source_connect_cluster_and_flags_every_risk() {
        let (state, cluster) = state();
        let sources = source_clusters(&state, &cluster, &[]).unwrap();
        assert_eq!(sources, ["src"]);
        let migrated: BTreeSet<&str> = ["orders"].into();
        let (plan, risks) = plan(&state, &cluster, &sources, Some("dst"), &migrated).unwrap();
        assert_eq!((plan.connectors, plan.sources, plan.sinks), (2, 1, 1));
        let jdbc = plan.rows.iter().find(|r| r.connector == "jdbc-in").unwrap();
        assert_eq!(
            (jdbc.action.as_str(), jdbc.offsets_to_carry),
            ("re-create", 1)
        );
        let s3 = plan.rows.iter().find(|r| r.connector == "s3-out").unwrap();
        assert_eq!(s3.action, "on the target with another config");
        assert_eq!(s3.consumer_group.as_deref(), Some("connect-s3-out"));
        let kinds: BTreeSet<&str> = risks.iter().map(|r| r.kind).collect();
        for k in [
            "connector_plugin_missing",
            "connector_name_taken",
            "connector_topics_not_migrated",
            "connector_failed",
            "connect_no_offsets_api",
            "connect_target_cannot_take_offsets",
        ] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
        let missing = risks
            .iter()
            .find(|r| r.kind == "connector_plugin_missing")
            .unwrap();
        assert_eq!(missing.subject, "src/jdbc-in");
    }

    #[test]
    fn an_unknown_connect_cluster_is_an_error_and_none_means_no_section() {
        let (state, cluster) = state();
        assert!(source_clusters(&state, &cluster, &["nope".into()]).is_err());
        let other = KafkaCluster {
            cluster_id: Some("other".into()),
            ..Default::default()
        };
        assert!(source_clusters(&state, &other, &[]).unwrap().is_empty());
    }
}
