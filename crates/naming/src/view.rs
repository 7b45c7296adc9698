//! Rendered service views and instance selection (cluster filter, health, protection).
//!
//! A view is built once per change and shared by every query until the next change. The two
//! selections nearly every query asks for (all clusters, with or without `healthyOnly`) are
//! computed at most once per view, on first use, together with the JSON of their hosts array,
//! so a cached query neither clones instances nor serialises them again.

use std::sync::OnceLock;

use bytes::Bytes;
use distro_nacos_api::Instance;

use crate::names::ServiceKey;

/// Every instance of a service, de-duplicated and sorted, as the API shows them.
/// Built once per change and shared by every query until the next change.
#[derive(Debug, Clone)]
pub struct ServiceView {
    /// The service.
    pub key: ServiceKey,
    /// Whether the service exists (a query for an unknown service gets an empty view).
    pub exists: bool,
    /// All instances, sorted by cluster, ip and port.
    pub hosts: Vec<Instance>,
    /// The protection threshold, present only for services with service metadata.
    pub protect_threshold: Option<f32>,
    /// The all-clusters selections, `[healthy_only = false, healthy_only = true]`, on first use.
    selections: [OnceLock<RenderedSelection>; 2],
}

impl PartialEq for ServiceView {
    fn eq(&self, other: &Self) -> bool {
        // The rendered selections are derived from the rest.
        self.key == other.key
            && self.exists == other.exists
            && self.hosts == other.hosts
            && self.protect_threshold == other.protect_threshold
    }
}

/// The instances a caller gets from a view.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The chosen instances.
    pub hosts: Vec<Instance>,
    /// True when protection returned unhealthy instances as healthy.
    pub reached_protection_threshold: bool,
}

/// A selection rendered once: its hosts as a JSON array, ready to be spliced into answers.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedSelection {
    /// `serde_json` bytes of the selected hosts (`[...]`).
    pub hosts_json: Bytes,
    /// How many hosts the array holds.
    pub count: usize,
    /// True when protection returned unhealthy instances as healthy.
    pub reached_protection_threshold: bool,
}

impl ServiceView {
    /// The view of an existing service.
    pub fn new(key: ServiceKey, hosts: Vec<Instance>, protect_threshold: Option<f32>) -> Self {
        Self {
            key,
            exists: true,
            hosts,
            protect_threshold,
            selections: Default::default(),
        }
    }

    /// An empty view for a service that does not exist.
    pub fn missing(key: ServiceKey) -> Self {
        Self {
            key,
            exists: false,
            hosts: Vec::new(),
            protect_threshold: None,
            selections: Default::default(),
        }
    }

    /// Selects instances like Nacos's `selectInstancesWithHealthyProtection`: enabled only,
    /// in one of `clusters` (comma list; empty = all), healthy only if asked; then, for
    /// services with metadata, when the healthy share is at or under the threshold every
    /// instance is returned as healthy.
    pub fn select(&self, clusters: &str, healthy_only: bool) -> Selection {
        let wanted: Vec<&str> = clusters
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let in_clusters = |host: &Instance| {
            wanted.is_empty()
                || host
                    .cluster_name
                    .as_deref()
                    .is_some_and(|c| wanted.contains(&c))
        };
        let mut hosts: Vec<Instance> = self
            .hosts
            .iter()
            .filter(|h| h.enabled && in_clusters(h) && (!healthy_only || h.healthy))
            .cloned()
            .collect();
        let reached = self.reaches_threshold(&hosts);
        if reached {
            for host in &mut hosts {
                host.healthy = true;
            }
        }
        Selection {
            hosts,
            reached_protection_threshold: reached,
        }
    }

    /// The selection for `clusters` and `healthy_only`, rendered, when it is one the view
    /// caches (no cluster filter: `clusters` blank or only commas and spaces); `None`
    /// otherwise, and the caller uses [`ServiceView::select`]. Same hosts, same order, same
    /// flag as `select` gives.
    pub fn rendered(&self, clusters: &str, healthy_only: bool) -> Option<&RenderedSelection> {
        if clusters.split(',').any(|c| !c.trim().is_empty()) {
            return None;
        }
        let slot = &self.selections[usize::from(healthy_only)];
        Some(slot.get_or_init(|| {
            let selection = self.select("", healthy_only);
            RenderedSelection {
                // Serialising plain strings, numbers and maps cannot fail.
                hosts_json: Bytes::from(
                    serde_json::to_vec(&selection.hosts).unwrap_or_else(|_| b"[]".to_vec()),
                ),
                count: selection.hosts.len(),
                reached_protection_threshold: selection.reached_protection_threshold,
            }
        }))
    }

