//! After all faults heal, every node holds the same registry within two verify rounds.
//!
//! From `last_heal + recovery + two verify rounds` on, every poll round must find every
//! loaded node listing the same instances with the same versions, and every instance whose
//! client is alive and beating listed everywhere with its last acknowledged version.
//! Instances still legitimately changing are left out: a write in the last second, or a
//! death whose expiry deadline (the dead-client invariant's) has not passed.

use std::collections::BTreeMap;

use super::{Violation, acked_version, is_write, propagation, recovery, rounds, verify_round};
use crate::plan::Plan;
use crate::world::{OpKind, World};

/// Checks the invariant.
pub fn check(plan: &Plan, world: &World) -> Vec<Violation> {
    let deadline = plan.last_heal + recovery(plan) + verify_round(plan) * 2;
    let mut out = Vec::new();
    for (at, group) in rounds(world) {
        if at < deadline || out.len() >= 3 {
            continue;
        }
        let stable = |key: &str| -> bool {
            let Some(inst) = plan.instances.iter().find(|i| i.key() == key) else {
                return true;
            };
            let settling = world.ops_of(inst.id).any(|op| {
                is_write(op) && op.kind != OpKind::Die && op.sent + propagation() * 2 > at
            });
            let dying = inst
                .death
                .is_some_and(|death| super::dead_expire::deadline(plan, death) > at);
            !settling && !dying
        };
        let views: Vec<(usize, BTreeMap<&String, &u64>)> = group
            .iter()
            .filter(|o| o.loaded)
            .map(|o| {
                (
                    o.node,
                    o.instances.iter().filter(|(k, _)| stable(k)).collect(),
                )
            })
            .collect();
        if let Some((first_node, first)) = views.first() {
            for (node, view) in &views[1..] {
                if view != first {
                    out.push(Violation {
                        invariant: "convergence",
                        detail: format!(
                            "at {at:?} (heal {:?}) node {first_node} lists {first:?} but node {node} lists {view:?}",
                            plan.last_heal
                        ),
                    });
                }
            }
        }
        // Every live, beating client is everywhere with its last acknowledged version.
        for inst in &plan.instances {
            if !stable(&inst.key()) || inst.death.is_some_and(|d| d <= at) {
                continue;
            }
            let ops: Vec<_> = world.ops_of(inst.id).filter(|op| op.done <= at).collect();
            let last_write = ops.iter().rev().find(|op| is_write(op));
            let live =
                last_write.is_some_and(|op| matches!(op.kind, OpKind::Register(_)) && op.acked);
            let beating = ops
                .iter()
                .rev()
                .take(2)
                .all(|op| op.acked && matches!(op.kind, OpKind::Beat(_)));
            if !live || !beating {
                continue;
            }
            let expected = acked_version(world, inst.id, at);
            for obs in group.iter().filter(|o| o.loaded) {
                let seen = obs.instances.get(&inst.key()).copied();
                if seen != expected && out.len() < 6 {
                    out.push(Violation {
                        invariant: "convergence",
                        detail: format!(
                            "at {at:?} (heal {:?}) node {} shows instance {} ({}) as {seen:?}, its client is live at version {expected:?}",
                            plan.last_heal,
                            obs.node,
                            inst.id,
                            inst.key()
                        ),
                    });
                }
            }
        }
    }
    out
}
