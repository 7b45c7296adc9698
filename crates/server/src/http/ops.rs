//! Operations endpoints: `/v1/ns/operator/metrics`, liveness, readiness and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::http::params::Params;
use crate::state::AppState;

/// `GET /v1/ns/operator/metrics`: `{"status":"UP"}`, with counts when `onlyStatus=false`.
pub async fn operator_metrics(State(state): State<AppState>, params: Params) -> Json<Value> {
    let status = if state.is_ready() { "UP" } else { "DOWN" };
    if params.boolean(&["onlyStatus"], true) {
        return Json(json!({"status": status}));
    }
    let stats = state.registry.stats();
    let mut body = json!({
        "status": status,
        "serviceCount": stats.services,
        "instanceCount": stats.instances,
        "subscribeCount": stats.subscriptions,
        "responsibleInstanceCount": stats.instances,
        "clientCount": stats.clients,
        "connectionBasedClientCount": stats.connection_clients,
        "ephemeralIpPortClientCount": stats.ip_port_clients,
        "persistentIpPortClientCount": 0,
        "responsibleClientCount": stats.clients,
    });
    if let Some(object) = body.as_object_mut() {
        crate::http::cluster::add_member_states(object, &state.membership);
    }
    Json(body)
}

/// `GET /v1/console/health/liveness`: the process answers.
pub async fn liveness() -> &'static str {
    "OK"
}

/// `GET /v1/console/health/readiness`: 200 `OK` once the node serves, 500 before.
pub async fn readiness(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "naming not in readiness")
    }
}

/// `GET /metrics`: Prometheus text format, registry gauges refreshed at scrape time.
pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.registry.stats();
    metrics::gauge!("naming_services").set(stats.services as f64);
    metrics::gauge!("naming_instances").set(stats.instances as f64);
    metrics::gauge!("naming_subscriptions").set(stats.subscriptions as f64);
    metrics::gauge!("naming_clients", "kind" => "ip_port").set(stats.ip_port_clients as f64);
    metrics::gauge!("naming_clients", "kind" => "connection").set(stats.connection_clients as f64);
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// `PUT /v1/ns/operator/faults?blocked=a:8848,b:8848` (test only, `server.fault_injection`):
/// this node stops sending cluster traffic to those peers; an empty list heals.
pub async fn set_faults(State(state): State<AppState>, params: Params) -> (StatusCode, String) {
    let Some(faults) = &state.faults else {
        return (
            StatusCode::NOT_FOUND,
            "fault injection is off (server.fault_injection)".to_owned(),
        );
    };
    let blocked: Vec<String> = params
        .get("blocked")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    tracing::warn!(
        ?blocked,
        "fault injection: cluster traffic to these peers is cut"
    );
    faults.block(blocked);
    (StatusCode::OK, "ok".to_owned())
}
