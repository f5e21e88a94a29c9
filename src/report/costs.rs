//! The cost report: Cost Explorer rows from `kcp discover`, per region,
//! service bucket and usage type, with the five cost metrics, daily and
//! monthly sums, and the reproducible query.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::doc::{Block, Chart, Document, Section, Series, Table, csv, num};
use super::{Filters, ReportError, Stamp};
use crate::state::State;

/// The five Cost Explorer metrics, in display order.
pub(crate) const COST_METRICS: [&str; 5] = [
    "UnblendedCost",
    "BlendedCost",
    "AmortizedCost",
    "NetUnblendedCost",
    "NetAmortizedCost",
];

/// Amounts keyed by metric name.
pub(crate) type Amounts = BTreeMap<String, f64>;

#[derive(Debug, Serialize)]
pub(crate) struct CostReport {
    pub report: &'static str,
    pub schema_version: u32,
    pub generated_from: Stamp,
    pub regions: Vec<RegionCosts>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RegionCosts {
    pub region: String,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
    pub currency: String,
    pub total: Amounts,
    pub buckets: Vec<BucketCosts>,
    pub daily: Vec<DailyCost>,
    pub monthly: Vec<MonthlyCost>,
    pub query: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct BucketCosts {
    /// MSK, MSK Connect, EC2-Other, ELB, VPC, ACM or the service name.
    pub bucket: String,
    pub total: Amounts,
    pub usage_types: Vec<UsageCosts>,
}

#[derive(Debug, Serialize)]
pub(crate) struct UsageCosts {
    pub service: String,
    pub usage_type: String,
    pub amounts: Amounts,
}

#[derive(Debug, Serialize)]
pub(crate) struct DailyCost {
    pub date: NaiveDate,
    /// Unblended cost per bucket.
    pub by_bucket: BTreeMap<String, f64>,
    pub unblended_total: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct MonthlyCost {
    /// `YYYY-MM`.
    pub month: String,
    pub total: Amounts,
}

/// The bucket a Cost Explorer service and usage type belong to.
pub(crate) fn bucket(service: &str, usage_type: &str) -> String {
    match service {
        "Amazon Managed Streaming for Apache Kafka" if usage_type.contains("Connect") => {
            "MSK Connect"
        }
        "Amazon Managed Streaming for Apache Kafka" => "MSK",
        "EC2 - Other" => "EC2-Other",
        "Elastic Load Balancing" | "Amazon Elastic Load Balancing" => "ELB",
        "Amazon Virtual Private Cloud" => "VPC",
        "AWS Certificate Manager" => "ACM",
        other => other,
    }
    .to_owned()
}

fn add(into: &mut Amounts, from: &Amounts) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn round(amounts: &mut Amounts) {
    for v in amounts.values_mut() {
        *v = (*v * 100.0).round() / 100.0;
    }
}

pub(crate) fn build(state: &State, filters: &Filters) -> Result<CostReport, ReportError> {
    filters.check_regions(state)?;
    let mut regions = Vec::new();
    for (name, region) in &state.msk_regions {
        if !filters.region_selected(name) {
            continue;
        }
        let Some(costs) = &region.costs else { continue };
        let start = filters.start.unwrap_or(costs.start).max(costs.start);
        let end = filters.end.unwrap_or(costs.end).min(costs.end);
        let rows: Vec<_> = costs
            .rows
            .iter()
            .filter(|r| r.date >= start && r.date < end)
            .collect();
        let mut buckets: BTreeMap<String, BTreeMap<(String, String), Amounts>> = BTreeMap::new();
        let mut daily: BTreeMap<NaiveDate, BTreeMap<String, f64>> = BTreeMap::new();
        let mut monthly: BTreeMap<String, Amounts> = BTreeMap::new();
        let mut currency = String::from("USD");
        for row in &rows {
            let b = bucket(&row.service, &row.usage_type);
            let amounts: Amounts = row
                .metrics
                .iter()
                .map(|(k, a)| (k.clone(), a.amount))
                .collect();
            if let Some(a) = row.metrics.values().next() {
                currency = a.unit.clone();
            }
            add(
                buckets
                    .entry(b.clone())
                    .or_default()
                    .entry((row.service.clone(), row.usage_type.clone()))
                    .or_default(),
                &amounts,
            );
            *daily.entry(row.date).or_default().entry(b).or_default() +=
                amounts.get("UnblendedCost").copied().unwrap_or(0.0);
            add(
                monthly
                    .entry(row.date.format("%Y-%m").to_string())
                    .or_default(),
                &amounts,
            );
        }
        let mut total = Amounts::new();
        let buckets = buckets
            .into_iter()
            .map(|(bucket, usage)| {
                let mut bucket_total = Amounts::new();
                let usage_types = usage
                    .into_iter()
                    .map(|((service, usage_type), mut amounts)| {
                        add(&mut bucket_total, &amounts);
                        round(&mut amounts);
                        UsageCosts {
                            service,
                            usage_type,
                            amounts,
                        }
                    })
                    .collect();
                add(&mut total, &bucket_total);
                round(&mut bucket_total);
                BucketCosts {
                    bucket,
                    total: bucket_total,
                    usage_types,
                }
            })
            .collect();
        round(&mut total);
        regions.push(RegionCosts {
            region: name.clone(),
            start,
            end,
            currency,
            total,
            buckets,
            daily: daily
                .into_iter()
                .map(|(date, mut by_bucket)| {
                    let sum: f64 = by_bucket.values().sum();
                    by_bucket
                        .values_mut()
                        .for_each(|v| *v = (*v * 100.0).round() / 100.0);
                    DailyCost {
                        date,
                        by_bucket,
                        unblended_total: (sum * 100.0).round() / 100.0,
                    }
                })
                .collect(),
            monthly: monthly
                .into_iter()
                .map(|(month, mut total)| {
                    round(&mut total);
                    MonthlyCost { month, total }
                })
                .collect(),
            query: costs.query.clone(),
        });
    }
    if regions.is_empty() {
        return Err(ReportError::NoData {
            what: "Cost Explorer data".into(),
            hint: "run `kcp discover` without `--skip-costs` for the regions you want".into(),
        });
    }
    Ok(CostReport {
        report: "costs",
        schema_version: super::REPORT_SCHEMA_VERSION,
        generated_from: Stamp::of(state),
        regions,
    })
}

fn amount_cells(amounts: &Amounts) -> Vec<String> {
    COST_METRICS
        .iter()
        .map(|m| num(amounts.get(*m).copied().unwrap_or(0.0), 2))
        .collect()
}

impl CostReport {
    pub(crate) fn document(&self) -> Document {
        let mut doc = Document {
            title: "AWS cost report".into(),
            meta: self.generated_from.meta(),
            sections: Vec::new(),
        };
        for r in &self.regions {
            doc.meta.push((
                format!("Period ({})", r.region),
                format!("{} to {} (end exclusive)", r.start, r.end),
            ));
        }
        for r in &self.regions {
            let mut summary = Section::new(format!("{}: summary ({})", r.region, r.currency), 2);
            let mut table = Table::new(&[
                "Service",
                ">Unblended",
                ">Blended",
                ">Amortized",
                ">Net unblended",
                ">Net amortized",
            ]);
            for b in &r.buckets {
                let mut row = vec![b.bucket.clone()];
                row.extend(amount_cells(&b.total));
                table.row(row);
            }
            let mut row = vec!["Total".to_owned()];
            row.extend(amount_cells(&r.total));
            table.row(row);
            summary.blocks.push(Block::Table(table));
            let mut names: Vec<&String> = r.daily.iter().flat_map(|d| d.by_bucket.keys()).collect();
            names.sort();
            names.dedup();
            summary.blocks.push(Block::Chart(Chart {
                title: format!("{}: daily unblended cost per service", r.region),
                unit: r.currency.clone(),
                series: names
                    .into_iter()
                    .map(|name| Series {
                        name: name.clone(),
                        points: r
                            .daily
                            .iter()
                            .map(|d| {
                                (
                                    day_start(d.date),
                                    d.by_bucket.get(name).copied().unwrap_or(0.0),
                                )
                            })
                            .collect(),
                    })
                    .collect(),
            }));
            doc.sections.push(summary);

            for b in &r.buckets {
                let mut section = Section::new(format!("{}: {}", r.region, b.bucket), 3);
                let mut table = Table::new(&[
                    "Usage type",
                    ">Unblended",
                    ">Blended",
                    ">Amortized",
                    ">Net unblended",
                    ">Net amortized",
                ]);
                for u in &b.usage_types {
                    let mut row = vec![u.usage_type.clone()];
                    row.extend(amount_cells(&u.amounts));
                    table.row(row);
                }
                let mut row = vec!["Total".to_owned()];
                row.extend(amount_cells(&b.total));
                table.row(row);
                section.blocks.push(Block::Table(table));
                doc.sections.push(section);
            }

            let mut months = Section::new(format!("{}: monthly totals", r.region), 3);
            let mut table = Table::new(&[
                "Month",
                ">Unblended",
                ">Blended",
                ">Amortized",
                ">Net unblended",
                ">Net amortized",
            ]);
            for m in &r.monthly {
                let mut row = vec![m.month.clone()];
                row.extend(amount_cells(&m.total));
                table.row(row);
            }
            months.blocks.push(Block::Table(table));
            doc.sections.push(months);

            let mut days = Section::new(format!("{}: daily totals (unblended)", r.region), 3);
            let mut table = Table::new(&["Date", ">Unblended"]);
            for d in &r.daily {
                table.row(vec![d.date.to_string(), num(d.unblended_total, 2)]);
            }
            days.blocks.push(Block::Table(table));
            doc.sections.push(days);

            let mut query = Section::new(format!("{}: query", r.region), 3);
            query.blocks.push(Block::Paragraph(
                "The Cost Explorer query behind these figures:".into(),
            ));
            query.blocks.push(Block::Code(r.query.clone()));
            doc.sections.push(query);
        }
        doc
    }

    /// One row per region, day, service and usage type.
    pub(crate) fn csv(&self, state: &State, filters: &Filters) -> String {
        let mut headers = vec!["region", "date", "bucket", "service", "usage_type"];
        headers.extend(COST_METRICS);
        headers.push("currency");
        let mut rows = Vec::new();
        for r in &self.regions {
            let Some(costs) = state
                .msk_regions
                .get(&r.region)
                .and_then(|reg| reg.costs.as_ref())
            else {
                continue;
            };
            for row in costs
                .rows
                .iter()
                .filter(|row| row.date >= r.start && row.date < r.end)
            {
                if !filters.region_selected(&r.region) {
                    continue;
                }
                let mut cells = vec![
                    r.region.clone(),
                    row.date.to_string(),
                    bucket(&row.service, &row.usage_type),
                    row.service.clone(),
                    row.usage_type.clone(),
                ];
                cells.extend(COST_METRICS.iter().map(|m| {
                    row.metrics
                        .get(*m)
                        .map(|a| a.amount.to_string())
                        .unwrap_or_default()
                }));
                cells.push(r.currency.clone());
                rows.push(cells);
            }
        }
        csv(&headers, &rows)
    }
}

pub(super) fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(
            bucket(
                "Amazon Managed Streaming for Apache Kafka",
                "USE1-Kafka.m5.large"
            ),
            "MSK"
        );
        assert_eq!(
            bucket(
                "Amazon Managed Streaming for Apache Kafka",
                "USE1-KafkaConnect-WorkerHours"
            ),
            "MSK Connect"
        );
        assert_eq!(bucket("EC2 - Other", "x"), "EC2-Other");
        assert_eq!(bucket("Amazon Virtual Private Cloud", "x"), "VPC");
        assert_eq!(bucket("AWS Certificate Manager", "x"), "ACM");
        assert_eq!(bucket("Elastic Load Balancing", "x"), "ELB");
    }
}
