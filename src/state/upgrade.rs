//! Upgrades of older state files: ordered, pure steps over raw JSON.
//!
//! Each step turns the layout of schema version `from` into `from + 1`. Steps
//! never touch the disk or the clock; the caller supplies `now` and decides
//! whether to write the result (`kcp state upgrade` does, after a `.bak`
//! copy; other commands upgrade in memory only). Every historical version has
//! a fixture under `tests/fixtures/state/` that the tests upgrade.
//!
//! Versions:
//! - **0**: the pre-release layout written by kcp 0.0.x development builds:
//!   no `schema_version`, a `kcp_version` string, a single `timestamp`,
//!   `regions` and `clusters` as lists, bootstrap servers as one
//!   comma-separated string and topics with a bare partition count.
//! - **1**: kcp 0.1: MSK regions and scanned clusters.
//! - **2**: adds `schema_registries` (`kcp scan schema-registry`). A
//!   version 1 file has none, so the step only moves the version; a kcp that
//!   reads up to 1 refuses a version 2 file with a clear message instead of
//!   an "unknown field" error.
//! - **3**: adds `connect_clusters` (`kcp scan connectors`); the step only
//!   moves the version, as 1 → 2.
//! - **4**: adds `client_quotas` to scanned clusters; a version 3 file has
//!   none, so the step only moves the version (after checking that no
//!   cluster has quotas already).
//! - **5**: the current layout ([`super::model`]): adds `msk_connectors` and
//!   `glue_registries` to MSK regions (`kcp discover`); a version 4 file has
//!   none, so the step only moves the version (after checking that no region
//!   has them already).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::model::CURRENT_SCHEMA_VERSION;

/// A step failed because the input does not have the layout of its version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot upgrade from schema version {from}: {pointer}: {message}")]
pub struct UpgradeError {
    pub from: u32,
    /// JSON pointer of the offending value.
    pub pointer: String,
    pub message: String,
}

type StepFn = fn(Value, DateTime<Utc>) -> Result<Value, UpgradeError>;

/// One upgrade step.
pub(crate) struct Step {
    pub from: u32,
    pub description: &'static str,
    apply: StepFn,
}

/// All steps, in order. `STEPS[i].from == i`.
pub(crate) const STEPS: &[Step] = &[
    Step {
        from: 0,
        description: "pre-release layout: lists become maps keyed by name, timestamps split into created_at/updated_at",
        apply: v0_to_v1,
    },
    Step {
        from: 1,
        description: "adds schema_registries (kcp scan schema-registry); nothing else changes",
        apply: v1_to_v2,
    },
    Step {
        from: 2,
        description: "adds connect_clusters (kcp scan connectors); nothing else changes",
        apply: v2_to_v3,
    },
    Step {
        from: 3,
        description: "adds client_quotas to scanned clusters (kcp scan clusters); nothing else changes",
        apply: v3_to_v4,
    },
    Step {
        from: 4,
        description: "adds msk_connectors and glue_registries to MSK regions (kcp discover); nothing else changes",
        apply: v4_to_v5,
    },
];

/// Reads the schema version of a raw document. Version 0 files have no
/// `schema_version` but carry `kcp_version`.
pub(crate) fn detect_version(doc: &Value) -> Result<u32, String> {
    let obj = doc
        .as_object()
        .ok_or_else(|| "the top level must be a JSON object".to_owned())?;
    match obj.get("schema_version") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                format!("`schema_version` must be a small non-negative integer, found {n}")
            }),
        Some(other) => Err(format!(
            "`schema_version` must be an integer, found {}",
            type_name(other)
        )),
        None if obj.contains_key("kcp_version") => Ok(0),
        None => {
            Err("no `schema_version` field: this does not look like a kcp state file".to_owned())
        }
    }
}

/// Applies every step from `from` up to the current version.
/// Returns the upgraded document and the versions it went through.
pub(crate) fn upgrade(
    mut doc: Value,
    from: u32,
    now: DateTime<Utc>,
) -> Result<Value, UpgradeError> {
    for step in STEPS.iter().skip(from as usize) {
        doc = (step.apply)(doc, now)?;
        record(&mut doc, step.from, now);
    }
    debug_assert_eq!(doc["schema_version"], json!(CURRENT_SCHEMA_VERSION));
    Ok(doc)
}

