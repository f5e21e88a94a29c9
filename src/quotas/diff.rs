//! The pure part of quota migration: source quotas mapped for the target
//! ([`map_quotas`]), and what to change on the target ([`plan`]) given what
//! it has and what kcp set there before (the [`Ledger`]).
//!
//! Rules: a source value the target lacks or holds differently is set; a
//! key kcp set earlier that the source no longer has is removed, but only
//! while the target still holds the value kcp set (someone changed it
//! since: left alone, and forgotten); anything else on the target — a
//! target-only quota or key — is never touched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assets::PrincipalMap;
use crate::state::{ClientQuota, QuotaEntity, QuotaName};

/// Quota values by entity.
pub type Quotas = BTreeMap<QuotaEntity, BTreeMap<String, f64>>;

/// A source quota that is not migrated, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub entity: String,
    pub reason: String,
}

/// What kcp set on a target: entity → key → the value it set. Kept between
/// runs so that a quota removed on the source is removed on the target,
/// and only when kcp set it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
}

/// One entity's keys as kcp set them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub entity: QuotaEntity,
    pub values: BTreeMap<String, f64>,
}

impl Ledger {
    /// The ledger as a map.
    pub fn as_quotas(&self) -> Quotas {
        self.entries
            .iter()
            .map(|e| (e.entity.clone(), e.values.clone()))
            .collect()
    }

    /// A ledger from a map (empty entities dropped).
    pub fn from_quotas(quotas: Quotas) -> Self {
        Ledger {
            entries: quotas
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(entity, values)| LedgerEntry { entity, values })
                .collect(),
        }
    }
}

/// One change to a target quota key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub entity: QuotaEntity,
    pub key: String,
    /// The new value; `None` removes the key.
    pub value: Option<f64>,
    /// What the target held before.
    pub previous: Option<f64>,
}

/// What one sync does.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Keys kcp set earlier that someone changed on the target since: left
    /// alone and dropped from the ledger.
    pub released: Vec<Change>,
    /// Entity keys on the target that the source does not have and kcp
    /// did not set (left alone).
    pub target_only: usize,
    /// Source keys the target already holds with the same value.
    pub in_sync: usize,
}

/// The source quotas as the target should have them: users mapped through
/// the principal map (`User:<name>` keys), client ids and IPs as they are.
pub fn map_quotas(source: &[ClientQuota], principals: &PrincipalMap) -> (Quotas, Vec<Skipped>) {
    let mut out: Quotas = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut origin: BTreeMap<QuotaEntity, QuotaEntity> = BTreeMap::new();
    for quota in source {
        let skip = |reason: String| Skipped {
            entity: quota.entity.describe(),
            reason,
        };
        let entity = match map_entity(&quota.entity, principals) {
            Ok(e) => e,
            Err(reason) => {
                skipped.push(skip(reason));
                continue;
            }
        };
        if let Some(first) = origin.get(&entity) {
            skipped.push(skip(format!(
                "it maps to `{}` on the target, as `{}` does",
                entity.describe(),
                first.describe()
            )));
            continue;
        }
        origin.insert(entity.clone(), quota.entity.clone());
        out.insert(entity, quota.values.clone());
    }
    (out, skipped)
}

/// An entity on the target: the user mapped, the rest unchanged.
fn map_entity(entity: &QuotaEntity, principals: &PrincipalMap) -> Result<QuotaEntity, String> {
    let user = match &entity.user {
        Some(QuotaName::Name(name)) => {
            let principal = format!("User:{name}");
            match principals.get(&principal) {
                None => Some(QuotaName::Name(name.clone())),
                Some(mapped) => match mapped.strip_prefix("User:") {
                    Some(user) if !user.is_empty() => Some(QuotaName::Name(user.to_owned())),
                    _ => {
                        return Err(format!(
                            "the principal map maps `{principal}` to `{mapped}`, not a `User:` principal a Kafka user quota can name"
                        ));
                    }
                },
            }
        }
        other => other.clone(),
    };
    Ok(QuotaEntity {
        user,
        ..entity.clone()
    })
}

/// What to change on the target so it carries `desired`, given what it has
/// (`target`) and what kcp set before (`ledger`).
pub fn plan(desired: &Quotas, target: &Quotas, ledger: &Quotas) -> Plan {
    let mut plan = Plan::default();
    let held =
        |entity: &QuotaEntity, key: &str| target.get(entity).and_then(|v| v.get(key)).copied();
    for (entity, values) in desired {
        for (key, value) in values {
            let previous = held(entity, key);
            if previous == Some(*value) {
                plan.in_sync += 1;
            } else {
                plan.changes.push(Change {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: Some(*value),
                    previous,
                });
            }
        }
    }
    for (entity, values) in ledger {
        for (key, set) in values {
            if desired.get(entity).is_some_and(|d| d.contains_key(key)) {
                continue;
            }
            let previous = held(entity, key);
            let change = Change {
                entity: entity.clone(),
                key: key.clone(),
                value: None,
                previous,
            };
            if previous == Some(*set) {
                plan.changes.push(change);
            } else {
                plan.released.push(change);
            }
        }
    }
    plan.target_only = target
        .iter()
        .flat_map(|(e, v)| v.keys().map(move |k| (e, k)))
        .filter(|(e, k)| {
            !desired.get(*e).is_some_and(|d| d.contains_key(*k))
                && !ledger.get(*e).is_some_and(|l| l.contains_key(*k))
        })
        .count();
    plan
}

