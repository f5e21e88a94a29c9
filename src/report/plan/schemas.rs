//! The plan's schemas part: the source registry's subjects with the topics
//! they serve, and the risks of carrying them to the target registry with
//! their ids (an id the target already uses for another schema, a target
//! that cannot be put in IMPORT mode, subjects of no topic).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Risk;
use crate::report::ReportError;
use crate::state::{KafkaCluster, SchemaRegistry, State};

/// The schemas part of the plan.
#[derive(Debug, Serialize)]
pub(crate) struct SchemasPlan {
    pub source_registry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_registry: Option<String>,
    pub subjects: usize,
    pub versions: usize,
    pub schema_ids: usize,
    /// Versions by schema type (`AVRO`, `PROTOBUF`, `JSON`).
    pub types: BTreeMap<String, usize>,
    pub rows: Vec<SubjectRow>,
}

/// One subject of the source registry.
#[derive(Debug, Serialize)]
pub(crate) struct SubjectRow {
    pub subject: String,
    /// The topic it serves under the default subject naming
    /// (`<topic>-key`, `<topic>-value`), when that topic is on the source.
    pub topic: Option<String>,
    pub versions: usize,
    pub latest_id: Option<u32>,
    pub schema_type: String,
    pub references: usize,
    /// An id on the target that holds a different schema.
    pub id_conflicts: Vec<u32>,
}

/// The registry named `name` in the state.
fn registry<'a>(state: &'a State, name: &str) -> Result<&'a SchemaRegistry, ReportError> {
    state
        .schema_registries
        .get(name)
        .ok_or_else(|| ReportError::UnknownRegistry {
            name: name.to_owned(),
            known: state.schema_registries.keys().cloned().collect(),
        })
}

/// The topic a subject serves under TopicNameStrategy, if it is on `cluster`.
fn topic_of(subject: &str, cluster: &KafkaCluster) -> Option<String> {
    let topic = subject
        .strip_suffix("-value")
        .or_else(|| subject.strip_suffix("-key"))?;
    cluster.topics.contains_key(topic).then(|| topic.to_owned())
}

/// The schema each id names on a registry (text compared without
/// insignificant whitespace).
fn ids(r: &SchemaRegistry) -> BTreeMap<u32, String> {
    r.subjects
        .values()
        .flat_map(|s| &s.versions)
        .map(|v| {
            (
                v.id,
                crate::schema_registry::copy::canonical(&v.schema_type, &v.schema),
            )
        })
        .collect()
}

