//! No stale write overwrites a newer one, judged against the oracle of acknowledged writes.
//!
//! Each client writes strictly increasing metadata versions, one write at a time, so:
//! - on any node, the version of an instance never goes down over time (a restarted node,
//!   loading a snapshot, included);
//! - no node shows a version that was never sent, or before it was sent;
//! - a deregistration acknowledged by the cluster is not undone: once a node has shown the
//!   instance absent after the acknowledgement, it does not list it again unless the client
//!   registered again;
//! - at the end every node shows the last acknowledged version (or a later one sent).

use std::collections::BTreeMap;

use super::{Violation, acked_version};
use crate::plan::Plan;
use crate::world::{OpKind, World};

/// Checks the invariant.
pub fn check(plan: &Plan, world: &World) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut push = |detail: String| {
        if out.len() < 5 {
            out.push(Violation {
                invariant: "no_stale_write",
                detail,
            });
        }
    };
    for inst in &plan.instances {
        let key = inst.key();
        let ops: Vec<_> = world.ops_of(inst.id).collect();
        let mut highest: BTreeMap<usize, u64> = BTreeMap::new();
        // Per node: the time it last showed the instance absent.
        let mut absent_since: BTreeMap<usize, std::time::Duration> = BTreeMap::new();
        for obs in world.observations.iter().filter(|o| o.loaded) {
            let Some(&seen) = obs.instances.get(&key) else {
                absent_since.insert(obs.node, obs.read_from);
                continue;
            };
            let sent_max = ops
                .iter()
                .filter(|op| op.sent <= obs.read_to)
                .filter_map(|op| match op.kind {
                    OpKind::Register(v) => Some(v),
                    _ => None,
                })
                .max();
            if sent_max.is_none_or(|max| seen > max) {
                push(format!(
                    "node {} shows instance {} ({key}) at version {seen} at {:?}, never sent by then",
                    obs.node, inst.id, obs.at
                ));
            }
            if let Some(&before) = highest.get(&obs.node)
                && seen < before
            {
                push(format!(
                    "node {} showed instance {} ({key}) at version {before}, then {seen} at {:?}",
                    obs.node, inst.id, obs.at
                ));
            }
            highest.insert(
                obs.node,
                seen.max(highest.get(&obs.node).copied().unwrap_or(0)),
            );
            // Resurrection: absent after an acknowledged deregistration, present again
            // without any registration sent since.
            if let Some(&gone_at) = absent_since.get(&obs.node) {
                let deregistered = ops
                    .iter()
                    .rev()
                    .find(|op| op.done <= gone_at && op.kind == OpKind::Deregister && op.acked);
                if let Some(dereg) = deregistered {
                    let registered_since = ops
                        .iter()
                        .any(|op| op.sent >= dereg.sent && matches!(op.kind, OpKind::Register(_)));
                    if !registered_since {
                        push(format!(
                            "node {} lists instance {} ({key}) at {:?} after showing it gone at {gone_at:?}, following the deregistration acknowledged at {:?}",
                            obs.node, inst.id, obs.at, dereg.done
                        ));
                    }
                }
            }
            absent_since.remove(&obs.node);
        }
        // The final round: the last acknowledged version, or a later one that was sent.
        let Some(end) = world.observations.last().map(|o| o.at) else {
            continue;
        };
        let expected = acked_version(world, inst.id, end);
        for obs in world
            .observations
            .iter()
            .filter(|o| o.at == end && o.loaded)
        {
            if let (Some(&seen), Some(expected)) = (obs.instances.get(&key), expected)
                && seen < expected
            {
                push(format!(
                    "at the end node {} shows instance {} ({key}) at version {seen}, the last acknowledged is {expected}",
                    obs.node, inst.id
                ));
            }
        }
    }
    let _ = plan;
    out
}
