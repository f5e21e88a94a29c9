//! `kcp migrate quotas`: one pass of [`crate::quotas::sync_once`] from a
//! source cluster to a target, with the ledger kept next to the state file.

use std::time::Duration;

use anyhow::Context;
use tabled::Tabled;

use super::args::{GlobalArgs, MigrateQuotasArgs};
use crate::assets::PrincipalMap;
use crate::connect::CredentialsFile;
use crate::connect::wire::QuotaClient;
use crate::exit::{ExitStatus, UsageError};
use crate::output::{Format, Printer};
use crate::quotas::{self, Change, SyncOutcome};

pub(super) fn migrate(
    args: MigrateQuotasArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.source == args.target {
        return Err(UsageError::new("--source and --target name the same cluster").into());
    }
    let principals = match &args.principal_map {
        Some(path) => PrincipalMap::load(path)?,
        None => PrincipalMap::default(),
    };
    let creds = CredentialsFile::load(&args.credentials.path)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut source = QuotaClient::connect(creds.cluster(&args.source)?, timeout)?;
    let mut target = QuotaClient::connect(creds.cluster(&args.target)?, timeout)?;
    let ledger_path = quotas::ledger_path(&global.state_file, &args.source, &args.target);
    let ledger = quotas::load_ledger(&ledger_path)?;
    let outcome = quotas::sync_once(&mut source, &mut target, &principals, &ledger, args.dry_run)?;
    if !args.dry_run {
        quotas::save_ledger(&ledger_path, &outcome.ledger)
            .with_context(|| "the quotas were applied, but kcp could not record them")?;
    }
    print(&outcome, printer)?;
    Ok(if outcome.failed.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Partial
    })
}

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "entity")]
    entity: String,
    #[tabled(rename = "key")]
    key: String,
    #[tabled(rename = "value")]
    value: String,
    #[tabled(rename = "target had")]
    previous: String,
    #[tabled(rename = "result")]
    result: String,
}

fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn row(change: &Change, result: String) -> Row {
    Row {
        entity: change.entity.describe(),
        key: change.key.clone(),
        value: change
            .value
            .map_or_else(|| "(removed)".to_owned(), |v| v.to_string()),
        previous: number(change.previous),
        result,
    }
}

fn print(outcome: &SyncOutcome, printer: &Printer) -> anyhow::Result<()> {
    for s in &outcome.skipped {
        printer.warn(&format!("quota of {} not migrated: {}", s.entity, s.reason));
    }
    for u in &outcome.unreadable {
        printer.warn(&format!("a source quota was not read: {u}"));
    }
    for r in &outcome.plan.released {
        printer.warn(&format!(
            "{} {}: kcp set it, but it was changed on the target since; left alone and no longer tracked",
            r.entity.describe(),
            r.key
        ));
    }
    match printer.format() {
        Format::Json => printer.json(outcome)?,
        Format::Table => {
            let failed = |c: &Change| {
                outcome
                    .failed
                    .iter()
                    .find(|f| f.change == *c)
                    .map(|f| format!("failed: {}", f.error))
            };
            printer.table(outcome.plan.changes.iter().map(|c| {
                let result = failed(c).unwrap_or_else(|| {
                    match (outcome.dry_run, c.value.is_some()) {
                        (true, true) => "would set",
                        (true, false) => "would remove",
                        (false, true) => "set",
                        (false, false) => "removed",
                    }
                    .to_owned()
                });
                row(c, result)
            }))?;
            printer.status(&format!(
                "{} change(s) {}, {} failed; {} key(s) already in sync; {} target-only key(s) left alone",
                if outcome.dry_run {
                    outcome.plan.changes.len()
                } else {
                    outcome.applied
                },
                if outcome.dry_run { "to make" } else { "made" },
                outcome.failed.len(),
                outcome.plan.in_sync,
                outcome.plan.target_only
            ));
        }
    }
    Ok(())
}
