//! `Instance`: one registered endpoint of a service, as Nacos clients see it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::constants::{
    DEFAULT_HEART_BEAT_INTERVAL_MS, DEFAULT_HEART_BEAT_TIMEOUT_MS, DEFAULT_IP_DELETE_TIMEOUT_MS,
};
use crate::nulls::null_as_default;

/// A service instance (`com.alibaba.nacos.api.naming.pojo.Instance`).
///
/// The last four fields are derived getters in Java: they are written, and accepted but not
/// needed on read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Unique id, `ip#port#cluster#group@@service` unless the caller chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Address clients connect to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip: String,
    /// Port clients connect to (a Java `int`, validated by the server).
    #[serde(default)]
    pub port: i64,
    /// Load-balancing weight in [0, 10000].
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Whether the instance passes its health check.
    #[serde(default = "default_true")]
    pub healthy: bool,
    /// Whether the instance takes traffic.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Ephemeral instances live only as long as their client; persistent ones are out of scope.
    #[serde(default = "default_true")]
    pub ephemeral: bool,
    /// Cluster the instance belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Grouped service name (`group@@service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Free-form string metadata (`null`, as Go SDKs send for no metadata, reads as empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    /// Derived: beat interval from metadata or the default (ms).
    #[serde(default = "default_interval")]
    pub instance_heart_beat_interval: i64,
    /// Derived: beat timeout from metadata or the default (ms).
    #[serde(default = "default_timeout", rename = "instanceHeartBeatTimeOut")]
    pub instance_heart_beat_time_out: i64,
    /// Derived: delete timeout from metadata or the default (ms).
    #[serde(default = "default_delete")]
    pub ip_delete_timeout: i64,
    /// Derived: id generator name from metadata or `simple`.
    #[serde(default = "default_generator")]
    pub instance_id_generator: String,
}

impl Default for Instance {
    fn default() -> Self {
        Self {
            instance_id: None,
            ip: String::new(),
            port: 0,
            weight: default_weight(),
            healthy: true,
            enabled: true,
            ephemeral: true,
            cluster_name: None,
            service_name: None,
            metadata: BTreeMap::new(),
            instance_heart_beat_interval: default_interval(),
            instance_heart_beat_time_out: default_timeout(),
            ip_delete_timeout: default_delete(),
            instance_id_generator: default_generator(),
        }
    }
}

fn default_weight() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}
fn default_interval() -> i64 {
    DEFAULT_HEART_BEAT_INTERVAL_MS
}
fn default_timeout() -> i64 {
    DEFAULT_HEART_BEAT_TIMEOUT_MS
}
fn default_delete() -> i64 {
    DEFAULT_IP_DELETE_TIMEOUT_MS
}
fn default_generator() -> String {
    "simple".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sdk_json_with_missing_and_unknown_fields() {
        let json = r#"{"ip":"10.0.0.1","port":8080,"clusterName":"c1","unknown":1}"#;
        let instance: Instance = serde_json::from_str(json).unwrap();
        assert_eq!(instance.ip, "10.0.0.1");
        assert_eq!(instance.port, 8080);
        assert_eq!(instance.weight, 1.0);
        assert!(instance.healthy && instance.enabled && instance.ephemeral);
        assert_eq!(instance.cluster_name.as_deref(), Some("c1"));
    }

    #[test]
    fn writes_java_field_names() {
        let value = serde_json::to_value(Instance::default()).unwrap();
        for key in [
            "ip",
            "port",
            "weight",
            "healthy",
            "enabled",
            "ephemeral",
            "metadata",
            "instanceHeartBeatInterval",
            "instanceHeartBeatTimeOut",
            "ipDeleteTimeout",
            "instanceIdGenerator",
        ] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        assert!(value.get("instanceId").is_none(), "null fields are omitted");
    }
}
