//! `kcp migrate init`, `kcp migrate status` and `kcp migrate execute` (the cutover commands).

use chrono::Utc;
use std::collections::BTreeMap;
use tabled::Tabled;

use super::args::{GlobalArgs, MigrateInitArgs};
use crate::connect::{ConnectOptions, CredentialsFile, connect};
use crate::exit::ExitStatus;
use crate::migrate::init::{self, InitError, InitRequest};
use crate::output::{Format, Printer};
use crate::state::{Access, StateFile};

pub(super) fn run(
    args: MigrateInitArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let req = InitRequest {
        source: args.source,
        target: args.target,
        credentials_file: args.credentials_file,
        topics_include: args.topics_include,
        groups_include: args.groups_include,
        plan_out: args.plan_out,
    };
    if req.plan_out.exists() {
        return Err(InitError::Exists(req.plan_out.clone()).into());
    }
    let creds = CredentialsFile::load(&req.credentials_file)?;
    let (src, dst) = (creds.cluster(&req.source)?, creds.cluster(&req.target)?);
    let state = StateFile::open(&global.state_file, Access::Shared)?
        .load(Utc::now())?
        .state;
    let draft = init::draft(&state, &req)?;

    // Both clusters answer with these credentials; the target's topics fit.
    printer.status(&format!("checking `{}` and `{}`", req.source, req.target));
    let options = ConnectOptions::default();
    let (src_conn, dst_conn) = std::thread::scope(|s| {
        let a = s.spawn(|| connect(src, options));
        let b = s.spawn(|| connect(dst, options));
        (a.join(), b.join())
    });
    let _src_conn = src_conn.map_err(|_| anyhow::anyhow!("connection thread panicked"))??;
    let dst_conn = dst_conn.map_err(|_| anyhow::anyhow!("connection thread panicked"))??;
    let md = dst_conn.fetch_metadata(None)?;
    let target_partitions: BTreeMap<String, usize> = md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect();
    init::check_target(&draft, &target_partitions)?;

    let text = init::render(&req, &draft, crate::VERSION);
    if !super::write_file(&req.plan_out, &text, false)? {
        return Err(InitError::Exists(req.plan_out.clone()).into());
    }

    match printer.format() {
        Format::Json => printer.json(&serde_json::json!({
            "plan": req.plan_out,
            "topics": draft.topics.len(),
            "partitions": draft.topics.values().sum::<usize>(),
            "waves": draft.waves.iter().enumerate().map(|(i, w)| serde_json::json!({
                "name": format!("wave-{}", i + 1), "groups": w.groups, "topics": w.topics, "lag": w.lag,
            })).collect::<Vec<_>>(),
            "groups_left_out": draft.groups_left_out,
        }))?,
        Format::Table => {
            let rows: Vec<Row> = draft
                .waves
                .iter()
                .enumerate()
                .map(|(i, w)| Row {
                    wave: format!("wave-{}", i + 1),
                    groups: w.groups.join(", "),
                    topics: w.topics.join(", "),
                    lag: w.lag,
                })
                .collect();
            let mut table = tabled::Table::new(rows);
            table.with(tabled::settings::Style::sharp());
            printer.data(&format!("{table}\n"))?;
        }
    }
    printer.status(&format!(
        "plan written to `{}`: {} topic(s), {} wave(s); review the hooks, then run `kcp migrate execute --plan {}`",
        req.plan_out.display(),
        draft.topics.len(),
        draft.waves.len(),
        req.plan_out.display()
    ));
    Ok(ExitStatus::Success)
}

#[derive(Tabled)]
struct Row {
    wave: String,
    groups: String,
    topics: String,
    lag: i64,
}

