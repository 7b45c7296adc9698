//! The invariants, one per file, judged over a run's record (every observation made during
//! the run, and the final ones after every fault healed).

pub mod convergence;
pub mod dead_expire;
pub mod live_clients;
pub mod no_stale_write;
pub mod self_preservation;

use std::time::Duration;

use crate::checker::POLL;
use crate::plan::{Plan, TIMERS};
use crate::world::{Op, OpKind, World};

/// A broken invariant.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

/// Every invariant over the run; at most a few violations of each are reported.
pub fn check_all(plan: &Plan, world: &World) -> Vec<Violation> {
    let mut out = Vec::new();
    out.extend(live_clients::check(plan, world));
    out.extend(convergence::check(plan, world));
    out.extend(dead_expire::check(plan, world));
    out.extend(no_stale_write::check(plan, world));
    out.extend(self_preservation::check(plan, world));
    out
}

/// Slack for one change to be seen: sync delay, link latency, the observer's poll.
pub fn propagation() -> Duration {
    POLL * 2 + Duration::from_millis(300)
}

/// One verify round at its longest (period +20 % jitter) on the slowest node.
pub fn verify_round(plan: &Plan) -> Duration {
    plan.slow(TIMERS.verify).mul_f64(1.2)
}

/// After a heal: peers probed UP again (a restarted node loaded from them), and clients
/// whose instance was lost beat once, get 20404 and register again.
pub fn recovery(plan: &Plan) -> Duration {
    plan.slow(2 * TIMERS.probe_interval)
        + Duration::from_millis(TIMERS.beat_interval)
        + Duration::from_millis(700)
}

/// The version of the last acknowledged register of `inst` completed by `by`.
pub fn acked_version(world: &World, inst: usize, by: Duration) -> Option<u64> {
    world
        .ops_of(inst)
        .filter(|op| op.acked && op.done <= by)
        .filter_map(|op| match op.kind {
            OpKind::Register(v) => Some(v),
            _ => None,
        })
        .last()
}

/// Whether `op` changes the registry (anything but a beat).
pub fn is_write(op: &Op) -> bool {
    !matches!(op.kind, OpKind::Beat(_))
}

/// Observations grouped by poll round, in time order.
pub fn rounds(world: &World) -> Vec<(Duration, Vec<&crate::world::Observation>)> {
    let mut out: Vec<(Duration, Vec<&crate::world::Observation>)> = Vec::new();
    for obs in &world.observations {
        match out.last_mut() {
            Some((at, group)) if *at == obs.at => group.push(obs),
            _ => out.push((obs.at, vec![obs])),
        }
    }
    out
}
