//! `kcp migrate schemas`: copies subjects and their versions from one
//! registry to another keeping every schema id, references first, target
//! subjects in IMPORT mode for the copy; then verifies.
//!
//! Idempotent and resumable: what the target already holds (same subject,
//! version, id and schema) is skipped, so a run that stopped half-way is
//! finished by running it again. Nothing is written while any id the copy
//! needs holds a different schema on the target.

use std::collections::{BTreeMap, BTreeSet};

use hyper::Method;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SchemaRegistryError as Error;
use super::client::{Registry, seg};
use super::scan::{self, RawVersion};
use crate::state::SchemaVersion;

/// What to copy and how.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// Only subjects matching (default: all).
    pub include: Option<Regex>,
    /// Leave out subjects matching.
    pub exclude: Option<Regex>,
    /// Check and list, write nothing.
    pub dry_run: bool,
    /// Only compare source and target.
    pub verify_only: bool,
    /// For a target without IMPORT mode (Apicurio's Confluent API): register
    /// without an explicit id and stop (undoing that version) at the first
    /// id the target assigns differently.
    pub without_import_mode: bool,
}

/// One subject version to copy.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema_type: String,
    /// What happened to it.
    pub outcome: Outcome,
}

/// What the copy did with one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Copied,
    AlreadyThere,
    WouldCopy,
    Verified,
}

/// A difference the verify step found.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub subject: String,
    pub version: u32,
    pub problem: String,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub source: String,
    pub target: String,
    /// In the order copied (references first).
    pub items: Vec<Item>,
    /// Subjects copied only because a selected schema references them.
    pub added_for_references: Vec<String>,
    /// Subject compatibility levels set on the target.
    pub compatibility_set: Vec<String>,
    pub mismatches: Vec<Mismatch>,
}

/// A conflict that stops the copy before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub problem: String,
}

#[derive(Debug, Deserialize)]
struct RawSchema {
    schema: String,
    #[serde(default, rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<scan::RawReference>>,
}

#[derive(Debug, Deserialize)]
struct Registered {
    id: u32,
}

/// The text compared by the verify step: JSON (Avro, JSON Schema) without
/// insignificant whitespace, Protobuf without trailing blanks per line.
pub fn canonical(schema_type: &str, text: &str) -> String {
    if schema_type != "PROTOBUF"
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return v.to_string();
    }
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

fn same(
    a: &SchemaVersion,
    schema_type: &str,
    schema: &str,
    refs: &[(String, String, u32)],
) -> bool {
    let a_refs: Vec<(String, String, u32)> = a
        .references
        .iter()
        .map(|r| (r.name.clone(), r.subject.clone(), r.version))
        .collect();
    a.schema_type == schema_type
        && canonical(&a.schema_type, &a.schema) == canonical(schema_type, schema)
        && a_refs == refs
}

fn raw_refs(refs: Option<Vec<scan::RawReference>>) -> Vec<(String, String, u32)> {
    refs.unwrap_or_default()
        .into_iter()
        .map(|r| (r.name, r.subject, r.version))
        .collect()
}

/// Orders versions so that every version comes after the versions it
/// references and after the earlier versions of its subject; among those
/// ready, the lowest id first.
pub fn order(
    all: &BTreeMap<String, Vec<SchemaVersion>>,
) -> Result<Vec<(String, SchemaVersion)>, String> {
    let key = |s: &str, v: u32| (s.to_owned(), v);
    let mut deps: BTreeMap<(String, u32), BTreeSet<(String, u32)>> = BTreeMap::new();
    for (subject, versions) in all {
        let mut previous: Option<u32> = None;
        for v in versions {
            let mut d = BTreeSet::new();
            if let Some(p) = previous {
                d.insert(key(subject, p));
            }
            for r in &v.references {
                if all
                    .get(&r.subject)
                    .is_some_and(|vs| vs.iter().any(|x| x.version == r.version))
                {
                    d.insert(key(&r.subject, r.version));
                }
            }
            deps.insert(key(subject, v.version), d);
            previous = Some(v.version);
        }
    }
    let lookup: BTreeMap<(String, u32), &SchemaVersion> = all
        .iter()
        .flat_map(|(s, vs)| vs.iter().map(move |v| (key(s, v.version), v)))
        .collect();
    let mut done: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut out = Vec::new();
    while done.len() < deps.len() {
        let next = deps
            .iter()
            .filter(|(k, d)| !done.contains(*k) && d.iter().all(|x| done.contains(x)))
            .min_by_key(|(k, _)| (lookup[*k].id, (*k).clone()))
            .map(|(k, _)| k.clone());
        let Some(k) = next else {
            let stuck: Vec<String> = deps
                .keys()
                .filter(|k| !done.contains(*k))
                .map(|(s, v)| format!("{s} v{v}"))
                .collect();
            return Err(format!(
                "references form a cycle among {}",
                stuck.join(", ")
            ));
        };
        out.push((k.0.clone(), lookup[&k].clone()));
        done.insert(k);
    }
    Ok(out)
}

