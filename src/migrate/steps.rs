//! The cutover as an ordered list of steps, from a plan: what `kcp migrate
//! execute` runs, and what `--dry-run` prints for review. Pure.

use serde::{Deserialize, Serialize};

use crate::replicator::plan::Plan;
use crate::replicator::{Cutover, CutoverConnectors, CutoverMode, LoadedPlan, Wave};

/// What a step does, for the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Preflight,
    PrepareTarget,
    Backfill,
    CatchUp,
    /// Index into the plan's waves.
    StopConsumers(usize),
    MoveOffsets(usize),
    StartConsumers(usize),
    /// `cutover.schemas`: copy the registry (ids kept).
    CopySchemas,
    /// `cutover.connectors`: the sink connectors, moved like a wave.
    StopSinks,
    MoveSinkOffsets,
    StartSinks,
    /// `cutover.connectors`: the source connectors, moved with the producers.
    StopSources,
    StartSources,
    StopProducers,
    Drain,
    /// Consumer-last: start copying the target's new records back to the
    /// source (records where it starts).
    StartReverse,
    StartProducers,
    /// Consumer-last: stop the copy back once the last wave moved.
    StopReverse,
    Verify,
    Finish,
}

/// The phase a step belongs to; the run report times each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Preflight,
    PrepareTarget,
    Backfill,
    CatchUp,
    Schemas,
    ConsumerCutover,
    ProducerCutover,
    Verify,
    Finish,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Phase::Preflight => "preflight",
            Phase::PrepareTarget => "prepare-target",
            Phase::Backfill => "backfill",
            Phase::CatchUp => "catch-up",
            Phase::Schemas => "schemas",
            Phase::ConsumerCutover => "consumer-cutover",
            Phase::ProducerCutover => "producer-cutover",
            Phase::Verify => "verify",
            Phase::Finish => "finish",
        };
        f.write_str(name)
    }
}

/// One step of the cutover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Stable id, recorded in the migration-state file when done
    /// (`preflight`, `consumers/<wave>/offsets`, `producers/start`...).
    pub id: String,
    pub phase: Phase,
    /// The wave, for consumer cutover steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    pub does: String,
    /// Hook command the step runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// This step cannot be undone: once producers write to the target,
    /// rollback can no longer restore the source as the one truth.
    pub point_of_no_return: bool,
    /// Needs the replicator running.
    #[serde(skip)]
    pub replicating: bool,
    /// Consumer-last: needs the copy back (target to source) running.
    #[serde(skip)]
    pub reversing: bool,
    #[serde(skip)]
    pub action: Action,
}

fn step(id: &str, phase: Phase, action: Action, does: String) -> Step {
    Step {
        id: id.to_owned(),
        phase,
        wave: None,
        does,
        hook: None,
        point_of_no_return: false,
        replicating: matches!(
            action,
            Action::Backfill
                | Action::CatchUp
                | Action::StopConsumers(_)
                | Action::MoveOffsets(_)
                | Action::StartConsumers(_)
                | Action::CopySchemas
                | Action::StopSinks
                | Action::MoveSinkOffsets
                | Action::StartSinks
                | Action::StopSources
                | Action::StopProducers
                | Action::Drain
        ),
        reversing: false,
        action,
    }
}

/// The steps of a plan, in order.
pub fn steps(plan: &LoadedPlan) -> Vec<Step> {
    let p = &plan.plan;
    let default = Cutover::default();
    let c = p.cutover.as_ref().unwrap_or(&default);
    let mut out = vec![
        step(
            "preflight",
            Phase::Preflight,
            Action::Preflight,
            format!(
                "connect to `{}` and `{}` with the credentials file; check that they differ, that the plan selects topics, that target topics are absent or have at least the source's partitions, and that every group of the waves has committed offsets on the source",
                p.source, p.target
            ),
        ),
        step(
            "prepare-target",
            Phase::PrepareTarget,
            Action::PrepareTarget,
            "create the missing target topics with the source's partition counts and carried configs, and the offset-map topic".into(),
        ),
        step(
            "backfill",
            Phase::Backfill,
            Action::Backfill,
            "start the replicator and copy every selected topic's history (provenance headers, offset maps on the target)".into(),
        ),
        step(
            "catch-up",
            Phase::CatchUp,
            Action::CatchUp,
            format!(
                "keep replicating until the total lag stays at or under {} record(s) for {} s",
                c.lag_threshold_records, c.lag_sustain_secs
            ),
        ),
    ];
    if let Some(sr) = &c.schemas {
        out.push(step(
            "schemas/copy",
            Phase::Schemas,
            Action::CopySchemas,
            format!(
                "copy the selected subjects of registry `{}` to `{}` keeping every schema id{}, then verify them, before any consumer reads on the target",
                sr.source,
                sr.target,
                if sr.import_mode { " (target subjects in IMPORT mode for the copy)" } else { " (without IMPORT mode: stops at the first id the target assigns differently)" }
            ),
        ));
    }
    for (i, w) in c
        .waves
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.after_producers)
    {
        out.extend(wave_steps(i, w));
    }
    if let Some(k) = &c.connectors {
        out.extend(connector_steps_before_producers(k));
    }
    out.extend(producer_steps(p, c));
    out.push(step(
        "verify",
        Phase::Verify,
        Action::Verify,
        "compare per-partition record counts and a checksum over the copied range".into(),
    ));
    out.push(step(
        "finish",
        Phase::Finish,
        Action::Finish,
        "write the run report (phases, timings, counts)".into(),
    ));
    if c.mode == CutoverMode::Gateway {
        for s in &mut out {
            through_gateway(s);
        }
    }
    out
}

