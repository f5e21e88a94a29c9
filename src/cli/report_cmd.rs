//! `kcp report costs|metrics|plan`.

use anyhow::Context;
use chrono::Utc;

use super::args::{GlobalArgs, OutputArg, ReportCommand, ReportFormat, WindowArgs};
use crate::exit::{ExitStatus, UsageError};
use crate::fileio::{self, WriteOptions};
use crate::output::Printer;
use crate::report::{self, Filters, Format, Kind};
use crate::state::{Access, StateFile};

pub(super) fn run(
    command: ReportCommand,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (kind, filters, output) = match command {
        ReportCommand::Costs(args) => (Kind::Costs, filters(&args.window), args.output),
        ReportCommand::Metrics(args) => (Kind::Metrics, filters(&args.window), args.output),
        // A plan takes the whole state: no window, no filter.
        ReportCommand::Plan(args) => (
            Kind::Plan {
                source: args.source,
                target: args.target,
                replication_mbps: args.replication_mbps,
                source_registry: args.source_registry,
                target_registry: args.target_registry,
                source_connect: args.source_connect,
                target_connect: args.target_connect,
            },
            Filters::default(),
            args.output,
        ),
    };
    let format = format(output.format, global.output)?;
    let file = StateFile::open(&global.state_file, Access::Shared)?;
    let state = file.load(Utc::now())?.state;
    let text = report::render(&state, &kind, &filters, format)?;
    match &output.out {
        Some(path) => {
            fileio::write_atomic(path, text.as_bytes(), WriteOptions::REPLACE)
                .with_context(|| format!("cannot write the report to `{}`", path.display()))?;
            printer.status(&format!("report written to `{}`", path.display()));
        }
        None => printer.data(&text)?,
    }
    Ok(ExitStatus::Success)
}

/// The report's format. The rule for every command: `--output` says how
/// data on stdout looks (`table` for people, `json` for programs);
/// `--format` picks a report's document format. `--output json` alone gives
/// the JSON document; with another `--format` it is a usage error rather
/// than a silent choice of one of the two.
fn format(asked: Option<ReportFormat>, output: OutputArg) -> Result<Format, UsageError> {
    let name = |f: ReportFormat| match f {
        ReportFormat::Md => "md",
        ReportFormat::Json => "json",
        ReportFormat::Csv => "csv",
        ReportFormat::Html => "html",
    };
    Ok(match (asked, output) {
        (None, OutputArg::Table) | (Some(ReportFormat::Md), OutputArg::Table) => Format::Markdown,
        (None | Some(ReportFormat::Json), _) => Format::Json,
        (Some(f), OutputArg::Json) => {
            return Err(UsageError::new(format!(
                "--output json asks for JSON, --format {} for another format",
                name(f)
            ))
            .with_hint("drop one of the two: `--output json` alone prints the JSON report"));
        }
        (Some(ReportFormat::Csv), OutputArg::Table) => Format::Csv,
        (Some(ReportFormat::Html), OutputArg::Table) => Format::Html,
    })
}

fn filters(args: &WindowArgs) -> Filters {
    Filters {
        start: args.start,
        end: args.end,
        regions: args.regions.clone(),
        clusters: args.clusters.clone(),
    }
}