/// The ledger after `applied` changes of a sync (the ones the target
/// accepted): set keys recorded, removed and released ones forgotten.
pub fn next_ledger(ledger: &Quotas, plan: &Plan, applied: &[&Change]) -> Quotas {
    let mut next = ledger.clone();
    for released in &plan.released {
        if let Some(values) = next.get_mut(&released.entity) {
            values.remove(&released.key);
        }
    }
    for change in applied {
        let values = next.entry(change.entity.clone()).or_default();
        match change.value {
            Some(v) => {
                values.insert(change.key.clone(), v);
            }
            None => {
                values.remove(&change.key);
            }
        }
    }
    next.retain(|_, v| !v.is_empty());
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> QuotaEntity {
        QuotaEntity {
            user: Some(QuotaName::Name(name.into())),
            ..Default::default()
        }
    }

    fn values(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn users_are_mapped_and_collisions_and_non_user_targets_skipped() {
        let map = PrincipalMap::parse(
            "principals:\n  'User:alice': 'User:alice2'\n  'User:bob': 'User:alice2'\n  'User:carol': sa-1\n",
        )
        .unwrap();
        let default_client = QuotaEntity {
            client_id: Some(QuotaName::Default),
            ..Default::default()
        };
        let source = vec![
            ClientQuota {
                entity: user("alice"),
                values: values(&[("producer_byte_rate", 1024.0)]),
            },
            ClientQuota {
                entity: user("bob"),
                values: values(&[("producer_byte_rate", 2048.0)]),
            },
            ClientQuota {
                entity: user("carol"),
                values: values(&[("producer_byte_rate", 1.0)]),
            },
            ClientQuota {
                entity: default_client.clone(),
                values: values(&[("consumer_byte_rate", 5.0)]),
            },
        ];
        let (mapped, skipped) = map_quotas(&source, &map);
        assert_eq!(mapped[&user("alice2")]["producer_byte_rate"], 1024.0);
        assert_eq!(mapped[&default_client]["consumer_byte_rate"], 5.0);
        assert_eq!(mapped.len(), 2);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped[0].reason.contains("as `user alice` does"),
            "{skipped:?}"
        );
        assert!(skipped[1].reason.contains("sa-1"), "{skipped:?}");
    }

    #[test]
    fn plan_sets_differences_and_never_touches_what_kcp_did_not_set() {
        let desired = Quotas::from([(user("a"), values(&[("producer_byte_rate", 10.0)]))]);
        let target = Quotas::from([
            (
                user("a"),
                values(&[("producer_byte_rate", 5.0), ("request_percentage", 50.0)]),
            ),
            (user("t"), values(&[("consumer_byte_rate", 1.0)])),
        ]);
        let p = plan(&desired, &target, &Quotas::new());
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].value, Some(10.0));
        assert_eq!(p.changes[0].previous, Some(5.0));
        assert_eq!(p.target_only, 2);
        assert!(p.released.is_empty());
    }

    #[test]
    fn a_key_kcp_set_is_removed_only_while_it_holds_kcps_value() {
        let ledger = Quotas::from([
            (user("gone"), values(&[("producer_byte_rate", 7.0)])),
            (user("edited"), values(&[("producer_byte_rate", 7.0)])),
        ]);
        let target = Quotas::from([
            (user("gone"), values(&[("producer_byte_rate", 7.0)])),
            (user("edited"), values(&[("producer_byte_rate", 99.0)])),
        ]);
        let p = plan(&Quotas::new(), &target, &ledger);
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].entity, user("gone"));
        assert_eq!(p.changes[0].value, None);
        assert_eq!(p.released.len(), 1);
        assert_eq!(p.released[0].entity, user("edited"));
        let applied: Vec<&Change> = p.changes.iter().collect();
        assert!(next_ledger(&ledger, &p, &applied).is_empty());
    }

    #[test]
    fn in_sync_keys_are_counted_and_the_ledger_records_what_was_set() {
        let desired = Quotas::from([(user("a"), values(&[("x", 1.0), ("y", 2.0)]))]);
        let target = Quotas::from([(user("a"), values(&[("x", 1.0)]))]);
        let p = plan(&desired, &target, &Quotas::new());
        assert_eq!(p.in_sync, 1);
        let applied: Vec<&Change> = p.changes.iter().collect();
        let next = next_ledger(&Quotas::new(), &p, &applied);
        assert_eq!(next, Quotas::from([(user("a"), values(&[("y", 2.0)]))]));
    }
}