/// `kcp migrate status [--watch]`.
pub(super) fn status(
    args: super::args::MigrateStatusArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    use crate::migrate::status::{Status, sample};
    use crate::replicator::LoadedPlan;
    use std::time::{Duration, Instant};

    let plan = LoadedPlan::load(&args.plan)?;
    let creds = CredentialsFile::load(&plan.credentials_path())?;
    let (source, target) = (
        creds.cluster(&plan.plan.source)?,
        creds.cluster(&plan.plan.target)?,
    );
    let timeout = Duration::from_secs(10);
    let mut previous: Option<(Status, Instant)> = None;
    loop {
        let status = sample(&plan, source, target, timeout)?;
        let now = Instant::now();
        let rate = previous
            .as_ref()
            .map(|(p, at)| Status::rate(p, &status, now - *at));
        let eta = rate.filter(|r| *r > 0.0).map(|r| status.lag as f64 / r);
        match printer.format() {
            Format::Json => printer.json(&serde_json::json!({
                "status": status, "records_per_sec": rate, "eta_secs": eta,
            }))?,
            Format::Table => {
                let topics: Vec<TopicRow> = status
                    .topics
                    .iter()
                    .map(|t| TopicRow {
                        topic: t.topic.clone(),
                        partitions: t.partitions,
                        copied: t.copied,
                        lag: t.lag,
                    })
                    .collect();
                let mut table = tabled::Table::new(topics);
                table.with(tabled::settings::Style::sharp());
                printer.data(&format!("{table}\n"))?;
                if !status.groups.is_empty() {
                    let groups: Vec<GroupRow> = status
                        .groups
                        .iter()
                        .map(|g| GroupRow {
                            group: g.group.clone(),
                            wave: g.wave.clone().unwrap_or_default(),
                            translatable: format!("{}/{}", g.translatable, g.committed_partitions),
                            on_target: if g.on_target { "yes" } else { "no" }.to_owned(),
                        })
                        .collect();
                    let mut table = tabled::Table::new(groups);
                    table.with(tabled::settings::Style::sharp());
                    printer.data(&format!("{table}\n"))?;
                }
                printer.data(&format!(
                    "{}: {}, {} record(s) copied, lag {}{}\n",
                    status.plan,
                    status.phase,
                    status.copied,
                    status.lag,
                    match (rate, eta) {
                        (Some(r), Some(e)) =>
                            format!(", {r:.0} records/s, about {e:.0} s to catch up"),
                        (Some(r), None) => format!(", {r:.0} records/s"),
                        _ => String::new(),
                    }
                ))?;
            }
        }
        if !args.watch {
            return Ok(ExitStatus::Success);
        }
        previous = Some((status, now));
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[derive(Tabled)]
struct TopicRow {
    topic: String,
    partitions: usize,
    copied: i64,
    lag: i64,
}

#[derive(Tabled)]
struct GroupRow {
    group: String,
    wave: String,
    translatable: String,
    #[tabled(rename = "on target")]
    on_target: String,
}

/// `kcp migrate execute`: `--dry-run` lists the steps; running them is
/// not built yet.
pub(super) fn execute(
    args: super::args::MigrateExecuteArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if !args.dry_run {
        return Err(crate::exit::NotImplemented {
            command: "migrate execute",
        }
        .into());
    }
    let plan = crate::replicator::LoadedPlan::load(&args.plan.plan)?;
    let steps = crate::migrate::steps::steps(&plan);
    match printer.format() {
        Format::Json => {
            printer.json(&serde_json::json!({ "plan": plan.plan.name, "steps": steps }))?
        }
        Format::Table => {
            let mut text = String::new();
            for (i, s) in steps.iter().enumerate() {
                if s.point_of_no_return {
                    text.push_str("   --- point of no return: rollback is possible only before this step ---\n");
                }
                let wave = s
                    .wave
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default();
                text.push_str(&format!("{:>2}. {}{wave}: {}\n", i + 1, s.phase, s.does));
                for hook in &s.hooks {
                    text.push_str(&format!("      hook: {hook}\n"));
                }
            }
            printer.data(&text)?;
        }
    }
    printer.status("dry run: nothing was run");
    Ok(ExitStatus::Success)
}
