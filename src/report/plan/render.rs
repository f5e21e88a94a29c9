//! The plan as a document (one function per section) and as CSV.

use std::collections::BTreeMap;

use super::PlanReport;
use crate::report::doc::{Block, Document, Section, Table, csv, num};

impl PlanReport {
    pub(crate) fn document(&self) -> Document {
        let sections = [
            Some(self.inventory_section()),
            Some(self.risks_section()),
            Some(self.waves_section()),
            Some(self.create_section()),
            Some(self.copy_section()),
            self.schemas_section(),
            self.connectors_section(),
            self.aws_platform
                .as_ref()
                .map(super::platform::PlatformPlan::section),
            self.principals_section(),
            self.quotas_section(),
        ];
        Document {
            title: format!("Migration plan: {} to {}", self.source, self.target),
            meta: self.meta(),
            sections: sections.into_iter().flatten().collect(),
        }
    }

    /// The header lines: the state's stamp, source, target, throughput.
    fn meta(&self) -> Vec<(String, String)> {
        let mut meta = self.generated_from.meta();
        meta.push(("Source".into(), self.source.clone()));
        meta.push((
            "Target".into(),
            format!("{} ({})", self.target, self.target_kind),
        ));
        meta.push((
            "Replication throughput".into(),
            format!(
                "{} MB/s, {}",
                self.replication_mbps, self.replication_mbps_basis
            ),
        ));
        meta
    }

    /// The source's connectors: what runs where and what the target needs.
    fn connectors_section(&self) -> Option<Section> {
        let p = self.connectors.as_ref()?;
        let mut s = Section::new("Connectors", 2);
        s.blocks.push(Block::Paragraph(format!(
            "Connect cluster{} {}: {} connectors ({} source, {} sink); {} source connector{} need{} {} offsets carried{}. `kcp migrate connectors` re-creates them on the target Connect cluster, source connectors created stopped and started after their offsets are written; sink connectors resume from their consumer groups' offsets, which the cutover waves move.",
            if p.source_connect.len() == 1 { "" } else { "s" },
            p.source_connect.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
            num(p.connectors as f64, 0),
            num(p.sources as f64, 0),
            num(p.sinks as f64, 0),
            num(p.offsets_to_carry as f64, 0),
            if p.offsets_to_carry == 1 { "" } else { "s" },
            if p.offsets_to_carry == 1 { "s" } else { "" },
            if p.offsets_to_carry == 1 { "its" } else { "their" },
            p.target_connect
                .as_ref()
                .map(|t| format!("; compared with the target Connect cluster `{t}`"))
                .unwrap_or_default()
        )));
        let mut t = Table::new(&[
            "Connect cluster",
            "Connector",
            "Type",
            "Class",
            "State",
            ">Tasks running",
            "Workers",
            "Topics",
            "On the target",
            ">Offsets to carry",
            "Consumer group",
            "Secrets",
        ]);
        for r in &p.rows {
            t.row(vec![
                r.connect_cluster.clone(),
                r.connector.clone(),
                r.kind.clone(),
                r.class.rsplit('.').next().unwrap_or(&r.class).to_owned(),
                r.state.clone(),
                format!("{}/{}", r.tasks_running, r.tasks),
                r.workers.join(", "),
                r.topics.join(", "),
                r.action.clone(),
                num(r.offsets_to_carry as f64, 0),
                r.consumer_group.clone().unwrap_or_else(|| "-".into()),
                r.secret_keys.join(", "),
            ]);
        }
        s.blocks.push(Block::Table(t));
        Some(s)
    }

