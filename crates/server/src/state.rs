//! State shared by every request handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use distro_cluster::Membership;
use distro_naming::Registry;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::faults::Faults;
use crate::http::Forwarder;

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
    /// Sends `ip:port` writes to their responsible node; `None` when standalone.
    pub forwarder: Option<Arc<Forwarder>>,
    /// Fault injection (tests); `None` unless `server.fault_injection` is on.
    pub faults: Option<Arc<Faults>>,
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
            forwarder: None,
            faults: None,
            ready: Arc::default(),
        }
    }

    /// The same state, with fault injection reachable over HTTP (tests).
    pub fn with_faults(mut self, faults: Option<Arc<Faults>>) -> Self {
        self.faults = faults;
        self
    }

    /// The same state, forwarding misrouted writes with `forwarder`.
    pub fn with_forwarder(mut self, forwarder: Option<Arc<Forwarder>>) -> Self {
        self.forwarder = forwarder;
        self
    }

    /// Whether the node serves traffic (readiness endpoint).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the node ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        metrics::gauge!("distro_ready").set(if ready { 1.0 } else { 0.0 });
        // Peers learn it through probes (`MemberInfo::ready`).
        self.membership.set_self_ready(ready);
    }
}
