//! The envelope codec: a typed message to and from a [`Payload`].
//!
//! A Nacos payload names its Java class in `metadata.type` and carries the object as UTF-8
//! JSON in `body.value` (the `Any` has an empty `type_url` from Java SDKs; other SDKs put the
//! class name there, so the reader ignores it).

use prost_types::Any;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::grpc::common::ResponseStatus;
use crate::grpc::proto::{Metadata, Payload};

/// A request or response that travels in a [`Payload`].
pub trait GrpcMessage: Serialize + DeserializeOwned {
    /// The `metadata.type` string: the Java simple class name.
    const TYPE: &'static str;

    /// This message in a payload (no client IP, no headers, as servers send).
    fn to_payload(&self) -> Result<Payload, serde_json::Error> {
        encode(Self::TYPE, self, "")
    }
}

/// A response: a message whose codes are in its `status`.
pub trait GrpcResponse: GrpcMessage {
    /// The codes.
    fn status(&self) -> &ResponseStatus;
    /// The codes, to fill in.
    fn status_mut(&mut self) -> &mut ResponseStatus;
}

/// Implements [`GrpcMessage`] for types whose `TYPE` is their own name.
macro_rules! grpc_message {
    ($($name:ident),+ $(,)?) => {
        $(impl $crate::grpc::message::GrpcMessage for $name {
            const TYPE: &'static str = stringify!($name);
        })+
    };
}
pub(crate) use grpc_message;

/// Implements [`GrpcMessage`] and [`GrpcResponse`] for response types with a `status` field.
macro_rules! grpc_response {
    ($($name:ident),+ $(,)?) => {
        $crate::grpc::message::grpc_message!($($name),+);
        $(impl $crate::grpc::message::GrpcResponse for $name {
            fn status(&self) -> &$crate::grpc::common::ResponseStatus {
                &self.status
            }
            fn status_mut(&mut self) -> &mut $crate::grpc::common::ResponseStatus {
                &mut self.status
            }
        })+
    };
}
pub(crate) use grpc_response;

/// Why a payload could not be read as the expected message.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The payload has no body.
    #[error("payload has no body")]
    MissingBody,
    /// The body is not valid JSON for the type.
    #[error("malformed {type_name} body: {source}")]
    Malformed {
        /// The type that was expected.
        type_name: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The payload holds another type (for answers: usually an `ErrorResponse`).
    #[error("expected {expected}, got {found} ({status:?})")]
    Unexpected {
        /// The type that was expected.
        expected: &'static str,
        /// The type that came.
        found: String,
        /// The response codes of what came, when it is a response.
        status: Option<ResponseStatus>,
    },
}

/// Wraps any serialisable object in a payload of the given type, sent from `client_ip`.
pub fn encode<T: Serialize + ?Sized>(
    type_name: &str,
    message: &T,
    client_ip: &str,
) -> Result<Payload, serde_json::Error> {
    let value = serde_json::to_vec(message)?;
    Ok(Payload {
        metadata: Some(Metadata {
            r#type: type_name.to_owned(),
            client_ip: client_ip.to_owned(),
            headers: Default::default(),
        }),
        body: Some(Any {
            type_url: String::new(),
            value,
        }),
    })
}

/// The `metadata.type` of a payload (empty when absent).
pub fn payload_type(payload: &Payload) -> &str {
    payload.metadata.as_ref().map_or("", |m| m.r#type.as_str())
}

/// The JSON bytes of a payload's body.
pub fn body_bytes(payload: &Payload) -> Result<&[u8], DecodeError> {
    payload
        .body
        .as_ref()
        .map(|b| b.value.as_slice())
        .ok_or(DecodeError::MissingBody)
}

/// Reads JSON bytes as `T`, naming `type_name` in the error.
pub fn parse_body<T: DeserializeOwned>(type_name: &str, bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|source| DecodeError::Malformed {
        type_name: type_name.to_owned(),
        source,
    })
}

/// Reads a payload as `T`, failing when it holds another type.
pub fn decode<T: GrpcMessage>(payload: &Payload) -> Result<T, DecodeError> {
    let found = payload_type(payload);
    let bytes = body_bytes(payload)?;
    if found != T::TYPE {
        return Err(DecodeError::Unexpected {
            expected: T::TYPE,
            found: found.to_owned(),
            status: serde_json::from_slice(bytes).ok(),
        });
    }
    parse_body(T::TYPE, bytes)
}

/// The codes of any response payload, whatever its type.
pub fn response_status(payload: &Payload) -> Result<ResponseStatus, DecodeError> {
    parse_body(payload_type(payload), body_bytes(payload)?)
}
