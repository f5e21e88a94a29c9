//! The metadata sync's client quota rounds (plan key
//! `replication.metadata_sync.quotas`): one [`quotas::sync_once`] pass per
//! round, with its ledger of the keys kcp set kept in the offset-map topic
//! (key `quotas;<source cluster id>;<target cluster id>;<plan>`, the
//! ledger's JSON), the same place as the ACL record: the sync runs where
//! no state file may be, and the record travels with the migration's
//! other progress on the target. A target quota kcp did not set is never
//! removed; a refused change is reported once per value.
//!
//! The ledger is written after a pass (the pass decides and applies in
//! one): should kcp stop in between, it forgets the keys of that pass and
//! so never removes them, the safe side.

use std::collections::{BTreeMap, BTreeSet};

use super::{QUOTA_KEY_PREFIX, Sync};
use crate::connect::wire::QuotaClient;
use crate::quotas::{self, Change, Ledger};
use crate::replicator::ReplicatorError;
use crate::state::QuotaEntity;
use crate::telemetry::{SyncKind, SyncOutcome};

/// What the quota rounds keep between rounds.
pub(super) struct QuotaSync {
    /// The ledger's key in the offset-map topic.
    key: String,
    /// The ledger, once read.
    ledger: Option<Ledger>,
    /// A client per side (dropped after an error: a new one next round).
    clients: Option<(QuotaClient, QuotaClient)>,
    /// Refused changes already reported: entity and key → value.
    refused: BTreeMap<(QuotaEntity, String), Option<String>>,
    /// Skipped or unreadable source quotas already reported.
    reported: BTreeSet<String>,
}

impl QuotaSync {
    pub(super) fn new(source_cluster: &str, target_cluster: &str, plan: &str) -> Self {
        QuotaSync {
            key: ledger_key(source_cluster, target_cluster, plan),
            ledger: None,
            clients: None,
            refused: BTreeMap::new(),
            reported: BTreeSet::new(),
        }
    }
}

/// The key of kcp's quota ledger in the offset-map topic.
pub(crate) fn ledger_key(source_cluster: &str, target_cluster: &str, plan: &str) -> String {
    format!("{QUOTA_KEY_PREFIX}{source_cluster};{target_cluster};{plan}")
}

/// A change for notices: `producer_byte_rate=1024` or the removed key.
fn describe_change(c: &Change) -> String {
    match c.value {
        Some(v) => format!("{}={v}", c.key),
        None => format!(
            "{} (removed: kcp set it and the source no longer has it)",
            c.key
        ),
    }
}

impl Sync<'_> {
    /// One round of client quotas.
    pub(super) fn quotas(&mut self) -> Result<(), ReplicatorError> {
        let ledger = match self.quotas.ledger.take() {
            Some(l) => l,
            None => self.read_ledger()?,
        };
        self.quotas.ledger = Some(ledger.clone());
        let (mut source, mut target) = match self.quotas.clients.take() {
            Some(c) => c,
            None => (
                QuotaClient::connect(self.source_creds, self.timeout)?,
                QuotaClient::connect(self.target_creds, self.timeout)?,
            ),
        };
        let principals = self.plan.principals();
        let pass = quotas::sync_once(&mut source, &mut target, principals, &ledger, false)?;
        self.quotas.clients = Some((source, target));
        if pass.ledger != ledger {
            let value = serde_json::to_vec(&pass.ledger).map_err(|e| {
                ReplicatorError::Setup(format!("cannot encode the quota ledger: {e}"))
            })?;
            let key = self.quotas.key.clone();
            self.write_record(&key, &value, "kcp's quota ledger")?;
            self.quotas.ledger = Some(pass.ledger.clone());
        }
        self.report_quotas(&pass);
        Ok(())
    }

    fn report_quotas(&mut self, pass: &quotas::SyncOutcome) {
        let skipped = pass
            .skipped
            .iter()
            .map(|s| {
                format!(
                    "the quota of {} not applied to the target: {}",
                    s.entity, s.reason
                )
            })
            .chain(
                pass.unreadable
                    .iter()
                    .map(|r| format!("a source quota not applied: {r}")),
            );
        for line in skipped {
            if self.quotas.reported.insert(line.clone()) {
                self.observer.warning(&format!("metadata sync: {line}"));
            }
        }
        let failed: BTreeMap<(&QuotaEntity, &str), &str> = pass
            .failed
            .iter()
            .map(|f| ((&f.change.entity, f.change.key.as_str()), f.error.as_str()))
            .collect();
        for change in &pass.plan.changes {
            let id = (change.entity.clone(), change.key.clone());
            let value = change.value.map(|v| v.to_string());
            let entity = change.entity.describe();
            let what = describe_change(change);
            match failed.get(&(&change.entity, change.key.as_str())) {
                None => {
                    let outcome = if change.value.is_some() {
                        SyncOutcome::applied
                    } else {
                        SyncOutcome::deleted
                    };
                    self.count(SyncKind::quota, outcome);
                    self.quotas.refused.remove(&id);
                    self.observer.notice(&format!(
                        "metadata sync: quota of {entity} on the target: applied {what}"
                    ));
                }
                Some(reason) => {
                    if self.quotas.refused.get(&id) != Some(&value) {
                        self.count(SyncKind::quota, SyncOutcome::refused);
                        self.observer.warning(&format!(
                            "metadata sync: the target refused {what} on the quota of {entity}: {reason} (not reported again until the source's value changes)"
                        ));
                        self.quotas.refused.insert(id, value);
                    }
                }
            }
        }
        for c in &pass.plan.released {
            self.observer.notice(&format!(
                "metadata sync: quota {} of {} changed on the target since kcp set it: left alone from now on",
                c.key,
                c.entity.describe()
            ));
        }
    }

    /// kcp's quota ledger from the offset-map topic (empty when none).
    fn read_ledger(&self) -> Result<Ledger, ReplicatorError> {
        let key = &self.quotas.key;
        match self.read_record(key)? {
            None => Ok(Ledger::default()),
            Some(value) => serde_json::from_slice(&value).map_err(|e| {
                ReplicatorError::Setup(format!(
                    "kcp's quota ledger `{key}` in `{}` is unreadable ({e}); delete it to start the ledger afresh (kcp then removes no target quota until it sets it again)",
                    self.plan.plan.replication.offset_map_topic
                ))
            }),
        }
    }
}
