//! Stored instances: what a client publishes for a service, and its beat bookkeeping.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use distro_core::moment::Moment;
use distro_nacos_api::Instance;
use distro_nacos_api::constants::{
    META_HEART_BEAT_INTERVAL, META_HEART_BEAT_TIMEOUT, META_INSTANCE_ID_GENERATOR,
    META_IP_DELETE_TIMEOUT,
};
use tokio::time::Instant;

use crate::config::NamingConfig;
use crate::error::ParamError;
use crate::names::ServiceKey;
use crate::validate;

/// What a caller asks to register: validated by [`InstanceSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    /// Address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Cluster (`DEFAULT` when the caller gave none).
    pub cluster: String,
    /// Weight in [0, 10000].
    pub weight: f64,
    /// Initial health.
    pub healthy: bool,
    /// Whether it takes traffic.
    pub enabled: bool,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// An id chosen by the caller (gRPC only); generated when absent.
    pub instance_id: Option<String>,
}

impl InstanceSpec {
    /// A spec with Nacos's defaults for everything but the address.
    pub fn new(ip: impl Into<String>, port: u16) -> Self {
        Self {
            ip: ip.into(),
            port,
            cluster: distro_nacos_api::constants::DEFAULT_CLUSTER.to_owned(),
            weight: 1.0,
            healthy: true,
            enabled: true,
            metadata: BTreeMap::new(),
            instance_id: None,
        }
    }

    /// Checks address, cluster, weight, metadata size and the beat timeouts.
    pub fn validate(&self, config: &NamingConfig) -> Result<BeatTimeouts, ParamError> {
        validate::check_ip(&self.ip)?;
        validate::check_cluster(&self.cluster)?;
        validate::check_weight(self.weight)?;
        validate::check_metadata(&self.metadata, config.metadata_len_max)?;
        let timeouts = BeatTimeouts::from_metadata(&self.metadata, config)?;
        if timeouts.unhealthy_ms < timeouts.interval_ms || timeouts.delete_ms < timeouts.interval_ms
        {
            return Err(ParamError::BeatTimeouts);
        }
        Ok(timeouts)
    }
}

/// Beat timing of one instance: defaults overridden by its `preserved.*` metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatTimeouts {
    /// Interval advertised to the client (ms).
    pub interval_ms: u64,
    /// Silence after which it turns unhealthy (ms).
    pub unhealthy_ms: u64,
    /// Silence after which it is deleted (ms).
    pub delete_ms: u64,
}

impl BeatTimeouts {
    /// Reads the overrides from metadata; a value that is not a whole number is an error.
    pub fn from_metadata(
        metadata: &BTreeMap<String, String>,
        config: &NamingConfig,
    ) -> Result<Self, ParamError> {
        let read = |key: &str, default: u64| -> Result<u64, ParamError> {
            match metadata.get(key) {
                None => Ok(default),
                Some(text) => text.trim().parse::<u64>().map_err(|_| ParamError::Illegal {
                    param: key.to_owned(),
                    detail: format!("metadata '{key}' must be a whole number of milliseconds"),
                }),
            }
        };
        Ok(Self {
            interval_ms: read(META_HEART_BEAT_INTERVAL, config.heart_beat_interval_ms)?,
            unhealthy_ms: read(META_HEART_BEAT_TIMEOUT, config.heart_beat_timeout_ms)?,
            delete_ms: read(META_IP_DELETE_TIMEOUT, config.ip_delete_timeout_ms)?,
        })
    }
}

/// An instance as stored in its client's record.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// Address.
    pub ip: Arc<str>,
    /// Port.
    pub port: u16,
    /// Cluster.
    pub cluster: Arc<str>,
    /// Weight.
    pub weight: f64,
    /// Health as last decided by beats (always true for connection clients).
    pub healthy: bool,
    /// Whether it takes traffic.
    pub enabled: bool,
    /// Metadata.
    pub metadata: Arc<BTreeMap<String, String>>,
    /// Caller-chosen id; `None` when it is the generated one, which is computed when asked
    /// for ([`Self::instance_id`]) instead of stored: most instances (every HTTP one) have
    /// it, and it is the longest string an instance holds.
    pub chosen_id: Option<Arc<str>>,
    /// Beat timing.
    pub timeouts: BeatTimeouts,
    /// Last beat (or registration, or renewal).
    pub last_beat: Moment,
}

