//! The Nacos 2.x client gRPC protocol: the `Payload` envelope and the JSON messages in it.
//!
//! [`proto`] is generated from `proto/nacos_grpc_service.proto`; [`message`] turns typed
//! messages into payloads and back; [`common`], [`internal`] and [`naming`] are the Java
//! request/response classes (camelCase, nulls omitted, unknown fields ignored), each mapped to
//! its `metadata.type` by [`GrpcMessage::TYPE`]; [`request`] picks the handled request by type;
//! [`codes`] holds the result and error codes.

pub mod codes;
pub mod common;
pub mod internal;
pub mod message;
pub mod naming;
pub mod proto;
pub mod request;

pub use common::{MODULE_INTERNAL, MODULE_NAMING, RequestHeader, ResponseStatus};
pub use message::{
    DecodeError, GrpcMessage, GrpcResponse, decode, encode, payload_type, response_status,
};
pub use proto::{Metadata, Payload};
pub use request::ClientRequest;
