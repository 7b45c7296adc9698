//! Background loops of the registry: beat checks, idle-client expiry, empty-service cleanup.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::client::ClientId;
use crate::registry::Registry;

/// Decides whether this node runs beat checks for an `ip:port` client.
pub type Responsibility = Arc<dyn Fn(&ClientId) -> bool + Send + Sync>;

/// A responsibility that owns every client (a standalone node).
pub fn owns_everything() -> Responsibility {
    Arc::new(|_| true)
}

/// Starts the three loops; they stop when `shutdown` is cancelled.
pub fn spawn_maintenance(
    registry: Arc<Registry>,
    responsible: Responsibility,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let config = registry.config().clone();
    let beat_registry = Arc::clone(&registry);
    let client_responsible = Arc::clone(&responsible);
    let beats = every(
        config.beat_check_interval_ms,
        shutdown.clone(),
        move |now| {
            let report = beat_registry.check_beats(now, &*responsible);
            metrics::counter!("naming_instances_unhealthy_total")
                .increment(report.marked_unhealthy as u64);
            metrics::counter!("naming_instances_expired_total").increment(report.expired as u64);
        },
    );
    let client_registry = Arc::clone(&registry);
    let clients = every(
        config.client_clean_interval_ms,
        shutdown.clone(),
        move |now| {
            let removed = client_registry.remove_idle_clients(now, &*client_responsible);
            metrics::counter!("naming_clients_expired_total").increment(removed as u64);
        },
    );
    let services = every(
        config.empty_service_clean_interval_ms,
        shutdown,
        move |now| {
            let removed = registry.remove_empty_services(now);
            metrics::counter!("naming_services_removed_total").increment(removed as u64);
        },
    );
    vec![beats, clients, services]
}

/// Runs `tick` every `period_ms` (first run after one period) until cancelled.
fn every(
    period_ms: u64,
    shutdown: CancellationToken,
    mut tick: impl FnMut(Instant) + Send + 'static,
) -> JoinHandle<()> {
    let period = Duration::from_millis(period_ms.max(1));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                now = interval.tick() => tick(now),
            }
        }
    })
}
