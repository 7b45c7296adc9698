//! Metrics of the cluster port, emitted through the `metrics` facade.

/// Counter: cluster calls refused for a missing or wrong secret, labelled `reason`
/// (`missing` or `wrong`).
pub const AUTH_FAILURES_TOTAL: &str = "cluster_auth_failures_total";

/// Registers descriptions of this crate's metrics with the installed recorder; call once at start.
pub fn describe() {
    ::metrics::describe_counter!(
        AUTH_FAILURES_TOTAL,
        "Cluster calls refused for a missing or wrong cluster secret."
    );
}

/// Counts one refused call.
pub(crate) fn record_auth_failure(reason: &'static str) {
    ::metrics::counter!(AUTH_FAILURES_TOTAL, "reason" => reason).increment(1);
}
