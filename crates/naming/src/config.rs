//! Timers and limits of the naming registry, with Nacos's defaults.

use serde::{Deserialize, Serialize};

/// Every timer and limit of the registry. Defaults are Nacos 2.5's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamingConfig {
    /// How often `ip:port` clients are beat-checked (ms).
    pub beat_check_interval_ms: u64,
    /// Default beat interval advertised to clients (ms); `preserved.heart.beat.interval`.
    pub heart_beat_interval_ms: u64,
    /// Default silence after which an instance turns unhealthy (ms);
    /// `preserved.heart.beat.timeout`.
    pub heart_beat_timeout_ms: u64,
    /// Default silence after which an instance is deleted (ms); `preserved.ip.delete.timeout`.
    pub ip_delete_timeout_ms: u64,
    /// Whether silent instances are deleted at all (`nacos.naming.expireInstance`).
    pub expire_instance: bool,
    /// How often idle `ip:port` clients are looked for (ms).
    pub client_clean_interval_ms: u64,
    /// An `ip:port` client with no instances is removed after this idle time (ms).
    pub empty_client_expired_ms: u64,
    /// Any `ip:port` client idle this long is removed (ms); `nacos.naming.client.expired.time`.
    pub client_expired_ms: u64,
    /// How often empty services are looked for (ms).
    pub empty_service_clean_interval_ms: u64,
    /// A service without instances for this long is removed (ms), unless created explicitly.
    pub empty_service_expired_ms: u64,
    /// Most characters of instance metadata (keys and values).
    pub metadata_len_max: usize,
    /// `cacheMillis` advertised in service views (ms).
    pub cache_millis: u64,
    /// Most service views kept rendered in the cache.
    pub view_cache_capacity: u64,
    /// Most naming events waiting for the dispatcher.
    pub event_queue_len_max: usize,
    /// Most instances of one service, across all its clients (0 = no limit).
    pub service_instances_max: usize,
    /// Most instances of one client (an `ip:port` client or one gRPC connection) across its
    /// services, which also bounds a batch registration (0 = no limit). Keeps one client's
    /// replicated record far below the cluster's 16 MiB message limit.
    pub client_instances_max: usize,
    /// Most instances held by this node, replicas included (0 = no limit).
    pub instances_max: usize,
    /// Most services of one namespace (0 = no limit).
    pub namespace_services_max: usize,
    /// Most services held by this node, across namespaces (0 = no limit).
    pub services_max: usize,
    /// Most services one client may subscribe to (0 = no limit).
    pub client_subscriptions_max: usize,
}

impl Default for NamingConfig {
    fn default() -> Self {
        Self {
            beat_check_interval_ms: 5_000,
            heart_beat_interval_ms: 5_000,
            heart_beat_timeout_ms: 15_000,
            ip_delete_timeout_ms: 30_000,
            expire_instance: true,
            client_clean_interval_ms: 5_000,
            empty_client_expired_ms: 30_000,
            client_expired_ms: 180_000,
            empty_service_clean_interval_ms: 60_000,
            empty_service_expired_ms: 60_000,
            metadata_len_max: 1_024,
            cache_millis: 10_000,
            view_cache_capacity: 100_000,
            event_queue_len_max: 65_536,
            // The benchmarks put 100 000+ instances in one service; a registration flood
            // stops at these (about 1 KB of memory per instance).
            service_instances_max: 1_000_000,
            // A worst-case instance (1024 four-byte metadata characters, longest names and
            // id, a service of its own) encodes to about 5 KB: 1000 of them make a 5.1 MB
            // record, under a third of the 16 MiB cluster message limit (tests/limits.rs).
            client_instances_max: 1_000,
            instances_max: 2_000_000,
            namespace_services_max: 100_000,
            services_max: 200_000,
            client_subscriptions_max: 10_000,
        }
    }
}
