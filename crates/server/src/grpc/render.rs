//! The gRPC `ServiceInfo`: HTTP's shape, but `name` is the bare service name.

use distro_nacos_api::ServiceInfo;
use distro_naming::ServiceView;

/// The instances of `view` a caller with this cluster filter gets (enabled only, protection
/// threshold applied), with `clusters` echoed so SDKs file it under the key they asked for.
pub fn service_info(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> ServiceInfo {
    let name = view.key.name.to_string();
    crate::http::render::service_info_named(view, name, clusters, healthy_only, cache_millis)
}
