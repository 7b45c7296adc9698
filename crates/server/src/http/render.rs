//! Turning registry views into Nacos JSON shapes.

use std::time::{SystemTime, UNIX_EPOCH};

use distro_nacos_api::{Instance, ServiceInfo};
use distro_naming::{ServiceKey, ServiceView};
use serde_json::{Value, json};

/// Wall-clock milliseconds since the epoch, for `lastRefTime`.
pub fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The `ServiceInfo` an HTTP list query gets: grouped name, selected hosts.
pub fn service_info(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> ServiceInfo {
    let selection = view.select(clusters, healthy_only);
    ServiceInfo {
        name: view.key.grouped_name(),
        group_name: view.key.group.to_string(),
        clusters: clusters.to_owned(),
        cache_millis: cache_millis as i64,
        hosts: selection.hosts,
        last_ref_time: epoch_millis(),
        checksum: String::new(),
        all_ips: false,
        reach_protection_threshold: selection.reached_protection_threshold,
        valid: true,
    }
}

/// The instance detail shape of `GET /instance` (`service` is v1's key, `serviceName` v2's).
pub fn instance_detail(key: &ServiceKey, instance: &Instance, service_field: &str) -> Value {
    json!({
        service_field: key.grouped_name(),
        "ip": instance.ip,
        "port": instance.port,
        "clusterName": instance.cluster_name,
        "weight": instance.weight,
        "healthy": instance.healthy,
        "instanceId": instance.instance_id,
        "metadata": instance.metadata,
    })
}
