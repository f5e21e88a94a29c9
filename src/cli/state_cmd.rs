//! `kcp state version|validate|upgrade`.

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;

use super::args::{GlobalArgs, StateCommand};
use crate::exit::ExitStatus;
use crate::output::{Format, Printer};
use crate::state::{self, Access, CURRENT_SCHEMA_VERSION, State, StateError, StateFile};

pub(super) fn run(
    command: StateCommand,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match command {
        StateCommand::Version => version(global, printer),
        StateCommand::Validate => validate(global, printer),
        StateCommand::Schema => {
            printer.data(&format!("{}\n", crate::state::json_schema()))?;
            Ok(ExitStatus::Success)
        }
        StateCommand::Upgrade { dry_run } => upgrade(global, printer, dry_run),
    }
}

#[derive(Serialize)]
struct VersionReport {
    path: String,
    schema_version: u32,
    supported_up_to: u32,
    status: &'static str,
    written_by: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

/// Reports the version without requiring the file to be valid, so it also
/// works on files this build cannot load.
fn version(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let path = &global.state_file;
    let _lock = StateFile::open(path, Access::Shared)?;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NotFound { path: path.clone() }.into());
        }
        Err(source) => {
            return Err(StateError::Io {
                path: path.clone(),
                source,
            }
            .into());
        }
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| StateError::Syntax {
        path: path.clone(),
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let found = state::upgrade::detect_version(&doc).map_err(|message| StateError::NotAState {
        path: path.clone(),
        message,
    })?;
    let text_at = |pointer: &str| {
        doc.pointer(pointer)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let report = VersionReport {
        path: path.display().to_string(),
        schema_version: found,
        supported_up_to: CURRENT_SCHEMA_VERSION,
        status: match found.cmp(&CURRENT_SCHEMA_VERSION) {
            std::cmp::Ordering::Less => "older",
            std::cmp::Ordering::Equal => "current",
            std::cmp::Ordering::Greater => "newer",
        },
        written_by: text_at("/written_by/version").or_else(|| text_at("/kcp_version")),
        created_at: text_at("/created_at").or_else(|| text_at("/timestamp")),
        updated_at: text_at("/updated_at"),
    };
    match printer.format() {
        Format::Json => printer.json(&report)?,
        Format::Table => {
            let advice = match report.status {
                "older" => " (older: `kcp state upgrade` rewrites it in the current schema)",
                "newer" => " (newer than this kcp: install a newer kcp to use it)",
                _ => " (current)",
            };
            let mut lines = vec![
                format!("state file      {}", report.path),
                format!("schema version  {}{advice}", report.schema_version),
                format!("this kcp reads  schema versions 0 to {CURRENT_SCHEMA_VERSION}"),
            ];
            if let Some(w) = &report.written_by {
                lines.push(format!("written by      kcp {w}"));
            }
            if let Some(c) = &report.created_at {
                lines.push(format!("created         {c}"));
            }
            if let Some(u) = &report.updated_at {
                lines.push(format!("updated         {u}"));
            }
            printer.text(&lines.join("\n"))?;
        }
    }
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct Summary {
    msk_regions: usize,
    msk_clusters: usize,
    kafka_clusters: usize,
    topics: usize,
    partitions: usize,
    consumer_groups: usize,
    acls: usize,
}

impl Summary {
    fn of(state: &State) -> Self {
        let clusters = state.clusters.values();
        Summary {
            msk_regions: state.msk_regions.len(),
            msk_clusters: state.msk_regions.values().map(|r| r.clusters.len()).sum(),
            kafka_clusters: state.clusters.len(),
            topics: clusters.clone().map(|c| c.topics.len()).sum(),
            partitions: clusters
                .clone()
                .flat_map(|c| c.topics.values())
                .map(|t| t.partitions.len())
                .sum(),
            consumer_groups: clusters.clone().map(|c| c.consumer_groups.len()).sum(),
            acls: clusters.map(|c| c.acls.len()).sum(),
        }
    }
}

#[derive(Serialize)]
struct ValidateReport {
    path: String,
    valid: bool,
    schema_version: u32,
    upgraded_from: Option<u32>,
    summary: Summary,
}

fn validate(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let file = StateFile::open(&global.state_file, Access::Shared)?;
    let loaded = file.load(Utc::now())?;
    let report = ValidateReport {
        path: global.state_file.display().to_string(),
        valid: true,
        schema_version: loaded.upgraded_from.unwrap_or(loaded.state.schema_version),
        upgraded_from: loaded.upgraded_from,
        summary: Summary::of(&loaded.state),
    };
    match printer.format() {
        Format::Json => printer.json(&report)?,
        Format::Table => {
            let s = &report.summary;
            printer.text(&format!(
                "`{}` is valid (schema version {}): {} MSK regions, {} MSK clusters, {} Kafka clusters, {} topics, {} partitions, {} consumer groups, {} ACLs",
                report.path, report.schema_version, s.msk_regions, s.msk_clusters, s.kafka_clusters, s.topics, s.partitions, s.consumer_groups, s.acls
            ))?;
            if let Some(from) = report.upgraded_from {
                printer.warn(&format!(
                    "the file uses schema version {from}; kcp reads it through an in-memory upgrade. Run `kcp state upgrade` to rewrite it"
                ));
            }
        }
    }
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct UpgradeReport {
    path: String,
    from: u32,
    to: u32,
    steps: Vec<&'static str>,
    backup: Option<String>,
    dry_run: bool,
}

fn upgrade(global: &GlobalArgs, printer: &Printer, dry_run: bool) -> anyhow::Result<ExitStatus> {
    let access = if dry_run {
        Access::Shared
    } else {
        Access::Exclusive
    };
    let file = StateFile::open(&global.state_file, access)?;
    let now = Utc::now();
    let mut loaded = file.load(now)?;
    let Some(from) = loaded.upgraded_from else {
        match printer.format() {
            Format::Json => printer.json(&UpgradeReport {
                path: global.state_file.display().to_string(),
                from: CURRENT_SCHEMA_VERSION,
                to: CURRENT_SCHEMA_VERSION,
                steps: Vec::new(),
                backup: None,
                dry_run,
            })?,
            Format::Table => printer.text(&format!(
                "`{}` is already at schema version {CURRENT_SCHEMA_VERSION}; nothing to do",
                global.state_file.display()
            ))?,
        }
        return Ok(ExitStatus::Success);
    };
    let steps: Vec<&'static str> = state::upgrade::STEPS
        .iter()
        .skip(from as usize)
        .map(|s| s.description)
        .collect();
    let backup = if dry_run {
        None
    } else {
        file.save(&mut loaded.state, now)
            .with_context(|| format!("upgrading `{}`", global.state_file.display()))?
    };
    let report = UpgradeReport {
        path: global.state_file.display().to_string(),
        from,
        to: CURRENT_SCHEMA_VERSION,
        steps,
        backup: backup.map(|b| b.display().to_string()),
        dry_run,
    };
    match printer.format() {
        Format::Json => printer.json(&report)?,
        Format::Table => {
            let mut lines = vec![if dry_run {
                format!(
                    "would upgrade `{}` from schema version {from} to {CURRENT_SCHEMA_VERSION}:",
                    report.path
                )
            } else {
                format!(
                    "upgraded `{}` from schema version {from} to {CURRENT_SCHEMA_VERSION}:",
                    report.path
                )
            }];
            lines.extend(report.steps.iter().map(|s| format!("  - {s}")));
            if let Some(b) = &report.backup {
                lines.push(format!("the original is kept as `{b}`"));
            }
            printer.text(&lines.join("\n"))?;
        }
    }
    Ok(ExitStatus::Success)
}
