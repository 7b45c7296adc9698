//! Cluster metrics, emitted through the `metrics` facade.
//!
//! Only the member state is used as a label: addresses never are (unbounded cardinality).

use crate::member::{Member, MemberState};

/// Gauge: number of members per `state` label (`up`, `suspicious`, `down`), self included.
pub const MEMBERS: &str = "cluster_members";
/// Counter: failed probes of peers (timeouts, refusals, errors).
pub const PROBE_FAILURES_TOTAL: &str = "cluster_probe_failures_total";
/// Counter: member state transitions, labelled with the new `state`.
pub const MEMBER_STATE_CHANGES_TOTAL: &str = "cluster_member_state_changes_total";

/// Registers descriptions of the cluster metrics with the installed recorder; call once at start.
pub fn describe() {
    metrics::describe_gauge!(MEMBERS, "Cluster members by state, self included.");
    metrics::describe_counter!(PROBE_FAILURES_TOTAL, "Failed probes of cluster peers.");
    metrics::describe_counter!(
        MEMBER_STATE_CHANGES_TOTAL,
        "Member state transitions, by new state."
    );
}

/// Counts one failed probe.
pub(crate) fn record_probe_failure() {
    metrics::counter!(PROBE_FAILURES_TOTAL).increment(1);
}

/// Counts one state transition into `to`.
pub(crate) fn record_state_change(to: MemberState) {
    metrics::counter!(MEMBER_STATE_CHANGES_TOTAL, "state" => to.metric_label()).increment(1);
}

/// Sets the per-state member gauges (every state, so a state that emptied reads 0).
pub(crate) fn set_member_counts<'a>(members: impl IntoIterator<Item = &'a Member>) {
    let mut counts = [0_u32; MemberState::ALL.len()];
    for member in members {
        counts[state_index(member.state())] += 1;
    }
    for state in MemberState::ALL {
        metrics::gauge!(MEMBERS, "state" => state.metric_label())
            .set(f64::from(counts[state_index(state)]));
    }
}

/// Position of a state in [`MemberState::ALL`].
fn state_index(state: MemberState) -> usize {
    match state {
        MemberState::Up => 0,
        MemberState::Suspicious => 1,
        MemberState::Down => 2,
    }
}
