//! `kcp report costs|metrics|plan`.

use anyhow::Context;
use chrono::{NaiveDate, Utc};

use super::args::{GlobalArgs, ReportArgs, ReportCommand, ReportFormat};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::report::{self, Filters, Format, Kind};
use crate::state::{Access, StateFile};

pub(super) fn run(
    command: ReportCommand,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (kind, common) = match command {
        ReportCommand::Costs(args) => (Kind::Costs, args),
        ReportCommand::Metrics(args) => (Kind::Metrics, args),
        ReportCommand::Plan(args) => (
            Kind::Plan {
                source: args.source,
                target: args.target,
                replication_mbps: args.replication_mbps,
            },
            args.common,
        ),
    };
    if let Kind::Plan {
        replication_mbps: Some(mbps),
        ..
    } = &kind
        && !(mbps.is_finite() && *mbps > 0.0)
    {
        anyhow::bail!(
            "--replication-mbps must be a positive number of megabytes per second, not {mbps}"
        );
    }
    let filters = filters(&common)?;
    let format = match common.format {
        ReportFormat::Md => Format::Markdown,
        ReportFormat::Json => Format::Json,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Html => Format::Html,
    };
    let file = StateFile::open(&global.state_file, Access::Shared)?;
    let state = file.load(Utc::now())?.state;
    let text = report::render(&state, &kind, &filters, format)?;
    match &common.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write the report to `{}`", path.display()))?;
            printer.status(&format!("report written to `{}`", path.display()));
        }
        None => printer.data(&text)?,
    }
    Ok(ExitStatus::Success)
}

fn filters(args: &ReportArgs) -> anyhow::Result<Filters> {
    let date = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<NaiveDate>> {
        value
            .as_deref()
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .with_context(|| format!("{flag} `{v}` is not a date (YYYY-MM-DD)"))
            })
            .transpose()
    };
    Ok(Filters {
        start: date("--start", &args.start)?,
        end: date("--end", &args.end)?,
        regions: args.regions.clone(),
        clusters: args.clusters.clone(),
    })
}
