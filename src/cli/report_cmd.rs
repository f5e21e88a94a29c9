//! `kcp report costs|metrics|plan`.

use anyhow::Context;
use chrono::Utc;

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
                source_registry: args.source_registry,
                target_registry: args.target_registry,
            },
            args.common,
        ),
    };
    let filters = filters(&common);
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

fn filters(args: &ReportArgs) -> Filters {
    Filters {
        start: args.start,
        end: args.end,
        regions: args.regions.clone(),
        clusters: args.clusters.clone(),
    }
}
