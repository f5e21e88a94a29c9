//! The cutover as an ordered list of steps, from a plan: what `kcp migrate
//! execute` runs, and what `--dry-run` prints for review. Pure.

use serde::Serialize;

use crate::replicator::{Cutover, LoadedPlan};

/// One step of the cutover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `preflight`, `prepare-target`, `backfill`, `catch-up`,
    /// `consumer-cutover`, `producer-cutover`, `verify`, `finish`.
    pub phase: &'static str,
    /// The wave, for consumer cutover steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    pub does: String,
    /// Hook commands the step runs, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<String>,
    /// Past this step, rollback can no longer restore the source as it was.
    pub point_of_no_return: bool,
}

fn step(phase: &'static str, does: String) -> Step {
    Step {
        phase,
        wave: None,
        does,
        hooks: Vec::new(),
        point_of_no_return: false,
    }
}

/// The steps of a plan, in order.
pub fn steps(plan: &LoadedPlan) -> Vec<Step> {
    let p = &plan.plan;
    let default = Cutover {
        lag_threshold_records: 1_000,
        lag_sustain_secs: 30,
        producer_quiet_secs: 10,
        move_producers: None,
        waves: Vec::new(),
    };
    let c = p.cutover.as_ref().unwrap_or(&default);
    let mut out = vec![
        step(
            "preflight",
            format!(
                "connect to `{}` and `{}` with the credentials file; check that target topics are absent or have at least the source's partitions",
                p.source, p.target
            ),
        ),
        step(
            "prepare-target",
            "create the missing target topics with the source's partition counts and carried configs".into(),
        ),
        step(
            "backfill",
            "copy every selected topic's history with the replicator (provenance headers, offset maps on the target)".into(),
        ),
        step(
            "catch-up",
            format!(
                "keep replicating until every partition's lag stays under {} record(s) for {} s",
                c.lag_threshold_records, c.lag_sustain_secs
            ),
        ),
    ];
    for w in &c.waves {
        let mut hooks = Vec::new();
        let stop = match &w.stop_consumers {
            Some(cmd) => {
                hooks.push(cmd.clone());
                "run the stop hook, then wait until the groups have no members on the source"
            }
            None => {
                "wait until the groups' consumers are stopped on the source (no hook: stop them yourself)"
            }
        };
        let start = match &w.start_consumers {
            Some(cmd) => {
                hooks.push(cmd.clone());
                "run the start hook"
            }
            None => "start the consumers against the target yourself",
        };
        out.push(Step {
            phase: "consumer-cutover",
            wave: Some(w.name.clone()),
            does: format!(
                "groups {}: {stop}; translate their committed offsets exactly and commit them on the target, read them back; {start}",
                w.groups.join(", ")
            ),
            hooks,
            point_of_no_return: false,
        });
    }
    out.push(Step {
        phase: "producer-cutover",
        wave: None,
        does: format!(
            "{}; wait until no source partition grows for {} s; drain the replicator to lag 0 on every partition",
            match &c.move_producers {
                Some(_) => "run the producer hook",
                None => "point the producers at the target yourself",
            },
            c.producer_quiet_secs
        ),
        hooks: c.move_producers.iter().cloned().collect(),
        point_of_no_return: true,
    });
    out.push(step(
        "verify",
        "compare per-partition record counts and a checksum over the copied range".into(),
    ));
    out.push(step(
        "finish",
        "stop replicating and write the run report (phases, timings, counts)".into(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn waves_become_steps_and_producers_mark_the_point_of_no_return() {
        let plan = LoadedPlan::parse(
            Path::new("p.yaml"),
            "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\ncutover:\n  move_producers: ./move.sh\n  waves:\n    - { name: w1, groups: [g1], stop_consumers: 'kubectl scale deploy/g1 --replicas=0' }\n    - { name: w2, groups: [g2, g3] }\n",
        )
        .unwrap();
        let s = steps(&plan);
        let phases: Vec<&str> = s.iter().map(|s| s.phase).collect();
        assert_eq!(
            phases,
            [
                "preflight",
                "prepare-target",
                "backfill",
                "catch-up",
                "consumer-cutover",
                "consumer-cutover",
                "producer-cutover",
                "verify",
                "finish"
            ]
        );
        assert_eq!(s[4].hooks, ["kubectl scale deploy/g1 --replicas=0"]);
        assert!(s[5].does.contains("stop them yourself"));
        assert_eq!(s.iter().filter(|s| s.point_of_no_return).count(), 1);
        assert_eq!(s[6].hooks, ["./move.sh"]);
    }
}
