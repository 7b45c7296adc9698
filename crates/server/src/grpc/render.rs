//! The gRPC `ServiceInfo`: like HTTP's, but `name` is the bare service name.

use std::time::{SystemTime, UNIX_EPOCH};

use distro_nacos_api::ServiceInfo;
use distro_naming::ServiceView;

/// Wall-clock milliseconds since the epoch, for `lastRefTime`.
fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The instances of `view` a caller with this cluster filter gets (enabled only, protection
/// threshold applied), with `clusters` echoed so SDKs file it under the key they asked for.
pub fn service_info(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> ServiceInfo {
    let selection = view.select(clusters, healthy_only);
    ServiceInfo {
        name: view.key.name.to_string(),
        group_name: view.key.group.to_string(),
        clusters: clusters.to_owned(),
        cache_millis: i64::try_from(cache_millis).unwrap_or(i64::MAX),
        hosts: selection.hosts,
        last_ref_time: epoch_millis(),
        checksum: String::new(),
        all_ips: false,
        reach_protection_threshold: selection.reached_protection_threshold,
        valid: true,
    }
}
