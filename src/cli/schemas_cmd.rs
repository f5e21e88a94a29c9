//! `kcp scan schema-registry` and `kcp migrate schemas`.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use serde::Serialize;
use tabled::Tabled;

use super::args::{GlobalArgs, MigrateSchemasArgs, ScanRegistryArgs};
use crate::connect::{CredentialsFile, RegistryCredentials};
use crate::exit::{Diagnostic, ExitStatus, UsageError};
use crate::output::{Format, Printer};
use crate::schema_registry::copy::{self, Outcome};
use crate::schema_registry::{Registry, SchemaRegistryError, scan as sr_scan};
use crate::state::{Access, SchemaRegistry, StateFile};

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[derive(Serialize)]
struct ScanSummary {
    registry: String,
    url: String,
    error: Option<String>,
    subjects: usize,
    versions: usize,
    schema_ids: usize,
    with_references: usize,
    types: Vec<String>,
    compatibility: Option<String>,
    mode: Option<String>,
    contexts: Vec<String>,
}

#[derive(Tabled)]
struct ScanRow {
    #[tabled(rename = "registry")]
    registry: String,
    #[tabled(rename = "status")]
    status: String,
    #[tabled(rename = "subjects")]
    subjects: usize,
    #[tabled(rename = "versions")]
    versions: usize,
    #[tabled(rename = "ids")]
    ids: usize,
    #[tabled(rename = "types")]
    types: String,
    #[tabled(rename = "compatibility")]
    compatibility: String,
    #[tabled(rename = "mode")]
    mode: String,
}

