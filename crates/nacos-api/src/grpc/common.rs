//! Fields every gRPC request (`Request`) and response (`Response`) carries.

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::grpc::codes;
use crate::nulls::null_as_default;

/// Module of connection-level requests (`"internal"`).
pub const MODULE_INTERNAL: &str = "internal";
/// Module of naming requests (`"naming"`).
pub const MODULE_NAMING: &str = "naming";

/// The common part of every request: headers, optional id, module.
///
/// SDKs move auth and app headers into `Payload.metadata.headers`, so the JSON usually has
/// `"headers":{}`; `module` is derived in Java and always written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestHeader {
    /// Request headers (usually empty in the JSON body).
    #[serde(default, deserialize_with = "null_as_default")]
    pub headers: BTreeMap<String, String>,
    /// Id the answer must echo (server pushes are matched by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `"internal"`, `"naming"`, `"config"`…; informative only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl RequestHeader {
    /// A header for a request of `module`, without id.
    pub fn module(module: &str) -> Self {
        Self {
            headers: BTreeMap::new(),
            request_id: None,
            module: Some(module.to_owned()),
        }
    }

    /// A header for a request of `module` carrying `request_id`.
    pub fn with_id(module: &str, request_id: impl Into<String>) -> Self {
        Self {
            request_id: Some(request_id.into()),
            ..Self::module(module)
        }
    }
}

/// The common part of every response: codes, message, echoed request id.
///
/// Serialised with the derived `success` flag (`resultCode == 200`) that Java writes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus {
    /// 200 on success, 500 (or a handler's exception code) on failure.
    #[serde(default = "default_result_code")]
    pub result_code: i32,
    /// 0 on success, a [`codes`] value on failure.
    #[serde(default)]
    pub error_code: i32,
    /// Failure detail (or `"success"` for some answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The id of the request this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn default_result_code() -> i32 {
    codes::SUCCESS
}

impl Default for ResponseStatus {
    fn default() -> Self {
        Self::ok()
    }
}

impl ResponseStatus {
    /// Success without message.
    pub fn ok() -> Self {
        Self {
            result_code: codes::SUCCESS,
            error_code: 0,
            message: None,
            request_id: None,
        }
    }

    /// A failure as Nacos's `setErrorInfo`: `resultCode` 500 and the given `errorCode`.
    pub fn fail(error_code: i32, message: impl Into<String>) -> Self {
        Self {
            result_code: codes::FAIL,
            error_code,
            message: Some(message.into()),
            request_id: None,
        }
    }

    /// A failure raised by a handler: `resultCode` and `errorCode` both carry the code, as
    /// Nacos's `ErrorResponse.build(exception)` does.
    pub fn exception(code: i32, message: impl Into<String>) -> Self {
        Self {
            result_code: code,
            error_code: code,
            message: Some(message.into()),
            request_id: None,
        }
    }

    /// Whether the answer is a success (`resultCode == 200`).
    pub fn is_success(&self) -> bool {
        self.result_code == codes::SUCCESS
    }
}

impl Serialize for ResponseStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields =
            3 + usize::from(self.message.is_some()) + usize::from(self.request_id.is_some());
        let mut out = serializer.serialize_struct("ResponseStatus", fields)?;
        out.serialize_field("resultCode", &self.result_code)?;
        out.serialize_field("errorCode", &self.error_code)?;
        if let Some(message) = &self.message {
            out.serialize_field("message", message)?;
        }
        if let Some(request_id) = &self.request_id {
            out.serialize_field("requestId", request_id)?;
        }
        out.serialize_field("success", &self.is_success())?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn status_writes_derived_success_and_omits_nulls() {
        let ok = serde_json::to_value(ResponseStatus::ok()).unwrap();
        assert_eq!(ok, json!({"resultCode":200,"errorCode":0,"success":true}));
        let failed = serde_json::to_value(ResponseStatus::fail(301, "gone")).unwrap();
        assert_eq!(
            failed,
            json!({"resultCode":500,"errorCode":301,"message":"gone","success":false})
        );
        let thrown = serde_json::to_value(ResponseStatus::exception(-401, "x")).unwrap();
        assert_eq!(thrown["resultCode"], -401);
    }

    #[test]
    fn status_reads_back_and_ignores_success() {
        let json = r#"{"resultCode":500,"errorCode":302,"message":"m","success":false,"x":1}"#;
        let status: ResponseStatus = serde_json::from_str(json).unwrap();
        assert_eq!(status, ResponseStatus::fail(302, "m"));
    }
}
