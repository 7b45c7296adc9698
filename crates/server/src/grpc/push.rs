//! The push worker of one connection: drains its coalescing queue, one push at a time, as
//! `NotifySubscriberRequest`s acknowledged by `NotifySubscriberResponse`.
//!
//! One push in flight per connection keeps a subscriber's views in order (an older view can
//! never overtake a newer one); the queue meanwhile coalesces to the newest view per
//! service, so a slow subscriber costs one entry per service, not one per change.

use std::sync::Arc;
use std::time::Duration;

use distro_nacos_api::grpc::MODULE_NAMING;
use distro_nacos_api::grpc::naming::{NamingTarget, NotifySubscriberRequest};
use distro_naming::Push;
use tokio::time::Instant;

use crate::grpc::GrpcContext;
use crate::grpc::connection::{Connection, RequestError};
use crate::grpc::render;

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
    let info = render::service_info(&push.view, &push.subscriber.clusters, false, cache_millis);
    let started = Instant::now();
    let build = |header| NotifySubscriberRequest {
        header,
        target: NamingTarget::default(),
        service_info: Some(info),
    };
    let outcome = connection.request(MODULE_NAMING, build, timeout).await;
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
