//! v2 naming API (`/nacos/v2/ns/**`): the same operations as v1 inside the
//! `{code, message, data}` envelope, with a bare `serviceName` and a separate `groupName`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use distro_nacos_api::ApiResult;
use distro_naming::NamingError;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::http::error::V2Error;
use crate::http::forms::{self, NameStyle};
use crate::http::instance_ops;
use crate::http::params::{Params, ParamsRejection};
use crate::http::render;
use crate::http::v1_instance::handle_beat;
use crate::http::v1_service::list_params;
use crate::state::AppState;

type Form = Result<Params, ParamsRejection>;
type Answer<T> = Result<Json<ApiResult<T>>, V2Error>;

fn ok<T>(data: T) -> Answer<T> {
    Ok(Json(ApiResult::success(data)))
}

/// `POST /v2/ns/instance`: register.
pub async fn register_instance(
    State(state): State<AppState>,
    params: Form,
) -> Answer<&'static str> {
    instance_ops::register(&state, &params?, NameStyle::V2)?;
    ok("ok")
}

/// `DELETE /v2/ns/instance`: deregister.
pub async fn deregister_instance(
    State(state): State<AppState>,
    params: Form,
) -> Answer<&'static str> {
    instance_ops::deregister(&state, &params?, NameStyle::V2)?;
    ok("ok")
}

/// `PUT /v2/ns/instance`: update weight, enabled or metadata.
pub async fn update_instance(State(state): State<AppState>, params: Form) -> Answer<&'static str> {
    instance_ops::update(&state, &params?, NameStyle::V2)?;
    ok("ok")
}

/// `GET /v2/ns/instance`: one instance.
pub async fn instance_detail(State(state): State<AppState>, params: Form) -> Answer<Value> {
    let (key, instance) = instance_ops::detail(&state, &params?, NameStyle::V2)?;
    ok(render::instance_detail(&key, &instance, "serviceName"))
}

/// `GET /v2/ns/instance/list`: the service's instances (`clusterName` filter, `healthyOnly`).
pub async fn list_instances(
    State(state): State<AppState>,
    params: Form,
) -> Result<Response, V2Error> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V2)?;
    let clusters = params.first(&["clusterName", "clusters"]).unwrap_or("");
    let healthy_only = params.boolean(&["healthyOnly"], false);
    let view = state.registry.view(&key);
    let info = render::service_info_json(
        &view,
        clusters,
        healthy_only,
        state.config.naming.cache_millis,
    );
    Ok(render::json_response(render::v2_success_json(&info)))
}

/// `PUT /v2/ns/instance/beat`: as v1, un-enveloped.
pub async fn beat(State(state): State<AppState>, params: Form) -> Result<Response, V2Error> {
    let params = params?;
    Ok(render::json_response(handle_beat(&state, &params)?))
}

/// `POST /v2/ns/service`: create.
pub async fn create_service(State(state): State<AppState>, params: Form) -> Answer<&'static str> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V2)?;
    let meta = forms::service_meta(&params)?;
    state.registry.create_service(Instant::now(), &key, meta)?;
    ok("ok")
}

/// `DELETE /v2/ns/service`: delete an empty service.
pub async fn delete_service(State(state): State<AppState>, params: Form) -> Answer<&'static str> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V2)?;
    state.registry.delete_service(&key)?;
    ok("ok")
}

/// `PUT /v2/ns/service`: replace metadata.
pub async fn update_service(State(state): State<AppState>, params: Form) -> Answer<&'static str> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V2)?;
    let meta = forms::service_meta(&params)?;
    state.registry.update_service(Instant::now(), &key, meta)?;
    ok("ok")
}

/// `GET /v2/ns/service`: metadata and clusters.
pub async fn service_detail(State(state): State<AppState>, params: Form) -> Answer<Value> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V2)?;
    let detail = state
        .registry
        .service_detail(&key)
        .ok_or(NamingError::ServiceNotFound(key.clone()))?;
    let cluster_map: BTreeMap<&str, Value> = detail
        .clusters
        .iter()
        .map(|name| {
            let cluster =
                json!({"clusterName": name, "healthChecker": {"type": "TCP"}, "metadata": {}});
            (name.as_str(), cluster)
        })
        .collect();
    ok(json!({
        "namespace": &*key.namespace,
        "groupName": &*key.group,
        "serviceName": &*key.name,
        "protectThreshold": detail.meta.protect_threshold,
        "metadata": detail.meta.metadata,
        "selector": forms::selector_json(&detail.meta.selector),
        "clusterMap": cluster_map,
        "ephemeral": true,
    }))
}

/// Largest `pageSize` of a v2 service list.
const PAGE_SIZE_MAX: usize = 500;

/// `GET /v2/ns/service/list`: one page of names (`pageNo` 1, `pageSize` 20, at most 500).
pub async fn list_services(State(state): State<AppState>, params: Form) -> Answer<Value> {
    let params = params?;
    let (namespace, group, page_no, page_size) = list_params(&params, Some((1, 20)))?;
    let page_size = page_size.min(PAGE_SIZE_MAX);
    let (count, names) = state
        .registry
        .list_services(&namespace, &group, page_no, page_size);
    ok(json!({"count": count, "services": names}))
}