/// The three steps of a wave: stop on the source, move the offsets, start
/// on the target.
fn wave_steps(i: usize, w: &Wave) -> Vec<Step> {
    let groups = w.groups.join(", ");
    let mut stop = step(
        &format!("consumers/{}/stop", w.name),
        Phase::ConsumerCutover,
        Action::StopConsumers(i),
        match &w.stop_consumers {
            Some(_) => format!(
                "run the stop hook, then wait until groups {groups} have no members on the source"
            ),
            None => format!(
                "wait until groups {groups} have no members on the source (no hook: stop their consumers yourself)"
            ),
        },
    );
    stop.hook = w.stop_consumers.clone();
    let offsets = step(
        &format!("consumers/{}/offsets", w.name),
        Phase::ConsumerCutover,
        Action::MoveOffsets(i),
        format!(
            "translate the committed offsets of {groups} exactly, commit them on the target and read them back"
        ),
    );
    let mut start = step(
        &format!("consumers/{}/start", w.name),
        Phase::ConsumerCutover,
        Action::StartConsumers(i),
        match &w.start_consumers {
            Some(_) => "run the start hook (consumers resume on the target)".into(),
            None => "start the consumers against the target yourself".into(),
        },
    );
    start.hook = w.start_consumers.clone();
    if w.also_produces {
        start.point_of_no_return = true;
        start.does.push_str(
                "; these applications also produce (Kafka Streams and the like): once they run on the target, it holds records the source lacks, so this is a point of no return",
            );
    }
    [stop, offsets, start]
        .into_iter()
        .map(|mut s| {
            s.wave = Some(w.name.clone());
            s
        })
        .collect()
}

