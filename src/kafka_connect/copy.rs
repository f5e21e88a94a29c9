//! `kcp migrate connectors`: re-creates connectors of a source Connect
//! cluster on a target one and carries source connectors' offsets.
//!
//! Configs are read live from the source workers (secrets included, held in
//! memory only and never printed), rewritten ([`super::transform`]) and
//! compared with the target before anything is written: a connector of the
//! same name with another config is a conflict, and every conflict is
//! refused at once. Every created config is read back. A source connector
//! whose offsets are carried must be
//! stopped or paused on the source (`--stop-source` stops it), so that its
//! offsets no longer move; it is created on the target STOPPED (KIP-980,
//! Kafka 3.7+), its offsets are written (`PATCH .../offsets`, KIP-875),
//! read back, and it is resumed. A rerun skips what is done and finishes a
//! connector left stopped on the target by an interrupted run.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::Method;
use regex::Regex;
use serde::Serialize;
use serde_json::{Value, json};

use super::KafkaConnectError as Error;
use super::client::{Worker, seg};
use super::scan::{self, RawExpanded};
use super::transform::{self, Rewrite};
use crate::state::ConnectorOffset;

/// What to copy and how.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// Connectors whose whole name matches (all when absent).
    pub include: Option<Regex>,
    pub rewrite: Rewrite,
    /// Show what would be done; write nothing, stop nothing.
    pub dry_run: bool,
    /// Stop running source connectors whose offsets are carried.
    pub stop_source: bool,
    /// Do not carry offsets: source connectors start over on the target.
    pub skip_offsets: bool,
    /// Only connectors of this type (`source` or `sink`; all when absent):
    /// `migrate execute` moves sinks and sources at different steps.
    pub kind: Option<String>,
}

/// What happened to one connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    /// Created STOPPED, offsets written and read back, resumed.
    CreatedWithOffsets,
    /// Was on the target, stopped, from an interrupted run: offsets written, resumed.
    Finished,
    AlreadyThere,
    WouldCreate,
    WouldCreateWithOffsets,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub connector: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub outcome: Outcome,
    /// Source partitions whose offsets were (or would be) carried.
    pub offsets: usize,
    /// Stopped on the source by this run (`--stop-source`).
    pub stopped_on_source: bool,
    /// Runs on the source: a real run needs `--stop-source` (dry runs).
    pub runs_on_source: bool,
    /// Config keys rewritten for the target (renames, bootstrap servers).
    pub rewritten: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub source: String,
    pub target: String,
    pub target_version: String,
    pub items: Vec<Item>,
}

/// A connector to copy, with its rewritten config.
struct Planned {
    name: String,
    kind: String,
    state: String,
    config: BTreeMap<String, String>,
    rewritten: Vec<String>,
    /// On the target already: its state.
    there: Option<String>,
    carry: bool,
}

