//! `kcp scan connectors`, `kcp migrate connectors`.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tabled::Tabled;

use super::args::{GlobalArgs, MigrateConnectorsArgs, ScanConnectorsArgs};
use super::schemas_cmd::runtime;
use crate::connect::{CredentialsFile, RestCredentials};
use crate::exit::{Diagnostic, ExitStatus, UsageError};
use crate::kafka_connect::copy::{self, Outcome};
use crate::kafka_connect::transform::Rewrite;
use crate::kafka_connect::{Worker, scan as kc_scan};
use crate::output::{Format, Printer};
use crate::state::{Access, ConnectCluster, StateFile};

#[derive(Serialize)]
struct ScanSummary {
    connect_cluster: String,
    url: String,
    error: Option<String>,
    version: Option<String>,
    connectors: usize,
    sources: usize,
    sinks: usize,
    running: usize,
    tasks: usize,
    with_offsets: usize,
    secret_keys: usize,
    plugins: usize,
    offsets_api: Option<bool>,
}

#[derive(Tabled)]
struct ScanRow {
    #[tabled(rename = "connect cluster")]
    cluster: String,
    #[tabled(rename = "status")]
    status: String,
    #[tabled(rename = "version")]
    version: String,
    #[tabled(rename = "connectors")]
    connectors: usize,
    #[tabled(rename = "sources")]
    sources: usize,
    #[tabled(rename = "sinks")]
    sinks: usize,
    #[tabled(rename = "running")]
    running: usize,
    #[tabled(rename = "tasks")]
    tasks: usize,
    #[tabled(rename = "offsets")]
    offsets: String,
    #[tabled(rename = "secrets masked")]
    secret_keys: usize,
}

fn summary(
    creds: &RestCredentials,
    c: Option<&ConnectCluster>,
    error: Option<String>,
) -> ScanSummary {
    let empty = ConnectCluster::default();
    let c = c.unwrap_or(&empty);
    let connectors = c.connectors.values();
    ScanSummary {
        connect_cluster: creds.name.clone(),
        url: creds.url.clone(),
        error,
        version: c.version.clone(),
        connectors: c.connectors.len(),
        sources: connectors.clone().filter(|c| c.is_source()).count(),
        sinks: connectors.clone().filter(|c| c.kind == "sink").count(),
        running: connectors.clone().filter(|c| c.state == "RUNNING").count(),
        tasks: connectors.clone().map(|c| c.tasks.len()).sum(),
        with_offsets: connectors
            .clone()
            .filter(|c| c.offsets.as_ref().is_some_and(|o| !o.is_empty()))
            .count(),
        secret_keys: connectors.map(|c| c.secret_keys.len()).sum(),
        plugins: c.plugins.len(),
        offsets_api: c.offsets_api,
    }
}

fn row(s: &ScanSummary) -> ScanRow {
    ScanRow {
        cluster: s.connect_cluster.clone(),
        status: if s.error.is_some() { "failed" } else { "ok" }.into(),
        version: s.version.clone().unwrap_or_else(|| "-".into()),
        connectors: s.connectors,
        sources: s.sources,
        sinks: s.sinks,
        running: s.running,
        tasks: s.tasks,
        offsets: match s.offsets_api {
            Some(true) => format!("{} with offsets", s.with_offsets),
            Some(false) => "no offsets API".into(),
            None => "-".into(),
        },
        secret_keys: s.secret_keys,
    }
}

/// The Connect clusters `names` selects (all when empty).
fn selected<'a>(
    creds: &'a CredentialsFile,
    names: &[String],
) -> anyhow::Result<Vec<&'a RestCredentials>> {
    let selected: Vec<&RestCredentials> = if names.is_empty() {
        creds.connect_clusters.iter().collect()
    } else {
        names
            .iter()
            .map(|name| creds.connect_cluster(name))
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(UsageError::new(format!(
            "credentials file `{}` names no Connect cluster to scan",
            creds.path.display()
        ))
        .with_hint("add one under `connect_clusters:` (see docs/reference/credentials.md)")
        .into());
    }
    Ok(selected)
}

