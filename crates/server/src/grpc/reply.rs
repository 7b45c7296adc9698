//! Answers of unary calls: an encoded response plus its codes for the request metrics.
//!
//! Most answers are serialised from their typed response; those carrying a service view are
//! written around its already rendered JSON instead ([`Reply::spliced`], [`splice_body`]).

use distro_nacos_api::grpc::internal::ErrorResponse;
use distro_nacos_api::grpc::{GrpcMessage, GrpcResponse, Metadata, Payload, ResponseStatus};
use distro_nacos_api::grpc::{codes, encode};
use distro_naming::{NamingError, ParamError};
use serde::Serialize;

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

    /// A `T` made of `status` (with the request id echoed) and one more field, `field`, whose
    /// value is the JSON `value`: the body `Reply::new` gives for the typed `T` holding the
    /// same status and that field, without serialising the value again.
    pub fn spliced<T: GrpcResponse>(
        mut status: ResponseStatus,
        request_id: Option<&str>,
        field: &str,
        value: &[u8],
    ) -> Self {
        if let Some(id) = request_id {
            status.request_id = Some(id.to_owned());
        }
        let payload = match splice_body(&status, field, value) {
            Ok(body) => raw_payload(T::TYPE, body),
            Err(error) => {
                tracing::error!(%error, kind = T::TYPE, "cannot encode a response");
                fallback()
            }
        };
        Self {
            payload,
            result_code: status.result_code,
            error_code: status.error_code,
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

/// The JSON of a struct that `#[serde(flatten)]`s `head` and then has `field` holding the
/// JSON `value`: `head`'s object with `"field":value` appended.
pub fn splice_body(
    head: &impl Serialize,
    field: &str,
    value: &[u8],
) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Vec::with_capacity(value.len() + field.len() + 128);
    serde_json::to_writer(&mut body, head)?;
    // Reopen the object: drop its closing brace, and add a comma unless it was empty.
    if body.pop() != Some(b'}') {
        return Err(serde::ser::Error::custom("the head is not a JSON object"));
    }
    if body.last() != Some(&b'{') {
        body.push(b',');
    }
    serde_json::to_writer(&mut body, field)?;
    body.push(b':');
    body.extend_from_slice(value);
    body.push(b'}');
    Ok(body)
}

/// A payload of `type_name` with JSON `body`, as [`encode`] builds it (no client IP).
pub fn raw_payload(type_name: &str, body: Vec<u8>) -> Payload {
    let mut payload = Payload {
        metadata: Some(Metadata {
            r#type: type_name.to_owned(),
            client_ip: String::new(),
            headers: Default::default(),
        }),
        // The `Any`, empty `type_url`: naming its type would take a dependency on prost-types.
        body: Some(Default::default()),
    };
    if let Some(any) = payload.body.as_mut() {
        any.value = body;
    }
    payload
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

#[cfg(test)]
mod tests {
    use distro_nacos_api::grpc::internal::HealthCheckResponse;
    use distro_nacos_api::grpc::message::body_bytes;
    use distro_nacos_api::grpc::naming::{QueryServiceResponse, SubscribeServiceResponse};

    use super::*;
    use crate::grpc::render::{self, tests::views};

    #[test]
    fn spliced_replies_are_the_serialised_typed_ones() {
        let statuses = [
            ResponseStatus::ok(),
            ResponseStatus {
                message: Some("success".to_owned()),
                ..ResponseStatus::ok()
            },
        ];
        for view in views() {
            for status in &statuses {
                for request_id in [None, Some("1\"2")] {
                    let mut info = render::service_info(&view, "", false, 5);
                    info.last_ref_time = 3;
                    let json = serde_json::to_vec(&info).unwrap();
                    let query = QueryServiceResponse {
                        status: status.clone(),
                        service_info: Some(info.clone()),
                    };
                    let got = Reply::spliced::<QueryServiceResponse>(
                        status.clone(),
                        request_id,
                        "serviceInfo",
                        &json,
                    );
                    let want = Reply::new(query, request_id);
                    assert_eq!(
                        body_bytes(&got.payload).unwrap(),
                        body_bytes(&want.payload).unwrap()
                    );
                    assert_eq!(got.payload, want.payload);
                    assert_eq!(
                        (got.result_code, got.error_code),
                        (want.result_code, want.error_code)
                    );
                    let subscribe = SubscribeServiceResponse {
                        status: status.clone(),
                        service_info: Some(info),
                    };
                    let got = Reply::spliced::<SubscribeServiceResponse>(
                        status.clone(),
                        request_id,
                        "serviceInfo",
                        &json,
                    );
                    assert_eq!(got.payload, Reply::new(subscribe, request_id).payload);
                }
            }
        }
    }

    #[test]
    fn splicing_needs_an_object_and_handles_an_empty_one() {
        assert_eq!(
            splice_body(&serde_json::json!({}), "a", b"[1]").unwrap(),
            br#"{"a":[1]}"#
        );
        assert!(splice_body(&[1], "a", b"1").is_err());
        let health = HealthCheckResponse {
            status: ResponseStatus::ok(),
        };
        assert_eq!(
            raw_payload("HealthCheckResponse", serde_json::to_vec(&health).unwrap()),
            health.to_payload().unwrap()
        );
    }
}
