//! `BeatInfo`: the optional `beat` JSON a 1.x client sends with `PUT /instance/beat`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The body of a full beat (`com.alibaba.nacos.api.naming.pojo.builder` `RsInfo`/`BeatInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeatInfo {
    /// Instance address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Instance port.
    #[serde(default)]
    pub port: Option<i64>,
    /// Grouped service name.
    #[serde(default)]
    pub service_name: Option<String>,
    /// Cluster of the instance.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Weight to register with when the server auto-registers the instance.
    #[serde(default)]
    pub weight: Option<f64>,
    /// Metadata to register with when the server auto-registers the instance.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Whether the instance is ephemeral (default true).
    #[serde(default)]
    pub ephemeral: Option<bool>,
}
