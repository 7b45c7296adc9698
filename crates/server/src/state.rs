//! State shared by every request handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use distro_cluster::Membership;
use distro_naming::Registry;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;

/// What handlers need: configuration, the registry, the metrics handle, readiness.
#[derive(Clone)]
pub struct AppState {
    /// Configuration the server started with.
    pub config: Arc<Config>,
    /// The naming registry.
    pub registry: Arc<Registry>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// This node's view of the cluster (self alone when standalone).
    pub membership: Arc<Membership>,
    ready: Arc<AtomicBool>,
}

impl AppState {
    /// State for a server that is not ready yet.
    pub fn new(
        config: Config,
        registry: Arc<Registry>,
        metrics: PrometheusHandle,
        membership: Arc<Membership>,
    ) -> Self {
        Self {
            config: Arc::new(config),
            registry,
            metrics,
            membership,
            ready: Arc::default(),
        }
    }

    /// Whether the node serves traffic (readiness endpoint).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the node ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        // Peers learn it through probes (`MemberInfo::ready`).
        self.membership.set_self_ready(ready);
    }
}
