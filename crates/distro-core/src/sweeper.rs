//! Expiry of replicas: not renewed by their owner's verify, bound to an owner that is DOWN,
//! or disowned by their owner. Self-preservation pauses removals that look like a partition.

use std::sync::atomic::Ordering;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::engine::Distro;
use crate::index::{Removal, RemovalLimits};
use crate::metrics as m;

/// What one sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Replicas removed.
    pub removed: usize,
    /// Replicas that were due but kept by self-preservation.
    pub preserved: usize,
}

impl Distro {
    /// Runs until cancelled; nothing expires before the node is loaded.
    pub(crate) async fn run_sweeper(self, shutdown: CancellationToken) {
        let period = self.inner.config.sweep_interval;
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                now = interval.tick() => {
                    if self.is_loaded() {
                        self.sweep(now);
                    }
                }
            }
        }
    }

    /// One sweep at `now`.
    ///
    /// Replicas of DOWN owners go only while this node sees at least half of the cluster
    /// (otherwise it is more likely cut off than the owners dead); replicas that merely were
    /// not renewed go only if they are at most the configured share of all replicas.
    pub fn sweep(&self, now: Instant) -> SweepReport {
        let config = &self.inner.config;
        let limits = RemovalLimits {
            replica_expiry: config.replica_expiry,
            owner_down_grace: config.owner_down_grace,
            orphan_grace: config.orphan_grace,
        };
        let mut state = self.inner.state.lock();
        let due = state
            .index
            .due_removals(now, state.members.down_since(), &limits);
        let replicas = state.index.replica_count();
        let majority = state.members.sees_majority();
        let expired = due.iter().filter(|(_, r)| *r == Removal::Expired).count();
        let expiry_allowed =
            (expired as f64) <= config.self_preservation_fraction * replicas as f64;
        let mut report = SweepReport::default();
        for (key, reason) in due {
            let allowed = match reason {
                Removal::Orphaned => true,
                Removal::OwnerDown => majority,
                Removal::Expired => expiry_allowed,
            };
            if !allowed {
                report.preserved += 1;
                continue;
            }
            let revision = state.index.get(&key).map_or(0, |e| e.revision);
            if let Err(error) = self.inner.processor.remove(&key, revision) {
                // The plugin has evidence the key is alive (it beats this node): kept.
                tracing::debug!(%key, %error, "replica removal refused");
                continue;
            }
            tracing::debug!(%key, ?reason, "replica removed");
            state.index.forget_live(&key);
            report.removed += 1;
            metrics::counter!(m::EXPIRED_CLIENTS_TOTAL, "reason" => reason_label(reason))
                .increment(1);
        }
        for key in state.index.old_tombstones(now, config.tombstone_keep) {
            state.index.forget(&key);
        }
        let replicas = state.index.replica_count();
        drop(state);
        self.set_preserving(report.preserved > 0);
        metrics::gauge!(m::REPLICA_CLIENTS).set(replicas as f64);
        report
    }

    fn set_preserving(&self, preserving: bool) {
        let was = self.inner.preserving.swap(preserving, Ordering::Relaxed);
        if preserving && !was {
            tracing::warn!("self-preservation: expiry paused, too many replicas would go at once");
        } else if was && !preserving {
            tracing::info!("self-preservation released: expiry resumes");
        }
        metrics::gauge!(m::SELF_PRESERVATION_ACTIVE).set(if preserving { 1.0 } else { 0.0 });
    }
}

fn reason_label(reason: Removal) -> &'static str {
    match reason {
        Removal::Expired => "expired",
        Removal::OwnerDown => "owner_down",
        Removal::Orphaned => "orphaned",
    }
}
