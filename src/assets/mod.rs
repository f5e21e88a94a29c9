//! `create-asset`: ready-to-apply projects for the migration target, built
//! from the state file alone (no network).
//!
//! Generation is pure: [`generate`] takes the state and a [`Request`] and
//! returns a [`Project`] (file names and contents, plus what was left out and
//! why); [`write`] puts a project on disk, refusing to overwrite files unless
//! asked to. Templates live in `templates/assets/` and are compiled in; every
//! `.tf` file passes through [`hcl::layout`] so it is `terraform fmt` clean.
//! Values reach templates only through the `hcl`, `yaml` and `props`
//! filters, which quote them for the file's language, so a topic named
//! `a "b" ${c}` stays a literal everywhere.
//!
//! Kinds: [`topics`], [`acls`] (with [`iam`] for MSK IAM policies),
//! [`quotas`] (client quotas, Terraform and a kafka-configs script),
//! [`infra`] (`target-infra`), [`replicator`] (deployments of
//! `kcp migrate replicate`, their alerting rules and dashboard
//! (`monitoring`), and MirrorMaker 2 equivalents) and `gateway` (`kcp
//! gateway`'s replicas as a Kubernetes Deployment).

pub(crate) mod acls;
pub(crate) mod connectors;
mod connectors_tf;
mod gateway;
pub(crate) mod hcl;
pub(crate) mod iam;
pub(crate) mod infra;
mod monitoring;
pub(crate) mod principals;
pub(crate) mod quotas;
pub(crate) mod replicator;
mod terraform;
pub(crate) mod topics;

use crate::exit::{Diagnostic, ExitStatus};
use crate::fileio::{self, WriteOptions};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Serialize;

use crate::report::list;
use crate::state::{KafkaCluster, State, Topic};
pub use principals::PrincipalMap;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetKind {
    TargetInfra,
    Topics,
    Acls,
    Replicator,
    Connectors,
    Quotas,
    Gateway,
}

impl AssetKind {
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::TargetInfra => "target-infra",
            AssetKind::Topics => "topics",
            AssetKind::Acls => "acls",
            AssetKind::Replicator => "replicator",
            AssetKind::Connectors => "connectors",
            AssetKind::Quotas => "quotas",
            AssetKind::Gateway => "gateway",
        }
    }
}

/// The kind of target cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetType {
    ConfluentCloud,
    Msk,
    Kafka,
}

impl TargetType {
    pub fn name(self) -> &'static str {
        match self {
            TargetType::ConfluentCloud => "confluent-cloud",
            TargetType::Msk => "msk",
            TargetType::Kafka => "kafka",
        }
    }
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: AssetKind,
    /// The scanned source cluster (a key of `clusters` in the state).
    pub source: String,
    pub target_type: TargetType,
    /// The target's name: the new cluster's name for `target-infra`, the
    /// cluster name in the credentials file for `replicator`.
    pub target: Option<String>,
    /// Anchored at both ends, like the plan file's `topics.include`.
    pub topics_include: Option<String>,
    pub topics_exclude: Option<String>,
    pub principals: PrincipalMap,
    /// The source's Kafka Connect clusters (`connectors`; empty: those
    /// keeping their state in the source cluster).
    pub connect_clusters: Vec<String>,
    /// Target topic = prefix + source topic + suffix (`connectors`).
    pub topic_prefix: String,
    pub topic_suffix: String,
}

impl Request {
    /// The target name, or `<source>-target`.
    pub fn target_name(&self) -> String {
        self.target
            .clone()
            .unwrap_or_else(|| format!("{}-target", self.source))
    }
}

/// A generated project.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub kind: AssetKind,
    pub target_type: TargetType,
    pub source: String,
    pub files: Vec<GeneratedFile>,
    /// What was left out, with the reason (also listed in the README).
    pub left_out: Vec<LeftOut>,
}

/// One file, with a path relative to the output folder (`/`-separated).
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedFile {
    pub path: String,
    #[serde(skip)]
    pub contents: String,
}

/// Something the target cannot take, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LeftOut {
    /// e.g. `topic orders: config follower.replication.throttled.replicas`.
    pub subject: String,
    pub reason: String,
}

