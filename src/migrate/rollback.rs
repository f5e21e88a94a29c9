//! `kcp migrate rollback`: undoes a migration that has not passed the
//! point of no return, in reverse order, with the same hooks and the
//! groups' target progress translated back to the source.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::execute::{Context, ExecuteError, Run, load_for};
use super::offsets;
use super::run_state::{self, DoneStep, Outcome, RunStateFile};
use super::steps::{Action, Step, steps};

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    pub undone: Vec<String>,
    pub groups_moved_back: BTreeMap<String, usize>,
}

/// Undoes a migration that has not passed the point of no return:
/// producers and consumers go back to the source (with their target
/// progress translated back), in reverse order. Target topics and the data
/// copied into them stay.
pub fn rollback(cx: &Context<'_>) -> Result<RolledBack, ExecuteError> {
    let path = run_state::path_for(cx.plan_path);
    let file = RunStateFile::lock(&path)?;
    let Some(mut state) = load_for(cx, &file)? else {
        return Err(ExecuteError::NothingToRollBack { path });
    };
    if state.outcome == Outcome::RolledBack {
        return Err(ExecuteError::Over {
            what: "rolled back already",
            path,
        });
    }
    let all = steps(cx.plan);
    // The latest point of no return passed is the one to name.
    let no_return: Vec<&Step> = all.iter().rev().filter(|s| s.point_of_no_return).collect();
    for s in no_return {
        let current = state.current.as_ref().is_some_and(|c| c.id == s.id);
        if state.is_done(&s.id) || current {
            return Err(ExecuteError::PastNoReturn {
                step: s.id.clone(),
                wave: s.wave.clone(),
                finished: state.outcome == Outcome::Finished,
            });
        }
    }
    state.outcome = Outcome::RollingBack;
    file.save(&mut state, (cx.now)())?;
    let mut run = Run {
        cx,
        file,
        state,
        unsaved: false,
        replicator: None,
        back: None,
        conns: None,
        members_unknown: false,
    };
    let c = run.cutover();
    let mut out = RolledBack {
        undone: Vec::new(),
        groups_moved_back: BTreeMap::new(),
    };
    // Steps that started count as done for undoing: their hook may have run.
    let touched = |run: &Run<'_, '_>, id: &str| {
        run.state.is_done(id) || run.state.current.as_ref().is_some_and(|c| c.id == id)
    };
    for step in all.iter().rev() {
        if !touched(&run, &step.id) || run.state.undone.iter().any(|u| u.id == step.id) {
            continue;
        }
        let started_at = (cx.now)();
        run.cx.operator.step(step, false);
        let detail = match step.action {
            Action::StopProducers if run.gateway_mode() => {
                run.gateway_route_producers(crate::gateway::Route::Source)?
            }
            Action::StartConsumers(i) if run.gateway_mode() => {
                // Held and disconnected on the target, their progress
                // carried back; the wave's stop step routes them back.
                let groups = c.waves[i].groups.clone();
                run.gateway_hold_groups(step, &groups)?;
                // The members the switch took away from the source are
                // still listed there until their session times out; the
                // source refuses a commit for a group with members.
                run.wait_no_members(step, &groups, true)?;
                let mut moved = serde_json::Map::new();
                for group in &groups {
                    let back =
                        offsets::move_group_back(cx.plan, cx.source, cx.target, group, cx.timeout)?;
                    out.groups_moved_back.insert(group.clone(), back.len());
                    moved.insert(
                        group.clone(),
                        serde_json::to_value(&back).unwrap_or_default(),
                    );
                }
                Value::Object(moved)
            }
            Action::StopConsumers(i) if run.gateway_mode() => {
                let groups = c.waves[i].groups.clone();
                run.gateway_route_groups(&groups, crate::gateway::Route::Source)?
            }
            Action::StopProducers => {
                run.lift_fence()?;
                match &c.start_producers {
                    Some(cmd) => run.hook(step, cmd, "rollback", "source", &[])?,
                    None => run.cx.operator.notice(&format!(
                        "start the producers against `{}` again",
                        cx.plan.plan.source
                    )),
                }
                Value::Null
            }
            Action::StartConsumers(i) => {
                // Consumers ran on the target: stop them there and carry
                // their progress back.
                let wave = &c.waves[i];
                match &wave.stop_consumers {
                    Some(cmd) => run.hook(step, cmd, "rollback", "target", &wave.groups)?,
                    None => run.cx.operator.notice(&format!(
                        "stop the consumers of {} on `{}` now",
                        wave.groups.join(", "),
                        cx.plan.plan.target
                    )),
                }
                run.wait_no_members(step, &wave.groups, false)?;
                let mut moved = serde_json::Map::new();
                for group in &wave.groups {
                    let back =
                        offsets::move_group_back(cx.plan, cx.source, cx.target, group, cx.timeout)?;
                    out.groups_moved_back.insert(group.clone(), back.len());
                    moved.insert(
                        group.clone(),
                        serde_json::to_value(&back).unwrap_or_default(),
                    );
                }
                Value::Object(moved)
            }
            Action::StopConsumers(i) => {
                let wave = &c.waves[i];
                match &wave.start_consumers {
                    Some(cmd) => run.hook(step, cmd, "rollback", "source", &wave.groups)?,
                    None => run.cx.operator.notice(&format!(
                        "start the consumers of {} against `{}` again",
                        wave.groups.join(", "),
                        cx.plan.plan.source
                    )),
                }
                Value::Null
            }
            // Connectors kcp stopped on the source run there again; sinks
            // that ran on the target first carry their progress back.
            Action::StopSources => run.resume_on_source(Some("source"))?,
            Action::StartSinks => run.sinks_back(step)?,
            Action::StopSinks => run.resume_on_source(Some("sink"))?,
            // Copying, offsets committed on the target and target topics
            // change nothing on the source: nothing to undo.
            _ => continue,
        };
        run.state.undone.push(DoneStep {
            id: step.id.clone(),
            phase: step.phase,
            started_at,
            finished_at: (cx.now)(),
            detail,
        });
        run.save()?;
        out.undone.push(step.id.clone());
    }
    // Bindings and stopped connectors recorded by a run whose step was
    // never marked (a crash).
    run.lift_fence()?;
    run.resume_on_source(None)?;
    run.state.outcome = Outcome::RolledBack;
    run.state.current = None;
    run.save()?;
    Ok(out)
}
