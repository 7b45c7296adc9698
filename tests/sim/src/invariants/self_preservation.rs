//! Self-preservation engages when a partition isolates most owners, and releases after.
//!
//! A node cut off from every peer sees each of them DOWN and cannot tell a partition from
//! their deaths: the replicas it holds of their clients come due after the owner-down grace,
//! and because it no longer sees a majority it must keep them (self-preservation active)
//! rather than empty its registry. Once the partition heals, verify renews the replicas and
//! the next sweep releases self-preservation on every node.

use super::{Violation, propagation, recovery, verify_round};
use crate::plan::{Fault, Plan, TIMERS};
use crate::world::World;

/// Checks the invariant.
pub fn check(plan: &Plan, world: &World) -> Vec<Violation> {
    let mut out = Vec::new();
    for episode in &plan.episodes {
        let Fault::Isolate(node) = episode.fault else {
            continue;
        };
        // It only has something to preserve if it held instances when it was cut off.
        let held = world
            .observations
            .iter()
            .rfind(|o| o.node == node && o.loaded && o.at < episode.start)
            .map_or(0, |o| o.instances.len());
        let engage_by = episode.start
            + plan.slow(TIMERS.probe_interval * 4)
            + plan.slow(TIMERS.owner_down_grace + 2 * TIMERS.sweep)
            + propagation();
        let engaged = world
            .observations
            .iter()
            .any(|o| o.node == node && o.preserving && o.at >= episode.start && o.at < episode.end);
        if held >= 3 && engage_by < episode.end && !engaged {
            out.push(Violation {
                invariant: "self_preservation",
                detail: format!(
                    "node {node} isolated over {:?}..{:?} holding {held} instances never engaged self-preservation",
                    episode.start, episode.end
                ),
            });
        }
    }
    // Release: once the last fault before an observation healed, nobody preserves beyond the
    // release window (whatever the fault was: any partition may put a node in a minority).
    let release = recovery(plan) + verify_round(plan) * 2 + plan.slow(TIMERS.sweep);
    let stuck = world.observations.iter().find(|o| {
        let healed = plan
            .episodes
            .iter()
            .filter(|e| e.start <= o.at)
            .map(|e| e.end)
            .max();
        o.preserving
            && !plan.faulty_between(o.at, o.at)
            && healed.is_some_and(|healed| o.at > healed + release)
    });
    if let Some(obs) = stuck {
        out.push(Violation {
            invariant: "self_preservation",
            detail: format!(
                "node {} still preserving at {:?}, more than {release:?} after the last heal",
                obs.node, obs.at
            ),
        });
    }
    out
}
