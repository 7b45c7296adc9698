//! Answers of unary calls: an encoded response plus its codes for the request metrics.

use distro_nacos_api::grpc::internal::ErrorResponse;
use distro_nacos_api::grpc::{GrpcMessage, GrpcResponse, Payload, codes, encode};
use distro_naming::{NamingError, ParamError};

/// An encoded answer.
pub struct Reply {
    /// The payload to send.
    pub payload: Payload,
    /// Its `resultCode`.
    pub result_code: i32,
    /// Its `errorCode`.
    pub error_code: i32,
}

impl Reply {
    /// Encodes `response`, echoing the request id.
    pub fn new<T: GrpcResponse>(mut response: T, request_id: Option<&str>) -> Self {
        if let Some(id) = request_id {
            response.status_mut().request_id = Some(id.to_owned());
        }
        let (result_code, error_code) =
            (response.status().result_code, response.status().error_code);
        let payload = response.to_payload().unwrap_or_else(|error| {
            tracing::error!(%error, kind = T::TYPE, "cannot encode a response");
            fallback()
        });
        Self {
            payload,
            result_code,
            error_code,
        }
    }

    /// An `ErrorResponse` for a failure outside any handler (`resultCode` 500).
    pub fn error(code: i32, message: impl Into<String>, request_id: Option<&str>) -> Self {
        Self::new(ErrorResponse::fail(code, message), request_id)
    }

    /// The label of the request metrics: `ok` or the error code.
    pub fn result_label(&self) -> String {
        if self.result_code == codes::SUCCESS {
            "ok".to_owned()
        } else {
            self.error_code.to_string()
        }
    }
}

/// A hand-written server error, for the (unreachable) case where JSON encoding fails.
fn fallback() -> Payload {
    let body =
        serde_json::json!({"resultCode": codes::FAIL, "errorCode": codes::FAIL, "success": false});
    encode(ErrorResponse::TYPE, &body, "").unwrap_or_default()
}

/// Why a naming handler did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A parameter check failed: answered with the handler's type, 500/400.
    Param(ParamError),
    /// The handler failed: answered with `ErrorResponse`, `resultCode = errorCode = code`.
    Exception(i32, String),
}

impl From<ParamError> for Failure {
    fn from(error: ParamError) -> Self {
        Self::Param(error)
    }
}

impl From<NamingError> for Failure {
    fn from(error: NamingError) -> Self {
        let code = match &error {
            NamingError::Param(_) | NamingError::PersistentUnsupported => codes::INVALID_PARAM,
            NamingError::ClientDisconnected(_) => codes::CLIENT_DISCONNECT,
            NamingError::ServiceNotFound(_) | NamingError::InstanceNotFound { .. } => {
                codes::NOT_FOUND
            }
            // Nacos's code for "over a limit"; the SDK raises it as a NacosException.
            NamingError::Limit(_) => codes::OVER_THRESHOLD,
            _ => codes::SERVER_ERROR,
        };
        Self::Exception(code, error.to_string())
    }
}

/// The reply to a handler's outcome, in the response type `T` or as an `ErrorResponse`.
pub fn finish<T: GrpcResponse + Default>(
    outcome: Result<T, Failure>,
    request_id: Option<&str>,
) -> Reply {
    match outcome {
        Ok(response) => Reply::new(response, request_id),
        Err(Failure::Param(error)) => {
            Reply::new(crate::grpc::params::rejected::<T>(&error), request_id)
        }
        Err(Failure::Exception(code, message)) => {
            Reply::new(ErrorResponse::exception(code, message), request_id)
        }
    }
}
