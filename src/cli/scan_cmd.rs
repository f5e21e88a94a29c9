//! `kcp scan clusters`.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tabled::Tabled;

use super::args::{GlobalArgs, ScanClustersArgs};
use super::progress::Spinners;
use crate::connect::{ClusterCredentials, CredentialsFile};
use crate::exit::Diagnostic;
use crate::exit::ExitStatus;
use crate::output::{Format, Printer};
use crate::scan::{self, ScanOptions};
use crate::state::{KafkaCluster, TopicKind, Warning};

pub(super) fn clusters(
    args: ScanClustersArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    super::signals::exit_on_signal()?;
    let creds = CredentialsFile::load(&args.credentials.path)?;
    let selected: Vec<&ClusterCredentials> = if args.clusters.is_empty() {
        creds.clusters.iter().collect()
    } else {
        args.clusters
            .iter()
            .map(|name| creds.cluster(name))
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(crate::exit::UsageError::new(format!(
            "credentials file `{}` names no cluster to scan",
            args.credentials.path.display()
        ))
        .with_hint("add a cluster under `clusters:` (kcp discover writes a template)")
        .into());
    }
    let options = ScanOptions {
        timeout: Duration::from_secs(args.timeout.max(1)),
        rate_window: Duration::from_secs(args.rate_window),
    };
    let names: Vec<String> = selected.iter().map(|c| c.name.clone()).collect();
    let spinners = Spinners::new(printer, &names);
    let scanned = scan::run(
        &global.state_file,
        &selected,
        &options,
        &spinners,
        Utc::now(),
    )?;
    spinners.clear();

    let mut summaries = Vec::new();
    for outcome in &scanned.outcomes {
        let name = &outcome.cluster;
        match &outcome.result {
            Ok(cluster) => {
                for w in &cluster.warnings {
                    printer.warn(&format!(
                        "cluster `{name}`: {} ({}); {}",
                        w.message, w.code, w.hint
                    ));
                }
                summaries.push(Summary::of(name, Some(cluster), None));
            }
            Err(error) => {
                let hints: Vec<String> = error.hint().into_iter().collect();
                printer.error(&error.to_string(), &hints);
                summaries.push(Summary::of(name, None, Some(error.to_string())));
            }
        }
    }
    match printer.format() {
        Format::Json => printer
            .json(&serde_json::json!({ "state_file": global.state_file, "saved": scanned.saved, "clusters": summaries }))?,
        Format::Table => {
            let rows: Vec<Row> = summaries.iter().map(Row::from).collect();
            printer.table(rows)?;
            if scanned.saved {
                printer.status(&format!("state saved to `{}`", global.state_file.display()));
            } else {
                printer.status(&format!(
                    "every cluster failed: `{}` was not changed",
                    global.state_file.display()
                ));
            }
        }
    }
    Ok(match scanned.failed() {
        0 => ExitStatus::Success,
        n if n == scanned.outcomes.len() => ExitStatus::Failure,
        _ => ExitStatus::Partial,
    })
}

#[derive(Serialize)]
struct Busy {
    topic: String,
    messages_per_sec: f64,
}

#[derive(Serialize)]
struct Summary {
    cluster: String,
    error: Option<String>,
    /// The inventory read; absent for a cluster whose scan failed.
    #[serde(flatten)]
    inventory: Option<Inventory>,
    busiest_topics: Vec<Busy>,
    warnings: Vec<Warning>,
}

/// What a successful scan read.
#[derive(Serialize)]
struct Inventory {
    brokers: usize,
    topics: usize,
    internal_topics: usize,
    partitions: usize,
    consumer_groups: usize,
    acls: usize,
    messages: i64,
}

impl Summary {
    fn of(name: &str, scanned: Option<&KafkaCluster>, error: Option<String>) -> Self {
        let empty = KafkaCluster::default();
        let c = scanned.unwrap_or(&empty);
        let mut busiest: Vec<Busy> = c
            .topics
            .iter()
            .filter_map(|(t, topic)| {
                topic.rate.filter(|r| !r.idle).map(|r| Busy {
                    topic: t.clone(),
                    messages_per_sec: r.messages_per_sec,
                })
            })
            .collect();
        busiest.sort_by(|a, b| {
            b.messages_per_sec
                .total_cmp(&a.messages_per_sec)
                .then_with(|| a.topic.cmp(&b.topic))
        });
        busiest.truncate(3);
        Summary {
            cluster: name.to_owned(),
            error,
            inventory: scanned.map(|c| Inventory {
                brokers: c.brokers.len(),
                topics: c.topics.len(),
                internal_topics: c
                    .topics
                    .values()
                    .filter(|t| t.kind != TopicKind::User)
                    .count(),
                partitions: c.topics.values().map(|t| t.partitions.len()).sum(),
                consumer_groups: c.consumer_groups.len(),
                acls: c.acls.len(),
                messages: c
                    .topics
                    .values()
                    .flat_map(|t| &t.partitions)
                    .filter_map(|p| Some(p.latest_offset? - p.earliest_offset?))
                    .sum(),
            }),
            busiest_topics: busiest,
            warnings: c.warnings.clone(),
        }
    }
}

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "cluster")]
    cluster: String,
    #[tabled(rename = "status")]
    status: String,
    #[tabled(rename = "brokers")]
    brokers: String,
    #[tabled(rename = "topics")]
    topics: String,
    #[tabled(rename = "partitions")]
    partitions: String,
    #[tabled(rename = "groups")]
    groups: String,
    #[tabled(rename = "ACLs")]
    acls: String,
    #[tabled(rename = "messages")]
    messages: String,
    #[tabled(rename = "busiest topics (msg/s)")]
    busiest: String,
}

impl From<&Summary> for Row {
    fn from(s: &Summary) -> Self {
        let status = match (&s.error, s.warnings.len()) {
            (Some(_), _) => "failed".to_owned(),
            (None, 0) => "ok".to_owned(),
            (None, 1) => "ok, 1 warning".to_owned(),
            (None, n) => format!("ok, {n} warnings"),
        };
        Row {
            cluster: s.cluster.clone(),
            status,
            brokers: count(s, |i| i.brokers.to_string()),
            topics: count(s, |i| {
                format!("{} ({} internal)", i.topics, i.internal_topics)
            }),
            partitions: count(s, |i| i.partitions.to_string()),
            groups: count(s, |i| i.consumer_groups.to_string()),
            acls: count(s, |i| i.acls.to_string()),
            messages: count(s, |i| i.messages.to_string()),
            busiest: s
                .busiest_topics
                .iter()
                .map(|b| format!("{} {}", b.topic, b.messages_per_sec))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A count of the inventory, or `-` for a cluster whose scan failed.
fn count(s: &Summary, f: impl Fn(&Inventory) -> String) -> String {
    s.inventory.as_ref().map_or_else(|| "-".to_owned(), f)
}
