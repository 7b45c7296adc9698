//! The naming plugin of the Distro kernel: serves client records (storage) and applies the
//! records peers send (processor).

use std::sync::Arc;

use bytes::Bytes;
use distro_core::{ApplyError, DataProcessor, DataStorage};
use tokio::time::Instant;

use crate::client::ClientId;
use crate::registry::Registry;
use crate::replication::record::ClientRecord;

/// Client records of one registry, for the kernel.
pub struct ClientDataPlugin {
    registry: Arc<Registry>,
}

impl ClientDataPlugin {
    /// The plugin over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl DataStorage for ClientDataPlugin {
    fn payload(&self, key: &str) -> Option<(u64, Bytes)> {
        let record = self.registry.client_record(&ClientId::new(key))?;
        Some((record.revision, Bytes::from(record.encode())))
    }
}

impl DataProcessor for ClientDataPlugin {
    fn apply(
        &self,
        key: &str,
        _owner: &str,
        revision: u64,
        payload: &[u8],
    ) -> Result<(), ApplyError> {
        let mut record = ClientRecord::decode(payload).map_err(|e| ApplyError(e.to_string()))?;
        if record.id != key {
            return Err(ApplyError(format!("record of {} sent as {key}", record.id)));
        }
        // The kernel's revision is authoritative (it decided this record is newer).
        record.revision = revision;
        self.registry
            .apply_record(Instant::now(), &record)
            .map_err(|e| ApplyError(e.to_string()))
    }

    fn remove(&self, key: &str, revision: u64) -> Result<(), ApplyError> {
        self.registry
            .remove_record(Instant::now(), &ClientId::new(key), revision)
            .map_err(|e| ApplyError(e.to_string()))
    }
}
