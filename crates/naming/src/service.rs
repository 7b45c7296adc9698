//! Services: the index of who publishes and subscribes, and optional service metadata.

use std::collections::{BTreeMap, HashSet};

use tokio::time::Instant;

use crate::client::ClientId;

/// A service's selector. Only `none` changes nothing; `label` is kept and echoed but, lacking
/// a CMDB, selects everything (as Nacos does without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// `none` or `label`.
    pub kind: String,
    /// The label expression, for `label`.
    pub expression: Option<String>,
}

impl Default for Selector {
    fn default() -> Self {
        Self {
            kind: "none".to_owned(),
            expression: None,
        }
    }
}

/// Metadata given to a service through the service API. Its presence enables the
/// protection threshold, as in Nacos.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceMeta {
    /// Ratio of healthy instances at or under which unhealthy ones are returned as healthy.
    pub protect_threshold: f32,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Selector.
    pub selector: Selector,
}

/// One service in the index.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    /// Clients publishing at least one instance of it.
    pub publishers: HashSet<ClientId>,
    /// Set when created or updated through the service API; such services are not removed
    /// when empty.
    pub meta: Option<ServiceMeta>,
    /// Last time a publisher came or went, or an instance changed.
    pub last_changed: Instant,
}

impl ServiceEntry {
    /// An empty service created at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            publishers: HashSet::new(),
            meta: None,
            last_changed: now,
        }
    }
}
