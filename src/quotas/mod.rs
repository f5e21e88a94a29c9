//! Client quotas (KIP-546) from a source cluster to a target: the state's
//! [`ClientQuota`]s to and from the wire client's entries, and
//! [`sync_once`], one pass of "make the target carry the source's quotas"
//! (`kcp migrate quotas` runs it once; the replicator's metadata sync,
//! `replication.metadata_sync.quotas`, calls it every round, keeping the
//! [`Ledger`] between passes in the offset-map topic rather than a file).
//!
//! The decisions are pure ([`diff`]); this module only reads both sides,
//! applies the plan and reports per key what the target accepted. The
//! ledger file ([`load_ledger`], [`save_ledger`]) records what kcp set on a
//! target, so that a later pass removes only quotas kcp set.
//!
//! A sync loop keeps a [`QuotaClient`] per side (a new one after an error)
//! and the ledger between passes:
//!
//! ```text
//! let path = ledger_path(state_file, "prod", "new");
//! let mut ledger = load_ledger(&path)?;
//! loop {
//!     let pass = sync_once(&mut source, &mut target, &principals, &ledger, false)?;
//!     save_ledger(&path, &pass.ledger)?;   // before the next pass
//!     ledger = pass.ledger;                // pass.failed: report once
//!     sleep(interval);
//! }
//! ```

pub mod diff;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use diff::{Change, Ledger, Plan, Quotas, Skipped};

use crate::assets::PrincipalMap;
use crate::connect::wire::{EntityPart, QuotaAlteration, QuotaClient, QuotaEntry, WireError};
use crate::exit::{Diagnostic, ExitStatus};
use crate::fileio::{self, WriteOptions};
use crate::state::{ClientQuota, QuotaEntity, QuotaName};

/// Reads and changes a cluster's client quotas ([`QuotaClient`] on a real
/// cluster).
pub trait QuotaAdmin {
    fn describe(&mut self) -> Result<Vec<QuotaEntry>, WireError>;
    /// One result per alteration, in order.
    fn alter(
        &mut self,
        alterations: &[QuotaAlteration],
    ) -> Result<Vec<Result<(), String>>, WireError>;
}

impl QuotaAdmin for QuotaClient {
    fn describe(&mut self) -> Result<Vec<QuotaEntry>, WireError> {
        self.describe_client_quotas()
    }
    fn alter(
        &mut self,
        alterations: &[QuotaAlteration],
    ) -> Result<Vec<Result<(), String>>, WireError> {
        self.alter_client_quotas(alterations)
    }
}

/// The state's quotas from the broker's entries; entries kcp cannot
/// represent come back as reasons (for the scan's warnings).
pub fn from_wire(entries: Vec<QuotaEntry>) -> (Vec<ClientQuota>, Vec<String>) {
    let mut quotas = Vec::new();
    let mut refused = Vec::new();
    for entry in entries {
        match entity_from_wire(&entry.entity) {
            Ok(entity) => quotas.push(ClientQuota {
                entity,
                values: entry.values,
            }),
            Err(reason) => refused.push(reason),
        }
    }
    quotas.sort_by(|a, b| a.entity.cmp(&b.entity));
    (quotas, refused)
}

fn entity_from_wire(parts: &[EntityPart]) -> Result<QuotaEntity, String> {
    let mut entity = QuotaEntity::default();
    for part in parts {
        let slot = match part.entity_type.as_str() {
            "user" => &mut entity.user,
            "client-id" => &mut entity.client_id,
            "ip" => &mut entity.ip,
            other => return Err(format!("a quota on an entity of unknown type `{other}`")),
        };
        if slot.is_some() {
            return Err(format!("a quota naming `{}` twice", part.entity_type));
        }
        *slot = Some(match &part.name {
            None => QuotaName::Default,
            Some(n) => QuotaName::Name(n.clone()),
        });
    }
    if entity == QuotaEntity::default() {
        return Err("a quota with an empty entity".into());
    }
    Ok(entity)
}

/// The broker's entity parts of a state entity.
pub fn entity_to_wire(entity: &QuotaEntity) -> Vec<EntityPart> {
    let part = |kind: &str, n: &Option<QuotaName>| {
        n.as_ref().map(|n| EntityPart {
            entity_type: kind.to_owned(),
            name: match n {
                QuotaName::Default => None,
                QuotaName::Name(s) => Some(s.clone()),
            },
        })
    };
    [
        part("user", &entity.user),
        part("client-id", &entity.client_id),
        part("ip", &entity.ip),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn as_quotas(quotas: Vec<ClientQuota>) -> Quotas {
    quotas.into_iter().map(|q| (q.entity, q.values)).collect()
}

/// What one pass did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncOutcome {
    pub plan: Plan,
    /// Source quotas that are not migrated, and why.
    pub skipped: Vec<Skipped>,
    /// Source entries the wire answer had that kcp cannot represent.
    pub unreadable: Vec<String>,
    /// Changes the target refused, with its error.
    pub failed: Vec<Failure>,
    /// Changes made (0 in a dry run).
    pub applied: usize,
    pub dry_run: bool,
    /// The ledger to keep for the next pass.
    #[serde(skip)]
    pub ledger: Ledger,
}

/// A change the target refused.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub change: Change,
    pub error: String,
}

