//! Liveness of idle connections (Nacos's connection ejector): a connection silent for
//! `idle_ms` gets a `ClientDetectionRequest`; no successful answer within
//! `detection_timeout_ms` removes it with its instances.

use std::sync::Arc;
use std::time::Duration;

use distro_nacos_api::grpc::MODULE_INTERNAL;
use distro_nacos_api::grpc::internal::ClientDetectionRequest;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::GrpcConfig;
use crate::grpc::connection::Connection;
use crate::grpc::connections::Connections;

/// Checks for idle connections every `detection_interval_ms` until `shutdown`.
pub fn spawn(
    connections: Arc<Connections>,
    config: &GrpcConfig,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let period = Duration::from_millis(config.detection_interval_ms.max(1));
    let idle = Duration::from_millis(config.idle_ms);
    let timeout = Duration::from_millis(config.detection_timeout_ms);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                now = interval.tick() => probe_idle(&connections, now, idle, timeout),
            }
        }
    })
}

fn probe_idle(connections: &Arc<Connections>, now: Instant, idle: Duration, timeout: Duration) {
    let Some(cutoff) = now.checked_sub(idle) else {
        return;
    };
    for connection in connections.idle_since(cutoff) {
        if connection.start_probe() {
            tokio::spawn(probe(Arc::clone(connections), connection, timeout));
        }
    }
}

async fn probe(connections: Arc<Connections>, connection: Arc<Connection>, timeout: Duration) {
    let build = |header| ClientDetectionRequest { header };
    let alive = matches!(
        connection.request(MODULE_INTERNAL, build, timeout).await,
        Ok(status) if status.is_success()
    );
    connection.end_probe();
    metrics::counter!("naming_grpc_detections_total", "result" => if alive { "alive" } else { "ejected" })
        .increment(1);
    if alive {
        connection.touch();
    } else {
        connections.unregister(&connection, "no answer to client detection");
    }
}
