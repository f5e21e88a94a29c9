//! The metrics report: per MSK cluster, statistics of each CloudWatch series
//! (average, minimum, maximum, p95, p99, peak), charts of throughput and
//! partition count over time, and the queries that produced the series.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;

use super::doc::{Block, Chart, Document, Section, Series, Table, csv, num};
use super::{Filters, ReportError, Stamp};
use crate::state::{MetricSeries, State};

#[derive(Debug, Serialize)]
pub(crate) struct MetricsReport {
    pub report: &'static str,
    pub schema_version: u32,
    pub generated_from: Stamp,
    pub clusters: Vec<ClusterMetrics>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ClusterMetrics {
    pub region: String,
    pub name: String,
    pub arn: String,
    pub cluster_type: String,
    pub kafka_version: Option<String>,
    pub broker_count: Option<u32>,
    pub instance_type: Option<String>,
    pub series: Vec<SeriesStats>,
    #[serde(skip)]
    points: Vec<(String, Vec<(i64, f64)>)>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SeriesStats {
    pub metric: String,
    pub statistic: String,
    pub unit: String,
    pub topic: Option<String>,
    pub period_seconds: u32,
    pub count: usize,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
    pub p99: f64,
    pub peak_at: Option<DateTime<Utc>>,
    /// Hour of day (UTC) with the highest average, for series of hourly or
    /// finer periods.
    pub peak_hour_utc: Option<u32>,
    pub query: String,
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn r3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn stats(series: &MetricSeries, filters: &Filters) -> (SeriesStats, Vec<(i64, f64)>) {
    let points: Vec<_> = series
        .points
        .iter()
        .filter(|p| filters.in_window(p.t))
        .collect();
    let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
    values.sort_by(f64::total_cmp);
    let count = values.len();
    let avg = if count == 0 {
        0.0
    } else {
        values.iter().sum::<f64>() / count as f64
    };
    let peak = points
        .iter()
        .max_by(|a, b| a.v.total_cmp(&b.v).then(b.t.cmp(&a.t)));
    let peak_hour_utc = (series.period_seconds <= 3600 && count > 0).then(|| {
        let mut by_hour: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
        for p in &points {
            let e = by_hour.entry(p.t.hour()).or_default();
            e.0 += p.v;
            e.1 += 1;
        }
        by_hour
            .into_iter()
            .map(|(h, (sum, n))| (h, sum / n as f64))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(h, _)| h)
            .unwrap_or(0)
    });
    (
        SeriesStats {
            metric: series.metric.clone(),
            statistic: series.statistic.clone(),
            unit: series.unit.clone(),
            topic: series.topic.clone(),
            period_seconds: series.period_seconds,
            count,
            avg: r3(avg),
            min: r3(values.first().copied().unwrap_or(0.0)),
            max: r3(values.last().copied().unwrap_or(0.0)),
            p95: r3(percentile(&values, 95.0)),
            p99: r3(percentile(&values, 99.0)),
            peak_at: peak.map(|p| p.t),
            peak_hour_utc,
            query: series.query.clone(),
        },
        points.iter().map(|p| (p.t.timestamp(), p.v)).collect(),
    )
}

pub(crate) fn build(state: &State, filters: &Filters) -> Result<MetricsReport, ReportError> {
    filters.check_regions(state)?;
    let known: Vec<String> = state
        .msk_regions
        .values()
        .flat_map(|r| r.clusters.values().map(|c| c.name.clone()))
        .collect();
    for name in &filters.clusters {
        if !known.contains(name)
            && !state
                .msk_regions
                .values()
                .any(|r| r.clusters.contains_key(name))
        {
            return Err(ReportError::NoMskCluster {
                name: name.clone(),
                known,
                scanned: state.clusters.contains_key(name),
            });
        }
    }
    let mut clusters = Vec::new();
    for (region_name, region) in &state.msk_regions {
        if !filters.region_selected(region_name) {
            continue;
        }
        for cluster in region.clusters.values() {
            if !filters.cluster_selected(&cluster.name) && !filters.cluster_selected(&cluster.arn) {
                continue;
            }
            if cluster.metrics.is_empty() {
                continue;
            }
            let (series, points): (Vec<_>, Vec<_>) = cluster
                .metrics
                .iter()
                .map(|s| {
                    let (st, pts) = stats(s, filters);
                    let label = match &s.topic {
                        Some(t) => format!("{} ({t})", s.metric),
                        None => s.metric.clone(),
                    };
                    (st, (label, pts))
                })
                .unzip();
            clusters.push(ClusterMetrics {
                region: region_name.clone(),
                name: cluster.name.clone(),
                arn: cluster.arn.clone(),
                cluster_type: format!("{:?}", cluster.cluster_type).to_lowercase(),
                kafka_version: cluster.kafka_version.clone(),
                broker_count: cluster.broker_count,
                instance_type: cluster.instance_type.clone(),
                series,
                points,
            });
        }
    }
    clusters.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    if clusters.is_empty() {
        return Err(ReportError::NoData {
            what: "CloudWatch metrics for the selected clusters".into(),
            hint: "run `kcp discover` without `--skip-metrics`".into(),
        });
    }
    Ok(MetricsReport {
        report: "metrics",
        schema_version: super::REPORT_SCHEMA_VERSION,
        generated_from: Stamp::of(state),
        clusters,
    })
}

impl MetricsReport {
    pub(crate) fn document(&self) -> Document {
        let mut doc = Document {
            title: "MSK metrics report".into(),
            meta: self.generated_from.meta(),
            sections: Vec::new(),
        };
        for c in &self.clusters {
            let mut section = Section::new(format!("{} ({})", c.name, c.region), 2);
            section.blocks.push(Block::List(vec![
                format!("ARN: {}", c.arn),
                format!("Type: {}", c.cluster_type),
                format!(
                    "Kafka version: {}",
                    c.kafka_version.as_deref().unwrap_or("unknown")
                ),
                format!(
                    "Brokers: {}",
                    c.broker_count.map_or("n/a".to_owned(), |b| b.to_string())
                ),
                format!(
                    "Instance type: {}",
                    c.instance_type.as_deref().unwrap_or("n/a")
                ),
            ]));
            let mut table = Table::new(&[
                "Metric",
                "Statistic",
                "Unit",
                ">Points",
                ">Average",
                ">Min",
                ">Max",
                ">p95",
                ">p99",
                "Peak",
            ]);
            for s in &c.series {
                let name = match &s.topic {
                    Some(t) => format!("{} ({t})", s.metric),
                    None => s.metric.clone(),
                };
                let peak = match (s.peak_at, s.peak_hour_utc) {
                    (Some(at), Some(h)) => format!(
                        "{} (busiest hour {h:02}:00 UTC)",
                        at.format("%Y-%m-%d %H:%M")
                    ),
                    (Some(at), None) => at.format("%Y-%m-%d").to_string(),
                    _ => "n/a".into(),
                };
                table.row(vec![
                    name,
                    s.statistic.clone(),
                    s.unit.clone(),
                    s.count.to_string(),
                    num(s.avg, 2),
                    num(s.min, 2),
                    num(s.max, 2),
                    num(s.p95, 2),
                    num(s.p99, 2),
                    peak,
                ]);
            }
            section.blocks.push(Block::Table(table));
            let pick = |names: &[&str]| -> Vec<Series> {
                c.points
                    .iter()
                    .filter(|(label, _)| {
                        names
                            .iter()
                            .any(|n| label == n || label.starts_with(&format!("{n} (")))
                    })
                    .map(|(label, pts)| Series {
                        name: label.clone(),
                        points: pts.clone(),
                    })
                    .collect()
            };
            let throughput = pick(&["BytesInPerSec", "BytesOutPerSec"]);
            if !throughput.is_empty() {
                section.blocks.push(Block::Chart(Chart {
                    title: format!("{}: throughput", c.name),
                    unit: "Bytes/Second".into(),
                    series: throughput,
                }));
            }
            let partitions = pick(&["PartitionCount", "GlobalPartitionCount"]);
            if !partitions.is_empty() {
                section.blocks.push(Block::Chart(Chart {
                    title: format!("{}: partitions", c.name),
                    unit: "Count".into(),
                    series: partitions,
                }));
            }
            doc.sections.push(section);
            let mut queries = Section::new(format!("{}: queries", c.name), 3);
            for s in &c.series {
                queries.blocks.push(Block::Paragraph(format!(
                    "{} ({}, {} s):",
                    s.metric, s.statistic, s.period_seconds
                )));
                queries.blocks.push(Block::Code(s.query.clone()));
            }
            doc.sections.push(queries);
        }
        doc
    }

    pub(crate) fn csv(&self) -> String {
        let headers = [
            "region",
            "cluster",
            "metric",
            "topic",
            "statistic",
            "unit",
            "period_seconds",
            "points",
            "avg",
            "min",
            "max",
            "p95",
            "p99",
            "peak_at",
        ];
        let rows: Vec<Vec<String>> = self
            .clusters
            .iter()
            .flat_map(|c| {
                c.series.iter().map(move |s| {
                    vec![
                        c.region.clone(),
                        c.name.clone(),
                        s.metric.clone(),
                        s.topic.clone().unwrap_or_default(),
                        s.statistic.clone(),
                        s.unit.clone(),
                        s.period_seconds.to_string(),
                        s.count.to_string(),
                        s.avg.to_string(),
                        s.min.to_string(),
                        s.max.to_string(),
                        s.p95.to_string(),
                        s.p99.to_string(),
                        s.peak_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ]
                })
            })
            .collect();
        csv(&headers, &rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(percentile(&[], 95.0), 0.0);
    }
}
