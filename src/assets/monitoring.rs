//! `create-asset replicator`'s monitoring files: Prometheus alerting rules
//! (`prometheus/kcp-alerts.yaml`) and a Grafana dashboard
//! (`grafana/kcp-dashboard.json`) on the metrics of docs/metrics.md.
//!
//! Both are built as values and serialized (YAML, JSON) rather than
//! templated: their PromQL and Grafana's `{{label}}` legends would clash
//! with the template syntax, and serializing quotes the plan name right.
//! Every rule and panel selects `plan="<name>"`, the label kcp puts on all
//! its series.

use serde::Serialize;
use serde_json::{Value, json};

/// `plan="<name>"`, a PromQL label matcher (the name as a string literal).
fn plan_matcher(plan: &str) -> String {
    let escaped = plan.replace('\\', "\\\\").replace('"', "\\\"");
    format!("plan=\"{escaped}\"")
}

#[derive(Serialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
struct Rule {
    alert: &'static str,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<&'static str>,
    labels: Labels,
    annotations: Annotations,
}

#[derive(Serialize)]
struct Labels {
    severity: &'static str,
}

#[derive(Serialize)]
struct Annotations {
    summary: String,
    description: &'static str,
}

/// The alerting rules, as a YAML file.
pub(crate) fn alert_rules(plan: &str, k8s_name: &str, version: &str) -> String {
    let p = plan_matcher(plan);
    let rule = |alert, expr: String, for_, severity, summary: &str, description| Rule {
        alert,
        expr,
        for_,
        labels: Labels { severity },
        annotations: Annotations {
            summary: format!("{plan}: {summary}"),
            description,
        },
    };
    let lag = format!("sum by (plan) (kcp_replicator_lag_records{{{p}}})");
    let lag_before = format!("sum by (plan) (kcp_replicator_lag_records{{{p}}} offset 15m)");
    let rules = vec![
        rule(
            "KcpReplicatorDown",
            format!(r#"absent_over_time(kcp_build_info{{{p},command="migrate replicate"}}[2m])"#),
            Some("3m"),
            "critical",
            "the kcp replicator is down",
            "No metrics from `kcp migrate replicate` for 5 minutes: the process is not running or Prometheus cannot scrape it. Nothing is copied meanwhile; started again, it resumes without loss.",
        ),
        rule(
            "KcpClusterNotAnswering",
            format!("kcp_replicator_cluster_up{{{p}}} == 0"),
            Some("5m"),
            "critical",
            "the {{ $labels.cluster }} cluster does not answer",
            "All brokers of the {{ $labels.cluster }} cluster have been unreachable for 5 minutes (/readyz fails). Copying waits until it is back.",
        ),
        rule(
            "KcpReplicatorLagHigh",
            format!("max by (plan) (kcp_replicator_lag_seconds{{{p}}}) > 300"),
            Some("10m"),
            "warning",
            "the copy is more than 5 minutes behind",
            "The last record copied of a partition with lag is {{ $value | humanizeDuration }} old: the copy does not keep up (see kcp_replicator_throttle_wait_seconds_total and kcp_replicator_backpressure_waits_total).",
        ),
        rule(
            "KcpReplicatorLagGrowing",
            format!("{lag} > {lag_before} and {lag} > 10000"),
            Some("15m"),
            "warning",
            "the lag keeps growing",
            "The lag ({{ $value }} records) has been above what it was 15 minutes before for 15 minutes: the source is written faster than kcp copies.",
        ),
        rule(
            "KcpReplicatorErrors",
            format!(
                r#"increase(kcp_replicator_errors_total{{{p},kind=~"produce|consume|checkpoint|other"}}[10m]) > 0"#
            ),
            None,
            "critical",
            "the replicator stopped on {{ $labels.kind }} errors",
            "A run stopped on a {{ $labels.kind }} error in the last 10 minutes; kcp's log says which record and what to do.",
        ),
        rule(
            "KcpSourceErrorsRetried",
            format!(
                r#"increase(kcp_replicator_errors_total{{{p},kind=~"source_retriable|end_offsets"}}[10m]) > 20"#
            ),
            None,
            "warning",
            "the source keeps failing requests",
            "{{ $value }} {{ $labels.kind }} errors in 10 minutes (librdkafka retries them): brokers restarting, leaders moving or a network problem.",
        ),
        rule(
            "KcpCheckpointStale",
            format!(
                "time() - kcp_replicator_last_checkpoint_timestamp_seconds{{{p}}} > 300 and on (instance) kcp_replicator_partitions{{{p}}} > 0"
            ),
            Some("5m"),
            "warning",
            "offset maps not checkpointed for 5 minutes",
            "The offset maps on the target have not been brought up to date for {{ $value | humanizeDuration }}. A restart would repair them from the provenance headers, more slowly.",
        ),
        rule(
            "KcpCopyLoopStuck",
            format!(
                "time() - kcp_replicator_last_poll_timestamp_seconds{{{p}}} > 120 and on (instance) kcp_replicator_partitions{{{p}}} > 0"
            ),
            Some("2m"),
            "critical",
            "the copy loop is stuck",
            "The copy loop has not gone round for {{ $value | humanizeDuration }} (/healthz fails). Restart the process: it resumes without loss.",
        ),
        rule(
            "KcpCutoverStepFailed",
            format!("increase(kcp_migration_step_failures_total{{{p}}}[15m]) > 0"),
            None,
            "critical",
            "cutover step {{ $labels.step }} failed",
            "`kcp migrate execute` stopped at {{ $labels.step }}; fix the cause (its error and hint) and run it again: done steps are skipped.",
        ),
        rule(
            "KcpCutoverHookFailed",
            format!(r#"increase(kcp_migration_hook_runs_total{{{p},outcome!="ok"}}[15m]) > 0"#),
            None,
            "critical",
            "the hook of {{ $labels.step }} ended {{ $labels.outcome }}",
            "The hook of step {{ $labels.step }} ended {{ $labels.outcome }}: clients may be half-moved. Check them before running `kcp migrate execute` again.",
        ),
    ];
    let file = RuleFile {
        groups: vec![Group {
            name: format!("kcp-{k8s_name}"),
            rules,
        }],
    };
    let body = serde_norway::to_string(&file).expect("rules serialize");
    format!(
        "# Prometheus alerting rules for the kcp replicator of {plan}, generated by kcp {version}.\n\
         # kcp serves its metrics with `--metrics-addr` (docs/metrics.md); every series\n\
         # carries the label {p}, which these rules select.\n\
         # Load with `rule_files:` in prometheus.yml (or in a PrometheusRule of the\n\
         # Prometheus operator); check with `promtool check rules kcp-alerts.yaml`.\n\
         {body}"
    )
}

/// A Grafana time series (or other kind of) panel.
fn panel(
    kind: &str,
    title: &str,
    unit: &str,
    (x, y, w, h): (u32, u32, u32, u32),
    targets: &[(&str, &str)],
) -> Value {
    json!({
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": targets.iter().enumerate().map(|(i, (expr, legend))| json!({
            "refId": ((b'A' + i as u8) as char).to_string(),
            "expr": expr,
            "legendFormat": legend,
        })).collect::<Vec<_>>(),
    })
}

