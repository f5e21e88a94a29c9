//! The cutover steps for the rest of the platform: the Schema Registry
//! copy (`schemas/copy` before the consumer waves, `schemas/final` before
//! the producers move) and the Kafka Connect connectors (the sinks moved
//! like a wave of consumers, the sources with the producers), over
//! [`crate::schema_registry::copy`] and [`crate::kafka_connect::copy`].
//!
//! Every step is safe to repeat: the copies skip what the target already
//! holds, stopping a stopped connector changes nothing, and each connector
//! kcp stops is recorded in the migration state before it is stopped, so
//! that `rollback` resumes exactly those.

use std::future::Future;

use serde_json::{Value, json};

use super::execute::{ExecuteError, Run};
use super::offsets::MoveError;
use super::run_state::StoppedConnector;
use super::steps::Step;
use crate::kafka_connect::Worker;
use crate::kafka_connect::copy::{self as kc_copy, Found};
use crate::kafka_connect::transform::{Rewrite, sink_group};
use crate::replicator::anchored;
use crate::schema_registry::copy as sr_copy;
use crate::schema_registry::{Registry, SchemaRegistryError};

/// Runs one future of the REST clients to its end.
fn block_on<F: Future>(f: F) -> Result<F::Output, ExecuteError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ExecuteError::Runtime)?;
    Ok(rt.block_on(f))
}

impl Run<'_, '_> {
    /// The (source, target) registries of `cutover.schemas`.
    fn registries(&self) -> Result<(Registry, Registry), ExecuteError> {
        let (src, dst) = self.cx.peers.registries.ok_or(ExecuteError::NoPeer {
            key: "cutover.schemas",
            name: "a schema registry".into(),
        })?;
        Ok((
            Registry::new(src, self.cx.timeout)?,
            Registry::new(dst, self.cx.timeout)?,
        ))
    }

    /// The (source, target) Connect clusters of `cutover.connectors`.
    fn workers(&self) -> Result<(Worker, Worker), ExecuteError> {
        let (src, dst) = self.cx.peers.connect.ok_or(ExecuteError::NoPeer {
            key: "cutover.connectors",
            name: "a Connect cluster".into(),
        })?;
        Ok((
            Worker::new(src, self.cx.timeout)?,
            Worker::new(dst, self.cx.timeout)?,
        ))
    }