    fn reaches_threshold(&self, hosts: &[Instance]) -> bool {
        let Some(threshold) = self.protect_threshold else {
            return false;
        };
        if hosts.is_empty() {
            return false;
        }
        let healthy = hosts.iter().filter(|h| h.healthy).count();
        let ratio = healthy as f32 / hosts.len() as f32;
        ratio <= threshold.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ip: &str, cluster: &str, healthy: bool, enabled: bool) -> Instance {
        Instance {
            ip: ip.to_owned(),
            port: 80,
            healthy,
            enabled,
            cluster_name: Some(cluster.to_owned()),
            ..Instance::default()
        }
    }

    fn view(threshold: Option<f32>) -> ServiceView {
        ServiceView::new(
            ServiceKey::new("", "", "svc"),
            vec![
                host("1.1.1.1", "c1", true, true),
                host("1.1.1.2", "c2", false, true),
                host("1.1.1.3", "c1", true, false),
            ],
            threshold,
        )
    }

    #[test]
    fn filters_clusters_health_and_disabled() {
        let all = view(None).select("", false);
        assert_eq!(all.hosts.len(), 2, "disabled instances are never returned");
        assert_eq!(view(None).select("c2", false).hosts[0].ip, "1.1.1.2");
        assert_eq!(view(None).select(" c1 , c2", false).hosts.len(), 2);
        let healthy = view(None).select("", true);
        assert_eq!(healthy.hosts.len(), 1);
        assert!(!healthy.reached_protection_threshold);
    }

    #[test]
    fn protection_threshold_returns_all_as_healthy() {
        let protected = view(Some(0.5)).select("", false);
        assert!(protected.reached_protection_threshold);
        assert!(protected.hosts.iter().all(|h| h.healthy));
        assert_eq!(protected.hosts.len(), 2);
        let healthy_only = view(Some(0.5)).select("", true);
        assert!(!healthy_only.reached_protection_threshold);
        assert_eq!(healthy_only.hosts.len(), 1);
        assert!(!view(None).select("", false).reached_protection_threshold);
        assert!(
            !view(Some(0.4))
                .select("", false)
                .reached_protection_threshold
        );
    }

    #[test]
    fn default_threshold_triggers_only_when_nothing_is_healthy() {
        let mut v = view(Some(0.0));
        assert!(!v.select("", false).reached_protection_threshold);
        v.hosts[0].healthy = false;
        assert!(v.select("", false).reached_protection_threshold);
    }

    #[test]
    fn rendered_selection_is_the_default_selection_as_json() {
        for threshold in [None, Some(0.5), Some(0.0), Some(1.0)] {
            for healthy_only in [false, true] {
                let v = view(threshold);
                let selection = v.select("", healthy_only);
                for clusters in ["", " , ", ","] {
                    let rendered = v.rendered(clusters, healthy_only).unwrap();
                    assert_eq!(
                        rendered.hosts_json,
                        serde_json::to_vec(&selection.hosts).unwrap(),
                        "{threshold:?} {healthy_only} {clusters:?}"
                    );
                    assert_eq!(rendered.count, selection.hosts.len());
                    assert_eq!(
                        rendered.reached_protection_threshold,
                        selection.reached_protection_threshold
                    );
                }
            }
        }
        assert!(view(None).rendered("c1", false).is_none());
        assert!(view(None).rendered(" ,c1", true).is_none());
        assert_eq!(
            &view(None).rendered("", false).unwrap().hosts_json[..1],
            b"["
        );
        assert_eq!(
            &*ServiceView::missing(ServiceKey::new("", "", "x"))
                .rendered("", false)
                .unwrap()
                .hosts_json,
            b"[]"
        );
    }
}