    /// The source registry's subjects and the topics they serve.
    fn schemas_section(&self) -> Option<Section> {
        let p = self.schemas.as_ref()?;
        let mut s = Section::new("Schemas", 2);
        let types: Vec<String> = p.types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        s.blocks.push(Block::Paragraph(format!(
            "Registry `{}`: {} subjects, {} versions, {} schema ids ({}){}. `kcp migrate schemas` copies them keeping their ids, references first.",
            p.source_registry,
            num(p.subjects as f64, 0),
            num(p.versions as f64, 0),
            num(p.schema_ids as f64, 0),
            if types.is_empty() { "none".to_owned() } else { types.join(", ") },
            p.target_registry
                .as_ref()
                .map(|t| format!("; compared with the target registry `{t}`"))
                .unwrap_or_default()
        )));
        let mut t = Table::new(&[
            "Subject",
            "Topic",
            ">Versions",
            ">Latest id",
            "Type",
            ">References",
            "Ids in use on the target",
        ]);
        for row in &p.rows {
            t.row(vec![
                row.subject.clone(),
                row.topic.clone().unwrap_or_else(|| "-".into()),
                num(row.versions as f64, 0),
                row.latest_id.map(|i| i.to_string()).unwrap_or_default(),
                row.schema_type.clone(),
                num(row.references as f64, 0),
                row.id_conflicts
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        s.blocks.push(Block::Table(t));
        Some(s)
    }

    /// Counts on the source and what of them is migrated.
    fn inventory_section(&self) -> Section {
        let i = &self.inventory;
        let count = |n: usize| num(n as f64, 0);
        let mut t = Table::new(&["Item", ">Source", ">To migrate"]);
        let rows = [
            ("Topics", count(i.topics), count(i.migrated_topics)),
            (
                "Partitions",
                count(i.partitions),
                count(i.migrated_partitions),
            ),
            ("Records", num(i.messages as f64, 0), String::new()),
            ("Bytes (estimate)", String::new(), num(i.bytes_estimate, 0)),
            (
                "Records per second",
                num(i.messages_per_sec, 1),
                String::new(),
            ),
            ("Consumer groups", count(i.consumer_groups), String::new()),
            ("ACL bindings", count(i.acls), String::new()),
            ("Principals", count(i.principals.len()), String::new()),
        ];
        for (item, source, migrated) in rows {
            t.row(vec![item.into(), source, migrated]);
        }
        let mut s = Section::new("Inventory", 2);
        s.blocks.push(Block::Table(t));
        s.blocks.push(Block::Paragraph(format!(
            "Byte estimates use {}.",
            i.bytes_basis
        )));
        s
    }

    /// The risks, or a line saying there is none.
    fn risks_section(&self) -> Section {
        let mut s = Section::new("Risks", 2);
        if self.risks.is_empty() {
            s.blocks.push(Block::Paragraph(
                "No risk found in the scanned data.".into(),
            ));
            return s;
        }
        let mut t = Table::new(&["Severity", "Risk", "Subject", "Why", "Suggested action"]);
        for r in &self.risks {
            t.row(vec![
                r.severity.into(),
                r.kind.into(),
                r.subject.clone(),
                r.reason.clone(),
                r.action.clone(),
            ]);
        }
        s.blocks.push(Block::Table(t));
        s
    }

    /// The cutover waves in order.
    fn waves_section(&self) -> Section {
        let mut s = Section::new("Cutover waves", 2);
        s.blocks.push(Block::Paragraph(
            "Consumer groups that share a topic move together. Within a wave, consumers move first (their committed offsets are translated exactly), then the producers of the wave's topics.".into(),
        ));
        let mut t = Table::new(&[
            ">Wave",
            "Consumer groups",
            "Then producers of",
            ">Lag at scan",
        ]);
        for w in &self.waves {
            let groups = if w.consumer_groups.is_empty() {
                "(no consumer group)".to_owned()
            } else {
                w.consumer_groups.join(", ")
            };
            t.row(vec![
                w.number.to_string(),
                groups,
                w.producer_topics.join(", "),
                num(w.total_lag as f64, 0),
            ]);
        }
        s.blocks.push(Block::Table(t));
        s
    }

    /// The topics to create, and those not migrated with the reason.
    fn create_section(&self) -> Section {
        let mut s = Section::new("Topics to create on the target", 2);
        let mut t = Table::new(&[
            "Topic",
            ">Partitions",
            ">RF",
            "Configs",
            "Dropped",
            "Exists",
        ]);
        for c in &self.create_on_target {
            t.row(vec![
                c.topic.clone(),
                c.partitions.to_string(),
                c.replication_factor.to_string(),
                configs(&c.configs, ", "),
                c.dropped_configs.join(", "),
                if c.exists_on_target {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        s.blocks.push(Block::Table(t));
        if !self.not_migrated.is_empty() {
            s.blocks.push(Block::Paragraph("Not migrated:".into()));
            s.blocks.push(Block::List(
                self.not_migrated
                    .iter()
                    .map(|n| format!("{}: {}", n.topic, n.reason))
                    .collect(),
            ));
        }
        s
    }

    /// The initial copy's time, in total and per topic.
    fn copy_section(&self) -> Section {
        let mut s = Section::new("Initial copy estimate", 2);
        s.blocks.push(Block::Paragraph(format!(
            "At {} MB/s the initial copy takes about {} in total (topics copy in parallel up to the replicator's throughput).",
            self.replication_mbps,
            duration(self.total_copy_seconds)
        )));
        let mut t = Table::new(&["Topic", ">Records", ">Bytes (estimate)", "Copy time"]);
        for c in &self.copy_estimate {
            t.row(vec![
                c.topic.clone(),
                num(c.messages as f64, 0),
                num(c.bytes_estimate, 0),
                duration(c.seconds),
            ]);
        }
        s.blocks.push(Block::Table(t));
        s
    }

    /// The source's principals, if it has ACLs.
    fn principals_section(&self) -> Option<Section> {
        let principals = &self.inventory.principals;
        if principals.is_empty() {
            return None;
        }
        let mut s = Section::new("Principals", 2);
        s.blocks.push(Block::List(principals.clone()));
        Some(s)
    }

    /// The source's client quotas, if it has any.
    fn quotas_section(&self) -> Option<Section> {
        if self.client_quotas.is_empty() {
            return None;
        }
        let mut s = Section::new("Client quotas", 2);
        s.blocks.push(Block::Paragraph(format!(
            "{} client quota entit{} on the source. `kcp migrate quotas` applies them to the target (user quotas follow the principal mapping file) and keeps a ledger so that a later run removes only what it set; `kcp create-asset quotas` writes them as Terraform and as a `kafka-configs.sh` script instead.",
            self.client_quotas.len(),
            if self.client_quotas.len() == 1 { "y" } else { "ies" }
        )));
        let mut t = Table::new(&["Entity", "Quotas"]);
        for q in &self.client_quotas {
            let values: Vec<String> = q.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            t.row(vec![q.entity.describe(), values.join(", ")]);
        }
        s.blocks.push(Block::Table(t));
        Some(s)
    }

    /// One row per migrated topic.
    pub(crate) fn csv(&self) -> String {
        let wave_of: BTreeMap<&str, usize> = self
            .waves
            .iter()
            .flat_map(|w| {
                w.producer_topics
                    .iter()
                    .map(move |t| (t.as_str(), w.number))
            })
            .collect();
        let headers = [
            "topic",
            "partitions",
            "replication_factor",
            "records",
            "bytes_estimate",
            "copy_seconds",
            "wave",
            "configs",
            "dropped_configs",
            "exists_on_target",
        ];
        let rows: Vec<Vec<String>> = self
            .create_on_target
            .iter()
            .zip(&self.copy_estimate)
            .map(|(c, copy)| {
                vec![
                    c.topic.clone(),
                    c.partitions.to_string(),
                    c.replication_factor.to_string(),
                    copy.messages.to_string(),
                    copy.bytes_estimate.to_string(),
                    copy.seconds.to_string(),
                    wave_of
                        .get(c.topic.as_str())
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    configs(&c.configs, ";"),
                    c.dropped_configs.join(";"),
                    c.exists_on_target.to_string(),
                ]
            })
            .collect();
        csv(&headers, &rows)
    }
}

/// `key=value` pairs joined by `separator`.
fn configs(configs: &BTreeMap<String, String>, separator: &str) -> String {
    configs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// A duration for people: seconds, minutes and seconds, or hours and minutes.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
