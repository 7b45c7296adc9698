//! The replicated form of a client: everything it publishes, with its revision, encoded as
//! CBOR (compact, self-describing, so a newer node can add fields an older one ignores).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Resource type of naming clients in Distro messages (the Nacos name).
pub const CLIENT_DATA_TYPE: &str = "Nacos:Naming:v2:ClientData";

/// One client's published instances, as replicas receive them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Client id (`ip:port#true` or a connection id).
    pub id: String,
    /// Revision of this state.
    pub revision: u64,
    /// One entry per published service.
    pub services: Vec<ServiceRecord>,
    /// Services whose instances an owner expired since the client's last write, as
    /// `(namespace, group, name)` (absent in records of older nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<(String, String, String)>,
}

/// What a client publishes for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Namespace.
    pub namespace: String,
    /// Group.
    pub group: String,
    /// Service name.
    pub name: String,
    /// True when registered as a batch (replaced as a whole).
    #[serde(default)]
    pub batch: bool,
    /// The instances.
    pub instances: Vec<InstanceData>,
}

/// One instance in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceData {
    /// Address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Cluster.
    pub cluster: String,
    /// Weight.
    pub weight: f64,
    /// Health.
    pub healthy: bool,
    /// Takes traffic.
    pub enabled: bool,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Instance id, generated or chosen at registration (replicated so every node shows the
    /// same id: Nacos #6654).
    pub instance_id: String,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable client record: {0}")]
pub struct DecodeError(pub String);

impl ClientRecord {
    /// CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(256);
        // Writing into a Vec cannot fail for plain data.
        if let Err(error) = ciborium::into_writer(self, &mut bytes) {
            tracing::error!(%error, "cannot encode a client record");
        }
        bytes
    }

    /// Reads CBOR bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        ciborium::from_reader(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let record = ClientRecord {
            expired: Vec::new(),
            id: "10.0.0.1:80#true".into(),
            revision: 7,
            services: vec![ServiceRecord {
                namespace: "public".into(),
                group: "DEFAULT_GROUP".into(),
                name: "orders".into(),
                batch: false,
                instances: vec![InstanceData {
                    ip: "10.0.0.1".into(),
                    port: 80,
                    cluster: "DEFAULT".into(),
                    weight: 1.5,
                    healthy: true,
                    enabled: true,
                    metadata: BTreeMap::from([("k".into(), "v".into())]),
                    instance_id: "10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@orders".into(),
                }],
            }],
        };
        assert_eq!(ClientRecord::decode(&record.encode()).unwrap(), record);
        let mut expired = record.clone();
        expired.expired = vec![("public".into(), "DEFAULT_GROUP".into(), "orders".into())];
        assert_eq!(ClientRecord::decode(&expired.encode()).unwrap(), expired);
        assert!(ClientRecord::decode(b"\xff\x00garbage").is_err());
        assert!(ClientRecord::decode(&[]).is_err());
    }
}