/// Problems generating or writing assets.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("no cluster named `{name}` in the state file (known: {})", list(known))]
    UnknownCluster { name: String, known: Vec<String> },
    #[error("cluster `{name}` has not been scanned successfully: {reason}")]
    NotScanned { name: String, reason: String },
    #[error("`create-asset {kind}` does not support target type `{target}`: {why}")]
    Unsupported {
        kind: &'static str,
        target: &'static str,
        why: &'static str,
    },
    #[error("{flag} `{pattern}` is not a valid regular expression: {message}")]
    BadPattern {
        flag: &'static str,
        pattern: String,
        message: String,
    },
    #[error("no topic of `{cluster}` is selected ({why})")]
    NothingSelected { cluster: String, why: String },
    #[error("the principal mapping file `{}` is invalid: {message}", path.display())]
    PrincipalMap { path: PathBuf, message: String },
    #[error("{} file(s) already exist in `{}`: {}", paths.len(), out.display(), list(paths))]
    Exists { out: PathBuf, paths: Vec<String> },
    #[error("`--out {}` is a file, not a folder", out.display())]
    OutNotAFolder { out: PathBuf },
    #[error("cannot write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no Kafka Connect cluster in the state works on `{cluster}` (scanned: {})",
        list(known)
    )]
    NoConnectors { cluster: String, known: Vec<String> },
    #[error("no Connect cluster `{name}` in the state (known: {})", list(known))]
    UnknownConnectCluster { name: String, known: Vec<String> },
    #[error("cluster `{cluster}` has no client quotas in the state")]
    NoQuotas { cluster: String },
    #[error("{message}")]
    Ports { message: String },
    #[error("internal error rendering template `{template}`: {message}")]
    Template { template: String, message: String },
}

impl Diagnostic for AssetError {
    fn status(&self) -> ExitStatus {
        if matches!(self, AssetError::Io { .. } | AssetError::Template { .. }) {
            ExitStatus::Failure
        } else {
            ExitStatus::BadInput
        }
    }

    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        Some(match self {
            AssetError::UnknownCluster { .. } => {
                "run `kcp scan clusters` first, or pick a name listed above with --source".into()
            }
            AssetError::NotScanned { .. } => {
                "fix the connection problem and run `kcp scan clusters` again".into()
            }
            AssetError::Unsupported { .. } => "run `kcp create-asset --help` for the supported combinations".into(),
            AssetError::BadPattern { .. } => {
                "patterns use Rust regex syntax and must match the whole topic name".into()
            }
            AssetError::NothingSelected { .. } => {
                "check --topics-include/--topics-exclude against the topics in the state (`kcp report plan` lists them)".into()
            }
            AssetError::PrincipalMap { .. } => {
                "see docs/commands/create-asset.md for the mapping file format".into()
            }
            AssetError::Exists { .. } => {
                "pass --force to overwrite them, or choose another --out folder".into()
            }
            AssetError::NoConnectors { .. } | AssetError::UnknownConnectCluster { .. } => {
                "run `kcp scan connectors` first, or name the source's Connect clusters with --connect-cluster".into()
            }
            AssetError::NoQuotas { .. } => {
                "run `kcp scan clusters` again; a `DescribeClientQuotas` warning on the cluster (`kcp report plan`) says why quotas could not be read".into()
            }
            AssetError::Ports { .. } => {
                "edit the generated ports by hand: --broker-port-base and --target-broker-port-base of `kcp gateway` take any base that keeps base + node id within 65535".into()
            }
            AssetError::OutNotAFolder { .. } => {
                "name a folder with --out (kcp creates it when missing)".into()
            }
            _ => return None,
        })
    }
}

/// Generates the files for a request. Pure: reads only `state` and `req`.
pub fn generate(state: &State, req: &Request) -> Result<Project, AssetError> {
    let cluster = source_cluster(state, &req.source)?;
    let (files, left_out) = match req.kind {
        AssetKind::Topics => topics::generate(cluster, req)?,
        AssetKind::Acls => acls::generate(state, cluster, req)?,
        AssetKind::TargetInfra => infra::generate(state, cluster, req)?,
        AssetKind::Replicator => replicator::generate(cluster, req)?,
        AssetKind::Connectors => connectors::generate(state, cluster, req)?,
        AssetKind::Quotas => quotas::generate(cluster, req)?,
        AssetKind::Gateway => gateway::generate(state, cluster, req)?,
    };
    let mut left_out = left_out;
    left_out.sort();
    left_out.dedup();
    Ok(Project {
        kind: req.kind,
        target_type: req.target_type,
        source: req.source.clone(),
        files,
        left_out,
    })
}