/// One pass: reads the source's and the target's quotas, maps the
/// source's users through `principals`, and applies what differs to the
/// target ([`diff::plan`]: never removing a quota kcp did not set, as
/// `ledger` records). With `dry_run` nothing is changed. Returns the plan,
/// the per-change failures and the ledger for the next pass; a
/// connection or protocol failure is an error.
pub fn sync_once(
    source: &mut dyn QuotaAdmin,
    target: &mut dyn QuotaAdmin,
    principals: &PrincipalMap,
    ledger: &Ledger,
    dry_run: bool,
) -> Result<SyncOutcome, WireError> {
    let (source_quotas, unreadable) = from_wire(source.describe()?);
    let (target_quotas, _) = from_wire(target.describe()?);
    let (desired, skipped) = diff::map_quotas(&source_quotas, principals);
    let previous = ledger.as_quotas();
    let plan = diff::plan(&desired, &as_quotas(target_quotas), &previous);
    let mut outcome = SyncOutcome {
        plan,
        skipped,
        unreadable,
        failed: Vec::new(),
        applied: 0,
        dry_run,
        ledger: ledger.clone(),
    };
    if dry_run {
        return Ok(outcome);
    }
    // One alteration per entity, with all its keys.
    let mut by_entity: BTreeMap<&QuotaEntity, Vec<&Change>> = BTreeMap::new();
    for change in &outcome.plan.changes {
        by_entity.entry(&change.entity).or_default().push(change);
    }
    let alterations: Vec<QuotaAlteration> = by_entity
        .iter()
        .map(|(entity, changes)| QuotaAlteration {
            entity: entity_to_wire(entity),
            ops: changes.iter().map(|c| (c.key.clone(), c.value)).collect(),
        })
        .collect();
    let results = target.alter(&alterations)?;
    let mut applied = Vec::new();
    for ((_, changes), result) in by_entity.iter().zip(results) {
        match result {
            Ok(()) => applied.extend(changes.iter().copied()),
            Err(e) => outcome.failed.extend(changes.iter().map(|c| Failure {
                change: (*c).clone(),
                error: e.clone(),
            })),
        }
    }
    outcome.applied = applied.len();
    outcome.ledger = Ledger::from_quotas(diff::next_ledger(&previous, &outcome.plan, &applied));
    Ok(outcome)
}

/// The ledger file of a source → target pair, next to the state file.
pub fn ledger_path(state_file: &Path, source: &str, target: &str) -> PathBuf {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    fileio::parent_dir(state_file).join(format!(
        "kcp-quotas.{}.{}.json",
        safe(source),
        safe(target)
    ))
}

/// A ledger file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("quota ledger `{}`: {message}", path.display())]
pub struct LedgerError {
    pub path: PathBuf,
    pub message: String,
}

impl Diagnostic for LedgerError {
    fn status(&self) -> ExitStatus {
        ExitStatus::Failure
    }
    fn hint(&self) -> Option<String> {
        Some("the ledger records which target quotas kcp set; fix or delete it (kcp then removes no quota until it sets them again)".into())
    }
}

/// Reads a ledger; an absent file is an empty ledger.
pub fn load_ledger(path: &Path) -> Result<Ledger, LedgerError> {
    let fail = |message: String| LedgerError {
        path: path.to_owned(),
        message,
    };
    match fileio::read_text(path).map_err(|e| fail(e.to_string()))? {
        None => Ok(Ledger::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| fail(e.to_string())),
    }
}

/// Writes a ledger atomically.
pub fn save_ledger(path: &Path, ledger: &Ledger) -> Result<(), LedgerError> {
    let mut text = serde_json::to_string_pretty(ledger).expect("ledgers serialize");
    text.push('\n');
    fileio::write_atomic(path, text.as_bytes(), WriteOptions::PRIVATE)
        .map(|_| ())
        .map_err(|e| LedgerError {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_entities_round_trip_and_unknown_types_are_refused() {
        let entries = vec![
            QuotaEntry {
                entity: vec![
                    EntityPart {
                        entity_type: "user".into(),
                        name: Some("alice".into()),
                    },
                    EntityPart {
                        entity_type: "client-id".into(),
                        name: None,
                    },
                ],
                values: BTreeMap::from([("producer_byte_rate".into(), 1024.0)]),
            },
            QuotaEntry {
                entity: vec![EntityPart {
                    entity_type: "group".into(),
                    name: Some("g".into()),
                }],
                values: BTreeMap::new(),
            },
        ];
        let (quotas, refused) = from_wire(entries.clone());
        assert_eq!(quotas.len(), 1);
        assert_eq!(refused.len(), 1);
        assert_eq!(quotas[0].entity.describe(), "user alice, default client-id");
        assert_eq!(entity_to_wire(&quotas[0].entity), entries[0].entity);
    }
}
