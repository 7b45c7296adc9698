//! The gRPC `ServiceInfo`: HTTP's shape, but `name` is the bare service name; typed, or as
//! JSON spliced around the hosts the view rendered once (the same bytes HTTP lists copy).

use distro_nacos_api::ServiceInfo;
use distro_naming::ServiceView;

use crate::http::render::{epoch_millis, service_info_named, splice_service_info};

/// The instances of `view` a caller with this cluster filter gets (enabled only, protection
/// threshold applied), with `clusters` echoed so SDKs file it under the key they asked for.
pub fn service_info(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> ServiceInfo {
    let name = view.key.name.to_string();
    service_info_named(view, name, clusters, healthy_only, cache_millis)
}

/// The JSON of what [`service_info`] gives, when the view caches this selection (no cluster
/// filter, as HTTP's cached case); `None` otherwise, and the caller serialises
/// [`service_info`]. Queries and pushes of a view then copy its hosts instead of cloning and
/// serialising every instance each time.
pub fn cached_service_info_json(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
) -> Option<Vec<u8>> {
    cached_service_info_json_at(view, clusters, healthy_only, cache_millis, epoch_millis())
}

fn cached_service_info_json_at(
    view: &ServiceView,
    clusters: &str,
    healthy_only: bool,
    cache_millis: u64,
    now_ms: i64,
) -> Option<Vec<u8>> {
    let rendered = view.rendered(clusters, healthy_only)?;
    let mut out = Vec::with_capacity(rendered.hosts_json.len() + 256);
    let name = &view.key.name;
    splice_service_info(
        &mut out,
        view,
        name,
        clusters,
        cache_millis,
        rendered,
        now_ms,
    );
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use distro_nacos_api::Instance;
    use distro_naming::ServiceKey;

    use super::*;

    fn host(ip: &str, cluster: &str, healthy: bool, metadata: &[(&str, &str)]) -> Instance {
        Instance {
            instance_id: Some(format!("{ip}#80#{cluster}#g@@s")),
            ip: ip.to_owned(),
            port: 80,
            weight: 1.5,
            healthy,
            cluster_name: Some(cluster.to_owned()),
            service_name: Some("g\"1@@s\\x".to_owned()),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            ..Instance::default()
        }
    }

    /// Views covering the shapes answers take: missing, empty, instances with metadata in
    /// two clusters (one unhealthy, one disabled), with and without protection.
    pub(crate) fn views() -> Vec<ServiceView> {
        let key = || ServiceKey::new("ns", "g\"1", "s\\x");
        let mut disabled = host("1.1.1.4", "c1", true, &[]);
        disabled.enabled = false;
        let hosts = vec![
            host(
                "1.1.1.1",
                "c1",
                true,
                &[("version", "1"), ("k\u{e9}y", "v\n\"1\"")],
            ),
            host("1.1.1.2", "c2", false, &[("zone", "a")]),
            host("1.1.1.3", "c2", true, &[]),
            disabled,
        ];
        vec![
            ServiceView::missing(key()),
            ServiceView::new(key(), Vec::new(), None),
            ServiceView::new(key(), hosts.clone(), None),
            ServiceView::new(key(), hosts, Some(0.8)),
        ]
    }

    /// Cluster filters and `healthyOnly`, cached ones and not.
    pub(crate) const SELECTIONS: [(&str, bool); 6] = [
        ("", false),
        ("", true),
        (" , ", false),
        ("c1", false),
        ("c2", true),
        ("c1,c2", false),
    ];

    #[test]
    fn cached_json_is_the_serialised_service_info() {
        for view in views() {
            for (clusters, healthy_only) in SELECTIONS {
                let got = cached_service_info_json_at(&view, clusters, healthy_only, 3_000, 17);
                let Some(got) = got else {
                    assert!(clusters.split(',').any(|c| !c.trim().is_empty()));
                    continue;
                };
                let mut info = service_info(&view, clusters, healthy_only, 3_000);
                info.last_ref_time = 17;
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    serde_json::to_string(&info).unwrap(),
                    "{view:?} {clusters:?} {healthy_only}"
                );
                assert_eq!(info.name, "s\\x", "gRPC names the bare service");
            }
        }
    }
}