fn source_cluster<'a>(state: &'a State, name: &str) -> Result<&'a KafkaCluster, AssetError> {
    let cluster = state
        .clusters
        .get(name)
        .ok_or_else(|| AssetError::UnknownCluster {
            name: name.to_owned(),
            known: state.clusters.keys().cloned().collect(),
        })?;
    if cluster.scanned_at.is_none() {
        return Err(AssetError::NotScanned {
            name: name.to_owned(),
            reason: cluster
                .scan_error
                .clone()
                .unwrap_or_else(|| "it has never been scanned".into()),
        });
    }
    Ok(cluster)
}

/// Selected topics, by name.
type Selected<'a> = Vec<(&'a str, &'a Topic)>;

/// The topics a request selects, with the reasons others are left out.
pub(crate) fn select_topics<'a>(
    cluster: &'a KafkaCluster,
    req: &Request,
) -> Result<(Selected<'a>, Vec<LeftOut>), AssetError> {
    let compile = |flag: &'static str, p: &Option<String>| {
        p.as_deref()
            .map(|p| {
                Regex::new(&format!("^(?:{p})$")).map_err(|e| AssetError::BadPattern {
                    flag,
                    pattern: p.to_owned(),
                    message: e.to_string(),
                })
            })
            .transpose()
    };
    let include = compile("--topics-include", &req.topics_include)?;
    let exclude = compile("--topics-exclude", &req.topics_exclude)?;
    let mut selected = Vec::new();
    let mut left_out = Vec::new();
    for (name, topic) in &cluster.topics {
        if include.as_ref().is_some_and(|re| !re.is_match(name))
            || exclude.as_ref().is_some_and(|re| re.is_match(name))
        {
            continue;
        }
        match crate::topic_config::not_migrated_reason(name, topic.kind) {
            Some(reason) => left_out.push(LeftOut {
                subject: format!("topic {name}"),
                reason: reason.to_owned(),
            }),
            None => selected.push((name.as_str(), topic)),
        }
    }
    if selected.is_empty() {
        let why = match (&req.topics_include, &req.topics_exclude) {
            (None, None) => "the cluster has no application topics".to_owned(),
            (i, e) => format!(
                "--topics-include {} --topics-exclude {}",
                i.as_deref().unwrap_or("(all)"),
                e.as_deref().unwrap_or("(none)")
            ),
        };
        return Err(AssetError::NothingSelected {
            cluster: req.source.clone(),
            why,
        });
    }
    Ok((selected, left_out))
}

/// The compiled-in templates.
fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("compiled-in templates parse (tested)");
    }
    env.add_filter("hcl", |v: minijinja::Value| -> String { hcl_value(&v) });
    env.add_filter("yaml", |s: String| -> String { yaml_string(&s) });
    env.add_filter("props", |s: String| -> String { properties_value(&s) });
    env
}

/// Renders one template with a serializable context.
pub(crate) fn render(name: &str, context: &impl Serialize) -> Result<String, AssetError> {
    let env = environment();
    let fail = |e: minijinja::Error| AssetError::Template {
        template: name.to_owned(),
        message: format!("{e:#}"),
    };
    let template = env.get_template(name).map_err(fail)?;
    template
        .render(minijinja::Value::from(minijinja::value::Serde(context)))
        .map_err(fail)
}

/// A value as an HCL literal: strings quoted, numbers and booleans bare,
/// lists and maps as HCL tuples and objects.
fn hcl_value(v: &minijinja::Value) -> String {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Bool => v.is_true().to_string(),
        ValueKind::Number => v.to_string(),
        ValueKind::None | ValueKind::Undefined => "null".into(),
        ValueKind::Seq => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|x| hcl_value(&x)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| {
                    it.map(|k| {
                        let val = v.get_item(&k).unwrap_or_default();
                        format!("{} = {}", hcl::quote(&k.to_string()), hcl_value(&val))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{ {} }}", items.join(", "))
        }
        _ => hcl::quote(v.as_str().unwrap_or(&v.to_string())),
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
pub fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A Java `.properties` value: backslash, leading blanks, line breaks and
/// non-ASCII characters escaped (`\uXXXX`, the format's own encoding).
pub(crate) fn properties_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' if i == 0 => out.push_str("\\ "),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/assets/", $name)))),*]
    };
}

