//! Errors of the naming registry, split into bad parameters and refused operations.

use thiserror::Error;

use crate::client::ClientId;
use crate::names::ServiceKey;

/// A request parameter that is missing or illegal. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ParamError {
    /// A required parameter is absent or blank.
    #[error("Param '{0}' is required.")]
    Missing(String),
    /// A parameter has an illegal value; `detail` is the full Nacos-style message.
    #[error("{detail}")]
    Illegal {
        /// The parameter's name.
        param: String,
        /// The message for the caller.
        detail: String,
    },
    /// The weight is outside [0, 10000].
    #[error("instance format invalid: The weights range from 0.0 to 10000.0")]
    Weight,
    /// The metadata is not a JSON object of strings nor `k=v,k=v`.
    #[error("metadata format incorrect:{0}")]
    Metadata(String),
    /// The beat interval is longer than one of the beat timeouts.
    #[error(
        "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'."
    )]
    BeatTimeouts,
}

/// Why the registry refused an operation. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NamingError {
    /// A parameter is missing or illegal.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The service does not exist.
    #[error("service not found, namespace: {}, service: {}", .0.namespace, .0.grouped_name())]
    ServiceNotFound(ServiceKey),
    /// The service already exists.
    #[error("specified service {} already exists!", .0.grouped_name())]
    ServiceAlreadyExists(ServiceKey),
    /// The service still has instances.
    #[error("Service {} is not empty, can't be delete. Please unregister instance first", .0.grouped_name())]
    ServiceNotEmpty(ServiceKey),
    /// No instance with that address and cluster is registered in the service.
    #[error("no ips found for cluster {cluster} in service {service}")]
    InstanceNotFound {
        /// Grouped service name.
        service: String,
        /// Cluster searched.
        cluster: String,
    },
    /// The client (connection) is gone, so it cannot own instances any more.
    #[error("Client [{0}] connection already disconnect, can't register ephemeral instance.")]
    ClientDisconnected(ClientId),
    /// Persistent (CP) instances are not served by this registry.
    #[error("persistent instances are not supported: this server keeps ephemeral instances only")]
    PersistentUnsupported,
    /// The write would pass a capacity limit.
    #[error(transparent)]
    Limit(#[from] crate::quota::LimitExceeded),
    /// A peer's state of a client was refused: it drops an instance that beats this node.
    #[error("contested: {0}")]
    Contested(String),
}
