//! The HTTP front door: the Nacos Open API (v1, v2) under `/nacos`, and `/metrics`.

mod cluster;
mod error;
mod forms;
mod forward;
mod ops;
mod params;
mod render;
mod v1_instance;
mod v1_service;
mod v2;

use std::time::Instant as StdInstant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, put};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

pub use forward::Forwarder;

/// All routes, with request metrics.
pub fn router(state: AppState) -> Router {
    // Instance writes and beats go to the node responsible for their ip:port.
    let to_owner = || middleware::from_fn_with_state(state.clone(), forward::route_to_owner);
    let nacos = Router::new()
        .route(
            "/v1/ns/instance",
            get(v1_instance::detail)
                .post(v1_instance::register)
                .delete(v1_instance::deregister)
                .put(v1_instance::update)
                .patch(v1_instance::update)
                .route_layer(to_owner()),
        )
        .route("/v1/ns/instance/list", get(v1_instance::list))
        .route(
            "/v1/ns/instance/beat",
            put(v1_instance::beat).route_layer(to_owner()),
        )
        .route(
            "/v1/ns/service",
            get(v1_service::detail)
                .post(v1_service::create)
                .delete(v1_service::delete)
                .put(v1_service::update),
        )
        .route("/v1/ns/service/list", get(v1_service::list))
        .route("/v1/ns/operator/metrics", get(ops::operator_metrics))
        .route("/v1/ns/operator/faults", put(ops::set_faults))
        .route("/v1/core/cluster/nodes", get(cluster::nodes))
        .route("/v1/core/cluster/simple/nodes", get(cluster::simple_nodes))
        .route("/v1/core/cluster/self", get(cluster::self_node))
        .route("/v1/core/cluster/health", get(cluster::health))
        .route("/v1/console/health/liveness", get(ops::liveness))
        .route("/v1/console/health/readiness", get(ops::readiness))
        .route(
            "/v2/ns/instance",
            get(v2::instance_detail)
                .post(v2::register_instance)
                .delete(v2::deregister_instance)
                .put(v2::update_instance)
                .route_layer(to_owner()),
        )
        .route("/v2/ns/instance/list", get(v2::list_instances))
        .route(
            "/v2/ns/instance/beat",
            put(v2::beat).route_layer(to_owner()),
        )
        .route(
            "/v2/ns/service",
            get(v2::service_detail)
                .post(v2::create_service)
                .delete(v2::delete_service)
                .put(v2::update_service),
        )
        .route("/v2/ns/service/list", get(v2::list_services));
    Router::new()
        .nest("/nacos", nacos)
        .route("/metrics", get(ops::prometheus))
        .layer(middleware::from_fn(record_request))
        .with_state(state)
}

/// Counts every request by route, method and status, and times it.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = StdInstant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// Serves HTTP on `listener` until `shutdown` is cancelled.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let app = router(state);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "HTTP server stopped");
        }
    })
}
