//! `kcp scan clusters`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tabled::Tabled;

use super::args::{GlobalArgs, ScanClustersArgs};
use super::progress::Spinners;
use crate::connect::{ClusterCredentials, CredentialsFile};
use crate::exit::ExitStatus;
use crate::output::{Format, Printer};
use crate::scan::{self, ScanOptions};
use crate::state::{Access, KafkaCluster, StateFile, TopicKind, Warning};

/// Clusters scanned at the same time.
const MAX_PARALLEL: usize = 4;

pub(super) fn clusters(
    args: ScanClustersArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let creds = CredentialsFile::load(&args.credentials_file)?;
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
            args.credentials_file.display()
        ))
        .with_hint("add a cluster under `clusters:` (kcp discover writes a template)")
        .into());
    }
    // Take the lock before spending minutes scanning.
    let file = StateFile::open(&global.state_file, Access::Exclusive)?;
    let mut loaded = file.load_or_new(Utc::now())?;

    let options = ScanOptions {
        timeout: Duration::from_secs(args.timeout.max(1)),
        rate_window: Duration::from_secs(args.rate_window),
    };
    let names: Vec<String> = selected.iter().map(|c| c.name.clone()).collect();
    let spinners = Spinners::new(printer, &names);
    let started_at = Utc::now();
    let outcomes: Mutex<Vec<(String, Result<KafkaCluster, String>)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..MAX_PARALLEL.min(selected.len()) {
            scope.spawn(|| {
                while let Some(creds) = selected.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let outcome = scan::scan_cluster(creds, &options, &spinners, started_at)
                        .map_err(|e| e.to_string());
                    spinners.finish(&creds.name, if outcome.is_ok() { "done" } else { "failed" });
                    if let Ok(mut all) = outcomes.lock() {
                        all.push((creds.name.clone(), outcome));
                    }
                }
            });
        }
    });
    spinners.clear();

    let mut outcomes = outcomes.into_inner().unwrap_or_default();
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summaries = Vec::new();
    let mut failed = 0;
    for (name, outcome) in outcomes {
        match &outcome {
            Ok(cluster) => {
                for w in &cluster.warnings {
                    printer.warn(&format!(
                        "cluster `{name}`: {} ({}); {}",
                        w.message, w.code, w.hint
                    ));
                }
                summaries.push(Summary::of(&name, cluster, None));
            }
            Err(error) => {
                failed += 1;
                printer.error(error, &[]);
                summaries.push(Summary::of(
                    &name,
                    &KafkaCluster::default(),
                    Some(error.clone()),
                ));
            }
        }
        if let Ok(creds) = creds.cluster(&name) {
            scan::merge(&mut loaded.state, creds, outcome);
        }
    }
    file.save(&mut loaded.state, Utc::now())?;

    match printer.format() {
        Format::Json => printer
            .json(&serde_json::json!({ "state_file": global.state_file, "clusters": summaries }))?,
        Format::Table => {
            let rows: Vec<Row> = summaries.iter().map(Row::from).collect();
            let mut table = tabled::Table::new(rows);
            table.with(tabled::settings::Style::sharp());
            printer.data(&table.to_string())?;
            printer.status(&format!("state saved to `{}`", global.state_file.display()));
        }
    }
    Ok(if failed > 0 {
        ExitStatus::Partial
    } else {
        ExitStatus::Success
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
    brokers: usize,
    topics: usize,
    internal_topics: usize,
    partitions: usize,
    consumer_groups: usize,
    acls: usize,
    messages: i64,
    busiest_topics: Vec<Busy>,
    warnings: Vec<Warning>,
}

impl Summary {
    fn of(name: &str, c: &KafkaCluster, error: Option<String>) -> Self {
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
    brokers: usize,
    #[tabled(rename = "topics")]
    topics: String,
    #[tabled(rename = "partitions")]
    partitions: usize,
    #[tabled(rename = "groups")]
    groups: usize,
    #[tabled(rename = "ACLs")]
    acls: usize,
    #[tabled(rename = "messages")]
    messages: i64,
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
            brokers: s.brokers,
            topics: format!("{} ({} internal)", s.topics, s.internal_topics),
            partitions: s.partitions,
            groups: s.consumer_groups,
            acls: s.acls,
            messages: s.messages,
            busiest: s
                .busiest_topics
                .iter()
                .map(|b| format!("{} {}", b.topic, b.messages_per_sec))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}
