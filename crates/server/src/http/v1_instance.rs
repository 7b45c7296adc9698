//! v1 instance API (`/nacos/v1/ns/instance`): register, deregister, update, detail, list, beat.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use distro_nacos_api::BeatInfo;
use distro_nacos_api::constants::{BEAT_OK, BEAT_RESOURCE_NOT_FOUND};
use distro_naming::{BeatOutcome, ClientId, InstanceSpec, NamingError, ParamError};
use serde_json::Value;
use tokio::time::Instant;

use crate::http::error::V1Error;
use crate::http::forms::{self, NameStyle};
use crate::http::instance_ops;
use crate::http::params::{Params, ParamsRejection};
use crate::http::render;
use crate::state::AppState;

type Form = Result<Params, ParamsRejection>;

/// `POST /v1/ns/instance`: register (or replace) the instance of client `ip:port`.
pub async fn register(
    State(state): State<AppState>,
    params: Form,
) -> Result<&'static str, V1Error> {
    instance_ops::register(&state, &params?, NameStyle::V1)?;
    Ok("ok")
}

/// `DELETE /v1/ns/instance`: remove client `ip:port`'s instance of the service (`ok` even
/// when there was none, as Nacos answers).
pub async fn deregister(
    State(state): State<AppState>,
    params: Form,
) -> Result<&'static str, V1Error> {
    instance_ops::deregister(&state, &params?, NameStyle::V1)?;
    Ok("ok")
}

/// `PUT` and `PATCH /v1/ns/instance`: change weight, enabled or metadata of an instance.
pub async fn update(State(state): State<AppState>, params: Form) -> Result<&'static str, V1Error> {
    instance_ops::update(&state, &params?, NameStyle::V1)?;
    Ok("ok")
}

/// `GET /v1/ns/instance`: one instance by address and cluster.
pub async fn detail(State(state): State<AppState>, params: Form) -> Result<Json<Value>, V1Error> {
    let (key, instance) = instance_ops::detail(&state, &params?, NameStyle::V1)?;
    Ok(Json(render::instance_detail(&key, &instance, "service")))
}

/// `GET /v1/ns/instance/list`: the service's instances, filtered by `clusters` and
/// `healthyOnly`.
pub async fn list(State(state): State<AppState>, params: Form) -> Result<Response, V1Error> {
    let params = params?;
    let key = forms::service_key(&params, NameStyle::V1)?;
    let clusters = params.optional("clusters", "");
    let healthy_only = params.boolean(&["healthyOnly"], false);
    let view = state.registry.view(&key);
    let cache_millis = state.config.naming.cache_millis;
    Ok(render::json_response(render::service_info_json(
        &view,
        clusters,
        healthy_only,
        cache_millis,
    )))
}

/// `PUT /v1/ns/instance/beat` (and v2's): refresh an instance's beat. A light beat for an
/// unknown instance answers code 20404; a full beat (`beat` JSON) registers it first.
pub async fn beat(State(state): State<AppState>, params: Form) -> Result<Response, V1Error> {
    let params = params?;
    Ok(render::json_response(handle_beat(&state, &params)?))
}

/// The beat logic shared by v1 and v2 (both answer the same un-enveloped JSON, as bytes).
pub fn handle_beat(state: &AppState, params: &Params) -> Result<Vec<u8>, NamingError> {
    let key = forms::service_key(params, NameStyle::V1)?;
    let beat = beat_info(params)?;
    let now = Instant::now();
    let outcome = match beat {
        Some(info) => {
            let spec = beat_spec(params, info)?;
            state.registry.beat_or_register(now, &key, spec)?
        }
        None => {
            let (ip, port) = forms::address(params)?;
            state.registry.beat(now, &key, &ip, port)
        }
    };
    let default_interval = state.config.naming.heart_beat_interval_ms;
    let (code, interval) = match outcome {
        BeatOutcome::Accepted { interval_ms } => (BEAT_OK, interval_ms),
        BeatOutcome::UnknownInstance => (BEAT_RESOURCE_NOT_FOUND, default_interval),
    };
    let result = if code == BEAT_OK { "ok" } else { "unknown" };
    metrics::counter!("naming_beats_total", "result" => result).increment(1);
    Ok(beat_answer(interval, code))
}

/// A beat this node forwards to the owner: noted as evidence that its instance is alive
/// (see [`distro_naming::Registry::note_passing_beat`]). Returns the beating client when its
/// instance is not held here. Unreadable beats are ignored here: the owner answers them.
pub fn note_passing_beat(state: &AppState, params: &Params) -> Option<ClientId> {
    let key = forms::service_key(params, NameStyle::V1).ok()?;
    let address = match beat_info(params) {
        Ok(Some(info)) => beat_spec(params, info)
            .ok()
            .map(|spec| (spec.ip, spec.port)),
        Ok(None) => forms::address(params).ok(),
        Err(_) => None,
    };
    let (ip, port) = address?;
    let held = state
        .registry
        .note_passing_beat(Instant::now(), &key, &ip, port);
    (!held).then(|| ClientId::ip_port(&ip, port))
}

/// `{"clientBeatInterval":…,"code":…,"lightBeatEnabled":true}`, written directly.
fn beat_answer(interval_ms: u64, code: i32) -> Vec<u8> {
    format!(r#"{{"clientBeatInterval":{interval_ms},"code":{code},"lightBeatEnabled":true}}"#)
        .into_bytes()
}

fn beat_info(params: &Params) -> Result<Option<BeatInfo>, ParamError> {
    match params.get("beat").map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| ParamError::Illegal {
                param: "beat".to_owned(),
                detail: format!("Param 'beat' is illegal, it should be a beat JSON object: {e}"),
            }),
    }
}

/// The instance a full beat describes: its ip/port/cluster win over the parameters.
fn beat_spec(params: &Params, info: BeatInfo) -> Result<InstanceSpec, NamingError> {
    if info.ephemeral == Some(false) {
        return Err(NamingError::PersistentUnsupported);
    }
    let ip = match info.ip.filter(|ip| !ip.trim().is_empty()) {
        Some(ip) => ip,
        None => params.required("ip")?.to_owned(),
    };
    distro_naming::validate::check_ip(&ip)?;
    let port = match info.port {
        Some(port) => port,
        None => params.required_number("port")?,
    };
    let port = distro_naming::validate::check_port(port)?;
    let mut spec = InstanceSpec::new(ip, port);
    spec.cluster = match info.cluster.filter(|c| !c.trim().is_empty()) {
        Some(cluster) => {
            distro_naming::validate::check_cluster(&cluster)?;
            cluster
        }
        None => forms::cluster(params)?,
    };
    spec.weight = info.weight.unwrap_or(1.0);
    spec.metadata = info.metadata.unwrap_or_default();
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn beat_answer_is_the_json_nacos_clients_read() {
        let answer: Value = serde_json::from_slice(&beat_answer(5000, BEAT_OK)).unwrap();
        assert_eq!(
            answer,
            json!({"clientBeatInterval": 5000, "code": BEAT_OK, "lightBeatEnabled": true})
        );
    }
}
