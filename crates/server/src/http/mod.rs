//! The HTTP front door: the Nacos Open API (v1, v2) under `/nacos`, and `/metrics`.

mod cluster;
mod error;
mod forms;
mod forward;
mod instance_ops;
mod ops;
mod params;
pub(crate) mod render;
mod v1_instance;
mod v1_service;
mod v2;

use std::time::Instant as StdInstant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, put};
use distro_transport_grpc::net::BoxListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::limits::{ConnectionLimits, ConnectionPolicy, GatedListener};
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
        // Inside record_request, so rate refusals show in the request metrics.
        .layer(middleware::from_fn(crate::limits::http::rate_limit))
        .layer(middleware::from_fn(record_request))
        .with_state(state)
}

/// Counts every request by route, method and status, and times it.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let series = request_series(route, request.method());
    let started = StdInstant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let (histogram, counter) = series.handles(status);
    histogram.record(started.elapsed().as_secs_f64());
    counter.increment(1);
    response
}

/// Most distinct (method, status) pairs cached per route; beyond, handles are looked up.
const SERIES_PER_ROUTE_MAX: usize = 64;

/// The metric handles of one route and method, by status (registered once, then reused:
/// registering per request cost allocations and a registry lookup every time).
#[derive(Clone)]
struct RouteSeries {
    route: std::sync::Arc<str>,
    method: std::sync::Arc<str>,
    statuses: std::sync::Arc<parking_lot::RwLock<Vec<(u16, metrics::Histogram, metrics::Counter)>>>,
}

impl RouteSeries {
    fn handles(&self, status: u16) -> (metrics::Histogram, metrics::Counter) {
        if let Some((_, h, c)) = self.statuses.read().iter().find(|(s, _, _)| *s == status) {
            return (h.clone(), c.clone());
        }
        let histogram = metrics::histogram!("http_request_duration_seconds", "route" => self.route.to_string(), "method" => self.method.to_string());
        let counter = metrics::counter!("http_requests_total", "route" => self.route.to_string(), "method" => self.method.to_string(), "status" => status.to_string());
        let mut statuses = self.statuses.write();
        if statuses.len() < SERIES_PER_ROUTE_MAX && !statuses.iter().any(|(s, _, _)| *s == status) {
            statuses.push((status, histogram.clone(), counter.clone()));
        }
        (histogram, counter)
    }
}

type SeriesCache = parking_lot::RwLock<std::collections::HashMap<String, Vec<RouteSeries>>>;

/// The process-wide cache of request series (routes are few; methods per route too).
fn request_series(route: &str, method: &axum::http::Method) -> RouteSeries {
    static CACHE: std::sync::OnceLock<SeriesCache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(series) = cache
        .read()
        .get(route)
        .and_then(|all| all.iter().find(|s| &*s.method == method.as_str()))
    {
        return series.clone();
    }
    let series = RouteSeries {
        route: route.into(),
        method: method.as_str().into(),
        statuses: Default::default(),
    };
    let mut cache = cache.write();
    let all = cache.entry(route.to_owned()).or_default();
    match all.iter().find(|s| &*s.method == method.as_str()) {
        Some(existing) => existing.clone(),
        None => {
            if all.len() < SERIES_PER_ROUTE_MAX {
                all.push(series.clone());
            }
            series
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` is cancelled.
pub fn serve(
    listener: BoxListener,
    state: AppState,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let policy = ConnectionPolicy::http(&state.config.server);
    let app = router(state).into_make_service_with_connect_info::<ConnectionLimits>();
    tokio::spawn(async move {
        // Connections over their IP's limit are answered 429 and closed by the gate.
        let listener = GatedListener::new(HttpListener(listener), policy);
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "HTTP server stopped");
        }
    })
}

/// A [`BoxListener`] as axum's listener: accept errors are retried as axum retries its own
/// (at once for a failed connection, after a pause for anything else, e.g. out of files).
struct HttpListener(BoxListener);

impl axum::serve::Listener for HttpListener {
    type Io = distro_transport_grpc::net::BoxStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(accepted) => return accepted,
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    tracing::error!(%error, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