/// Builds the schemas part and its risks.
pub(super) fn plan(
    state: &State,
    cluster: &KafkaCluster,
    source: &str,
    target: Option<&str>,
) -> Result<(SchemasPlan, Vec<Risk>), ReportError> {
    let src = registry(state, source)?;
    let dst = target.map(|t| registry(state, t)).transpose()?;
    let target_ids = dst.map(ids).unwrap_or_default();
    let mut risks = Vec::new();
    let mut rows = Vec::new();
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let mut all_ids = std::collections::BTreeSet::new();
    for (name, subject) in &src.subjects {
        let mut conflicts: Vec<u32> = subject
            .versions
            .iter()
            .filter(|v| {
                target_ids.get(&v.id).is_some_and(|there| {
                    *there != crate::schema_registry::copy::canonical(&v.schema_type, &v.schema)
                })
            })
            .map(|v| v.id)
            .collect();
        conflicts.dedup();
        for v in &subject.versions {
            *types.entry(v.schema_type.clone()).or_default() += 1;
            all_ids.insert(v.id);
        }
        if !conflicts.is_empty() {
            risks.push(Risk {
                severity: "high",
                kind: "schema_id_collision",
                subject: name.clone(),
                reason: format!(
                    "the target registry `{}` already uses id{} {} for a different schema; records carry the id, so consumers on the target would read them with the wrong schema",
                    target.unwrap_or_default(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    conflicts.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ),
                action: "migrate into an empty registry (or context), or free those ids on the target; `kcp migrate schemas` refuses to copy while they conflict".into(),
            });
        }
        let latest = subject.versions.last();
        let topic = topic_of(name, cluster);
        rows.push(SubjectRow {
            subject: name.clone(),
            topic,
            versions: subject.versions.len(),
            latest_id: latest.map(|v| v.id),
            schema_type: latest.map_or_else(String::new, |v| v.schema_type.clone()),
            references: latest.map_or(0, |v| v.references.len()),
            id_conflicts: conflicts,
        });
    }
    if let Some(dst) = dst
        && dst.mode.is_none()
        && !src.subjects.is_empty()
    {
        risks.push(Risk {
            severity: "high",
            kind: "schema_registry_no_import_mode",
            subject: target.unwrap_or_default().to_owned(),
            reason: "the target registry serves no `/mode`, so it cannot be put in IMPORT mode and assigns its own schema ids".into(),
            action: "use a target registry with IMPORT mode; `kcp migrate schemas --without-import-mode` keeps ids only into an empty target when the source's ids are dense from 1".into(),
        });
    }
    let orphans: Vec<&str> = rows
        .iter()
        .filter(|r| r.topic.is_none())
        .map(|r| r.subject.as_str())
        .collect();
    if !orphans.is_empty() {
        risks.push(Risk {
            severity: "low",
            kind: "schema_subject_without_topic",
            subject: source.to_owned(),
            reason: format!(
                "{} subject{} name no topic of the source cluster as `<topic>-key` or `<topic>-value` (another naming strategy, references, or topics gone): {}",
                orphans.len(),
                if orphans.len() == 1 { "" } else { "s" },
                orphans.join(", ")
            ),
            action: "copy them anyway (ids must still match); check which clients use them".into(),
        });
    }
    Ok((
        SchemasPlan {
            source_registry: source.to_owned(),
            target_registry: target.map(str::to_owned),
            subjects: src.subjects.len(),
            versions: src.subjects.values().map(|s| s.versions.len()).sum(),
            schema_ids: all_ids.len(),
            types,
            rows,
        },
        risks,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{SchemaVersion, Subject};

    fn version(v: u32, id: u32, text: &str) -> SchemaVersion {
        SchemaVersion {
            version: v,
            id,
            schema_type: "AVRO".into(),
            references: Vec::new(),
            schema: text.into(),
        }
    }

    fn registry_with(
        subjects: &[(&str, Vec<SchemaVersion>)],
        mode: Option<&str>,
    ) -> SchemaRegistry {
        SchemaRegistry {
            mode: mode.map(str::to_owned),
            subjects: subjects
                .iter()
                .map(|(n, v)| {
                    (
                        (*n).to_owned(),
                        Subject {
                            versions: v.clone(),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn flags_colliding_ids_a_target_without_modes_and_subjects_of_no_topic() {
        let mut state = State::new(chrono::Utc::now());
        let mut cluster = KafkaCluster::default();
        cluster.topics.insert("orders".into(), Default::default());
        state.schema_registries.insert(
            "src".into(),
            registry_with(
                &[
                    (
                        "orders-value",
                        vec![version(1, 1, "\"string\""), version(2, 2, "\"int\"")],
                    ),
                    ("legacy", vec![version(1, 3, "\"long\"")]),
                ],
                Some("READWRITE"),
            ),
        );
        // Id 1 is the same schema (whitespace aside), id 2 another one.
        state.schema_registries.insert(
            "dst".into(),
            registry_with(
                &[(
                    "x",
                    vec![version(1, 1, " \"string\" "), version(2, 2, "\"bytes\"")],
                )],
                None,
            ),
        );
        let (p, risks) = plan(&state, &cluster, "src", Some("dst")).unwrap();
        assert_eq!((p.subjects, p.versions, p.schema_ids), (2, 3, 3));
        assert_eq!(p.rows[1].topic.as_deref(), Some("orders"));
        assert_eq!(p.rows[1].id_conflicts, [2]);
        let kinds: Vec<&str> = risks.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                "schema_id_collision",
                "schema_registry_no_import_mode",
                "schema_subject_without_topic"
            ]
        );
        assert!(risks[2].reason.contains("legacy"));
        assert!(matches!(
            plan(&state, &cluster, "nope", None),
            Err(ReportError::UnknownRegistry { .. })
        ));
    }
}
