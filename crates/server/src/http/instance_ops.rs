//! The instance operations behind v1 and v2 alike; the handlers differ only in how they
//! name the service and how they answer.

use distro_nacos_api::Instance;
use distro_naming::{ClientId, NamingError, ServiceKey};
use tokio::time::Instant;

use crate::http::forms::{self, NameStyle};
use crate::http::params::Params;
use crate::state::AppState;

/// Registers (or replaces) the instance of client `ip:port`.
pub fn register(state: &AppState, params: &Params, style: NameStyle) -> Result<(), NamingError> {
    let key = forms::service_key(params, style)?;
    let spec = forms::instance_spec(params)?;
    let client = ClientId::ip_port(&spec.ip, spec.port);
    state.registry.register(Instant::now(), &client, &key, spec)
}

/// Removes client `ip:port`'s instance of the service (no error when there was none, as
/// Nacos answers).
pub fn deregister(state: &AppState, params: &Params, style: NameStyle) -> Result<(), NamingError> {
    let key = forms::service_key(params, style)?;
    let (ip, port) = forms::address(params)?;
    forms::cluster(params)?;
    state
        .registry
        .deregister(Instant::now(), &ClientId::ip_port(&ip, port), &key);
    Ok(())
}

/// Changes weight, enabled or metadata of an instance.
pub fn update(state: &AppState, params: &Params, style: NameStyle) -> Result<(), NamingError> {
    let key = forms::service_key(params, style)?;
    let (ip, port) = forms::address(params)?;
    let cluster = forms::cluster(params)?;
    let patch = forms::instance_patch(params)?;
    state
        .registry
        .update_instance(Instant::now(), &key, (&ip, port, &cluster), patch)
}

/// One instance by address and cluster, with its service.
pub fn detail(
    state: &AppState,
    params: &Params,
    style: NameStyle,
) -> Result<(ServiceKey, Instance), NamingError> {
    let key = forms::service_key(params, style)?;
    let (ip, port) = forms::address(params)?;
    let cluster = forms::cluster(params)?;
    let instance = state.registry.find_instance(&key, &ip, port, &cluster)?;
    Ok((key, instance))
}
