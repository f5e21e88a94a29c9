//! `kcp scan schema-registry`: reads a registry's subjects, versions, ids,
//! schema types, references, compatibility levels, modes and contexts
//! through the Confluent Schema Registry API.

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;

use super::SchemaRegistryError as Error;
use super::client::{Registry, seg};
use crate::state::{SchemaReference, SchemaRegistry, SchemaVersion, Subject, Warning};

/// Requests in flight at once against one registry.
const PARALLEL: usize = 8;

/// One version as `GET /subjects/{s}/versions/{v}` returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct RawVersion {
    pub id: u32,
    pub version: u32,
    pub schema: String,
    #[serde(default, rename = "schemaType")]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<RawReference>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawReference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

impl RawVersion {
    pub(crate) fn into_state(self) -> SchemaVersion {
        SchemaVersion {
            version: self.version,
            id: self.id,
            schema_type: self.schema_type.unwrap_or_else(|| "AVRO".to_owned()),
            references: self
                .references
                .unwrap_or_default()
                .into_iter()
                .map(|r| SchemaReference {
                    name: r.name,
                    subject: r.subject,
                    version: r.version,
                })
                .collect(),
            schema: self.schema,
        }
    }
}

/// `GET /config` answers `compatibilityLevel` (Confluent) or `compatibility`.
#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default, rename = "compatibilityLevel")]
    level: Option<String>,
    #[serde(default)]
    compatibility: Option<String>,
}

impl RawConfig {
    fn level(self) -> Option<String> {
        self.level.or(self.compatibility)
    }
}

#[derive(Debug, Deserialize)]
struct RawMode {
    mode: String,
}

/// The subjects of a registry (not soft-deleted ones). Also the check that
/// the URL is a Schema Registry at all.
pub(crate) async fn subjects(reg: &Registry) -> Result<Vec<String>, Error> {
    match reg.get_or_fail::<Vec<String>>("/subjects").await? {
        Ok(subjects) => Ok(subjects),
        Err(f) if f.status == 404 => Err(Error::NotARegistry {
            registry: reg.name.clone(),
            url: reg.url().to_owned(),
            detail: format!("`/subjects` answered 404 ({})", f.message),
        }),
        Err(f) => Err(reg.api(hyper::Method::GET, "/subjects", f)),
    }
}

/// Every version of `subject`, oldest first.
pub(crate) async fn versions(reg: &Registry, subject: &str) -> Result<Vec<SchemaVersion>, Error> {
    let numbers: Vec<u32> = reg
        .get(&format!("/subjects/{}/versions", seg(subject)))
        .await?;
    let mut out: Vec<SchemaVersion> = stream::iter(numbers)
        .map(|v| async move {
            reg.get::<RawVersion>(&format!("/subjects/{}/versions/{v}", seg(subject)))
                .await
                .map(RawVersion::into_state)
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    out.sort_by_key(|v| v.version);
    Ok(out)
}

/// The subject's own compatibility level, if it has one.
pub(crate) async fn subject_compatibility(
    reg: &Registry,
    subject: &str,
) -> Result<Option<String>, Error> {
    Ok(reg
        .get_or_fail::<RawConfig>(&format!("/config/{}?defaultToGlobal=false", seg(subject)))
        .await?
        .ok()
        .and_then(RawConfig::level))
}

/// The subject's own mode, if it has one (`None` also where `/mode` is not served).
pub(crate) async fn subject_mode(reg: &Registry, subject: &str) -> Result<Option<String>, Error> {
    Ok(reg
        .get_or_fail::<RawMode>(&format!("/mode/{}?defaultToGlobal=false", seg(subject)))
        .await?
        .ok()
        .map(|m| m.mode))
}

/// The global mode, or why the registry has none.
pub(crate) async fn global_mode(reg: &Registry) -> Result<Result<String, String>, Error> {
    Ok(reg
        .get_or_fail::<RawMode>("/mode")
        .await?
        .map(|m| m.mode)
        .map_err(|f| format!("{} ({})", f.message, f.status)))
}

/// Reads the whole registry.
pub async fn scan(
    reg: &Registry,
    auth_method: &str,
    now: DateTime<Utc>,
) -> Result<SchemaRegistry, Error> {
    let names = subjects(reg).await?;
    let mut warnings = Vec::new();
    let compatibility = match reg.get_or_fail::<RawConfig>("/config").await? {
        Ok(c) => c.level(),
        Err(f) => {
            warnings.push(Warning {
                call: "GET /config".into(),
                code: f.status.to_string(),
                message: f.message,
                hint: "the global compatibility level is unknown; check the registry's permissions"
                    .into(),
            });
            None
        }
    };
    let mode = match global_mode(reg).await? {
        Ok(m) => Some(m),
        Err(message) => {
            warnings.push(Warning {
                call: "GET /mode".into(),
                code: "unsupported".into(),
                message,
                hint: "this registry has no modes: `kcp migrate schemas` cannot put it in IMPORT mode as a target".into(),
            });
            None
        }
    };
    let contexts: Vec<String> = reg
        .get_or_fail::<Vec<String>>("/contexts")
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c != "." && c != ":.:")
        .collect();
    let schema_types: Vec<String> = reg
        .get_or_fail::<Vec<String>>("/schemas/types")
        .await?
        .unwrap_or_default();
    let has_modes = mode.is_some();
    let subjects: Vec<(String, Subject)> = stream::iter(names)
        .map(|name| async move {
            let versions = versions(reg, &name).await?;
            let compatibility = subject_compatibility(reg, &name).await?;
            let mode = if has_modes {
                subject_mode(reg, &name).await?
            } else {
                None
            };
            Ok::<_, Error>((
                name,
                Subject {
                    compatibility,
                    mode,
                    versions,
                },
            ))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    Ok(SchemaRegistry {
        url: reg.url().to_owned(),
        auth_method: auth_method.to_owned(),
        scanned_at: Some(now),
        compatibility,
        mode,
        contexts,
        schema_types,
        subjects: subjects.into_iter().collect(),
        warnings,
        last_error: None,
    })
}
