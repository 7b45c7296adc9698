//! Rendered service views and instance selection (cluster filter, health, protection).

use distro_nacos_api::Instance;

use crate::names::ServiceKey;

/// Every instance of a service, de-duplicated and sorted, as the API shows them.
/// Built once per change and shared by every query until the next change.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// The service.
    pub key: ServiceKey,
    /// Whether the service exists (a query for an unknown service gets an empty view).
    pub exists: bool,
    /// All instances, sorted by cluster, ip and port.
    pub hosts: Vec<Instance>,
    /// The protection threshold, present only for services with service metadata.
    pub protect_threshold: Option<f32>,
}

/// The instances a caller gets from a view.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The chosen instances.
    pub hosts: Vec<Instance>,
    /// True when protection returned unhealthy instances as healthy.
    pub reached_protection_threshold: bool,
}

impl ServiceView {
    /// An empty view for a service that does not exist.
    pub fn missing(key: ServiceKey) -> Self {
        Self {
            key,
            exists: false,
            hosts: Vec::new(),
            protect_threshold: None,
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
        ServiceView {
            key: ServiceKey::new("", "", "svc"),
            exists: true,
            hosts: vec![
                host("1.1.1.1", "c1", true, true),
                host("1.1.1.2", "c2", false, true),
                host("1.1.1.3", "c1", true, false),
            ],
            protect_threshold: threshold,
        }
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
}