fn without_name(c: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    c.iter()
        .filter(|(k, _)| k.as_str() != "name")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn state_of(raw: &RawExpanded) -> String {
    raw.status
        .as_ref()
        .map_or_else(|| "UNKNOWN".to_owned(), |s| s.connector.state.clone())
}

fn kind_of(raw: &RawExpanded) -> String {
    raw.info
        .as_ref()
        .and_then(|i| i.kind.clone())
        .or_else(|| raw.status.as_ref().and_then(|s| s.kind.clone()))
        .unwrap_or_else(|| "unknown".into())
}

/// Plans every selected connector; refuses conflicts before any write.
fn plan(
    source: &Worker,
    target: &Worker,
    src: BTreeMap<String, RawExpanded>,
    dst: &BTreeMap<String, RawExpanded>,
    req: &CopyRequest,
) -> Result<Vec<Planned>, Error> {
    let total = src.len();
    let mut planned = Vec::new();
    let mut conflicts = Vec::new();
    for (name, raw) in src {
        if req.include.as_ref().is_some_and(|r| !r.is_match(&name))
            || req.kind.as_ref().is_some_and(|k| *k != kind_of(&raw))
        {
            continue;
        }
        let config = raw
            .info
            .as_ref()
            .map(|i| i.config.clone())
            .unwrap_or_default();
        let (config, changes) = transform::rewrite(&config, &req.rewrite);
        let there = match dst.get(&name) {
            Some(t) => {
                let theirs = t
                    .info
                    .as_ref()
                    .map(|i| i.config.clone())
                    .unwrap_or_default();
                if without_name(&theirs) != without_name(&config) {
                    conflicts.push(name.clone());
                }
                Some(state_of(t))
            }
            None => None,
        };
        let kind = kind_of(&raw);
        planned.push(Planned {
            carry: kind == "source" && !req.skip_offsets,
            state: state_of(&raw),
            kind,
            rewritten: changes.into_iter().map(|c| c.key).collect(),
            name,
            config,
            there,
        });
    }
    if planned.is_empty() {
        return Err(Error::NothingSelected {
            cluster: source.name.clone(),
            connectors: total,
        });
    }
    if !conflicts.is_empty() {
        return Err(Error::Conflicts {
            cluster: target.name.clone(),
            names: conflicts,
        });
    }
    Ok(planned)
}

/// Whether a connector still needs its offsets: not on the target, or left
/// STOPPED there by an interrupted run.
fn needs_offsets(p: &Planned) -> bool {
    p.carry && p.there.as_deref().is_none_or(|s| s == "STOPPED")
}

/// A connector of a Connect cluster, as `migrate execute` sees it.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    /// `source`, `sink` or `unknown`.
    pub kind: String,
    /// `RUNNING`, `PAUSED`, `STOPPED`, ...
    pub state: String,
    pub config: BTreeMap<String, String>,
}

/// The connectors of `worker` of type `kind` whose whole name `include`
/// matches (all when absent).
pub async fn list(
    worker: &Worker,
    include: Option<&Regex>,
    kind: &str,
) -> Result<Vec<Found>, Error> {
    Ok(scan::connectors(worker)
        .await?
        .into_iter()
        .filter(|(name, raw)| include.is_none_or(|r| r.is_match(name)) && kind_of(raw) == kind)
        .map(|(name, raw)| Found {
            kind: kind_of(&raw),
            state: state_of(&raw),
            config: raw.info.map(|i| i.config).unwrap_or_default(),
            name,
        })
        .collect())
}

/// Resumes a stopped or paused connector (rollback) and waits until it runs.
pub async fn resume(worker: &Worker, name: &str) -> Result<(), Error> {
    let path = format!("/connectors/{}/resume", seg(name));
    let _: Value = send_retrying(worker, Method::PUT, &path, None).await?;
    wait_state(worker, name, "RUNNING").await
}

/// Stops `name` and waits until it is STOPPED.
pub async fn stop(worker: &Worker, name: &str) -> Result<(), Error> {
    let path = format!("/connectors/{}/stop", seg(name));
    let _: Value = worker.send(Method::PUT, &path, None).await?;
    wait_state(worker, name, "STOPPED").await
}