/// The producers' steps, and in consumer-last plans the copy back and the
/// waves that move after the producers.
fn producer_steps(p: &Plan, c: &Cutover) -> Vec<Step> {
    let mut out = Vec::new();
    let mut stop = step(
        "producers/stop",
        Phase::ProducerCutover,
        Action::StopProducers,
        format!(
            "{}{}; wait until no source partition grows for {} s",
            match &c.stop_producers {
                Some(_) => "run the producer stop hook",
                None => "stop the producers yourself",
            },
            match &c.fence_producers {
                Some(f) if f.principals.is_empty() => "; deny Write on the plan's topics to every principal an ACL lets write to them (rollback removes it)".to_owned(),
                Some(f) => format!("; deny Write on the plan's topics to {} (rollback removes it)", f.principals.join(", ")),
                None => String::new(),
            },
            c.producer_quiet_secs
        ),
    );
    stop.hook = c.stop_producers.clone();
    out.push(stop);
    out.push(step(
        "producers/drain",
        Phase::ProducerCutover,
        Action::Drain,
        "drain the replicator to lag 0 on every partition, then stop it".into(),
    ));
    if let Some(sr) = &c.schemas {
        let mut again = step(
            "schemas/final",
            Phase::Schemas,
            Action::CopySchemas,
            format!(
                "copy what was registered in `{}` since `schemas/copy` to `{}`, ids kept, before producers register schemas on the target",
                sr.source, sr.target
            ),
        );
        again.replicating = false;
        out.push(again);
    }
    let last = c.consumer_last();
    if last {
        out.push(step(
            "reverse/start",
            Phase::ProducerCutover,
            Action::StartReverse,
            format!(
                "consumer-last: check that nothing was written to `{}` since the drain, record where the target's partitions end, and from the next step on copy what the producers write to `{}` back to `{}` (provenance headers, offset maps on the source) for the waves still reading there",
                p.source, p.target, p.source
            ),
        ));
    }
    let mut start = step(
        "producers/start",
        Phase::ProducerCutover,
        Action::StartProducers,
        match &c.start_producers {
            Some(_) => "run the producer start hook: producers write to the target".into(),
            None => "start the producers against the target yourself".into(),
        },
    );
    start.hook = c.start_producers.clone();
    start.point_of_no_return = true;
    out.push(start);
    if let Some(k) = &c.connectors {
        let mut sources = step(
            "connectors/sources/start",
            Phase::ProducerCutover,
            Action::StartSources,
            format!(
                "create the source connectors on `{}` STOPPED, write the offsets they had on `{}`, read them back and resume them (they produce to the target)",
                k.target, k.source
            ),
        );
        sources.replicating = false;
        out.push(sources);
    }
    if last {
        for (i, w) in c
            .waves
            .iter()
            .enumerate()
            .filter(|(_, w)| w.after_producers)
        {
            // The forward copy is drained and stays stopped: what these
            // groups read past the drain came back from the target.
            out.extend(wave_steps(i, w).into_iter().map(|mut s| {
                s.replicating = false;
                if s.action == Action::MoveOffsets(i) {
                    s.does.push_str(
                        " (offsets past the drain are records copied back from the target: the copy back's offset maps translate them)",
                    );
                }
                s
            }));
        }
        out.push(step(
            "reverse/stop",
            Phase::ConsumerCutover,
            Action::StopReverse,
            format!(
                "consumer-last: every wave reads `{}` now; stop copying back to `{}`",
                p.target, p.source
            ),
        ));
        // From the producers' start to the last wave's move, the copy back
        // runs.
        let from = out
            .iter()
            .position(|s| s.action == Action::StartProducers)
            .expect("pushed above");
        let to = out.len() - 1;
        for s in &mut out[from..to] {
            s.reversing = true;
        }
    }
    out
}

/// `cutover.mode: gateway`: the steps that move clients set the gateway's
/// routes instead of running hooks.
fn through_gateway(s: &mut Step) {
    let does = match s.action {
        Action::StopConsumers(_) => {
            "gateway: hold the wave's groups, wait until their clients are parked with no commit in flight (told to rejoin, their JoinGroup waits in the gateway; they consume until then; disconnected after 10 s, and then kcp waits until their committed offsets stay unchanged)"
        }
        Action::StartConsumers(_) => {
            "gateway: route the wave's groups to the target (their clients rejoin there, at the moved offsets)"
        }
        Action::StopProducers => {
            "gateway: hold produce requests for the plan's topics; wait until those sent before are answered, then read the source's end offsets"
        }
        Action::StartProducers => {
            "gateway: route the plan's topics to the target; the held produce requests go there"
        }
        _ => return,
    };
    s.does = does.into();
    s.hook = None;
}

