//! Naming requests and responses (module `naming`, Nacos `AbstractNamingRequest` and kin).
//!
//! Service names here are WITHOUT the group (`serviceName` + `groupName`), unlike HTTP.

use serde::{Deserialize, Serialize};

use crate::grpc::common::{MODULE_NAMING, RequestHeader, ResponseStatus};
use crate::grpc::message::{grpc_message, grpc_response};
use crate::instance::Instance;
use crate::nulls::null_as_default;
use crate::service_info::ServiceInfo;

/// `InstanceRequest.type` that registers.
pub const REGISTER_INSTANCE: &str = "registerInstance";
/// `InstanceRequest.type` that deregisters (sic: not "deRegister").
pub const DEREGISTER_INSTANCE: &str = "deregisterInstance";
/// `BatchInstanceRequest.type`.
pub const BATCH_REGISTER_INSTANCE: &str = "batchRegisterInstance";

/// The service a naming request is about.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamingTarget {
    /// Namespace id (blank means `public`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Service name without group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Group (blank means `DEFAULT_GROUP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

impl NamingTarget {
    /// A target from its three parts.
    pub fn new(namespace: &str, group: &str, service: &str) -> Self {
        Self {
            namespace: Some(namespace.to_owned()),
            service_name: Some(service.to_owned()),
            group_name: Some(group.to_owned()),
        }
    }
}

/// Register or deregister the connection's instance of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// The service.
    #[serde(flatten)]
    pub target: NamingTarget,
    /// [`REGISTER_INSTANCE`] or [`DEREGISTER_INSTANCE`].
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: String,
    /// The instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Instance>,
}

/// A persistent (CP) instance operation; this server keeps ephemeral instances only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentInstanceRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// The service.
    #[serde(flatten)]
    pub target: NamingTarget,
    /// `registerInstance` or `deregisterInstance`.
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: String,
    /// The instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Instance>,
}

/// Answer to [`InstanceRequest`] (and [`PersistentInstanceRequest`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstanceResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
    /// Echo of the request type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Replace the connection's instances of a service with a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInstanceRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// The service.
    #[serde(flatten)]
    pub target: NamingTarget,
    /// [`BATCH_REGISTER_INSTANCE`].
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: String,
    /// The instances.
    #[serde(default, deserialize_with = "null_as_default")]
    pub instances: Vec<Instance>,
}

/// Answer to [`BatchInstanceRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchInstanceResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
    /// Echo of the request type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Read a service's instances once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceQueryRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// The service.
    #[serde(flatten)]
    pub target: NamingTarget,
    /// Cluster filter, comma list (empty = all).
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: String,
    /// Only healthy instances.
    #[serde(default, deserialize_with = "null_as_default")]
    pub healthy_only: bool,
    /// 1.x UDP push port; unused over gRPC.
    #[serde(default, deserialize_with = "null_as_default")]
    pub udp_port: i32,
}

/// Answer to [`ServiceQueryRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryServiceResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
    /// The selected instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_info: Option<ServiceInfo>,
}

/// Subscribe to (or unsubscribe from) pushes of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeServiceRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// The service.
    #[serde(flatten)]
    pub target: NamingTarget,
    /// True to subscribe, false to unsubscribe.
    #[serde(default, deserialize_with = "null_as_default")]
    pub subscribe: bool,
    /// Cluster filter, comma list, echoed in every push.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: String,
}

/// Answer to [`SubscribeServiceRequest`]: the current view.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeServiceResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
    /// The selected instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_info: Option<ServiceInfo>,
}

/// List the services of a namespace and group, one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceListRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// The namespace and group (`serviceName` is empty).
    #[serde(flatten)]
    pub target: NamingTarget,
    /// 1-based page number.
    #[serde(default, deserialize_with = "null_as_default")]
    pub page_no: i32,
    /// Page size.
    #[serde(default, deserialize_with = "null_as_default")]
    pub page_size: i32,
    /// Selector expression; ignored, as by Nacos without a CMDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// Answer to [`ServiceListRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceListResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
    /// Matching services in total.
    #[serde(default)]
    pub count: i32,
    /// Names (without group) on this page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub service_names: Vec<String>,
}

/// Server to client on the stream: the new view of a subscribed service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifySubscriberRequest {
    /// Common request fields (`requestId` set by the server).
    #[serde(flatten)]
    pub header: RequestHeader,
    /// Unset by servers (the service is in `serviceInfo`).
    #[serde(flatten)]
    pub target: NamingTarget,
    /// The view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_info: Option<ServiceInfo>,
}

/// Client answer to [`NotifySubscriberRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NotifySubscriberResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
}

grpc_message!(
    InstanceRequest,
    PersistentInstanceRequest,
    BatchInstanceRequest,
    ServiceQueryRequest,
    SubscribeServiceRequest,
    ServiceListRequest,
    NotifySubscriberRequest,
);
grpc_response!(
    InstanceResponse,
    BatchInstanceResponse,
    QueryServiceResponse,
    SubscribeServiceResponse,
    ServiceListResponse,
    NotifySubscriberResponse,
);

impl InstanceRequest {
    /// A register (`registerInstance`) or deregister (`deregisterInstance`) request.
    pub fn new(kind: &str, target: NamingTarget, instance: Instance) -> Self {
        Self {
            header: RequestHeader::module(MODULE_NAMING),
            target,
            kind: kind.to_owned(),
            instance: Some(instance),
        }
    }
}

impl BatchInstanceRequest {
    /// A batch registration.
    pub fn new(target: NamingTarget, instances: Vec<Instance>) -> Self {
        Self {
            header: RequestHeader::module(MODULE_NAMING),
            target,
            kind: BATCH_REGISTER_INSTANCE.to_owned(),
            instances,
        }
    }
}

impl ServiceQueryRequest {
    /// A query with a cluster filter.
    pub fn new(target: NamingTarget, cluster: &str, healthy_only: bool) -> Self {
        Self {
            header: RequestHeader::module(MODULE_NAMING),
            target,
            cluster: cluster.to_owned(),
            healthy_only,
            udp_port: 0,
        }
    }
}

impl SubscribeServiceRequest {
    /// A subscription (or, with `subscribe == false`, an unsubscription).
    pub fn new(target: NamingTarget, clusters: &str, subscribe: bool) -> Self {
        Self {
            header: RequestHeader::module(MODULE_NAMING),
            target,
            subscribe,
            clusters: clusters.to_owned(),
        }
    }
}

impl ServiceListRequest {
    /// One page of the services of `namespace`/`group`.
    pub fn new(namespace: &str, group: &str, page_no: i32, page_size: i32) -> Self {
        Self {
            header: RequestHeader::module(MODULE_NAMING),
            target: NamingTarget::new(namespace, group, ""),
            page_no,
            page_size,
            selector: None,
        }
    }
}
