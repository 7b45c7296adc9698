//! Error answers in each API's own form: v1 is a status with a plain-text message, v2 is a
//! status with the `{code, message, data}` envelope.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use distro_nacos_api::ErrorCode;
use distro_naming::{NamingError, ParamError};

use crate::http::params::ParamsRejection;

/// An error with everything both API versions need to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// v2 error code.
    pub code: ErrorCode,
    /// v1 body text; v2 `data`.
    pub message: String,
    /// The required parameter that was absent, if that is the error (v2 words it apart).
    pub missing: Option<String>,
}

impl ApiError {
    /// An error from its parts.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            missing: None,
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        let code = match &error {
            ParamError::Missing(_) => ErrorCode::ParameterMissing,
            ParamError::Illegal { param, .. } if param == "serviceName" => {
                ErrorCode::ServiceNameError
            }
            ParamError::Illegal { .. } => ErrorCode::ParameterValidateError,
            ParamError::Weight => ErrorCode::WeightError,
            ParamError::Metadata(_) => ErrorCode::InstanceMetadataError,
            ParamError::BeatTimeouts => ErrorCode::InstanceError,
        };
        let missing = match &error {
            ParamError::Missing(name) => Some(name.clone()),
            _ => None,
        };
        Self {
            missing,
            ..Self::new(StatusCode::BAD_REQUEST, code, error.to_string())
        }
    }
}

impl From<NamingError> for ApiError {
    fn from(error: NamingError) -> Self {
        let (status, code) = match &error {
            NamingError::Param(param) => return param.clone().into(),
            NamingError::ServiceNotFound(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ServiceNotExist)
            }
            NamingError::ServiceAlreadyExists(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ServiceAlreadyExist)
            }
            NamingError::ServiceNotEmpty(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ServiceDeleteFailure)
            }
            NamingError::InstanceNotFound { .. } => {
                (StatusCode::NOT_FOUND, ErrorCode::InstanceNotFound)
            }
            NamingError::ClientDisconnected(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InstanceError)
            }
            NamingError::PersistentUnsupported => {
                (StatusCode::BAD_REQUEST, ErrorCode::ParameterValidateError)
            }
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<ParamsRejection> for ApiError {
    fn from(rejection: ParamsRejection) -> Self {
        Self::new(
            rejection.status,
            ErrorCode::ParameterValidateError,
            rejection.message,
        )
    }
}

/// An error answered the v1 way: status and plain text.
#[derive(Debug)]
pub struct V1Error(pub ApiError);

impl<E: Into<ApiError>> From<E> for V1Error {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        (self.0.status, self.0.message).into_response()
    }
}

impl IntoResponse for ParamsRejection {
    fn into_response(self) -> Response {
        V1Error::from(self).into_response()
    }
}

/// An error answered the v2 way: status and envelope.
#[derive(Debug)]
pub struct V2Error(pub ApiError);

impl<E: Into<ApiError>> From<E> for V2Error {
    fn from(error: E) -> Self {
        let mut api: ApiError = error.into();
        // v2 words missing parameters the way Spring does.
        if let Some(name) = &api.missing {
            let kind = if name == "port" { "Integer" } else { "String" };
            api.message = format!("Required parameter '{name}' type {kind} is not present");
        }
        Self(api)
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        (self.0.status, Json(self.0.code.result(self.0.message))).into_response()
    }
}