/// The connector steps before the producers move: the sink connectors as a
/// wave after the plan's waves (they are consumers of the source), then the
/// source connectors stopped (they are producers: the source goes quiet
/// only once they stop).
fn connector_steps_before_producers(k: &CutoverConnectors) -> Vec<Step> {
    vec![
        step(
            "connectors/sinks/stop",
            Phase::ConsumerCutover,
            Action::StopSinks,
            format!(
                "stop the sink connectors on `{}` and wait until their consumer groups have no members on the source",
                k.source
            ),
        ),
        step(
            "connectors/sinks/offsets",
            Phase::ConsumerCutover,
            Action::MoveSinkOffsets,
            "translate the committed offsets of the sink connectors' consumer groups exactly, commit them on the target and read them back".into(),
        ),
        step(
            "connectors/sinks/start",
            Phase::ConsumerCutover,
            Action::StartSinks,
            format!(
                "create the sink connectors on `{}` (configs rewritten for the target, read back): they resume at the moved offsets",
                k.target
            ),
        ),
        step(
            "connectors/sources/stop",
            Phase::ProducerCutover,
            Action::StopSources,
            format!(
                "stop the source connectors on `{}` (they write to the source cluster) so that their offsets no longer move",
                k.source
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn waves_become_steps_and_producers_mark_the_point_of_no_return() {
        let plan = LoadedPlan::parse(
            Path::new("p.yaml"),
            "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\ncutover:\n  start_producers: ./move.sh\n  waves:\n    - { name: w1, groups: [g1], stop_consumers: 'kubectl scale deploy/g1 --replicas=0' }\n    - { name: w2, groups: [g2, g3] }\n",
        )
        .unwrap();
        let s = steps(&plan);
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "preflight",
                "prepare-target",
                "backfill",
                "catch-up",
                "consumers/w1/stop",
                "consumers/w1/offsets",
                "consumers/w1/start",
                "consumers/w2/stop",
                "consumers/w2/offsets",
                "consumers/w2/start",
                "producers/stop",
                "producers/drain",
                "producers/start",
                "verify",
                "finish"
            ]
        );
        assert_eq!(
            s[4].hook.as_deref(),
            Some("kubectl scale deploy/g1 --replicas=0")
        );
        assert!(s[7].does.contains("stop their consumers yourself"));
        assert_eq!(s.iter().filter(|s| s.point_of_no_return).count(), 1);
        assert!(s[12].point_of_no_return);
        assert_eq!(s[12].hook.as_deref(), Some("./move.sh"));
        assert!(s[11].replicating && !s[12].replicating);
    }

    /// Schemas are copied before the first wave and again before the
    /// producers move; sinks move as a wave after the plan's; sources stop
    /// before the producers and start on the target after them.
    #[test]
    fn schemas_and_connectors_take_their_places() {
        let plan = LoadedPlan::parse(
            Path::new("p.yaml"),
            "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\ncutover:\n  schemas: { source: sr1, target: sr2, import_mode: false }\n  connectors: { source: c1, target: c2 }\n  waves:\n    - { name: w1, groups: [g1] }\n",
        )
        .unwrap();
        let s = steps(&plan);
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "preflight",
                "prepare-target",
                "backfill",
                "catch-up",
                "schemas/copy",
                "consumers/w1/stop",
                "consumers/w1/offsets",
                "consumers/w1/start",
                "connectors/sinks/stop",
                "connectors/sinks/offsets",
                "connectors/sinks/start",
                "connectors/sources/stop",
                "producers/stop",
                "producers/drain",
                "schemas/final",
                "producers/start",
                "connectors/sources/start",
                "verify",
                "finish"
            ]
        );
        let by = |id: &str| s.iter().find(|s| s.id == id).unwrap();
        // The replicator keeps copying through the schema copy and the
        // sink wave; it has stopped at drain.
        assert!(by("schemas/copy").replicating && by("connectors/sinks/offsets").replicating);
        assert!(!by("schemas/final").replicating && !by("connectors/sources/start").replicating);
        assert!(by("schemas/copy").does.contains("without IMPORT mode"));
        assert_eq!(s.iter().filter(|s| s.point_of_no_return).count(), 1);
    }

    /// Consumer-last: the waves marked `after_producers` move after the
    /// producers, in their order, while the copy back runs; the forward
    /// copy has stopped at the drain.
    #[test]
    fn consumer_last_waves_move_after_the_producers_while_copying_back() {
        let plan = LoadedPlan::parse(
            Path::new("p.yaml"),
            "version: 1\nname: p\ncredentials_file: c\nsource: a\ntarget: b\ncutover:\n  waves:\n    - { name: late, groups: [g1], after_producers: true }\n    - { name: early, groups: [g2] }\n    - { name: later, groups: [g3], after_producers: true }\n",
        )
        .unwrap();
        let s = steps(&plan);
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "preflight",
                "prepare-target",
                "backfill",
                "catch-up",
                "consumers/early/stop",
                "consumers/early/offsets",
                "consumers/early/start",
                "producers/stop",
                "producers/drain",
                "reverse/start",
                "producers/start",
                "consumers/late/stop",
                "consumers/late/offsets",
                "consumers/late/start",
                "consumers/later/stop",
                "consumers/later/offsets",
                "consumers/later/start",
                "reverse/stop",
                "verify",
                "finish"
            ]
        );
        let reversing: Vec<&str> = s
            .iter()
            .filter(|s| s.reversing)
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(reversing, ids[10..17]);
        assert!(
            s[10..].iter().all(|s| !s.replicating),
            "the forward copy stays stopped"
        );
        assert_eq!(s[11].action, Action::StopConsumers(0));
        assert!(s[12].does.contains("copied back from the target"));
        assert_eq!(s.iter().filter(|s| s.point_of_no_return).count(), 1);
        assert!(s[10].point_of_no_return);
    }
}