    /// Copies the selected subjects, ids kept, and verifies them.
    pub(super) fn copy_schemas(&mut self) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        let Some(sr) = &c.schemas else {
            return Ok(Value::Null);
        };
        let (source, target) = self.registries()?;
        let request = sr_copy::CopyRequest {
            include: anchored(sr.subjects.as_deref()),
            exclude: anchored(sr.exclude_subjects.as_deref()),
            dry_run: false,
            verify_only: false,
            without_import_mode: !sr.import_mode,
        };
        self.cx.operator.progress(&format!(
            "copying subjects from registry `{}` to `{}`",
            source.name, target.name
        ));
        let report = match block_on(sr_copy::run(&source, &target, &request))? {
            Ok(r) => r,
            // An empty source registry has nothing to copy.
            Err(SchemaRegistryError::NothingSelected { subjects: 0, .. }) => {
                return Ok(json!({ "copied": 0, "already_there": 0 }));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(first) = report.mismatches.first() {
            return Err(ExecuteError::SchemasDiffer {
                source_registry: source.name.clone(),
                target: target.name.clone(),
                first: format!(
                    "{} version {}: {}",
                    first.subject, first.version, first.problem
                ),
                more: report.mismatches.len() - 1,
            });
        }
        let count = |o: sr_copy::Outcome| report.items.iter().filter(|i| i.outcome == o).count();
        let (copied, there) = (
            count(sr_copy::Outcome::Copied),
            count(sr_copy::Outcome::AlreadyThere),
        );
        self.cx.operator.notice(&format!(
            "registry `{}`: {copied} subject version(s) copied to `{}` with their ids, {there} already there; verified",
            source.name, target.name
        ));
        Ok(json!({ "copied": copied, "already_there": there }))
    }

    /// The plan's selected connectors of one type on the source.
    fn selected(&self, worker: &Worker, kind: &str) -> Result<Vec<Found>, ExecuteError> {
        let c = self.cutover();
        let include = anchored(c.connectors.as_ref().and_then(|k| k.include.as_deref()));
        Ok(block_on(kc_copy::list(worker, include.as_ref(), kind))??)
    }

    /// Stops the selected connectors of one type on the source, each
    /// recorded in the migration state first.
    fn stop_on_source(&mut self, kind: &str) -> Result<Vec<Found>, ExecuteError> {
        let (source, _) = self.workers()?;
        let found = self.selected(&source, kind)?;
        for f in found.iter().filter(|f| f.state != "STOPPED") {
            let record = StoppedConnector {
                name: f.name.clone(),
                kind: kind.to_owned(),
            };
            if !self.state.stopped_connectors.contains(&record) {
                self.state.stopped_connectors.push(record);
                self.save()?;
            }
            block_on(kc_copy::stop(&source, &f.name))??;
            self.cx.operator.notice(&format!(
                "{kind} connector `{}` stopped on `{}` (rollback resumes it)",
                f.name, source.name
            ));
        }
        Ok(found)
    }

    /// Stops the sink connectors on the source and waits until their
    /// consumer groups have left.
    pub(super) fn stop_sinks(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let sinks = self.stop_on_source("sink")?;
        let groups: Vec<String> = sinks
            .iter()
            .map(|f| sink_group(&f.name, &f.config))
            .collect();
        if !groups.is_empty() {
            self.wait_no_members(step, &groups, true)?;
        }
        Ok(json!({ "sinks": sinks.iter().map(|f| &f.name).collect::<Vec<_>>(), "groups": groups }))
    }

    /// Moves the sink connectors' consumer groups' offsets to the target.
    /// A sink that never committed starts on the target as its
    /// `consumer.override.auto.offset.reset` says; kcp tells so.
    pub(super) fn move_sink_offsets(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let (source, _) = self.workers()?;
        let groups: Vec<String> = self
            .selected(&source, "sink")?
            .iter()
            .map(|f| sink_group(&f.name, &f.config))
            .collect();
        let mut moved = serde_json::Map::new();
        for group in &groups {
            match self.move_group_waiting(step, group, None) {
                Ok(offsets) => {
                    moved.insert(
                        group.clone(),
                        serde_json::to_value(&offsets).unwrap_or_default(),
                    );
                }
                Err(ExecuteError::Move(MoveError::NoOffsets { .. })) => {
                    self.cx.operator.notice(&format!(
                        "sink group `{group}` has no committed offsets on `{}` for the plan's topics: on the target it starts where its reset policy says",
                        self.cx.plan.plan.source
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Value::Object(moved))
    }

    /// The rewrite of connector configs for the target: the plan's topic
    /// renames and the source cluster's bootstrap servers replaced by the
    /// target's.
    fn rewrite(&self) -> Rewrite {
        let rename = &self.cx.plan.plan.topics.rename;
        Rewrite {
            topic_prefix: rename.prefix.clone(),
            topic_suffix: rename.suffix.clone(),
            bootstrap: Some((
                self.cx.source.bootstrap_servers.join(","),
                self.cx.target.bootstrap_servers.join(","),
            )),
        }
    }

    /// Creates the selected connectors of one type on the target: sinks
    /// plainly (their groups' offsets are in place), sources STOPPED with
    /// the offsets they had on the source, then resumed.
    fn create_on_target(&mut self, kind: &str) -> Result<Value, ExecuteError> {
        let c = self.cutover();
        let (source, target) = self.workers()?;
        if self.selected(&source, kind)?.is_empty() {
            return Ok(json!({ "connectors": [] }));
        }
        let request = kc_copy::CopyRequest {
            include: anchored(c.connectors.as_ref().and_then(|k| k.include.as_deref())),
            rewrite: self.rewrite(),
            dry_run: false,
            stop_source: true,
            skip_offsets: kind == "sink",
            kind: Some(kind.to_owned()),
        };
        let report = block_on(kc_copy::run(&source, &target, &request))??;
        for i in &report.items {
            self.cx.operator.notice(&format!(
                "{kind} connector `{}` on `{}`: {}{}",
                i.connector,
                target.name,
                match i.outcome {
                    kc_copy::Outcome::AlreadyThere => "already there",
                    kc_copy::Outcome::CreatedWithOffsets | kc_copy::Outcome::Finished =>
                        "created, offsets carried and read back, resumed",
                    _ => "created and read back",
                },
                if i.rewritten.is_empty() {
                    String::new()
                } else {
                    format!(" (rewritten: {})", i.rewritten.join(", "))
                }
            ));
        }
        Ok(json!({ "connectors": report.items }))
    }

    pub(super) fn start_sinks(&mut self) -> Result<Value, ExecuteError> {
        self.create_on_target("sink")
    }

    pub(super) fn stop_sources(&mut self) -> Result<Value, ExecuteError> {
        let sources = self.stop_on_source("source")?;
        Ok(json!({ "sources": sources.iter().map(|f| &f.name).collect::<Vec<_>>() }))
    }

    pub(super) fn start_sources(&mut self) -> Result<Value, ExecuteError> {
        self.create_on_target("source")
    }

    /// Rollback: resumes on the source the connectors of one type (all
    /// when `None`) that `execute` stopped there.
    pub(super) fn resume_on_source(&mut self, kind: Option<&str>) -> Result<Value, ExecuteError> {
        let mine: Vec<StoppedConnector> = self
            .state
            .stopped_connectors
            .iter()
            .filter(|s| kind.is_none_or(|k| s.kind == k))
            .cloned()
            .collect();
        if mine.is_empty() {
            return Ok(Value::Null);
        }
        let (source, _) = self.workers()?;
        for s in &mine {
            block_on(kc_copy::resume(&source, &s.name))??;
            self.state.stopped_connectors.retain(|x| x != s);
            self.save()?;
            self.cx.operator.notice(&format!(
                "{} connector `{}` resumed on `{}`",
                s.kind, s.name, source.name
            ));
        }
        Ok(json!({ "resumed": mine.iter().map(|s| &s.name).collect::<Vec<_>>() }))
    }

    /// Rollback of `connectors/sinks/start`: stops the sinks on the target
    /// and carries their groups' target progress back to the source.
    pub(super) fn sinks_back(&mut self, step: &Step) -> Result<Value, ExecuteError> {
        let (source, target) = self.workers()?;
        let sinks = self.selected(&source, "sink")?;
        let on_target = self.selected(&target, "sink")?;
        let mut groups = Vec::new();
        for f in &sinks {
            if let Some(t) = on_target.iter().find(|t| t.name == f.name) {
                if t.state != "STOPPED" {
                    block_on(kc_copy::stop(&target, &t.name))??;
                }
                groups.push(sink_group(&f.name, &f.config));
            }
        }
        if groups.is_empty() {
            return Ok(Value::Null);
        }
        self.wait_no_members(step, &groups, false)?;
        let mut moved = serde_json::Map::new();
        for group in &groups {
            let back = super::offsets::move_group_back(
                self.cx.plan,
                self.cx.source,
                self.cx.target,
                group,
                self.cx.timeout,
            )?;
            moved.insert(
                group.clone(),
                serde_json::to_value(&back).unwrap_or_default(),
            );
        }
        Ok(Value::Object(moved))
    }
}
