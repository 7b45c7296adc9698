//! `ServiceInfo`: the instance list of one service as answered to queries and pushes.

use serde::{Deserialize, Serialize};

use crate::instance::Instance;

/// A service's instances (`com.alibaba.nacos.api.naming.pojo.ServiceInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// Service name: `group@@service` over HTTP, the bare name over gRPC.
    #[serde(default)]
    pub name: String,
    /// Group of the service.
    #[serde(default)]
    pub group_name: String,
    /// The cluster filter the caller asked for, echoed back (comma list).
    #[serde(default)]
    pub clusters: String,
    /// How long clients may cache this answer, in milliseconds.
    #[serde(default)]
    pub cache_millis: i64,
    /// The selected instances.
    #[serde(default)]
    pub hosts: Vec<Instance>,
    /// Server time (epoch ms) when this answer was built.
    #[serde(default)]
    pub last_ref_time: i64,
    /// Never computed by Nacos 2.x servers; always empty.
    #[serde(default)]
    pub checksum: String,
    /// Legacy flag, always false.
    #[serde(default, rename = "allIPs")]
    pub all_ips: bool,
    /// True when the protection threshold made unhealthy instances look healthy.
    #[serde(default)]
    pub reach_protection_threshold: bool,
    /// Derived in Java (`hosts != null`); always true for server answers.
    #[serde(default = "default_valid")]
    pub valid: bool,
}

fn default_valid() -> bool {
    true
}