/// Every template, by name (its path under `templates/assets/`).
const TEMPLATES: &[(&str, &str)] = templates!(
    "terraform/versions.tf.j2",
    "terraform/variables.tf.j2",
    "terraform/outputs.tf.j2",
    "terraform/terraform.tfvars.example.j2",
    "terraform/README.md.j2",
    "topics/confluent-cloud.tf.j2",
    "topics/kafka.tf.j2",
    "acls/confluent-cloud.tf.j2",
    "acls/kafka.tf.j2",
    "quotas/kafka.tf.j2",
    "target-infra/confluent-cloud.tf.j2",
    "target-infra/msk.tf.j2",
    "replicator/plan.yaml.j2",
    "replicator/kubernetes.yaml.j2",
    "replicator/kcp-replicator.service.j2",
    "replicator/mm2.properties.j2",
    "replicator/strimzi-mirrormaker2.yaml.j2",
    "replicator/README.md.j2",
    "kubernetes/pod-security.yaml.j2",
    "kubernetes/container-security.yaml.j2",
    "gateway/kubernetes.yaml.j2",
    "gateway/plan-cutover.yaml.j2",
    "gateway/README.md.j2",
);

/// Writes a project under `out`. Refuses, before writing anything, what
/// [`check_writable`] refuses. Each file is written to a temporary file in
/// its folder and renamed into place, so none is left half-written.
pub fn write(project: &Project, out: &Path, force: bool) -> Result<Vec<PathBuf>, AssetError> {
    let targets = check_writable(project, out, force)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| AssetError::Io { path, source }
    };
    for (file, path) in project.files.iter().zip(&targets) {
        let dir = path.parent().unwrap_or(out);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        fileio::write_atomic(path, file.contents.as_bytes(), WriteOptions::REPLACE)
            .map_err(io(path))?;
    }
    Ok(targets)
}

/// Whether [`write`] would write the project under `out`: not when `out`
/// is not a folder, nor when a file exists and `force` is false (what
/// `--dry-run` checks). Returns the files' paths.
pub fn check_writable(
    project: &Project,
    out: &Path,
    force: bool,
) -> Result<Vec<PathBuf>, AssetError> {
    if out.exists() && !out.is_dir() {
        return Err(AssetError::OutNotAFolder {
            out: out.to_owned(),
        });
    }
    let targets: Vec<PathBuf> = project
        .files
        .iter()
        .map(|f| out.join(f.path.split('/').collect::<PathBuf>()))
        .collect();
    if !force {
        let existing: Vec<String> = project
            .files
            .iter()
            .zip(&targets)
            .filter(|(_, p)| p.exists())
            .map(|(f, _)| f.path.clone())
            .collect();
        if !existing.is_empty() {
            return Err(AssetError::Exists {
                out: out.to_owned(),
                paths: existing,
            });
        }
    }
    Ok(targets)
}

/// Per-file summary for the command's output.
#[derive(Debug, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub bytes: usize,
}

impl Project {
    pub fn summary(&self) -> Vec<FileSummary> {
        self.files
            .iter()
            .map(|f| FileSummary {
                path: f.path.clone(),
                bytes: f.contents.len(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_escape_round_trips_the_awkward_parts() {
        assert_eq!(properties_value(" a\\b\nü"), "\\ a\\\\b\\n\\u00fc");
        assert_eq!(properties_value("😀"), "\\ud83d\\ude00");
    }

    #[test]
    fn hcl_filter_writes_hcl_literals() {
        let v = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({ "a b": true })));
        assert_eq!(hcl_value(&v), r#"{ "a b" = true }"#);
        assert_eq!(hcl_value(&minijinja::Value::from(false)), "false");
        assert_eq!(hcl_value(&minijinja::Value::from(3)), "3");
        assert_eq!(
            hcl_value(&minijinja::Value::from(vec!["${x}"])),
            r#"["$${x}"]"#
        );
    }

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
    }
}