pub(super) fn scan(
    args: ScanConnectorsArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    super::signals::exit_on_signal()?;
    let creds = CredentialsFile::load(&args.credentials_file)?;
    let selected = selected(&creds, &args.connect_clusters)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    // Take the lock before spending time on the network.
    let file = StateFile::open(&global.state_file, Access::Exclusive)?;
    let now = Utc::now();
    let mut loaded = file.load_or_new(now)?;
    let rt = runtime()?;
    let mut summaries = Vec::new();
    let mut failed = 0;
    for c in &selected {
        printer.status(&format!(
            "scanning Connect cluster `{}` at {}",
            c.name, c.url
        ));
        let result = Worker::new(c, timeout)
            .and_then(|worker| rt.block_on(kc_scan::scan(&worker, c.auth.kind(), now)));
        match result {
            Ok(cluster) => {
                for w in &cluster.warnings {
                    printer.warn(&format!(
                        "Connect cluster `{}`: {}: {} ({}); {}",
                        c.name, w.call, w.message, w.code, w.hint
                    ));
                }
                summaries.push(summary(c, Some(&cluster), None));
                loaded
                    .state
                    .connect_clusters
                    .insert(c.name.clone(), cluster);
            }
            Err(e) => {
                failed += 1;
                let hints: Vec<String> = e.hint().into_iter().collect();
                printer.error(&e.to_string(), &hints);
                let entry = loaded
                    .state
                    .connect_clusters
                    .entry(c.name.clone())
                    .or_insert_with(|| ConnectCluster {
                        url: c.url.clone(),
                        auth_method: c.auth.kind().to_owned(),
                        ..Default::default()
                    });
                entry.last_error = Some(e.to_string());
                summaries.push(summary(c, None, Some(e.to_string())));
            }
        }
    }
    let saved = failed < selected.len();
    if saved {
        file.save(&mut loaded.state, Utc::now())?;
    }
    match printer.format() {
        Format::Json => printer.json(&serde_json::json!({
            "state_file": global.state_file, "saved": saved, "connect_clusters": summaries
        }))?,
        Format::Table => {
            printer.table(summaries.iter().map(row))?;
            if saved {
                printer.status(&format!("state saved to `{}`", global.state_file.display()));
            } else {
                printer.status(&format!(
                    "every Connect cluster failed: `{}` was not changed",
                    global.state_file.display()
                ));
            }
        }
    }
    Ok(match failed {
        0 => ExitStatus::Success,
        n if n == selected.len() => ExitStatus::Failure,
        _ => ExitStatus::Partial,
    })
}

#[derive(Tabled)]
struct CopyRow {
    #[tabled(rename = "connector")]
    connector: String,
    #[tabled(rename = "type")]
    kind: String,
    #[tabled(rename = "result")]
    outcome: String,
    #[tabled(rename = "offsets carried")]
    offsets: usize,
    #[tabled(rename = "rewritten")]
    rewritten: String,
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::CreatedWithOffsets => "created, offsets carried, resumed",
        Outcome::Finished => "was stopped on the target: offsets carried, resumed",
        Outcome::AlreadyThere => "already on the target",
        Outcome::WouldCreate => "would create",
        Outcome::WouldCreateWithOffsets => "would create stopped, carry offsets, resume",
    }
}

pub(super) fn migrate(
    args: MigrateConnectorsArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    super::signals::exit_on_signal()?;
    if args.source == args.target {
        return Err(UsageError::new("--source and --target name the same Connect cluster").into());
    }
    let include = args
        .connectors
        .as_ref()
        .map(|v| {
            regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| {
                anyhow::Error::new(UsageError::new(format!(
                    "--connectors `{v}` is not a regular expression: {e}"
                )))
            })
        })
        .transpose()?;
    let creds = CredentialsFile::load(&args.credentials_file)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    // The source Kafka cluster's bootstrap servers and the target's.
    let bootstrap = match (&args.source_cluster, &args.target_cluster) {
        (Some(s), Some(t)) => Some((
            creds.cluster(s)?.bootstrap_servers.join(","),
            creds.cluster(t)?.bootstrap_servers.join(","),
        )),
        _ => None,
    };
    let source = Worker::new(creds.connect_cluster(&args.source)?, timeout)?;
    let target = Worker::new(creds.connect_cluster(&args.target)?, timeout)?;
    let request = copy::CopyRequest {
        include,
        rewrite: Rewrite {
            topic_prefix: args.topic_prefix,
            topic_suffix: args.topic_suffix,
            bootstrap,
        },
        dry_run: args.dry_run,
        stop_source: args.stop_source,
        skip_offsets: args.skip_offsets,
        kind: None,
    };
    let rt = runtime()?;
    let report = rt.block_on(copy::run(&source, &target, &request))?;
    for i in report.items.iter().filter(|i| i.stopped_on_source) {
        printer.status(&format!(
            "connector `{}` was stopped on `{}` (--stop-source); delete it there once the target runs it",
            i.connector, report.source
        ));
    }
    let running: Vec<&str> = report
        .items
        .iter()
        .filter(|i| i.runs_on_source)
        .map(|i| i.connector.as_str())
        .collect();
    if !running.is_empty() && !args.stop_source {
        printer.warn(&format!(
            "still running on `{}`: {}; the migration needs them stopped (--stop-source) to carry their offsets",
            report.source,
            running.join(", ")
        ));
    }
    match printer.format() {
        Format::Json => printer.json(&report)?,
        Format::Table => {
            printer.table(report.items.iter().map(|i| CopyRow {
                connector: i.connector.clone(),
                kind: i.kind.clone(),
                outcome: outcome(i.outcome).to_owned(),
                offsets: i.offsets,
                rewritten: i.rewritten.join(", "),
            }))?;
            let count =
                |f: &dyn Fn(Outcome) -> bool| report.items.iter().filter(|i| f(i.outcome)).count();
            printer.status(&format!(
                "{} created, {} already on the target, {} would be created (target Kafka Connect {})",
                count(&|o| matches!(o, Outcome::Created | Outcome::CreatedWithOffsets | Outcome::Finished)),
                count(&|o| o == Outcome::AlreadyThere),
                count(&|o| matches!(o, Outcome::WouldCreate | Outcome::WouldCreateWithOffsets)),
                report.target_version
            ));
        }
    }
    Ok(ExitStatus::Success)
}