fn row(title: &str, y: u32) -> Value {
    json!({
        "type": "row",
        "title": title,
        "collapsed": false,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    })
}

/// The Grafana dashboard, as a JSON file (import it, pick the data source).
pub(crate) fn dashboard(plan: &str, version: &str) -> String {
    let p = r#"plan="$plan""#;
    let q = |s: &str| s.replace("PLAN", p);
    let panels = vec![
        row("Replicator", 0),
        panel(
            "stat",
            "Lag (records)",
            "short",
            (0, 1, 4, 4),
            &[(&q("sum(kcp_replicator_lag_records{PLAN})"), "lag")],
        ),
        panel(
            "stat",
            "Behind (seconds)",
            "s",
            (4, 1, 4, 4),
            &[(&q("max(kcp_replicator_lag_seconds{PLAN})"), "behind")],
        ),
        panel(
            "stat",
            "Partitions copied",
            "short",
            (8, 1, 4, 4),
            &[(&q("sum(kcp_replicator_partitions{PLAN})"), "partitions")],
        ),
        panel(
            "stat",
            "Clusters answering",
            "short",
            (12, 1, 4, 4),
            &[(
                &q("min by (cluster) (kcp_replicator_cluster_up{PLAN})"),
                "{{cluster}}",
            )],
        ),
        panel(
            "stat",
            "Last checkpoint",
            "s",
            (16, 1, 4, 4),
            &[(
                &q("time() - max(kcp_replicator_last_checkpoint_timestamp_seconds{PLAN})"),
                "ago",
            )],
        ),
        panel(
            "stat",
            "Copy loop last went round",
            "s",
            (20, 1, 4, 4),
            &[(
                &q("time() - max(kcp_replicator_last_poll_timestamp_seconds{PLAN})"),
                "ago",
            )],
        ),
        panel(
            "timeseries",
            "Lag by partition (records)",
            "short",
            (0, 5, 12, 8),
            &[(
                &q("sum by (topic, partition) (kcp_replicator_lag_records{PLAN})"),
                "{{topic}}-{{partition}}",
            )],
        ),
        panel(
            "timeseries",
            "Behind by topic (age of the last record copied)",
            "s",
            (12, 5, 12, 8),
            &[(
                &q("max by (topic) (kcp_replicator_lag_seconds{PLAN})"),
                "{{topic}}",
            )],
        ),
        panel(
            "timeseries",
            "Copied records per second",
            "ops",
            (0, 13, 12, 8),
            &[(
                &q(
                    "sum by (topic) (rate(kcp_replicator_copied_records_total{PLAN}[$__rate_interval]))",
                ),
                "{{topic}}",
            )],
        ),
        panel(
            "timeseries",
            "Copied bytes per second",
            "Bps",
            (12, 13, 12, 8),
            &[(
                &q(
                    "sum by (topic) (rate(kcp_replicator_copied_bytes_total{PLAN}[$__rate_interval]))",
                ),
                "{{topic}}",
            )],
        ),
        panel(
            "timeseries",
            "Errors and restarts",
            "short",
            (0, 21, 8, 8),
            &[
                (
                    &q(
                        "sum by (kind) (increase(kcp_replicator_errors_total{PLAN}[$__rate_interval]))",
                    ),
                    "{{kind}}",
                ),
                (
                    &q("sum(increase(kcp_replicator_restarts_total{PLAN}[$__rate_interval]))"),
                    "restarts",
                ),
                (
                    &q(
                        "sum by (reason) (increase(kcp_replicator_skipped_records_total{PLAN}[$__rate_interval]))",
                    ),
                    "skipped: {{reason}}",
                ),
            ],
        ),
        panel(
            "timeseries",
            "Throttle and backpressure",
            "short",
            (8, 21, 8, 8),
            &[
                (
                    &q(
                        "sum(rate(kcp_replicator_throttle_wait_seconds_total{PLAN}[$__rate_interval]))",
                    ),
                    "throttled (s/s)",
                ),
                (
                    &q(
                        "sum(rate(kcp_replicator_backpressure_waits_total{PLAN}[$__rate_interval]))",
                    ),
                    "queue-full waits/s",
                ),
                (
                    &q("sum(kcp_replicator_in_flight_records{PLAN})"),
                    "in flight",
                ),
            ],
        ),
        panel(
            "timeseries",
            "Checkpoints and offset maps",
            "short",
            (16, 21, 8, 8),
            &[
                (
                    &q("sum(increase(kcp_replicator_checkpoints_total{PLAN}[$__rate_interval]))"),
                    "checkpoints",
                ),
                (&q("sum(kcp_replicator_offset_map_runs{PLAN})"), "map runs"),
            ],
        ),
        row("Cutover (kcp migrate execute)", 29),
        panel(
            "stat",
            "Steps done",
            "short",
            (0, 30, 6, 4),
            &[
                (&q("max(kcp_migration_steps_done{PLAN})"), "done"),
                (&q("max(kcp_migration_steps{PLAN})"), "of"),
            ],
        ),
        {
            let mut current = panel(
                "stat",
                "Current step",
                "none",
                (6, 30, 6, 4),
                &[(
                    &q("max by (step) (kcp_migration_current_step{PLAN})"),
                    "{{step}}",
                )],
            );
            current["options"] = json!({"textMode": "name"});
            current
        },
        panel(
            "stat",
            "Point of no return passed",
            "bool_yes_no",
            (12, 30, 6, 4),
            &[(&q("max(kcp_migration_point_of_no_return{PLAN})"), "passed")],
        ),
        panel(
            "stat",
            "Failed steps and hooks",
            "short",
            (18, 30, 6, 4),
            &[
                (&q("sum(kcp_migration_step_failures_total{PLAN})"), "steps"),
                (
                    &q(r#"sum(kcp_migration_hook_runs_total{PLAN,outcome!="ok"})"#),
                    "hooks",
                ),
            ],
        ),
        panel(
            "bargauge",
            "Time per phase",
            "s",
            (0, 34, 8, 8),
            &[(
                &q("max by (phase) (kcp_migration_phase_seconds{PLAN})"),
                "{{phase}}",
            )],
        ),
        panel(
            "bargauge",
            "Consumer and producer pauses",
            "s",
            (8, 34, 8, 8),
            &[
                (
                    &q("max by (wave) (kcp_migration_consumer_pause_seconds{PLAN})"),
                    "consumers of {{wave}}",
                ),
                (
                    &q("max(kcp_migration_producer_pause_seconds{PLAN})"),
                    "producers",
                ),
            ],
        ),
        panel(
            "bargauge",
            "Hook durations (last run)",
            "s",
            (16, 34, 8, 8),
            &[(
                &q("max by (step) (kcp_migration_hook_duration_seconds{PLAN})"),
                "{{step}}",
            )],
        ),
    ];
    let dashboard = json!({
        "title": format!("kcp migration: {plan}"),
        "description": format!("Generated by kcp {version} (`kcp create-asset replicator`); metrics in docs/metrics.md"),
        "uid": null,
        "tags": ["kcp", "kafka"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
            },
            {
                "name": "plan",
                "label": "Plan",
                "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": "label_values(kcp_build_info, plan)", "refId": "plan"},
                "current": {"text": plan, "value": plan},
                "refresh": 2,
            },
        ]},
        "panels": panels,
    });
    let mut text = serde_json::to_string_pretty(&dashboard).expect("the dashboard serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_name_is_a_promql_string_literal() {
        assert_eq!(plan_matcher(r#"a"b\c"#), r#"plan="a\"b\\c""#);
        let rules = alert_rules(r#"we"ird"#, "weird", "0.1.0");
        let parsed: serde_norway::Value = serde_norway::from_str(&rules).unwrap();
        let expr = parsed["groups"][0]["rules"][1]["expr"].as_str().unwrap();
        assert_eq!(expr, r#"kcp_replicator_cluster_up{plan="we\"ird"} == 0"#);
    }
}