impl InstanceRecord {
    /// A record from a validated spec, its first beat at `now`.
    pub fn from_spec(
        spec: InstanceSpec,
        service: &ServiceKey,
        timeouts: BeatTimeouts,
        now: Instant,
    ) -> Self {
        // An id given equal to the generated one (a peer's record carries ids as text) is
        // stored as generated.
        let chosen_id = spec
            .instance_id
            .filter(|id| !id.trim().is_empty())
            .filter(|id| *id != generate_instance_id(&spec.ip, spec.port, &spec.cluster, service))
            .map(Arc::from);
        Self {
            ip: Arc::from(spec.ip),
            port: spec.port,
            // Cluster names and metadata repeat across instances: share one copy of each.
            cluster: crate::intern::cluster(spec.cluster),
            weight: spec.weight,
            healthy: spec.healthy,
            enabled: spec.enabled,
            metadata: crate::intern::metadata(spec.metadata),
            chosen_id,
            timeouts,
            last_beat: now.into(),
        }
    }

    /// True when address and cluster match.
    pub fn is_at(&self, ip: &str, port: u16, cluster: &str) -> bool {
        &*self.ip == ip && self.port == port && &*self.cluster == cluster
    }

    /// The instance's id in `service`: the caller's, or Nacos's generated one.
    pub fn instance_id(&self, service: &ServiceKey) -> Cow<'_, str> {
        match &self.chosen_id {
            Some(id) => Cow::Borrowed(id),
            None => Cow::Owned(generate_instance_id(
                &self.ip,
                self.port,
                &self.cluster,
                service,
            )),
        }
    }

    /// The record as the API `Instance` of `service`.
    pub fn to_api(&self, service: &ServiceKey) -> Instance {
        Instance {
            instance_id: Some(self.instance_id(service).into_owned()),
            ip: self.ip.to_string(),
            port: i64::from(self.port),
            weight: self.weight,
            healthy: self.healthy,
            enabled: self.enabled,
            ephemeral: true,
            cluster_name: Some(self.cluster.to_string()),
            service_name: Some(service.grouped_name()),
            metadata: (*self.metadata).clone(),
            instance_heart_beat_interval: self.timeouts.interval_ms as i64,
            instance_heart_beat_time_out: self.timeouts.unhealthy_ms as i64,
            ip_delete_timeout: self.timeouts.delete_ms as i64,
            instance_id_generator: self
                .metadata
                .get(META_INSTANCE_ID_GENERATOR)
                .cloned()
                .unwrap_or_else(|| "simple".to_owned()),
        }
    }
}

/// Nacos's `simple` id: `ip#port#cluster#group@@service`.
pub fn generate_instance_id(ip: &str, port: u16, cluster: &str, service: &ServiceKey) -> String {
    format!("{ip}#{port}#{cluster}#{}", service.grouped_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: Option<&str>) -> InstanceRecord {
        let service = ServiceKey::new("", "", "orders");
        let mut spec = InstanceSpec::new("10.0.0.1", 80);
        spec.instance_id = id.map(str::to_owned);
        let timeouts = spec.validate(&NamingConfig::default()).unwrap();
        InstanceRecord::from_spec(spec, &service, timeouts, Instant::now())
    }

    #[test]
    fn generated_ids_are_computed_not_stored() {
        let service = ServiceKey::new("", "", "orders");
        let generated = "10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@orders";
        for given in [None, Some(""), Some(generated)] {
            let record = record(given);
            assert_eq!(record.chosen_id, None, "{given:?}");
            assert_eq!(record.instance_id(&service), generated);
            assert_eq!(
                record.to_api(&service).instance_id.as_deref(),
                Some(generated)
            );
        }
        let chosen = record(Some("my-id"));
        assert_eq!(chosen.chosen_id.as_deref(), Some("my-id"));
        assert_eq!(chosen.instance_id(&service), "my-id");
    }
}
