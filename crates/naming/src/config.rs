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
        }
    }
}