async fn wait_state(worker: &Worker, name: &str, want: &str) -> Result<(), Error> {
    let path = format!("/connectors/{}/status", seg(name));
    let mut last = String::new();
    for _ in 0..120 {
        if let Ok(v) = worker.get_or_fail::<Value>(&path).await? {
            last = v["connector"]["state"].as_str().unwrap_or("").to_owned();
            if last == want {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(Error::Verify {
        cluster: worker.name.clone(),
        message: format!("connector `{name}` is {last}, not {want}, after 30 s"),
    })
}

/// A call the workers may refuse for a moment during a rebalance (409) or
/// before a new connector's config is read back (404): retried for 30 s.
async fn send_retrying(
    worker: &Worker,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Error> {
    let mut last = None;
    for _ in 0..60 {
        match worker
            .send_or_fail::<Value>(method.clone(), path, body)
            .await?
        {
            Ok(v) => return Ok(v),
            Err(f) if f.status == 409 || f.status == 404 => last = Some(f),
            Err(f) => return Err(worker.api(method, path, f)),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(worker.api(method, path, last.expect("a failure was seen")))
}

fn sorted(mut o: Vec<ConnectorOffset>) -> Vec<ConnectorOffset> {
    o.sort_by_key(|x| x.partition.to_string());
    o
}

/// Reads a connector's offsets back until every carried one is there. A
/// worker answers from its own copy of the offsets topic, which follows the
/// write a moment later: a read-back that differs is asked again for up to
/// 30 s.
async fn verify_offsets(
    target: &Worker,
    name: &str,
    offsets: &[ConnectorOffset],
) -> Result<(), Error> {
    let mut tries = 0;
    loop {
        let back = match scan::offsets(target, name).await? {
            Ok(o) => o,
            Err(why) => {
                return Err(Error::NoOffsetsApi {
                    cluster: target.name.clone(),
                    detail: why,
                });
            }
        };
        // The target may hold more partitions (from an earlier life of the
        // connector); every carried one must read back equal.
        let back: BTreeMap<String, &Value> = back
            .iter()
            .map(|o| (o.partition.to_string(), &o.offset))
            .collect();
        let Some(o) = offsets
            .iter()
            .find(|o| back.get(&o.partition.to_string()) != Some(&&o.offset))
        else {
            return Ok(());
        };
        tries += 1;
        if tries >= 60 {
            return Err(Error::Verify {
                cluster: target.name.clone(),
                message: format!(
                    "connector `{name}`: offset of {} reads back as {}, not {}, after 30 s",
                    o.partition,
                    back.get(&o.partition.to_string())
                        .map_or_else(|| "nothing".to_owned(), |v| v.to_string()),
                    o.offset
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads a created connector's config back: it must be the one sent.
async fn verify_config(target: &Worker, p: &Planned) -> Result<(), Error> {
    let path = format!("/connectors/{}/config", seg(&p.name));
    let back: BTreeMap<String, String> =
        serde_json::from_value(send_retrying(target, Method::GET, &path, None).await?)
            .unwrap_or_default();
    let differ: Vec<&str> = without_name(&p.config)
        .into_iter()
        .filter(|(k, v)| back.get(*k).map(String::as_str) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::Verify {
        cluster: target.name.clone(),
        message: format!(
            "connector `{}` reads back with other values for: {}",
            p.name,
            differ.join(", ")
        ),
    })
}

/// Creates (or finishes) one connector on the target.
async fn create(
    target: &Worker,
    p: &Planned,
    offsets: Option<&Vec<ConnectorOffset>>,
) -> Result<Outcome, Error> {
    let enc = seg(&p.name);
    if p.there.is_none() {
        let mut body = json!({ "name": p.name, "config": p.config });
        if offsets.is_some() {
            body["initial_state"] = json!("STOPPED");
        }
        let _: Value = target
            .send(Method::POST, "/connectors", Some(&body))
            .await?;
        verify_config(target, p).await?;
    }
    let Some(offsets) = offsets else {
        return Ok(Outcome::Created);
    };
    wait_state(target, &p.name, "STOPPED").await?;
    let path = format!("/connectors/{enc}/offsets");
    if !offsets.is_empty() {
        send_retrying(
            target,
            Method::PATCH,
            &path,
            Some(&json!({ "offsets": offsets })),
        )
        .await?;
    }
    verify_offsets(target, &p.name, offsets).await?;
    let _: Value = send_retrying(
        target,
        Method::PUT,
        &format!("/connectors/{enc}/resume"),
        None,
    )
    .await?;
    Ok(if p.there.is_some() {
        Outcome::Finished
    } else {
        Outcome::CreatedWithOffsets
    })
}

/// An error of a call that carried `config`, with every secret value of
/// the config replaced: a worker's validation message may quote a value
/// (Kafka hides only PASSWORD-typed ones).
fn redact(e: Error, config: &BTreeMap<String, String>) -> Error {
    let secrets: Vec<&str> = config
        .iter()
        .filter(|(k, v)| v.len() >= 3 && super::mask::is_secret(k, v))
        .map(|(_, v)| v.as_str())
        .collect();
    let clean = |text: String| secrets.iter().fold(text, |t, s| t.replace(s, "[hidden]"));
    match e {
        Error::Api {
            cluster,
            call,
            status,
            message,
        } => Error::Api {
            cluster,
            call,
            status,
            message: clean(message),
        },
        Error::Verify { cluster, message } => Error::Verify {
            cluster,
            message: clean(message),
        },
        other => other,
    }
}

/// Runs the copy.
pub async fn run(source: &Worker, target: &Worker, req: &CopyRequest) -> Result<CopyReport, Error> {
    scan::root(source).await?;
    let target_root = scan::root(target).await?;
    let src = scan::connectors(source).await?;
    let dst = scan::connectors(target).await?;
    let planned = plan(source, target, src, &dst, req)?;
    let carrying: Vec<&Planned> = planned.iter().filter(|p| needs_offsets(p)).collect();
    let running: Vec<String> = carrying
        .iter()
        .filter(|p| p.state != "STOPPED" && p.state != "PAUSED")
        .map(|p| p.name.clone())
        .collect();
    if !running.is_empty() && !req.stop_source && !req.dry_run {
        return Err(Error::SourceRunning {
            cluster: source.name.clone(),
            names: running,
        });
    }
    if !carrying.is_empty() && !super::version_at_least(Some(&target_root.version), 3, 7) {
        return Err(Error::NoOffsetsApi {
            cluster: target.name.clone(),
            detail: format!(
                "it runs Kafka {}; connectors created STOPPED need 3.7",
                target_root.version
            ),
        });
    }
    let mut items = Vec::new();
    for p in &planned {
        let carry = needs_offsets(p);
        let mut stopped = false;
        let mut offsets = None;
        if carry && !req.dry_run {
            if running.contains(&p.name) {
                stop(source, &p.name).await?;
                stopped = true;
            }
            offsets = Some(sorted(match scan::offsets(source, &p.name).await? {
                Ok(o) => o,
                Err(why) => {
                    return Err(Error::NoOffsetsApi {
                        cluster: source.name.clone(),
                        detail: why,
                    });
                }
            }));
        }
        let outcome = match (&p.there, req.dry_run, carry) {
            (Some(_), _, false) => Outcome::AlreadyThere,
            (Some(s), _, true) if s != "STOPPED" => Outcome::AlreadyThere,
            (_, true, false) => Outcome::WouldCreate,
            (_, true, true) => Outcome::WouldCreateWithOffsets,
            _ => create(target, p, offsets.as_ref())
                .await
                .map_err(|e| redact(e, &p.config))?,
        };
        items.push(Item {
            connector: p.name.clone(),
            kind: p.kind.clone(),
            outcome,
            offsets: offsets.as_ref().map_or(0, Vec::len),
            stopped_on_source: stopped,
            runs_on_source: carry && req.dry_run && running.contains(&p.name),
            rewritten: p.rewritten.clone(),
        });
    }
    Ok(CopyReport {
        source: source.name.clone(),
        target: target.name.clone(),
        target_version: target_root.version,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quoting_a_secret_value_are_redacted() {
        let config: BTreeMap<String, String> = [
            ("db.password", "hunter2"),
            ("connection.url", "jdbc:postgresql://kcp:s3cr3t@db/x"),
            ("topic", "orders"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let e = redact(
            Error::Api {
                cluster: "t".into(),
                call: "POST /connectors".into(),
                status: 400,
                message: "Invalid value hunter2 for configuration db.password; bad url jdbc:postgresql://kcp:s3cr3t@db/x for topic orders".into(),
            },
            &config,
        );
        let text = e.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("s3cr3t"),
            "{text}"
        );
        assert!(
            text.contains("Invalid value [hidden]") && text.contains("orders"),
            "{text}"
        );
    }
}