fn record(doc: &mut Value, from: u32, now: DateTime<Utc>) {
    let entry = json!({
        "from": from,
        "to": from + 1,
        "at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "by": crate::VERSION,
    });
    if let Some(obj) = doc.as_object_mut()
        && let Some(upgrades) = obj
            .entry("upgrades")
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
    {
        upgrades.push(entry);
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn err(from: u32, pointer: impl Into<String>, message: impl Into<String>) -> UpgradeError {
    UpgradeError {
        from,
        pointer: pointer.into(),
        message: message.into(),
    }
}

fn take_array(
    obj: &mut Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Vec<Value>, UpgradeError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(err(
            0,
            format!("{at}/{key}"),
            format!("expected an array, found {}", type_name(&other)),
        )),
    }
}

fn take_name(obj: &mut Map<String, Value>, at: &str) -> Result<String, UpgradeError> {
    match obj.remove("name") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(err(0, format!("{at}/name"), "expected a non-empty string")),
    }
}

fn as_object(v: Value, at: &str) -> Result<Map<String, Value>, UpgradeError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(err(
            0,
            at,
            format!("expected an object, found {}", type_name(&other)),
        )),
    }
}

/// v0 → v1.
fn v0_to_v1(doc: Value, _now: DateTime<Utc>) -> Result<Value, UpgradeError> {
    let mut root = as_object(doc, "")?;
    let version = match root.remove("kcp_version") {
        Some(Value::String(s)) => s,
        _ => return Err(err(0, "/kcp_version", "expected a string")),
    };
    let timestamp = root
        .remove("timestamp")
        .ok_or_else(|| err(0, "/timestamp", "missing"))?;

    let mut regions = Map::new();
    for (i, region) in take_array(&mut root, "regions", "")?
        .into_iter()
        .enumerate()
    {
        let at = format!("/regions/{i}");
        let mut region = as_object(region, &at)?;
        let name = take_name(&mut region, &at)?;
        let mut clusters = Map::new();
        for (j, cluster) in take_array(&mut region, "clusters", &at)?
            .into_iter()
            .enumerate()
        {
            let cat = format!("{at}/clusters/{j}");
            let mut c = as_object(cluster, &cat)?;
            let arn = match c.get("arn") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(err(0, format!("{cat}/arn"), "expected a string")),
            };
            // v0 had a free-form `type`; v1 has a closed enum.
            let kind = match c.remove("type").as_ref().and_then(Value::as_str) {
                Some("SERVERLESS") | Some("serverless") => "serverless",
                _ => "provisioned",
            };
            c.insert("cluster_type".into(), json!(kind));
            c.entry("state").or_insert_with(|| json!("UNKNOWN"));
            for key in [
                "created_at",
                "kafka_version",
                "broker_count",
                "instance_type",
                "storage_gb_per_broker",
            ] {
                c.entry(key).or_insert(Value::Null);
            }
            clusters.insert(arn, Value::Object(c));
        }
        regions.insert(
            name,
            json!({ "discovered_at": timestamp.clone(), "clusters": clusters }),
        );
    }

    let mut clusters = Map::new();
    for (i, cluster) in take_array(&mut root, "clusters", "")?
        .into_iter()
        .enumerate()
    {
        let at = format!("/clusters/{i}");
        let mut c = as_object(cluster, &at)?;
        let name = take_name(&mut c, &at)?;
        let servers: Vec<Value> = match c.remove("bootstrap_servers") {
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!(s))
                .collect(),
            _ => {
                return Err(err(
                    0,
                    format!("{at}/bootstrap_servers"),
                    "expected a comma-separated string",
                ));
            }
        };
        let mut topics = Map::new();
        for (j, topic) in take_array(&mut c, "topics", &at)?.into_iter().enumerate() {
            let tat = format!("{at}/topics/{j}");
            let mut t = as_object(topic, &tat)?;
            let tname = take_name(&mut t, &tat)?;
            let count = t
                .get("partitions")
                .and_then(Value::as_u64)
                .ok_or_else(|| err(0, format!("{tat}/partitions"), "expected a partition count"))?;
            let rf = t
                .get("replication_factor")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let partitions: Vec<Value> = (0..count)
                .map(|id| json!({ "id": id, "leader": null, "earliest_offset": null, "latest_offset": null }))
                .collect();
            // v0 stored configs as plain strings; their source was not recorded.
            let mut configs = Map::new();
            if let Some(Value::Object(cfg)) = t.remove("configs") {
                for (k, v) in cfg {
                    let value = match v {
                        Value::String(s) => json!(s),
                        Value::Null => Value::Null,
                        other => json!(other.to_string()),
                    };
                    configs.insert(k, json!({ "value": value, "source": "unknown" }));
                }
            }
            let kind = if tname.starts_with("__") {
                "internal"
            } else {
                "user"
            };
            topics.insert(
                tname,
                json!({ "kind": kind, "replication_factor": rf, "partitions": partitions, "configs": configs }),
            );
        }
        clusters.insert(
            name,
            json!({
                "bootstrap_servers": servers,
                "auth_method": c.remove("auth").unwrap_or_else(|| json!("unknown")),
                "cluster_id": c.remove("cluster_id").unwrap_or(Value::Null),
                "controller_id": null,
                "kafka_version": null,
                "scanned_at": timestamp.clone(),
                "topics": topics,
            }),
        );
    }

    let mut out = Map::new();
    out.insert("schema_version".into(), json!(1));
    out.insert("created_at".into(), timestamp.clone());
    out.insert("updated_at".into(), timestamp);
    out.insert(
        "written_by".into(),
        json!({ "name": "kcp", "version": version }),
    );
    out.insert("msk_regions".into(), Value::Object(regions));
    out.insert("clusters".into(), Value::Object(clusters));
    if let Some((key, _)) = root.into_iter().next() {
        return Err(err(
            0,
            format!("/{key}"),
            "unknown field in a version 0 file",
        ));
    }
    Ok(Value::Object(out))
}