fn summary(
    name: &str,
    creds: &RegistryCredentials,
    r: Option<&SchemaRegistry>,
    error: Option<String>,
) -> ScanSummary {
    let empty = SchemaRegistry::default();
    let r = r.unwrap_or(&empty);
    let versions: Vec<_> = r.subjects.values().flat_map(|s| &s.versions).collect();
    let mut ids: Vec<u32> = versions.iter().map(|v| v.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut types: Vec<String> = versions.iter().map(|v| v.schema_type.clone()).collect();
    types.sort();
    types.dedup();
    ScanSummary {
        registry: name.to_owned(),
        url: creds.url.clone(),
        error,
        subjects: r.subjects.len(),
        versions: versions.len(),
        schema_ids: ids.len(),
        with_references: versions.iter().filter(|v| !v.references.is_empty()).count(),
        types,
        compatibility: r.compatibility.clone(),
        mode: r.mode.clone(),
        contexts: r.contexts.clone(),
    }
}

pub(super) fn scan(
    args: ScanRegistryArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    super::signals::exit_on_signal()?;
    let creds = CredentialsFile::load(&args.credentials.path)?;
    let selected: Vec<&RegistryCredentials> = if args.registries.is_empty() {
        creds.schema_registries.iter().collect()
    } else {
        args.registries
            .iter()
            .map(|name| creds.registry(name))
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(UsageError::new(format!(
            "credentials file `{}` names no schema registry to scan",
            args.credentials.path.display()
        ))
        .with_hint("add one under `schema_registries:` (see docs/reference/credentials.md)")
        .into());
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    // Take the lock before spending time on the network.
    let file = StateFile::open(&global.state_file, Access::Exclusive)?;
    let now = Utc::now();
    let mut loaded = file.load_or_new(now)?;
    let rt = runtime()?;
    let mut results = Vec::new();
    for c in &selected {
        printer.status(&format!(
            "scanning schema registry `{}` at {}",
            c.name, c.url
        ));
        let result = Registry::new(c, timeout)
            .and_then(|reg| rt.block_on(sr_scan::scan(&reg, c.auth.kind(), now)));
        results.push((*c, result));
    }
    let saved = results.iter().any(|(_, r)| r.is_ok());
    let mut summaries = Vec::new();
    for (c, result) in &results {
        match result {
            Ok(registry) => {
                for w in &registry.warnings {
                    printer.warn(&format!(
                        "registry `{}`: {}: {} ({}); {}",
                        c.name, w.call, w.message, w.code, w.hint
                    ));
                }
                loaded
                    .state
                    .schema_registries
                    .insert(c.name.clone(), registry.clone());
                summaries.push(summary(&c.name, c, Some(registry), None));
            }
            Err(e) => {
                let hints: Vec<String> = e.hint().into_iter().collect();
                printer.error(&e.to_string(), &hints);
                let entry = loaded
                    .state
                    .schema_registries
                    .entry(c.name.clone())
                    .or_insert_with(|| SchemaRegistry {
                        url: c.url.clone(),
                        auth_method: c.auth.kind().to_owned(),
                        ..Default::default()
                    });
                entry.last_error = Some(e.to_string());
                summaries.push(summary(&c.name, c, None, Some(e.to_string())));
            }
        }
    }
    if saved {
        file.save(&mut loaded.state, Utc::now())?;
    }
    match printer.format() {
        Format::Json => printer.json(&serde_json::json!({
            "state_file": global.state_file, "saved": saved, "registries": summaries
        }))?,
        Format::Table => {
            printer.table(summaries.iter().map(|s| ScanRow {
                registry: s.registry.clone(),
                status: if s.error.is_some() {
                    "failed".into()
                } else {
                    "ok".into()
                },
                subjects: s.subjects,
                versions: s.versions,
                ids: s.schema_ids,
                types: s.types.join(", "),
                compatibility: s.compatibility.clone().unwrap_or_else(|| "-".into()),
                mode: s.mode.clone().unwrap_or_else(|| "-".into()),
            }))?;
            if saved {
                printer.status(&format!("state saved to `{}`", global.state_file.display()));
            } else {
                printer.status(&format!(
                    "every registry failed: `{}` was not changed",
                    global.state_file.display()
                ));
            }
        }
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    Ok(match failed {
        0 => ExitStatus::Success,
        n if n == results.len() => ExitStatus::Failure,
        _ => ExitStatus::Partial,
    })
}

#[derive(Tabled)]
struct CopyRow {
    #[tabled(rename = "subject")]
    subject: String,
    #[tabled(rename = "version")]
    version: u32,
    #[tabled(rename = "id")]
    id: u32,
    #[tabled(rename = "type")]
    schema_type: String,
    #[tabled(rename = "result")]
    outcome: String,
}

fn regex(flag: &str, value: Option<&String>) -> anyhow::Result<Option<regex::Regex>> {
    value
        .map(|v| {
            regex::Regex::new(v).map_err(|e| {
                anyhow::Error::new(UsageError::new(format!(
                    "{flag} `{v}` is not a regular expression: {e}"
                )))
            })
        })
        .transpose()
}

pub(super) fn migrate(args: MigrateSchemasArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    super::signals::exit_on_signal()?;
    if args.source == args.target {
        return Err(UsageError::new("--source and --target name the same registry").into());
    }
    let creds = CredentialsFile::load(&args.credentials.path)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let source = Registry::new(creds.registry(&args.source)?, timeout)?;
    let target = Registry::new(creds.registry(&args.target)?, timeout)?;
    let request = copy::CopyRequest {
        include: regex("--subjects", args.subjects.as_ref())?,
        exclude: regex("--exclude-subjects", args.exclude_subjects.as_ref())?,
        dry_run: args.dry_run,
        verify_only: args.verify_only,
        without_import_mode: args.without_import_mode,
    };
    let rt = runtime()?;
    let report = rt.block_on(copy::run(&source, &target, &request))?;
    for s in &report.added_for_references {
        printer.status(&format!(
            "subject `{s}` is copied too: a selected schema references it"
        ));
    }
    match printer.format() {
        Format::Json => printer.json(&report)?,
        Format::Table => {
            printer.table(report.items.iter().map(|i| {
                CopyRow {
                    subject: i.subject.clone(),
                    version: i.version,
                    id: i.id,
                    schema_type: i.schema_type.clone(),
                    outcome: match i.outcome {
                        Outcome::Copied => "copied",
                        Outcome::AlreadyThere => "already on the target",
                        Outcome::WouldCopy => "would copy",
                        Outcome::Verified => {
                            if report
                                .mismatches
                                .iter()
                                .any(|m| m.subject == i.subject && m.version == i.version)
                            {
                                "differs"
                            } else {
                                "same"
                            }
                        }
                    }
                    .to_owned(),
                }
            }))?;
            for c in &report.compatibility_set {
                printer.status(&format!("compatibility set on the target: {c}"));
            }
            let count = |o: Outcome| report.items.iter().filter(|i| i.outcome == o).count();
            printer.status(&format!(
                "{} copied, {} already on the target, {} would be copied; {} differences after the copy",
                count(Outcome::Copied),
                count(Outcome::AlreadyThere),
                count(Outcome::WouldCopy),
                report.mismatches.len()
            ));
        }
    }
    if report.mismatches.is_empty() {
        return Ok(ExitStatus::Success);
    }
    for m in &report.mismatches {
        printer.warn(&format!(
            "{} version {}: {}",
            m.subject, m.version, m.problem
        ));
    }
    Err(SchemaRegistryError::Source {
        registry: target.name.clone(),
        message: format!(
            "{} subject versions differ from the source `{}` (listed above)",
            report.mismatches.len(),
            source.name
        ),
    }
    .into())
}
