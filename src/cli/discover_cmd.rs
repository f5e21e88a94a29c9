//! `kcp discover`.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{Duration, NaiveTime, Utc};
use tabled::Tabled;

use super::args::{DiscoverArgs, GlobalArgs, Granularity};
use super::progress::Spinners;
use crate::discover::{self, Request, aws::iam_policy};
use crate::exit::ExitStatus;
use crate::output::{Format, Printer};
use crate::state::{Access, StateFile};

/// Clusters of one region discovered at the same time.
const CONCURRENCY: usize = 8;

pub(super) fn run(
    args: DiscoverArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.print_iam_policy {
        printer.data(&format!("{:#}\n", iam_policy()))?;
        return Ok(ExitStatus::Success);
    }
    super::signals::exit_on_signal()?;
    let (period, lookback_days) = match args.metrics_granularity {
        Granularity::OneMinute => (60, 15),
        Granularity::FiveMinutes => (300, 63),
        Granularity::OneHour => (3_600, 365),
        Granularity::OneDay => (86_400, 365),
    };
    let now = Utc::now();
    let end = match args.end {
        Some(d) => d.and_time(NaiveTime::MIN).and_utc(),
        // Up to the last full period.
        None => {
            let secs = now.timestamp() - now.timestamp() % i64::from(period);
            chrono::DateTime::from_timestamp(secs, 0).unwrap_or(now)
        }
    };
    let start = match args.start {
        Some(d) => d.and_time(NaiveTime::MIN).and_utc(),
        None => end - Duration::days(lookback_days),
    };
    let request = Request {
        regions: args.regions,
        cluster_arns: args.cluster_arns,
        skip_metrics: args.skip_metrics,
        skip_costs: args.skip_costs,
        period,
        start,
        end,
        profile: args.profile,
        concurrency: CONCURRENCY,
    };
    discover::check(&request)?;

    // Take the lock before spending minutes on AWS calls.
    let file = StateFile::open(&global.state_file, Access::Exclusive)?;
    let mut loaded = file.load_or_new(now)?;

    let regions = request.all_regions();
    let spinners = Spinners::new(printer, &regions);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Err(e) = runtime.block_on(discover::check_credentials(&request)) {
        spinners.clear();
        return Err(e.into());
    }
    let results = runtime.block_on(discover::discover(&request, &spinners));
    for r in &results {
        spinners.finish(&r.region, &format!("{} clusters", r.clusters.len()));
    }
    spinners.clear();

    discover::merge(&mut loaded.state, &results, &request, now);
    file.save(&mut loaded.state, Utc::now())?;
    let summary = discover::summarize(&results);

    // The credentials template for `kcp scan`.
    let clusters: Vec<(&str, &crate::state::MskCluster)> = results
        .iter()
        .flat_map(|r| r.clusters.iter().map(move |c| (r.region.as_str(), c)))
        .collect();
    let existing = match std::fs::read_to_string(&args.credentials_out) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read `{}`", args.credentials_out.display()));
        }
    };
    match discover::template::update(existing.as_deref(), &clusters) {
        Ok((text, added)) if added > 0 || existing.is_none() => {
            super::write_file(&args.credentials_out, &text, true)?;
            printer.status(&format!(
                "credentials template `{}`: {added} cluster(s) added; fill in user names and passwords, then run `kcp scan clusters --credentials-file {}`",
                args.credentials_out.display(),
                args.credentials_out.display()
            ));
        }
        Ok(_) => {}
        Err(e) => printer.warn(&format!(
            "left `{}` unchanged: {e}",
            args.credentials_out.display()
        )),
    }

    match printer.format() {
        Format::Json => printer.json(&summary)?,
        Format::Table => {
            let rows: Vec<Row> = summary.clusters.iter().map(Row::from).collect();
            printer.table(rows)?;
            for r in &summary.regions {
                printer.status(&format!(
                    "{}: {} cluster(s){}{}{}",
                    r.region,
                    r.clusters,
                    r.msk_connectors
                        .map_or(String::new(), |n| format!(", {n} MSK Connect connector(s)")),
                    r.glue_registries
                        .zip(r.glue_schemas)
                        .map_or(String::new(), |(g, s)| format!(
                            ", {g} Glue schema registr{} with {s} schema(s)",
                            if g == 1 { "y" } else { "ies" }
                        )),
                    r.cost_30d_usd.map_or(String::new(), |c| format!(
                        ", ${c:.2} over the last 30 days (unblended)"
                    ))
                ));
            }
        }
    }
    printer.status(&format!(
        "state saved to `{}` ({} AWS calls)",
        global.state_file.display(),
        summary.aws_calls
    ));
    if summary.warnings == 0 {
        return Ok(ExitStatus::Success);
    }
    // What is missing, grouped by call.
    let mut by_call: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
    for r in &results {
        for w in r.all_warnings() {
            let e = by_call
                .entry((w.call.clone(), w.code.clone()))
                .or_insert((0, w.hint.clone()));
            e.0 += 1;
        }
    }
    for ((call, code), (n, hint)) in &by_call {
        printer.warn(&format!("{call} failed {n} time(s) ({code}): {hint}"));
    }
    printer.warn("discovery is partial: the state holds everything else (exit code 3)");
    Ok(ExitStatus::Partial)
}

#[derive(Tabled)]
struct Row {
    region: String,
    cluster: String,
    #[tabled(rename = "type")]
    cluster_type: String,
    state: String,
    version: String,
    brokers: String,
    auth: String,
    partitions: String,
    warnings: usize,
}

impl From<&discover::ClusterSummary> for Row {
    fn from(c: &discover::ClusterSummary) -> Self {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        Row {
            region: c.region.clone(),
            cluster: c.name.clone(),
            cluster_type: c.cluster_type.clone(),
            state: c.state.clone(),
            version: opt(c.kafka_version.clone()),
            brokers: opt(c.brokers.map(|b| b.to_string())),
            auth: c.auth.join(","),
            partitions: opt(c.partitions.map(|p| p.to_string())),
            warnings: c.warnings,
        }
    }
}