/// v1 → v2: the layout is the same; `schema_registries` is new and empty.
fn v1_to_v2(doc: Value, _now: DateTime<Utc>) -> Result<Value, UpgradeError> {
    add_empty_section(doc, 1, "schema_registries", "schema registries")
}

/// v2 → v3: the layout is the same; `connect_clusters` is new and empty.
fn v2_to_v3(doc: Value, _now: DateTime<Utc>) -> Result<Value, UpgradeError> {
    add_empty_section(doc, 2, "connect_clusters", "Connect clusters")
}

/// v3 → v4: the layout is the same; clusters may now hold `client_quotas`.
fn v3_to_v4(doc: Value, _now: DateTime<Utc>) -> Result<Value, UpgradeError> {
    if let Some(clusters) = doc.get("clusters").and_then(Value::as_object) {
        for (name, cluster) in clusters {
            if cluster.get("client_quotas").is_some() {
                return Err(err(
                    3,
                    format!(
                        "/clusters/{}/client_quotas",
                        name.replace('~', "~0").replace('/', "~1")
                    ),
                    "a version 3 file has no client quotas (was the version edited by hand?)",
                ));
            }
        }
    }
    let mut doc = doc;
    match doc.as_object_mut() {
        Some(root) => {
            root.insert("schema_version".into(), json!(4));
            Ok(doc)
        }
        None => Err(err(
            3,
            "",
            format!("expected an object, found {}", type_name(&doc)),
        )),
    }
}

/// v4 → v5: the layout is the same; MSK regions may now hold
/// `msk_connectors` and `glue_registries`.
fn v4_to_v5(doc: Value, _now: DateTime<Utc>) -> Result<Value, UpgradeError> {
    if let Some(regions) = doc.get("msk_regions").and_then(Value::as_object) {
        for (name, region) in regions {
            for key in ["msk_connectors", "glue_registries"] {
                if region.get(key).is_some() {
                    return Err(err(
                        4,
                        format!(
                            "/msk_regions/{}/{key}",
                            name.replace('~', "~0").replace('/', "~1")
                        ),
                        "a version 4 file has no MSK Connect connectors or Glue registries (was the version edited by hand?)",
                    ));
                }
            }
        }
    }
    let mut doc = doc;
    match doc.as_object_mut() {
        Some(root) => {
            root.insert("schema_version".into(), json!(5));
            Ok(doc)
        }
        None => Err(err(
            4,
            "",
            format!("expected an object, found {}", type_name(&doc)),
        )),
    }
}

