//! Prometheus metrics: one process-wide recorder, rendered by the `/metrics` route.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Latency buckets (seconds) for request histograms: 50 µs to 5 s.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once per process (several in-process test servers share it).
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            LATENCY_BUCKETS_SECONDS,
        )?
        .build_recorder();
    let handle = recorder.handle();
    // `get_or_init` runs its closure once per process, so the global recorder is set once.
    let installed = HANDLE.get_or_init(move || {
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        handle
    });
    Ok(installed.clone())
}

/// Drains histogram buffers periodically so memory stays bounded between scrapes.
pub fn spawn_upkeep(handle: PrometheusHandle, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => handle.run_upkeep(),
            }
        }
    })
}
