//! A client that died is gone everywhere within expiry + one verify round.
//!
//! An `ip:port` client dies by ceasing to beat: its owner removes it after
//! `ip_delete_timeout` (checked every `beat_check_interval`) and the deletion reaches every
//! replica by sync, or by the next verify round if a sync was lost. When a fault overlaps
//! that span, removal may wait for the heal (self-preservation keeps replicas of unreachable
//! owners, and a cut-off owner cannot tell its peers), so the deadline becomes the heal plus
//! recovery, the owner-down grace and one verify round.

use std::time::Duration;

use super::{Violation, propagation, recovery, verify_round};
use crate::plan::{Plan, TIMERS};
use crate::world::World;

/// When an instance whose client died at `death` must be gone from every node, fault free.
pub fn deadline(plan: &Plan, death: Duration) -> Duration {
    let bound = death
        + plan.slow(TIMERS.ip_delete + TIMERS.beat_check)
        + verify_round(plan)
        + propagation();
    if plan.faulty_between(death.saturating_sub(Duration::from_secs(1)), bound) {
        let after_heal = plan.last_heal
            + recovery(plan)
            + plan.slow(TIMERS.owner_down_grace + TIMERS.sweep)
            + verify_round(plan)
            + propagation();
        bound.max(after_heal)
    } else {
        bound
    }
}

/// Checks the invariant.
pub fn check(plan: &Plan, world: &World) -> Vec<Violation> {
    let mut out = Vec::new();
    for inst in &plan.instances {
        let Some(death) = inst.death else { continue };
        let due = deadline(plan, death);
        let late = world
            .observations
            .iter()
            .find(|o| o.at > due && o.loaded && o.instances.contains_key(&inst.key()));
        if let Some(obs) = late {
            out.push(Violation {
                invariant: "dead_expire",
                detail: format!(
                    "instance {} ({}) whose client died at {death:?} is still listed by node {} at {:?} (deadline {due:?})",
                    inst.id,
                    inst.key(),
                    obs.node,
                    obs.at
                ),
            });
        }
    }
    out
}