/// A step that only moves the version of a file that cannot yet hold `key`.
fn add_empty_section(doc: Value, from: u32, key: &str, what: &str) -> Result<Value, UpgradeError> {
    let mut root = match doc {
        Value::Object(m) => m,
        other => {
            return Err(err(
                from,
                "",
                format!("expected an object, found {}", type_name(&other)),
            ));
        }
    };
    if root.contains_key(key) {
        return Err(err(
            from,
            format!("/{key}"),
            format!("a version {from} file has no {what} (was the version edited by hand?)"),
        ));
    }
    root.insert("schema_version".into(), json!(from + 1));
    Ok(Value::Object(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_contiguous_and_end_at_current() {
        for (i, step) in STEPS.iter().enumerate() {
            assert_eq!(step.from as usize, i);
            assert!(!step.description.is_empty());
        }
        assert_eq!(STEPS.len() as u32, CURRENT_SCHEMA_VERSION);
    }

    #[test]
    fn detects_versions() {
        assert_eq!(detect_version(&json!({"schema_version": 1})), Ok(1));
        assert_eq!(detect_version(&json!({"kcp_version": "0.0.3"})), Ok(0));
        assert!(
            detect_version(&json!({}))
                .unwrap_err()
                .contains("does not look like")
        );
        assert!(detect_version(&json!([])).unwrap_err().contains("object"));
        assert!(
            detect_version(&json!({"schema_version": "1"}))
                .unwrap_err()
                .contains("integer")
        );
    }

    #[test]
    fn v1_upgrades_to_v2_unchanged_but_for_the_version() {
        let doc = json!({"schema_version": 1, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "written_by": {"name": "kcp", "version": "0.1.0"},
            "clusters": {"a": {"bootstrap_servers": ["h:9092"], "auth_method": "plaintext"}}});
        let now = Utc::now();
        let up = upgrade(doc.clone(), 1, now).unwrap();
        assert_eq!(up["schema_version"], json!(CURRENT_SCHEMA_VERSION));
        assert_eq!(up["clusters"], doc["clusters"]);
        assert_eq!(up["upgrades"][0]["from"], json!(1));
        assert_eq!(up["upgrades"][0]["to"], json!(2));
        let e = upgrade(
            json!({"schema_version": 1, "schema_registries": {}}),
            1,
            now,
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/schema_registries");
    }

    #[test]
    fn v2_upgrades_to_v3_unchanged_but_for_the_version() {
        let doc = json!({"schema_version": 2, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "written_by": {"name": "kcp", "version": "0.1.0"},
            "schema_registries": {"sr": {"url": "http://sr:8081", "auth_method": "none",
                "scanned_at": null, "subjects": {}}}});
        let now = Utc::now();
        let up = upgrade(doc.clone(), 2, now).unwrap();
        assert_eq!(up["schema_version"], json!(CURRENT_SCHEMA_VERSION));
        assert_eq!(up["schema_registries"], doc["schema_registries"]);
        assert_eq!(up["upgrades"][0]["from"], json!(2));
        assert_eq!(up["upgrades"][0]["to"], json!(3));
        let typed: crate::state::State = serde_json::from_value(up).unwrap();
        assert!(typed.connect_clusters.is_empty());
        let e = upgrade(json!({"schema_version": 2, "connect_clusters": {}}), 2, now).unwrap_err();
        assert_eq!(e.pointer, "/connect_clusters");
    }

    #[test]
    fn v3_upgrades_to_v4_unchanged_but_for_the_version() {
        let doc = json!({"schema_version": 3, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "written_by": {"name": "kcp", "version": "0.1.0"},
            "clusters": {"a": {"bootstrap_servers": ["h:9092"], "auth_method": "plaintext",
                "cluster_id": null, "controller_id": null, "kafka_version": null, "scanned_at": null}}});
        let now = Utc::now();
        let up = upgrade(doc.clone(), 3, now).unwrap();
        assert_eq!(up["schema_version"], json!(CURRENT_SCHEMA_VERSION));
        assert_eq!(up["clusters"], doc["clusters"]);
        assert_eq!(up["upgrades"][0]["from"], json!(3));
        assert_eq!(up["upgrades"][0]["to"], json!(4));
        let typed: crate::state::State = serde_json::from_value(up).unwrap();
        assert!(typed.clusters["a"].client_quotas.is_empty());
        let e = upgrade(
            json!({"schema_version": 3, "clusters": {"a/b": {"client_quotas": []}}}),
            3,
            now,
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/clusters/a~1b/client_quotas");
    }

    #[test]
    fn v4_upgrades_to_v5_unchanged_but_for_the_version() {
        let doc = json!({"schema_version": 4, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-02T00:00:00Z", "written_by": {"name": "kcp", "version": "0.1.0"},
            "msk_regions": {"us-east-1": {"discovered_at": "2026-01-02T00:00:00Z", "clusters": {}}}});
        let now = Utc::now();
        let up = upgrade(doc.clone(), 4, now).unwrap();
        assert_eq!(up["schema_version"], json!(5));
        assert_eq!(up["msk_regions"], doc["msk_regions"]);
        assert_eq!(up["upgrades"][0]["from"], json!(4));
        assert_eq!(up["upgrades"][0]["to"], json!(5));
        let typed: crate::state::State = serde_json::from_value(up).unwrap();
        let region = &typed.msk_regions["us-east-1"];
        assert!(region.msk_connectors.is_empty() && region.glue_registries.is_empty());
        let e = upgrade(
            json!({"schema_version": 4, "msk_regions": {"eu-west-1": {"glue_registries": {}}}}),
            4,
            now,
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/msk_regions/eu-west-1/glue_registries");
    }

    #[test]
    fn v0_bad_layout_names_the_pointer() {
        let doc = json!({"kcp_version": "0.0.1", "timestamp": "2025-01-01T00:00:00Z",
            "clusters": [{"name": "a", "bootstrap_servers": 5}]});
        let e = upgrade(doc, 0, Utc::now()).unwrap_err();
        assert_eq!(e.pointer, "/clusters/0/bootstrap_servers");
    }
}
