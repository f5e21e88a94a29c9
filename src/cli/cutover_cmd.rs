//! `kcp migrate init`, `status`, `execute` and `rollback` (the cutover commands).

use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tabled::Tabled;

use super::args::{GlobalArgs, MigrateInitArgs};
use super::cutover_operator::CliOperator;
use crate::connect::{
    ClusterCredentials, ConnectOptions, CredentialsFile, RestCredentials, connect,
};
use crate::exit::ExitStatus;
use crate::migrate::execute::{self, Context, ExecuteError, Operator, Peers};
use crate::migrate::init::{self, InitError, InitRequest};
use crate::migrate::run_state;
use crate::migrate::steps::{Action, Step, steps};
use crate::output::{Format, Printer, escape};
use crate::replicator::LoadedPlan;
use crate::state::{Access, StateFile};

pub(super) fn run(
    args: MigrateInitArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let timeout = args.timeout.duration();
    let req = InitRequest {
        source: args.source,
        target: args.target,
        credentials_file: args.credentials.path,
        topics_include: args.topics_include,
        groups_include: args.groups_include,
        plan_out: args.plan_out,
        target_registry: args.target_registry,
        target_connect: args.target_connect,
        consumers_last: args.consumers_last,
    };
    if req.plan_out.exists() {
        return Err(InitError::Exists(req.plan_out.clone()).into());
    }
    // The plan is written at the end, in one piece.
    super::signals::exit_on_signal()?;
    let creds = CredentialsFile::load(&req.credentials_file)?;
    let (src, dst) = (creds.cluster(&req.source)?, creds.cluster(&req.target)?);
    let state = StateFile::open(&global.state_file, Access::Shared)?
        .load(Utc::now())?
        .state;
    let draft = init::draft(&state, &req)?;

    // Both clusters answer with these credentials; the target's topics fit.
    printer.status(&format!("checking `{}` and `{}`", req.source, req.target));
    let options = ConnectOptions { timeout };
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
                "also_produces": !w.streams.is_empty(),
            })).collect::<Vec<_>>(),
            "groups_left_out": draft.groups_left_out,
        }))?,
        Format::Table if draft.waves.is_empty() => printer.text(&format!(
            "no consumer group to move{}: the plan has no waves, only the producers move",
            if draft.groups_left_out.is_empty() {
                " (none reads the selected topics)"
            } else {
                " (--groups-include left out every group)"
            }
        ))?,
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
            printer.table(rows)?;
        }
    }
    for (i, w) in draft.waves.iter().enumerate() {
        for (group, topic) in &w.streams {
            printer.warn(&format!(
                "wave-{}: group `{group}` is a Kafka Streams application (internal topic `{topic}`): it also produces, so starting it on the target is a point of no return; rollback refuses after it",
                i + 1
            ));
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
    use std::time::Instant;

    // It writes nothing; `--watch` runs until interrupted.
    super::signals::exit_on_signal()?;
    let plan = LoadedPlan::load(&args.plan)?;
    let creds = CredentialsFile::load(&plan.credentials_path())?;
    let (source, target) = (
        creds.cluster(&plan.plan.source)?,
        creds.cluster(&plan.plan.target)?,
    );
    let timeout = args.timeout.duration();
    let mut previous: Option<(Status, Instant)> = None;
    loop {
        // The phase `migrate execute` recorded, when it has run.
        let migration = run_state::read_for(&run_state::path_for(&args.plan), &plan.plan)?;
        let back = match &migration {
            Some(m) => crate::migrate::consumer_last::Back::recorded(&plan, m)?,
            None => None,
        };
        let mut status = sample(&plan, source, target, timeout, back.as_ref())?;
        if let Some(m) = &migration {
            status.phase = m.phase();
        }
        let now = Instant::now();
        let rate = previous
            .as_ref()
            .map(|(p, at)| Status::rate(p, &status, now - *at));
        let eta = rate.filter(|r| *r > 0.0).map(|r| status.lag as f64 / r);
        match printer.format() {
            Format::Json => printer.json(&serde_json::json!({
                "status": status, "records_per_sec": rate, "eta_secs": eta,
                "steps_done": migration.as_ref().map(|m| m.done.iter().map(|d| d.id.as_str()).collect::<Vec<_>>()),
                "last_error": migration.as_ref().and_then(|m| m.last_error.as_deref()),
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
                printer.table(topics)?;
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
                    printer.table(groups)?;
                }
                printer.text(&format!(
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

/// How long a failed `execute` with `--metrics-addr` waits for Prometheus
/// to scrape its last state (a failed step).
const LINGER: Duration = Duration::from_secs(60);

struct Loaded {
    plan: LoadedPlan,
    source: ClusterCredentials,
    target: ClusterCredentials,
    /// `cutover.schemas`' registries and `cutover.connectors`' Connect clusters.
    registries: Option<(RestCredentials, RestCredentials)>,
    connect: Option<(RestCredentials, RestCredentials)>,
}

impl Loaded {
    fn peers(&self) -> Peers<'_> {
        Peers {
            registries: self.registries.as_ref().map(|(a, b)| (a, b)),
            connect: self.connect.as_ref().map(|(a, b)| (a, b)),
        }
    }
}

/// Loads the plan and the credentials of every peer it names: a name the
/// credentials file lacks is refused before anything runs.
fn load_plan(path: &std::path::Path) -> anyhow::Result<Loaded> {
    let plan = LoadedPlan::load(path)?;
    let creds = CredentialsFile::load(&plan.credentials_path())?;
    let source = creds.cluster(&plan.plan.source)?.clone();
    let target = creds.cluster(&plan.plan.target)?.clone();
    let cutover = plan.plan.cutover.clone().unwrap_or_default();
    let registries = match &cutover.schemas {
        Some(s) => Some((
            creds.registry(&s.source)?.clone(),
            creds.registry(&s.target)?.clone(),
        )),
        None => None,
    };
    let connect = match &cutover.connectors {
        Some(c) => Some((
            creds.connect_cluster(&c.source)?.clone(),
            creds.connect_cluster(&c.target)?.clone(),
        )),
        None => None,
    };
    Ok(Loaded {
        plan,
        source,
        target,
        registries,
        connect,
    })
}

/// `kcp migrate execute`: runs (or resumes) the cutover; `--dry-run` lists
/// the steps from the current migration state.
pub(super) fn execute(
    args: super::args::MigrateExecuteArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = &args.plan.plan;
    if args.dry_run {
        return dry_run(path, args.plan.timeout.duration(), printer);
    }
    let l = load_plan(path)?;
    // Refuse before doing anything when the irreversible step could not be
    // confirmed later.
    let state = run_state::read(&run_state::path_for(path))?;
    let no_return_done = steps(&l.plan)
        .iter()
        .filter(|s| s.point_of_no_return)
        .all(|s| state.as_ref().is_some_and(|st| st.is_done(&s.id)));
    if !args.plan.yes && !no_return_done && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(ExecuteError::NotConfirmed {
            step: "producers/start".into(),
        }
        .into());
    }
    let telemetry = super::migrate_cmd::start_telemetry(
        &args.metrics,
        crate::telemetry::Command::Execute,
        &l.plan,
        args.plan.timeout.duration(),
        printer,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    super::signals::install_signal_handlers(stop.clone())?;
    let operator = CliOperator::new(printer, args.plan.yes);
    let cx = Context {
        now: chrono::Utc::now,
        plan: &l.plan,
        plan_path: path,
        source: &l.source,
        target: &l.target,
        timeout: args.plan.timeout.duration(),
        operator: &operator,
        stop: &stop,
        telemetry: telemetry.clone(),
        peers: l.peers(),
    };
    let result = execute::execute(&cx);
    operator.clear();
    if let (Err(_), Some(t)) = (&result, &telemetry)
        && !stop.load(std::sync::atomic::Ordering::SeqCst)
    {
        // The failure is in the metrics; the process is about to end.
        printer.status(&format!(
            "keeping /metrics up until it is scraped once more (at most {} s; Ctrl-C ends it)",
            LINGER.as_secs()
        ));
        t.await_scrape(LINGER, &stop);
    }
    let done = result?;
    let r = &done.report;
    match printer.format() {
        Format::Json => printer.data(
            &serde_json::json!({"event": "finished", "report": done.report_path, "summary": r})
                .to_string(),
        )?,
        Format::Table => {
            let mut text = String::new();
            for p in &r.phases {
                text.push_str(&format!("{:<18} {:>8.1} s\n", p.phase, p.secs));
            }
            for (wave, secs) in &r.consumer_pauses {
                text.push_str(&format!(
                    "consumers of {} paused for {secs:.1} s\n",
                    escape(wave)
                ));
            }
            if let Some(secs) = r.producer_pause_secs {
                text.push_str(&format!("producers paused for {secs:.1} s\n"));
            }
            text.push_str(&format!(
                "verified {} record(s) in {} partition(s)\n",
                r.records_verified, r.partitions_verified
            ));
            printer.text(&text)?;
        }
    }
    printer.status(&format!(
        "migration `{}` finished; run report in `{}`",
        r.plan,
        done.report_path.display()
    ));
    Ok(ExitStatus::Success)
}

/// `execute --dry-run`: makes the checks the real run makes before its
/// first step (the plan, the credentials, the migration-state file, and the
/// preflight checks, live, while preflight is still to do), so that its exit
/// code predicts the run's; then lists the steps. Writes nothing.
fn dry_run(
    path: &std::path::Path,
    timeout: Duration,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    // It writes nothing.
    super::signals::exit_on_signal()?;
    let l = load_plan(path)?;
    let plan = &l.plan;
    let state_path = run_state::path_for(path);
    let state = run_state::read_for(&state_path, &plan.plan)?;
    if let Some(st) = &state {
        execute::check_not_over(st, &state_path)?;
    }
    let steps = steps(plan);
    let preflight_to_do = steps
        .iter()
        .filter(|s| s.action == Action::Preflight)
        .any(|s| !state.as_ref().is_some_and(|st| st.is_done(&s.id)));
    if preflight_to_do {
        printer.status(&format!(
            "checking `{}` and `{}` as preflight will",
            plan.plan.source, plan.plan.target
        ));
        let (src, dst) = execute::connect_both(&l.source, &l.target, timeout)?;
        execute::preflight(plan, &src, &dst)?;
    }
    let status_of = |s: &Step| -> &'static str {
        match &state {
            Some(st) if st.is_done(&s.id) => "done",
            Some(st) if st.current.as_ref().is_some_and(|c| c.id == s.id) => "resumes here",
            _ => "to do",
        }
    };
    match printer.format() {
        Format::Json => printer.json(&serde_json::json!({
            "plan": plan.plan.name,
            "phase": state.as_ref().map(|s| s.phase()),
            "steps": steps.iter().map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["status"] = status_of(s).into();
                v
            }).collect::<Vec<_>>(),
        }))?,
        Format::Table => {
            let mut text = String::new();
            for (i, s) in steps.iter().enumerate() {
                if s.point_of_no_return {
                    text.push_str("   --- point of no return: rollback is possible only before this step ---\n");
                }
                // Group ids and wave names may hold newlines: one line each.
                text.push_str(&format!(
                    "{:>2}. [{}] {}: {}\n",
                    i + 1,
                    status_of(s),
                    escape(&s.id),
                    escape(&s.does)
                ));
                if let Some(hook) = &s.hook {
                    text.push_str(&format!("      hook: {}\n", escape(hook)));
                }
            }
            printer.text(&text)?;
        }
    }
    printer.status(if preflight_to_do {
        "dry run: the preflight checks pass; nothing was run"
    } else {
        "dry run: nothing was run"
    });
    Ok(ExitStatus::Success)
}

/// `kcp migrate rollback`.
pub(super) fn rollback(
    args: super::args::MigratePlanArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let l = load_plan(&args.plan)?;
    let stop = Arc::new(AtomicBool::new(false));
    super::signals::install_signal_handlers(stop.clone())?;
    let operator = CliOperator::new(printer, args.yes);
    if run_state::read(&run_state::path_for(&args.plan))?.is_some()
        && !operator.confirm(&format!(
            "Roll back `{}`: clients go back to `{}` through the hooks.",
            l.plan.plan.name, l.plan.plan.source
        ))
    {
        return Err(ExecuteError::NotConfirmed {
            step: "rollback".into(),
        }
        .into());
    }
    let cx = Context {
        now: chrono::Utc::now,
        plan: &l.plan,
        plan_path: &args.plan,
        source: &l.source,
        target: &l.target,
        timeout: args.timeout.duration(),
        operator: &operator,
        stop: &stop,
        telemetry: None,
        peers: l.peers(),
    };
    let result = crate::migrate::rollback::rollback(&cx);
    operator.clear();
    let out = result?;
    match printer.format() {
        Format::Json => printer.data(
            &serde_json::json!({"event": "rolled-back", "undone": out.undone, "groups_moved_back": out.groups_moved_back})
                .to_string(),
        )?,
        Format::Table => {
            let mut text = String::new();
            for id in &out.undone {
                text.push_str(&format!("undone: {}\n", escape(id)));
            }
            for (group, n) in &out.groups_moved_back {
                text.push_str(&format!(
                    "group {}: {n} partition offset(s) moved back to the source\n",
                    escape(group)
                ));
            }
            printer.text(&text)?;
        }
    }
    printer.status(&format!(
        "migration `{}` rolled back: clients are on `{}` again; the target topics and their copied data were left in place",
        l.plan.plan.name, l.plan.plan.source
    ));
    Ok(ExitStatus::Success)
}
