//! The run report (`<plan>.report.json`): phases, steps, consumer and
//! producer pauses and what verification read, computed from the
//! migration state. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::run_state::{DoneStep, MigrationState};

/// The run report (`<plan>.report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub plan: String,
    pub source: String,
    pub target: String,
    pub kcp_version: &'static str,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `execute` runs it took (more than 1 after a crash or a failure).
    pub runs: u32,
    pub phases: Vec<PhaseTiming>,
    pub steps: Vec<DoneStep>,
    /// Per wave: from the start of its stop step to the end of its start
    /// step; the sink connectors' as `connectors/sinks`.
    pub consumer_pauses: BTreeMap<String, f64>,
    /// From the start of `producers/stop` to the end of `producers/start`.
    pub producer_pause_secs: Option<f64>,
    pub records_verified: u64,
    pub partitions_verified: u64,
}

/// When a phase ran.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub phase: super::steps::Phase,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub secs: f64,
}

/// The run report from the migration state. Pure.
pub fn report(state: &MigrationState) -> RunReport {
    let mut phases: Vec<PhaseTiming> = Vec::new();
    for d in &state.done {
        match phases.last_mut() {
            Some(p) if p.phase == d.phase => p.finished_at = d.finished_at,
            _ => phases.push(PhaseTiming {
                phase: d.phase,
                started_at: d.started_at,
                finished_at: d.finished_at,
                secs: 0.0,
            }),
        }
    }
    for p in &mut phases {
        p.secs = secs(p.started_at, p.finished_at);
    }
    let find = |id: &str| state.done.iter().find(|d| d.id == id);
    let mut consumer_pauses = BTreeMap::new();
    for d in &state.done {
        if let Some(wave) =
            d.id.strip_prefix("consumers/")
                .and_then(|w| w.strip_suffix("/start"))
            && let Some(stop) = find(&format!("consumers/{wave}/stop"))
        {
            consumer_pauses.insert(wave.to_owned(), secs(stop.started_at, d.finished_at));
        }
    }
    // The sink connectors move as one more wave (`cutover.connectors`).
    if let (Some(stop), Some(start)) = (
        find("connectors/sinks/stop"),
        find("connectors/sinks/start"),
    ) {
        consumer_pauses.insert(
            "connectors/sinks".to_owned(),
            secs(stop.started_at, start.finished_at),
        );
    }
    let producer_pause_secs = match (find("producers/stop"), find("producers/start")) {
        (Some(a), Some(b)) => Some(secs(a.started_at, b.finished_at)),
        _ => None,
    };
    let verified = find("verify").map(|d| &d.detail);
    let number = |key: &str| {
        verified
            .and_then(|v| v.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    RunReport {
        plan: state.plan.clone(),
        source: state.source.clone(),
        target: state.target.clone(),
        kcp_version: crate::VERSION,
        started_at: state.created_at,
        finished_at: state
            .done
            .last()
            .map_or(state.updated_at, |d| d.finished_at),
        runs: state.runs,
        phases,
        steps: state.done.clone(),
        consumer_pauses,
        producer_pause_secs,
        records_verified: number("records"),
        partitions_verified: number("partitions"),
    }
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::super::steps::Phase;
    use super::*;
    use serde_json::json;

    fn at(s: u32) -> DateTime<Utc> {
        format!("2026-11-25T10:00:{s:02}Z").parse().unwrap()
    }

    #[test]
    fn report_times_phases_and_pauses() {
        let mut state = MigrationState::new("p", "a", "b", at(0));
        for (id, phase, from, to) in [
            ("preflight", Phase::Preflight, 0, 1),
            ("consumers/w1/stop", Phase::ConsumerCutover, 10, 12),
            ("consumers/w1/offsets", Phase::ConsumerCutover, 12, 13),
            ("consumers/w1/start", Phase::ConsumerCutover, 13, 15),
            ("connectors/sinks/stop", Phase::ConsumerCutover, 15, 16),
            ("connectors/sinks/offsets", Phase::ConsumerCutover, 16, 17),
            ("connectors/sinks/start", Phase::ConsumerCutover, 17, 19),
            ("producers/stop", Phase::ProducerCutover, 20, 23),
            ("producers/drain", Phase::ProducerCutover, 23, 24),
            ("producers/start", Phase::ProducerCutover, 24, 25),
        ] {
            state.done.push(DoneStep {
                id: id.into(),
                phase,
                started_at: at(from),
                finished_at: at(to),
                detail: Value::Null,
            });
        }
        state.done.push(DoneStep {
            id: "verify".into(),
            phase: Phase::Verify,
            started_at: at(25),
            finished_at: at(27),
            detail: json!({ "records": 42, "partitions": 3 }),
        });
        let r = report(&state);
        let phases: Vec<(Phase, f64)> = r.phases.iter().map(|p| (p.phase, p.secs)).collect();
        assert_eq!(
            phases,
            [
                (Phase::Preflight, 1.0),
                (Phase::ConsumerCutover, 9.0),
                (Phase::ProducerCutover, 5.0),
                (Phase::Verify, 2.0)
            ]
        );
        assert_eq!(r.consumer_pauses["w1"], 5.0);
        assert_eq!(r.consumer_pauses["connectors/sinks"], 4.0);
        assert_eq!(r.producer_pause_secs, Some(5.0));
        assert_eq!((r.records_verified, r.partitions_verified), (42, 3));
    }
}
