//! Connection-level messages (module `internal`): handshake, liveness, reset, errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grpc::common::{MODULE_INTERNAL, RequestHeader, ResponseStatus};
use crate::grpc::message::{grpc_message, grpc_response};
use crate::nulls::null_as_default;

/// First unary call of a client: asks for the id of its transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerCheckRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
}

/// Answer to [`ServerCheckRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCheckResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
    /// The id the server gave the client's transport (`<millis>_<ip>_<port>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// True when the server answers an ability table with `SetupAckRequest`.
    #[serde(default)]
    pub support_ability_negotiation: bool,
}

/// First message on the bi-stream: registers the connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSetupRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// SDK name and version, e.g. `Nacos-Java-Client:v2.5.1`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_version: String,
    /// Namespace the client works in.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tenant: String,
    /// `source` (`sdk`/`cluster`), `module` (`naming`/`config`), `AppName`…
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Abilities of 2.3+ clients; when present the server answers with `SetupAckRequest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ability_table: Option<BTreeMap<String, bool>>,
    /// The pre-2.3 ability object, kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abilities: Option<serde_json::Value>,
}

/// Server to client on the stream: the server's abilities, answering an ability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupAckRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// Server abilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ability_table: Option<BTreeMap<String, bool>>,
}

/// Client answer to [`SetupAckRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SetupAckResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
}

/// Client keep-alive probe (unary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
}

/// Answer to [`HealthCheckRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthCheckResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
}

/// Server to client on the stream: "are you alive?", sent to idle connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientDetectionRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
}

/// Client answer to [`ClientDetectionRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientDetectionResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
}

/// Server to client on the stream: reconnect (to the given server, or any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResetRequest {
    /// Common request fields.
    #[serde(flatten)]
    pub header: RequestHeader,
    /// Server to move to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ip: Option<String>,
    /// Its port, if any (a string in Java).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_port: Option<String>,
    /// The connection being reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
}

/// Client answer to [`ConnectResetRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConnectResetResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
}

/// The answer to any request that failed before (or outside) its handler.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Codes.
    #[serde(flatten)]
    pub status: ResponseStatus,
}

grpc_message!(
    ServerCheckRequest,
    ConnectionSetupRequest,
    SetupAckRequest,
    HealthCheckRequest,
    ClientDetectionRequest,
    ConnectResetRequest,
);
grpc_response!(
    ServerCheckResponse,
    SetupAckResponse,
    HealthCheckResponse,
    ClientDetectionResponse,
    ConnectResetResponse,
    ErrorResponse,
);

impl ServerCheckRequest {
    /// A server check without id.
    pub fn new() -> Self {
        Self {
            header: RequestHeader::module(MODULE_INTERNAL),
        }
    }
}

impl Default for ServerCheckRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthCheckRequest {
    /// A health check without id.
    pub fn new() -> Self {
        Self {
            header: RequestHeader::module(MODULE_INTERNAL),
        }
    }
}

impl Default for HealthCheckRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorResponse {
    /// A failure outside any handler (`resultCode` 500, `errorCode` = `code`).
    pub fn fail(code: i32, message: impl Into<String>) -> Self {
        Self {
            status: ResponseStatus::fail(code, message),
        }
    }

    /// A failure raised inside a handler (`resultCode` = `errorCode` = `code`).
    pub fn exception(code: i32, message: impl Into<String>) -> Self {
        Self {
            status: ResponseStatus::exception(code, message),
        }
    }
}
