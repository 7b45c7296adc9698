//! The unary requests a server handles, chosen by `metadata.type`.

use crate::grpc::internal::{HealthCheckRequest, ServerCheckRequest};
use crate::grpc::message::{DecodeError, GrpcMessage, parse_body};
use crate::grpc::naming::{
    BatchInstanceRequest, InstanceRequest, PersistentInstanceRequest, ServiceListRequest,
    ServiceQueryRequest, SubscribeServiceRequest,
};

/// A decoded client request of a type the naming server handles.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// Asks for the transport's connection id.
    ServerCheck(ServerCheckRequest),
    /// Keep-alive probe.
    HealthCheck(HealthCheckRequest),
    /// Register or deregister one instance.
    Instance(InstanceRequest),
    /// Persistent instance operation (refused: ephemeral only).
    PersistentInstance(PersistentInstanceRequest),
    /// Register a batch of instances.
    BatchInstance(BatchInstanceRequest),
    /// Query a service.
    ServiceQuery(ServiceQueryRequest),
    /// Subscribe or unsubscribe.
    SubscribeService(SubscribeServiceRequest),
    /// List services.
    ServiceList(ServiceListRequest),
}

/// Every `metadata.type` [`ClientRequest::decode`] accepts.
pub const HANDLED_TYPES: &[&str] = &[
    ServerCheckRequest::TYPE,
    HealthCheckRequest::TYPE,
    InstanceRequest::TYPE,
    PersistentInstanceRequest::TYPE,
    BatchInstanceRequest::TYPE,
    ServiceQueryRequest::TYPE,
    SubscribeServiceRequest::TYPE,
    ServiceListRequest::TYPE,
];

impl ClientRequest {
    /// Whether a request type has a handler (Nacos answers others with `NO_HANDLER`).
    pub fn is_handled(type_name: &str) -> bool {
        HANDLED_TYPES.contains(&type_name)
    }

    /// Reads the JSON body of a request of `type_name`; `None` for unhandled types.
    pub fn decode(type_name: &str, body: &[u8]) -> Option<Result<Self, DecodeError>> {
        fn read<T: GrpcMessage>(
            body: &[u8],
            wrap: fn(T) -> ClientRequest,
        ) -> Option<Result<ClientRequest, DecodeError>> {
            Some(parse_body::<T>(T::TYPE, body).map(wrap))
        }
        match type_name {
            ServerCheckRequest::TYPE => read(body, Self::ServerCheck),
            HealthCheckRequest::TYPE => read(body, Self::HealthCheck),
            InstanceRequest::TYPE => read(body, Self::Instance),
            PersistentInstanceRequest::TYPE => read(body, Self::PersistentInstance),
            BatchInstanceRequest::TYPE => read(body, Self::BatchInstance),
            ServiceQueryRequest::TYPE => read(body, Self::ServiceQuery),
            SubscribeServiceRequest::TYPE => read(body, Self::SubscribeService),
            ServiceListRequest::TYPE => read(body, Self::ServiceList),
            _ => None,
        }
    }

    /// The request id to echo in the answer.
    pub fn request_id(&self) -> Option<&str> {
        let header = match self {
            Self::ServerCheck(r) => &r.header,
            Self::HealthCheck(r) => &r.header,
            Self::Instance(r) => &r.header,
            Self::PersistentInstance(r) => &r.header,
            Self::BatchInstance(r) => &r.header,
            Self::ServiceQuery(r) => &r.header,
            Self::SubscribeService(r) => &r.header,
            Self::ServiceList(r) => &r.header,
        };
        header.request_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_variants() {
        let body = br#"{"headers":{},"module":"internal","requestId":"7"}"#;
        let request = ClientRequest::decode("HealthCheckRequest", body)
            .unwrap()
            .unwrap();
        assert!(matches!(request, ClientRequest::HealthCheck(_)));
        assert_eq!(request.request_id(), Some("7"));
        assert!(ClientRequest::decode("ConfigQueryRequest", body).is_none());
        assert!(!ClientRequest::is_handled("ConnectionSetupRequest"));
        assert!(
            ClientRequest::decode("InstanceRequest", b"{not json")
                .unwrap()
                .is_err()
        );
    }
}
