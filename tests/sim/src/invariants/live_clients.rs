//! A client that keeps beating a live node never disappears from that node.
//!
//! Judged at every observation of node `n` at `t`: an instance registered (acknowledged)
//! before the window `[t - heart_beat_timeout, t]`, whose every operation in the window was
//! an acknowledged beat or register sent to `n`, must be listed by `n`. (The node that
//! answered its beats — itself or the owner it forwarded to — holds it; `n` gets it within
//! the propagation slack, which the window's start leaves.) That it is on every other node
//! once faults heal is the convergence invariant.

use std::time::Duration;

use super::{Violation, propagation};
use crate::plan::{Plan, TIMERS};
use crate::world::{OpKind, World};

/// Checks the invariant.
pub fn check(plan: &Plan, world: &World) -> Vec<Violation> {
    let window = Duration::from_millis(TIMERS.heart_beat_timeout);
    let mut out = Vec::new();
    for obs in world.observations.iter().filter(|o| o.loaded) {
        let Some(from) = obs.read_from.checked_sub(window) else {
            continue;
        };
        for inst in &plan.instances {
            let before: Vec<_> = world
                .ops_of(inst.id)
                .filter(|op| op.done < from.saturating_sub(propagation()))
                .collect();
            let registered = before
                .iter()
                .rev()
                .find(|op| op.acked && !matches!(op.kind, OpKind::Beat(_)))
                .is_some_and(|op| matches!(op.kind, OpKind::Register(_)));
            if !registered || before.iter().any(|op| op.kind == OpKind::Die) {
                continue;
            }
            let recent: Vec<_> = world
                .ops_of(inst.id)
                .filter(|op| {
                    op.sent >= from.saturating_sub(propagation()) && op.sent <= obs.read_to
                })
                .collect();
            let steady = recent.len() >= 2
                && recent.iter().all(|op| {
                    op.acked
                        && op.entry == obs.node
                        && matches!(op.kind, OpKind::Beat(_) | OpKind::Register(_))
                });
            // Beats answered 10200 all through the window but the node no longer lists it.
            if steady && !obs.instances.contains_key(&inst.key()) && out.len() < 5 {
                out.push(Violation {
                    invariant: "live_clients",
                    detail: format!(
                        "instance {} ({}) beating node {} with every beat acknowledged since {:?} is not listed by it at {:?}",
                        inst.id,
                        inst.key(),
                        obs.node,
                        from,
                        obs.at
                    ),
                });
            }
        }
    }
    out
}
