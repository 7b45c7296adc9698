//! The push worker of one connection: drains its coalescing queue, one push at a time, as
//! `NotifySubscriberRequest`s acknowledged by `NotifySubscriberResponse`.
//!
//! One push in flight per connection keeps a subscriber's views in order (an older view can
//! never overtake a newer one); the queue meanwhile coalesces to the newest view per
//! service, so a slow subscriber costs one entry per service, not one per change.
//!
//! A change is pushed to every subscriber of the service: without a cluster filter they all
//! get the view's cached JSON spliced in ([`SplicedNotify`]), not a serialisation each.

use std::sync::Arc;
use std::time::Duration;

use distro_nacos_api::ServiceInfo;
use distro_nacos_api::grpc::naming::{NamingTarget, NotifySubscriberRequest};
use distro_nacos_api::grpc::{GrpcMessage, MODULE_NAMING, Payload, RequestHeader};
use distro_naming::Push;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::time::Instant;

use crate::grpc::GrpcContext;
use crate::grpc::connection::{Connection, RequestError};
use crate::grpc::render;
use crate::grpc::reply::{raw_payload, splice_body};

/// Starts the worker; it ends when the connection closes.
pub fn spawn_worker(connection: Arc<Connection>, ctx: &GrpcContext) {
    let timeout = Duration::from_millis(ctx.state.config.push.timeout_ms);
    let cache_millis = ctx.state.config.naming.cache_millis;
    tokio::spawn(async move {
        while let Some(push) = connection.pushes.next().await {
            deliver(&connection, &push, timeout, cache_millis).await;
        }
    });
}

/// Sends one push and records the outcome; a failure is retried later with a fresh view.
async fn deliver(connection: &Connection, push: &Push, timeout: Duration, cache_millis: u64) {
    let clusters = &push.subscriber.clusters;
    let spliced = render::cached_service_info_json(&push.view, clusters, false, cache_millis);
    let typed = spliced
        .is_none()
        .then(|| render::service_info(&push.view, clusters, false, cache_millis));
    // Started after rendering: the push latency measures the delivery alone.
    let started = Instant::now();
    let outcome = if let Some(service_info) = spliced {
        let build = |header| SplicedNotify {
            header,
            service_info,
        };
        connection.request(MODULE_NAMING, build, timeout).await
    } else {
        let build = |header| NotifySubscriberRequest {
            header,
            target: NamingTarget::default(),
            service_info: typed,
        };
        connection.request(MODULE_NAMING, build, timeout).await
    };
    let result = match outcome {
        Ok(status) if status.is_success() => {
            metrics::histogram!("naming_push_latency_seconds")
                .record(started.elapsed().as_secs_f64());
            "ok"
        }
        Ok(_) => "failed",
        Err(RequestError::Timeout) => "timeout",
        // The connection is gone: its subscriptions went with it, nothing to retry.
        Err(RequestError::Closed) => "closed",
    };
    metrics::counter!("naming_push_total", "result" => result).increment(1);
    if matches!(result, "failed" | "timeout") {
        tracing::debug!(connection = %connection.id, service = %push.service, result, "push failed, will retry");
        push.retry_later();
    }
}

/// A `NotifySubscriberRequest` whose `serviceInfo` is already JSON. The server only sends it
/// ([`GrpcMessage::to_payload`] splices the JSON); its serde forms go through the typed
/// request, so they are the same JSON, just slower.
#[derive(Debug, Clone, PartialEq)]
struct SplicedNotify {
    header: RequestHeader,
    service_info: Vec<u8>,
}

impl GrpcMessage for SplicedNotify {
    const TYPE: &'static str = NotifySubscriberRequest::TYPE;

    fn to_payload(&self) -> Result<Payload, serde_json::Error> {
        // The typed request's target is empty and writes no field, so the header is all
        // that comes before `serviceInfo`.
        let body = splice_body(&self.header, "serviceInfo", &self.service_info)?;
        Ok(raw_payload(Self::TYPE, body))
    }
}

impl Serialize for SplicedNotify {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let info: ServiceInfo =
            serde_json::from_slice(&self.service_info).map_err(serde::ser::Error::custom)?;
        let typed = NotifySubscriberRequest {
            header: self.header.clone(),
            target: NamingTarget::default(),
            service_info: Some(info),
        };
        typed.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SplicedNotify {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let typed = NotifySubscriberRequest::deserialize(deserializer)?;
        let info = typed
            .service_info
            .ok_or_else(|| serde::de::Error::missing_field("serviceInfo"))?;
        let service_info = serde_json::to_vec(&info).map_err(serde::de::Error::custom)?;
        Ok(Self {
            header: typed.header,
            service_info,
        })
    }
}

#[cfg(test)]
mod tests {
    use distro_nacos_api::grpc::message::body_bytes;
    use serde_json::Value;

    use super::*;
    use crate::grpc::render::tests::{SELECTIONS, views};

    fn body(payload: &Payload) -> Value {
        serde_json::from_slice(body_bytes(payload).unwrap()).unwrap()
    }

    #[test]
    fn spliced_push_is_the_typed_push() {
        let header = RequestHeader::with_id(MODULE_NAMING, "42");
        for view in views() {
            for (clusters, _) in SELECTIONS {
                let Some(json) = render::cached_service_info_json(&view, clusters, false, 10)
                else {
                    continue;
                };
                // What was pushed before: the typed view, serialised (at the same time).
                let mut info = render::service_info(&view, clusters, false, 10);
                info.last_ref_time = serde_json::from_slice::<Value>(&json).unwrap()["lastRefTime"]
                    .as_i64()
                    .unwrap();
                let expected = NotifySubscriberRequest {
                    header: header.clone(),
                    target: NamingTarget::default(),
                    service_info: Some(info),
                };
                let spliced = SplicedNotify {
                    header: header.clone(),
                    service_info: json,
                };
                let (got, want) = (
                    spliced.to_payload().unwrap(),
                    expected.to_payload().unwrap(),
                );
                assert_eq!(body(&got), body(&want), "{clusters:?}");
                assert_eq!(body_bytes(&got).unwrap(), body_bytes(&want).unwrap());
                assert_eq!(got.metadata, want.metadata);
                assert_eq!(
                    serde_json::to_value(&spliced).unwrap(),
                    body(&want),
                    "serde form"
                );
                let back: SplicedNotify =
                    serde_json::from_slice(body_bytes(&got).unwrap()).unwrap();
                assert_eq!(back, spliced);
            }
        }
    }
}
