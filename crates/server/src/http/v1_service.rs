//! v1 service API (`/nacos/v1/ns/service`): create, delete, update, detail, list.

use axum::Json;
use axum::extract::State;
use distro_naming::ParamError;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::http::error::V1Error;
use crate::http::forms::{self, NameStyle};
use crate::http::params::{Params, ParamsRejection};
use crate::state::AppState;

type Form = Result<Params, ParamsRejection>;

/// `POST /v1/ns/service`: create a service with metadata.
pub async fn create(State(state): State<AppState>, params: Form) -> Result<&'static str, V1Error> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V1)?;
    let meta = forms::service_meta(&params)?;
    state.registry.create_service(Instant::now(), &key, meta)?;
    Ok("ok")
}

/// `DELETE /v1/ns/service`: delete a service that has no instances.
pub async fn delete(State(state): State<AppState>, params: Form) -> Result<&'static str, V1Error> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V1)?;
    state.registry.delete_service(&key)?;
    Ok("ok")
}

/// `PUT /v1/ns/service`: replace a service's metadata (`protectThreshold` required).
pub async fn update(State(state): State<AppState>, params: Form) -> Result<&'static str, V1Error> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V1)?;
    params.required("protectThreshold")?;
    let meta = forms::service_meta(&params)?;
    state.registry.update_service(Instant::now(), &key, meta)?;
    Ok("ok")
}

/// `GET /v1/ns/service`: metadata and clusters of a service.
pub async fn detail(State(state): State<AppState>, params: Form) -> Result<Json<Value>, V1Error> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V1)?;
    let detail = state
        .registry
        .service_detail(&key)
        .ok_or(distro_naming::NamingError::ServiceNotFound(key.clone()))?;
    let clusters: Vec<Value> = detail
        .clusters
        .iter()
        .map(|name| json!({"name": name, "healthChecker": {"type": "TCP"}, "metadata": {}}))
        .collect();
    Ok(Json(json!({
        "namespaceId": &*key.namespace,
        "groupName": &*key.group,
        "name": &*key.name,
        "protectThreshold": detail.meta.protect_threshold,
        "metadata": detail.meta.metadata,
        "selector": forms::selector_json(&detail.meta.selector),
        "clusters": clusters,
    })))
}

/// `GET /v1/ns/service/list`: one page of service names in a group (`pageNo`, `pageSize`
/// required).
pub async fn list(State(state): State<AppState>, params: Form) -> Result<Json<Value>, V1Error> {
    let params = params?;
    let (namespace, group, page_no, page_size) = list_params(&params, None)?;
    let (count, names) = state
        .registry
        .list_services(&namespace, &group, page_no, page_size);
    Ok(Json(json!({"count": count, "doms": names})))
}

/// Namespace, group and paging of a list request; `defaults` gives default page numbers
/// (v2), `None` makes them required (v1).
pub fn list_params(
    params: &Params,
    defaults: Option<(usize, usize)>,
) -> Result<(String, String, usize, usize), ParamError> {
    let namespace =
        distro_naming::names::normalize_namespace(params.optional("namespaceId", "")).to_owned();
    let group = distro_naming::names::normalize_group(params.optional("groupName", "")).to_owned();
    distro_naming::validate::check_namespace(&namespace)?;
    distro_naming::validate::check_group(&group)?;
    let (page_no, page_size) = match defaults {
        Some((no, size)) => (
            params.number("pageNo", no)?,
            params.number("pageSize", size)?,
        ),
        None => (
            params.required_number("pageNo")?,
            params.required_number("pageSize")?,
        ),
    };
    Ok((namespace, group, page_no.max(1), page_size))
}
