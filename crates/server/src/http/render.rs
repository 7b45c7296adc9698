//! Turning registry views into Nacos JSON shapes.
//!
//! List answers are written by hand around the hosts JSON the view renders once per change
//! ([`ServiceView::rendered`]), byte for byte what serialising [`ServiceInfo`] gives, so a
//! query costs a copy instead of a clone and a serialisation of every instance. The gRPC
//! answers splice the same hosts through [`splice_service_info`], under their own `name`.

use std::io::Write;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use distro_nacos_api::{Instance, ServiceInfo};
use distro_naming::{RenderedSelection, ServiceKey, ServiceView};
use serde_json::{Value, json};

/// Wall-clock milliseconds since the epoch, for `lastRefTime`.
/// (Through `distro_cluster::clock`, so a simulation sees its own time.)
pub fn epoch_millis() -> i64 {
    i64::try_from(distro_cluster::clock::unix_millis()).unwrap_or(i64::MAX)
}

/// The JSON bytes of the `ServiceInfo` an HTTP list query gets (as [`service_info`] would
/// serialise), from the view's rendered selection when it has one.
pub fn service_info_json(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> Vec<u8> {
    service_info_json_at(view, clusters, healthy_only, cache_millis, epoch_millis())
}

fn service_info_json_at(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
    now_ms: i64,
) -> Vec<u8> {
    match view.rendered(clusters, healthy_only) {
        Some(rendered) => {
            let mut out = Vec::with_capacity(rendered.hosts_json.len() + 256);
            let name = view.key.grouped_name();
            splice_service_info(
                &mut out,
                view,
                &name,
                clusters,
                cache_millis,
                rendered,
                now_ms,
            );
            out
        }
        None => {
            let mut info = service_info(view, clusters, healthy_only, cache_millis);
            info.last_ref_time = now_ms;
            // Plain strings, numbers and maps: serialising cannot fail.
            serde_json::to_vec(&info).unwrap_or_default()
        }
    }
}

/// Appends a `ServiceInfo` object named `name` (same fields, same order as its `Serialize`)
/// around already rendered hosts: what [`service_info_named`] with the same arguments
/// serialises, `lastRefTime` being `now_ms`. `rendered` is `view`'s selection for `clusters`.
pub fn splice_service_info(
    out: &mut Vec<u8>,
    view: &ServiceView,
    name: &str,
    clusters: &str,
    cache_millis: u64,
    rendered: &RenderedSelection,
    now_ms: i64,
) {
    out.extend_from_slice(b"{\"name\":");
    push_str(out, name);
    out.extend_from_slice(b",\"groupName\":");
    push_str(out, &view.key.group);
    out.extend_from_slice(b",\"clusters\":");
    push_str(out, clusters);
    // Writing into a Vec cannot fail. Saturating as `service_info_named` does.
    let cache_millis = i64::try_from(cache_millis).unwrap_or(i64::MAX);
    let _ = write!(out, ",\"cacheMillis\":{cache_millis}");
    out.extend_from_slice(b",\"hosts\":");
    out.extend_from_slice(&rendered.hosts_json);
    let _ = write!(
        out,
        ",\"lastRefTime\":{now_ms},\"checksum\":\"\",\"allIPs\":false,\
         \"reachProtectionThreshold\":{},\"valid\":true}}",
        rendered.reached_protection_threshold
    );
}

/// Appends `text` as a JSON string.
fn push_str(out: &mut Vec<u8>, text: &str) {
    // A str always serialises.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The v2 envelope `{"code":0,"message":"success","data":...}` around JSON bytes.
pub fn v2_success_json(data: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"code\":0,\"message\":\"success\",\"data\":";
    let mut out = Vec::with_capacity(HEAD.len() + data.len() + 1);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(data);
    out.push(b'}');
    out
}

/// A 200 answer with a JSON body (what `axum::Json` answers, without serialising again).
pub fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The `ServiceInfo` an HTTP list query gets: grouped name, selected hosts.
pub fn service_info(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> ServiceInfo {
    service_info_named(
        view,
        view.key.grouped_name(),
        clusters,
        healthy_only,
        cache_millis,
    )
}

/// The selected instances of `view` under `name` (HTTP: `group@@name`, gRPC: the bare name),
/// enabled only, protection applied, `clusters` echoed so SDKs file it under their key.
pub fn service_info_named(
    view: &ServiceView,
    name: String,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> ServiceInfo {
    let selection = view.select(clusters, healthy_only);
    ServiceInfo {
        name,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn host(ip: &str, cluster: &str, healthy: bool) -> Instance {
        Instance {
            instance_id: Some(format!("{ip}#80#{cluster}#g@@s")),
            ip: ip.to_owned(),
            port: 80,
            healthy,
            cluster_name: Some(cluster.to_owned()),
            service_name: Some("g@@s\"quoted\"".to_owned()),
            metadata: BTreeMap::from([("k\u{e9}y".to_owned(), "v\n\"1\"".to_owned())]),
            ..Instance::default()
        }
    }

    #[test]
    fn spliced_answers_equal_serialised_ones() {
        let hosts = vec![host("1.1.1.1", "c1", true), host("1.1.1.2", "c2", false)];
        for threshold in [None, Some(0.6)] {
            let view = ServiceView::new(
                ServiceKey::new("ns", "g\"1", "s\\x"),
                hosts.clone(),
                threshold,
            );
            for (clusters, healthy_only) in [("", false), ("", true), (" , ", false), ("c1", false)]
            {
                let mut info = service_info(&view, clusters, healthy_only, 10_000);
                info.last_ref_time = 1_700_000_000_123;
                let expected = serde_json::to_vec(&info).unwrap();
                let got =
                    service_info_json_at(&view, clusters, healthy_only, 10_000, 1_700_000_000_123);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(expected).unwrap(),
                    "{threshold:?} {clusters:?} {healthy_only}"
                );
            }
        }
        let missing = ServiceView::missing(ServiceKey::new("ns", "g", "none"));
        let mut info = service_info(&missing, "", false, 5);
        info.last_ref_time = 7;
        assert_eq!(
            service_info_json_at(&missing, "", false, 5, 7),
            serde_json::to_vec(&info).unwrap()
        );
    }

    #[test]
    fn v2_envelope_equals_serialised_api_result() {
        let data = serde_json::to_vec(&json!({"a": [1, 2]})).unwrap();
        let expected =
            serde_json::to_vec(&distro_nacos_api::ApiResult::success(json!({"a": [1, 2]})))
                .unwrap();
        assert_eq!(v2_success_json(&data), expected);
    }
}
