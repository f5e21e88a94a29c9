//! CloudWatch reads that return every datapoint.
//!
//! `GetMetricData` returns at most 100,800 datapoints per request (over all
//! its queries) and at most 500 queries, and pages its answer with
//! `NextToken`. A long window at a fine period (15 days at 60 s is 21,600
//! points per series; 6 brokers × 5 metrics is 648,000) must be split into
//! sub-windows, and every page of every sub-window stitched back together.
//! Dropping later pages is a known way to lose data silently; [`fetch`]
//! follows every token and tests prove no point goes missing.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Datapoints one `GetMetricData` request may return, over all its queries.
pub(crate) const MAX_DATAPOINTS: i64 = 100_800;
/// Queries one request may carry.
pub(crate) const MAX_QUERIES: usize = 500;

/// One metric query (`MetricStat`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MetricQuery {
    /// Unique within a request; starts with a lowercase letter.
    pub id: String,
    pub metric: String,
    /// Dimension name → value, e.g. `Cluster Name`, `Broker ID`.
    pub dimensions: Vec<(String, String)>,
    /// `Average`, `Maximum`, `Sum`, ...
    pub stat: String,
    pub period: u32,
}

/// Datapoints of one series, by time.
pub(crate) type Points = Vec<(DateTime<Utc>, f64)>;

/// One page of an answer: points per query id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub series: Vec<(String, Points)>,
    pub next_token: Option<String>,
}

/// Where datapoints come from: CloudWatch, or a fake in tests.
pub(crate) trait MetricSource: Sync {
    type Error;
    /// One `GetMetricData` request (one page).
    fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<Page, Self::Error>> + Send;
}

/// Splits `[start, end)` into windows such that `queries` series at
/// `period` seconds never exceed [`MAX_DATAPOINTS`] in one request.
/// Window edges are aligned to the period so no point straddles two.
pub(crate) fn windows(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: u32,
    queries: usize,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let period = i64::from(period.max(1));
    let per_query = (MAX_DATAPOINTS / queries.max(1) as i64).max(1);
    let span = Duration::seconds(per_query * period);
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + span).min(end);
        out.push((from, to));
        from = to;
    }
    out
}

