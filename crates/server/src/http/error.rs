//! Error answers in each API's own form: v1 is a status with a plain-text message, v2 is a
//! status with the `{code, message, data}` envelope.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use distro_nacos_api::{ApiResult, ErrorCode};
use distro_naming::{Limit, NamingError, ParamError};

use crate::http::params::ParamsRejection;

/// A v2 error code with its fixed message: one of [`ErrorCode`], or a Nacos code the wire
/// models do not list (the capacity codes below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Code {
    /// The numeric `code`.
    pub code: i32,
    /// The `message` that goes with it.
    pub message: &'static str,
}

impl From<ErrorCode> for V2Code {
    fn from(code: ErrorCode) -> Self {
        Self {
            code: code.code(),
            message: code.message(),
        }
    }
}

/// Nacos's `OVER_CLUSTER_QUOTA`: a capacity limit of this node (instances of a service, a
/// client or the node, subscriptions, services of the node).
pub const OVER_CLUSTER_QUOTA: V2Code = V2Code {
    code: 5031,
    message: "cluster capacity reach quota",
};

/// Nacos's `OVER_TENANT_QUOTA`: the services of one namespace (tenant).
pub const OVER_TENANT_QUOTA: V2Code = V2Code {
    code: 5033,
    message: "tenant capacity reach quota",
};

/// An error with everything both API versions need to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// v2 error code.
    pub code: V2Code,
    /// v1 body text; v2 `data`.
    pub message: String,
    /// The required parameter that was absent, if that is the error (v2 words it apart).
    pub missing: Option<String>,
}

impl ApiError {
    /// An error from its parts.
    pub fn new(status: StatusCode, code: impl Into<V2Code>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
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
        let (status, code): (StatusCode, V2Code) = match &error {
            NamingError::Param(param) => return param.clone().into(),
            NamingError::ServiceNotFound(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ServiceNotExist.into())
            }
            NamingError::ServiceAlreadyExists(_) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::ServiceAlreadyExist.into(),
            ),
            NamingError::ServiceNotEmpty(_) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::ServiceDeleteFailure.into(),
            ),
            NamingError::InstanceNotFound { .. } => {
                (StatusCode::NOT_FOUND, ErrorCode::InstanceNotFound.into())
            }
            NamingError::ClientDisconnected(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InstanceError.into())
            }
            NamingError::PersistentUnsupported => (
                StatusCode::BAD_REQUEST,
                ErrorCode::ParameterValidateError.into(),
            ),
            // 429, as Nacos answers a request over its limits (and Google's APIs an exhausted
            // quota); nothing was stored.
            NamingError::Limit(limit) if limit.limit == Limit::NamespaceServices => {
                (StatusCode::TOO_MANY_REQUESTS, OVER_TENANT_QUOTA)
            }
            NamingError::Limit(_) => (StatusCode::TOO_MANY_REQUESTS, OVER_CLUSTER_QUOTA),
            // Raised by replication only; never the answer to a client's request.
            NamingError::Contested(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError.into(),
            ),
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
        let body = ApiResult {
            code: self.0.code.code,
            message: self.0.code.message.to_owned(),
            data: self.0.message,
        };
        (self.0.status, Json(body)).into_response()
    }
}