/// Runs the copy (or the dry run, or the verification).
pub async fn run(
    source: &Registry,
    target: &Registry,
    req: &CopyRequest,
) -> Result<CopyReport, Error> {
    // 1. What to copy: the selected subjects and every subject they reference.
    let names = scan::subjects(source).await?;
    let selected: Vec<String> = names
        .iter()
        .filter(|s| req.include.as_ref().is_none_or(|r| r.is_match(s)))
        .filter(|s| !req.exclude.as_ref().is_some_and(|r| r.is_match(s)))
        .cloned()
        .collect();
    if selected.is_empty() {
        return Err(Error::NothingSelected {
            registry: source.name.clone(),
            subjects: names.len(),
        });
    }
    let mut all: BTreeMap<String, Vec<SchemaVersion>> = BTreeMap::new();
    let mut added = Vec::new();
    let mut queue: Vec<String> = selected.clone();
    while let Some(subject) = queue.pop() {
        if all.contains_key(&subject) {
            continue;
        }
        let versions = scan::versions(source, &subject).await?;
        for v in &versions {
            for r in &v.references {
                if !all.contains_key(&r.subject) && !queue.contains(&r.subject) {
                    if !selected.contains(&r.subject) && !added.contains(&r.subject) {
                        added.push(r.subject.clone());
                    }
                    queue.push(r.subject.clone());
                }
            }
        }
        all.insert(subject, versions);
    }
    added.sort();
    let ordered = order(&all).map_err(|message| Error::Source {
        registry: source.name.clone(),
        message,
    })?;

    let mut report = CopyReport {
        source: source.name.clone(),
        target: target.name.clone(),
        items: Vec::new(),
        added_for_references: added,
        compatibility_set: Vec::new(),
        mismatches: Vec::new(),
    };
    let item = |subject: &str, v: &SchemaVersion, outcome| Item {
        subject: subject.to_owned(),
        version: v.version,
        id: v.id,
        schema_type: v.schema_type.clone(),
        outcome,
    };

    if req.verify_only {
        report.mismatches = verify(target, &ordered).await?;
        report.items = ordered
            .iter()
            .map(|(s, v)| item(s, v, Outcome::Verified))
            .collect();
        return Ok(report);
    }

    // 2. What the target holds: done already, free, or in the way.
    let mut todo = Vec::new();
    let mut conflicts = Vec::new();
    for (subject, v) in &ordered {
        let refs: Vec<(String, String, u32)> = v
            .references
            .iter()
            .map(|r| (r.name.clone(), r.subject.clone(), r.version))
            .collect();
        let path = format!("/subjects/{}/versions/{}", seg(subject), v.version);
        if let Ok(there) = target.get_or_fail::<RawVersion>(&path).await? {
            let ty = there.schema_type.clone().unwrap_or_else(|| "AVRO".into());
            if there.id == v.id && same(v, &ty, &there.schema, &raw_refs(there.references)) {
                report.items.push(item(subject, v, Outcome::AlreadyThere));
                continue;
            }
            conflicts.push(Conflict {
                subject: subject.clone(),
                version: v.version,
                id: v.id,
                problem: if there.id == v.id {
                    "the target has this subject version with the same id but a different schema".into()
                } else {
                    format!(
                        "the target already has this subject version, under id {} (the source's is {})",
                        there.id, v.id
                    )
                },
            });
            continue;
        }
        match target
            .get_or_fail::<RawSchema>(&format!("/schemas/ids/{}", v.id))
            .await?
        {
            Ok(there) => {
                let ty = there.schema_type.clone().unwrap_or_else(|| "AVRO".into());
                let there_refs = raw_refs(there.references);
                // Some registries leave references out of this answer.
                let refs_fit = there_refs == refs || there_refs.is_empty();
                if !(v.schema_type == ty
                    && canonical(&ty, &there.schema) == canonical(&v.schema_type, &v.schema)
                    && refs_fit)
                {
                    conflicts.push(Conflict {
                        subject: subject.clone(),
                        version: v.version,
                        id: v.id,
                        problem: format!(
                            "id {} already holds a different schema on the target",
                            v.id
                        ),
                    });
                    continue;
                }
            }
            Err(f) if f.status == 404 => {}
            Err(f) => return Err(target.api(Method::GET, &format!("/schemas/ids/{}", v.id), f)),
        }
        todo.push((subject.clone(), v.clone()));
    }
    if !conflicts.is_empty() {
        return Err(Error::Conflicts {
            registry: target.name.clone(),
            conflicts,
        });
    }
    if req.dry_run {
        report
            .items
            .extend(todo.iter().map(|(s, v)| item(s, v, Outcome::WouldCopy)));
        return Ok(report);
    }

    // 3. Target subjects into IMPORT mode, the copy, and the modes back.
    let subjects: Vec<String> = todo
        .iter()
        .map(|(s, _)| s.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut prior_modes: BTreeMap<String, Option<String>> = BTreeMap::new();
    if !req.without_import_mode && !todo.is_empty() {
        for subject in &subjects {
            let prior = scan::subject_mode(target, subject).await?;
            let path = format!("/mode/{}?force=true", seg(subject));
            let put = target
                .send_or_fail::<Value>(Method::PUT, &path, Some(&json!({"mode": "IMPORT"})))
                .await;
            match put {
                Ok(Ok(_)) => {
                    prior_modes.insert(subject.clone(), prior);
                }
                Ok(Err(f)) => {
                    restore_modes(target, &prior_modes).await;
                    return Err(Error::NoImportMode {
                        registry: target.name.clone(),
                        message: format!("PUT /mode/{subject}: {} ({})", f.message, f.status),
                    });
                }
                Err(e) => {
                    restore_modes(target, &prior_modes).await;
                    return Err(e);
                }
            }
        }
    }
    let copied = copy_items(target, &todo, req.without_import_mode).await;
    restore_modes(target, &prior_modes).await;
    copied?;
    report
        .items
        .extend(todo.iter().map(|(s, v)| item(s, v, Outcome::Copied)));

    // 4. Subject compatibility levels that the source overrides.
    for subject in all.keys() {
        let Some(level) = scan::subject_compatibility(source, subject).await? else {
            continue;
        };
        if scan::subject_compatibility(target, subject)
            .await?
            .as_deref()
            == Some(level.as_str())
        {
            continue;
        }
        target
            .send::<Value>(
                Method::PUT,
                &format!("/config/{}", seg(subject)),
                Some(&json!({"compatibility": level})),
            )
            .await?;
        report.compatibility_set.push(format!("{subject}={level}"));
    }

    // 5. Verify.
    report.mismatches = verify(target, &ordered).await?;
    Ok(report)
}

async fn copy_items(
    target: &Registry,
    todo: &[(String, SchemaVersion)],
    without_import_mode: bool,
) -> Result<(), Error> {
    for (subject, v) in todo {
        let mut body = json!({
            "schema": v.schema,
            "schemaType": v.schema_type,
            "references": v.references.iter().map(|r| json!({"name": r.name, "subject": r.subject, "version": r.version})).collect::<Vec<_>>(),
        });
        if !without_import_mode {
            body["id"] = json!(v.id);
            body["version"] = json!(v.version);
        }
        let path = format!("/subjects/{}/versions", seg(subject));
        let got: Registered = target.send(Method::POST, &path, Some(&body)).await?;
        if got.id != v.id {
            // Undo the version just registered under the wrong id.
            let mut undone = false;
            if let Ok(Ok(latest)) = target
                .get_or_fail::<RawVersion>(&format!("/subjects/{}/versions/latest", seg(subject)))
                .await
                && latest.id == got.id
            {
                let one = format!("/subjects/{}/versions/{}", seg(subject), latest.version);
                let soft = target
                    .send_or_fail::<Value>(Method::DELETE, &one, None)
                    .await;
                let hard = target
                    .send_or_fail::<Value>(Method::DELETE, &format!("{one}?permanent=true"), None)
                    .await;
                undone = matches!((soft, hard), (Ok(Ok(_)), Ok(Ok(_))));
            }
            return Err(Error::IdNotKept {
                registry: target.name.clone(),
                subject: subject.clone(),
                version: v.version,
                wanted: v.id,
                got: got.id,
                undone,
            });
        }
    }
    Ok(())
}

/// Puts each subject's mode back: its own earlier mode, or the global one.
async fn restore_modes(target: &Registry, prior: &BTreeMap<String, Option<String>>) {
    for (subject, mode) in prior {
        let path = format!("/mode/{}", seg(subject));
        let result = match mode.as_deref() {
            Some(m) if m != "IMPORT" => {
                target
                    .send_or_fail::<Value>(
                        Method::PUT,
                        &format!("{path}?force=true"),
                        Some(&json!({"mode": m})),
                    )
                    .await
            }
            _ => {
                target
                    .send_or_fail::<Value>(Method::DELETE, &path, None)
                    .await
            }
        };
        if !matches!(result, Ok(Ok(_))) {
            tracing::warn!(registry = %target.name, %subject, "could not put the subject's mode back; check `GET /mode/{subject}`");
        }
    }
}

/// Compares every version on the target with the source's.
pub async fn verify(
    target: &Registry,
    ordered: &[(String, SchemaVersion)],
) -> Result<Vec<Mismatch>, Error> {
    let mut out = Vec::new();
    for (subject, v) in ordered {
        let path = format!("/subjects/{}/versions/{}", seg(subject), v.version);
        let problem = match target.get_or_fail::<RawVersion>(&path).await? {
            Err(f) if f.status == 404 => Some("missing on the target".to_owned()),
            Err(f) => return Err(target.api(Method::GET, &path, f)),
            Ok(there) => {
                let ty = there.schema_type.clone().unwrap_or_else(|| "AVRO".into());
                if there.id != v.id {
                    Some(format!(
                        "id {} on the target, {} on the source",
                        there.id, v.id
                    ))
                } else if ty != v.schema_type {
                    Some(format!(
                        "type {ty} on the target, {} on the source",
                        v.schema_type
                    ))
                } else if canonical(&ty, &there.schema) != canonical(&v.schema_type, &v.schema) {
                    Some("the schema text differs".to_owned())
                } else if !same(v, &ty, &there.schema, &raw_refs(there.references)) {
                    Some("the references differ".to_owned())
                } else {
                    None
                }
            }
        };
        if let Some(problem) = problem {
            out.push(Mismatch {
                subject: subject.clone(),
                version: v.version,
                problem,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SchemaReference;

    fn v(version: u32, id: u32, refs: &[(&str, u32)]) -> SchemaVersion {
        SchemaVersion {
            version,
            id,
            schema_type: "AVRO".into(),
            references: refs
                .iter()
                .map(|(s, v)| SchemaReference {
                    name: format!("{s}.name"),
                    subject: (*s).into(),
                    version: *v,
                })
                .collect(),
            schema: "\"string\"".into(),
        }
    }

    #[test]
    fn references_come_first_then_lowest_id() {
        let mut all = BTreeMap::new();
        // `a` references `z` v1, which has a higher id than `a`.
        all.insert("a".to_owned(), vec![v(1, 1, &[("z", 1)]), v(2, 4, &[])]);
        all.insert("z".to_owned(), vec![v(1, 3, &[])]);
        all.insert("m".to_owned(), vec![v(1, 2, &[])]);
        let got: Vec<String> = order(&all)
            .unwrap()
            .into_iter()
            .map(|(s, v)| format!("{s}{}", v.version))
            .collect();
        assert_eq!(got, ["m1", "z1", "a1", "a2"]);
    }

    #[test]
    fn a_cycle_is_reported() {
        let mut all = BTreeMap::new();
        all.insert("a".to_owned(), vec![v(1, 1, &[("b", 1)])]);
        all.insert("b".to_owned(), vec![v(1, 2, &[("a", 1)])]);
        assert!(order(&all).unwrap_err().contains("cycle"));
    }

    #[test]
    fn canonical_ignores_whitespace_only() {
        assert_eq!(
            canonical("AVRO", "{ \"type\" : \"string\" }"),
            canonical("AVRO", "{\"type\":\"string\"}")
        );
        assert_ne!(
            canonical("AVRO", "{\"type\":\"string\"}"),
            canonical("AVRO", "{\"type\":\"int\"}")
        );
        assert_eq!(
            canonical("PROTOBUF", "syntax = \"proto3\";  \nmessage A {}\n"),
            "syntax = \"proto3\";\nmessage A {}"
        );
    }
}