/// Reads every datapoint of every query over `[start, end)`: queries in
/// groups the request limits allow, each group over as many windows as the
/// datapoint limit needs, each window over all its pages. Points come back
/// sorted by time, one per timestamp.
pub(crate) async fn fetch<S: MetricSource>(
    source: &S,
    queries: &[MetricQuery],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(BTreeMap<String, Vec<(DateTime<Utc>, f64)>>, usize), S::Error> {
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> =
        queries.iter().map(|q| (q.id.clone(), Vec::new())).collect();
    let mut requests = 0;
    // A group never holds more queries than datapoints allow one point each.
    let group_size = MAX_QUERIES.min(MAX_DATAPOINTS as usize);
    for group in queries.chunks(group_size) {
        let period = group.iter().map(|q| q.period).min().unwrap_or(60);
        for (from, to) in windows(start, end, period, group.len()) {
            let mut token = None;
            loop {
                let page = source.get_metric_data(group, from, to, token).await?;
                requests += 1;
                for (id, points) in page.series {
                    out.entry(id).or_default().extend(points);
                }
                match page.next_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
    }
    for points in out.values_mut() {
        points.sort_by_key(|(t, _)| *t);
        points.dedup_by_key(|(t, _)| *t);
    }
    Ok((out, requests))
}

/// Sums several series point by point (brokers of one cluster).
pub(crate) fn sum_series<'a>(
    series: impl IntoIterator<Item = &'a Vec<(DateTime<Utc>, f64)>>,
) -> Vec<(DateTime<Utc>, f64)> {
    let mut sums: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for s in series {
        for (t, v) in s {
            *sums.entry(*t).or_default() += v;
        }
    }
    sums.into_iter().collect()
}

/// The `aws cloudwatch get-metric-data` command that reproduces a series:
/// the per-broker queries and, when there are several, the `SUM` that kcp
/// computes (real CloudWatch evaluates it; kcp adds the series itself).
pub(crate) fn cli_command(
    region: &str,
    queries: &[MetricQuery],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let mut items: Vec<serde_json::Value> = queries
        .iter()
        .map(|q| {
            serde_json::json!({
                "Id": q.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Kafka",
                        "MetricName": q.metric,
                        "Dimensions": q.dimensions.iter().map(|(n, v)| serde_json::json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
                    },
                    "Period": q.period,
                    "Stat": q.stat,
                },
                "ReturnData": queries.len() == 1,
            })
        })
        .collect();
    if queries.len() > 1 {
        let ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        items.push(serde_json::json!({
            "Id": "total",
            "Expression": format!("SUM([{}])", ids.join(",")),
            "ReturnData": true,
        }));
    }
    let json = serde_json::to_string(&items).expect("json values serialize");
    format!(
        "aws cloudwatch get-metric-data --region {} --start-time {} --end-time {} --metric-data-queries '{}'",
        shell_word(region),
        start.format("%Y-%m-%dT%H:%M:%SZ"),
        end.format("%Y-%m-%dT%H:%M:%SZ"),
        json.replace('\'', "'\\''")
    )
}

/// A word safe to paste into a POSIX shell.
pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A CloudWatch stand-in: one point per period per query, pages of at
    /// most `page` points, and a hard failure when a request could return
    /// more than the real limit.
    struct Fake {
        page: usize,
        calls: Mutex<usize>,
    }

    impl MetricSource for Fake {
        type Error = String;
        async fn get_metric_data(
            &self,
            queries: &[MetricQuery],
            start: DateTime<Utc>,
            end: DateTime<Utc>,
            next_token: Option<String>,
        ) -> Result<Page, String> {
            *self.calls.lock().unwrap() += 1;
            if queries.len() > MAX_QUERIES {
                return Err(format!("{} queries", queries.len()));
            }
            let mut all = Vec::new();
            for q in queries {
                let mut t = start;
                while t < end {
                    all.push((q.id.clone(), t, t.timestamp() as f64));
                    t += Duration::seconds(i64::from(q.period));
                }
            }
            if all.len() as i64 > MAX_DATAPOINTS {
                return Err(format!("{} datapoints in one request", all.len()));
            }
            let skip: usize = next_token.map_or(0, |t| t.parse().unwrap());
            let chunk: Vec<_> = all.iter().skip(skip).take(self.page).cloned().collect();
            let next = (skip + chunk.len() < all.len()).then(|| (skip + chunk.len()).to_string());
            let mut series: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
            for (id, t, v) in chunk {
                series.entry(id).or_default().push((t, v));
            }
            Ok(Page {
                series: series.into_iter().collect(),
                next_token: next,
            })
        }
    }

    fn broker_queries(brokers: usize, metrics: &[&str], period: u32) -> Vec<MetricQuery> {
        let mut out = Vec::new();
        for m in metrics {
            for b in 1..=brokers {
                out.push(MetricQuery {
                    id: format!("m{}_{b}", out.len()),
                    metric: (*m).to_owned(),
                    dimensions: vec![
                        ("Cluster Name".into(), "orders".into()),
                        ("Broker ID".into(), b.to_string()),
                    ],
                    stat: "Average".into(),
                    period,
                });
            }
        }
        out
    }

    #[tokio::test]
    async fn every_point_of_15_days_at_60s_on_6_brokers_comes_back() {
        let start = "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let end = start + Duration::days(15);
        let queries = broker_queries(
            6,
            &[
                "BytesInPerSec",
                "BytesOutPerSec",
                "MessagesInPerSec",
                "PartitionCount",
                "ClientConnectionCount",
            ],
            60,
        );
        let fake = Fake {
            page: 7_919, // pages that do not divide anything evenly
            calls: Mutex::new(0),
        };
        let (series, requests) = fetch(&fake, &queries, start, end).await.unwrap();
        let expected = 15 * 24 * 60;
        assert_eq!(series.len(), 30);
        for (id, points) in &series {
            assert_eq!(points.len(), expected, "{id}");
            assert_eq!(points.first().unwrap().0, start);
            assert_eq!(points.last().unwrap().0, end - Duration::seconds(60));
            assert!(
                points
                    .windows(2)
                    .all(|w| w[1].0 - w[0].0 == Duration::seconds(60)),
                "{id}: gap or overlap"
            );
        }
        // 648,000 points need at least 7 requests' worth of datapoints.
        assert!(
            requests > (30 * expected) / MAX_DATAPOINTS as usize,
            "{requests}"
        );
        assert_eq!(*fake.calls.lock().unwrap(), requests);
    }

    #[tokio::test]
    async fn more_than_500_queries_are_split_into_requests() {
        let start = "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let queries = broker_queries(120, &["A", "B", "C", "D", "E"], 3600);
        let fake = Fake {
            page: 100_800,
            calls: Mutex::new(0),
        };
        let (series, _) = fetch(&fake, &queries, start, start + Duration::days(2))
            .await
            .unwrap();
        assert_eq!(series.len(), 600);
        assert!(series.values().all(|p| p.len() == 48));
    }

    #[test]
    fn windows_cover_the_range_exactly() {
        let start = "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let end = start + Duration::days(15);
        let w = windows(start, end, 60, 30);
        assert_eq!(w.first().unwrap().0, start);
        assert_eq!(w.last().unwrap().1, end);
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
        assert!(
            w.iter()
                .all(|(a, b)| (*b - *a).num_seconds() / 60 * 30 <= MAX_DATAPOINTS)
        );
    }

    #[test]
    fn sums_and_commands() {
        let t = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        let total = sum_series([&vec![(t(0), 1.0), (t(60), 2.0)], &vec![(t(0), 3.0)]]);
        assert_eq!(total, vec![(t(0), 4.0), (t(60), 2.0)]);
        let q = broker_queries(2, &["BytesInPerSec"], 3600);
        let cmd = cli_command("us-east-1", &q, t(0), t(3600));
        assert!(cmd.starts_with("aws cloudwatch get-metric-data --region us-east-1 --start-time 1970-01-01T00:00:00Z"), "{cmd}");
        assert!(cmd.contains(r#""Expression":"SUM([m0_1,m1_2])""#), "{cmd}");
        assert!(cmd.contains(r#""Name":"Broker ID","Value":"2""#), "{cmd}");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
