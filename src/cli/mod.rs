//! The command layer: parses arguments, sets up logging and the [`Printer`],
//! runs one command and maps its outcome to an exit code.
//!
//! Commands here are thin: they resolve flags into plain values, call a
//! domain module and print through the printer. They may use `anyhow`; the
//! domain modules may not.

mod args;
mod asset_cmd;
mod connectors_cmd;
mod cutover_cmd;
mod cutover_operator;
mod discover_cmd;
mod gateway_cmd;
mod logging;
mod migrate_cmd;
mod progress;
mod quotas_cmd;
mod report_cmd;
mod scan_cmd;
mod schemas_cmd;
mod signals;
mod state_cmd;

use std::process::ExitCode;

use clap::CommandFactory;

pub use args::Cli;
use args::{ColorArg, Command, GlobalArgs, LogFormatArg, MigrateCommand, OutputArg, ScanCommand};

use crate::exit::{self, ExitStatus};
use crate::output::{ColorMode, Format, Printer, Verbosity};

/// Parses `std::env::args`, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitStatus::BadInput.code()
            } else {
                0
            });
        }
    };
    let printer = printer(&cli.global);
    logging::init(&cli.global, printer.color());
    match run(cli, &printer) {
        Ok(status) => status.into(),
        Err(err) if exit::is_broken_pipe(&err) => ExitStatus::Success.into(),
        Err(err) => {
            printer.error(&exit::message_for(&err), &exit::hints_for(&err));
            exit::status_for(&err).into()
        }
    }
}

fn printer(global: &GlobalArgs) -> Printer {
    let format = match global.output {
        OutputArg::Table => Format::Table,
        OutputArg::Json => Format::Json,
    };
    let verbosity = if global.quiet {
        Verbosity::Quiet
    } else if global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let color = match global.color {
        ColorArg::Auto => ColorMode::Auto,
        ColorArg::Always => ColorMode::Always,
        ColorArg::Never => ColorMode::Never,
    };
    Printer::new(format, verbosity, !global.no_progress, color)
        .with_json_logs(global.log_format == LogFormatArg::Json)
}

/// Runs one parsed command.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let global = &cli.global;
    match cli.command {
        Command::State(command) => state_cmd::run(command, global, printer),
        Command::Version => version(printer),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kcp", &mut out);
            printer.data(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Success)
        }
        Command::Discover(args) => discover_cmd::run(args, global, printer),
        Command::Gateway(args) => gateway_cmd::run(args, printer),
        Command::Scan(ScanCommand::Clusters(args)) => scan_cmd::clusters(args, global, printer),
        Command::Scan(ScanCommand::Connectors(args)) => connectors_cmd::scan(args, global, printer),
        Command::Scan(ScanCommand::SchemaRegistry(args)) => {
            schemas_cmd::scan(args, global, printer)
        }
        Command::Migrate(MigrateCommand::Schemas(args)) => schemas_cmd::migrate(args, printer),
        Command::Migrate(MigrateCommand::Connectors(args)) => {
            connectors_cmd::migrate(args, printer)
        }
        Command::Migrate(MigrateCommand::Quotas(args)) => {
            quotas_cmd::migrate(args, global, printer)
        }
        Command::Report(command) => report_cmd::run(command, global, printer),
        Command::CreateAsset(args) => asset_cmd::run(args, global, printer),
        Command::Migrate(MigrateCommand::Init(args)) => cutover_cmd::run(args, global, printer),
        Command::Migrate(MigrateCommand::Execute(args)) => cutover_cmd::execute(args, printer),
        Command::Migrate(MigrateCommand::Status(args)) => cutover_cmd::status(args, printer),
        Command::Migrate(MigrateCommand::Rollback(args)) => cutover_cmd::rollback(args, printer),
        Command::Migrate(MigrateCommand::Replicate(args)) => {
            migrate_cmd::replicate(args, global, printer)
        }
    }
}

#[derive(serde::Serialize)]
struct VersionInfo {
    kcp: &'static str,
    librdkafka: String,
    state_schema_version: u32,
    /// The CPU architecture kcp was built for.
    arch: &'static str,
}

fn version(printer: &Printer) -> anyhow::Result<ExitStatus> {
    let info = VersionInfo {
        kcp: crate::VERSION,
        librdkafka: rdkafka::util::get_rdkafka_version().1,
        state_schema_version: crate::state::CURRENT_SCHEMA_VERSION,
        arch: std::env::consts::ARCH,
    };
    match printer.format() {
        Format::Json => printer.json(&info)?,
        Format::Table => printer.data(&format!(
            "kcp {}\nlibrdkafka {}\nstate schema version {}\narch {}",
            info.kcp, info.librdkafka, info.state_schema_version, info.arch
        ))?,
    }
    Ok(ExitStatus::Success)
}

/// Writes a file atomically. With `replace` false an existing file is left
/// alone and the result is `false`.
fn write_file(path: &std::path::Path, text: &str, replace: bool) -> anyhow::Result<bool> {
    use anyhow::Context;
    let options = if replace {
        crate::fileio::WriteOptions::REPLACE
    } else {
        crate::fileio::WriteOptions::KEEP
    };
    crate::fileio::write_atomic(path, text.as_bytes(), options)
        .with_context(|| format!("cannot write `{}`", path.display()))
}
