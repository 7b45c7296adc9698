//! The v2 Open API envelope `{code, message, data}` and its error codes.

use serde::{Deserialize, Serialize};

/// `com.alibaba.nacos.api.model.v2.Result`: every v2 answer, success or failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResult<T> {
    /// 0 on success, an [`ErrorCode`] value otherwise.
    pub code: i32,
    /// `success`, or the error code's message.
    pub message: String,
    /// The payload, or a detail string on failure.
    pub data: T,
}

impl<T> ApiResult<T> {
    /// A successful answer carrying `data`.
    pub fn success(data: T) -> Self {
        Self {
            code: 0,
            message: "success".to_owned(),
            data,
        }
    }
}

/// v2 error codes used by the naming API (`com.alibaba.nacos.api.model.v2.ErrorCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A required parameter is absent.
    ParameterMissing,
    /// A parameter has an illegal value.
    ParameterValidateError,
    /// The addressed resource does not exist.
    ResourceNotFound,
    /// The service name is malformed.
    ServiceNameError,
    /// The weight is out of range.
    WeightError,
    /// The instance metadata is malformed.
    InstanceMetadataError,
    /// The instance does not exist.
    InstanceNotFound,
    /// The instance is invalid.
    InstanceError,
    /// The service metadata is malformed.
    ServiceMetadataError,
    /// The selector is malformed.
    SelectorError,
    /// The service already exists.
    ServiceAlreadyExist,
    /// The service does not exist.
    ServiceNotExist,
    /// The service cannot be deleted.
    ServiceDeleteFailure,
    /// Anything else.
    ServerError,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i32 {
        match self {
            Self::ParameterMissing => 10000,
            Self::ParameterValidateError => 20002,
            Self::ResourceNotFound => 20004,
            Self::ServiceNameError => 21000,
            Self::WeightError => 21001,
            Self::InstanceMetadataError => 21002,
            Self::InstanceNotFound => 21003,
            Self::InstanceError => 21004,
            Self::ServiceMetadataError => 21005,
            Self::SelectorError => 21006,
            Self::ServiceAlreadyExist => 21007,
            Self::ServiceNotExist => 21008,
            Self::ServiceDeleteFailure => 21009,
            Self::ServerError => 30000,
        }
    }

    /// The fixed message that goes with the code.
    pub fn message(self) -> &'static str {
        match self {
            Self::ParameterMissing => "parameter missing",
            Self::ParameterValidateError => "parameter validate error",
            Self::ResourceNotFound => "resource not found",
            Self::ServiceNameError => "service name error",
            Self::WeightError => "weight error",
            Self::InstanceMetadataError => "instance metadata error",
            Self::InstanceNotFound => "instance not found",
            Self::InstanceError => "instance error",
            Self::ServiceMetadataError => "service metadata error",
            Self::SelectorError => "selector error",
            Self::ServiceAlreadyExist => "service already exist",
            Self::ServiceNotExist => "service not exist",
            Self::ServiceDeleteFailure => "service delete failure",
            Self::ServerError => "server error",
        }
    }

    /// The failure envelope for this code with a detail string as `data`.
    pub fn result(self, detail: impl Into<String>) -> ApiResult<String> {
        ApiResult {
            code: self.code(),
            message: self.message().to_owned(),
            data: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parameter_envelope_matches_nacos() {
        let body = ErrorCode::ParameterMissing
            .result("Required parameter 'ip' type String is not present");
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"code":10000,"message":"parameter missing",
                "data":"Required parameter 'ip' type String is not present"})
        );
    }
}
