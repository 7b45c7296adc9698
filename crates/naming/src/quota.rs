//! Capacity limits of the registry: how many instances a service, a client and the node may
//! hold, how many services a namespace and the node may hold, how many subscriptions a
//! client may keep. They bound the registry's memory against a flood of registrations, and
//! keep one client's replicated record far below the cluster's 16 MiB message limit.
//!
//! Only local writes are refused: a peer's record is applied whatever the counts (its owner
//! checked it, and refusing it would only make the nodes disagree).

use thiserror::Error;

use crate::config::NamingConfig;

/// Which limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Instances of one service, across all its clients.
    ServiceInstances,
    /// Instances of one client (an `ip:port` client or one gRPC connection), across services;
    /// also bounds a batch registration.
    ClientInstances,
    /// Instances held by the node.
    Instances,
    /// Clients held by the node, counted against the same maximum as its instances: a
    /// client is created to hold at least one, and an emptied `ip:port` client lingers a
    /// while, so a flood of register-deregister pairs would otherwise pile them up.
    Clients,
    /// Services of one namespace.
    NamespaceServices,
    /// Services held by the node.
    Services,
    /// Subscriptions of one client.
    ClientSubscriptions,
}

impl Limit {
    /// The configuration key that sets it.
    pub fn config_key(self) -> &'static str {
        match self {
            Self::ServiceInstances => "naming.service_instances_max",
            Self::ClientInstances => "naming.client_instances_max",
            Self::Instances | Self::Clients => "naming.instances_max",
            Self::NamespaceServices => "naming.namespace_services_max",
            Self::Services => "naming.services_max",
            Self::ClientSubscriptions => "naming.client_subscriptions_max",
        }
    }

    /// True for limits on services (a namespace's or the node's), false for instances and
    /// subscriptions; the HTTP v2 answer tells them apart.
    pub fn is_service_count(self) -> bool {
        matches!(self, Self::NamespaceServices | Self::Services)
    }

    fn noun(self) -> &'static str {
        match self {
            Self::ServiceInstances | Self::ClientInstances | Self::Instances => "instances",
            Self::NamespaceServices | Self::Services => "services",
            Self::ClientSubscriptions => "subscriptions",
            Self::Clients => "clients",
        }
    }
}

/// A write refused because it would pass a limit. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "too many {noun} in {scope}: {wanted} would exceed the limit of {max} ({key})",
    noun = .limit.noun(),
    key = .limit.config_key()
)]
pub struct LimitExceeded {
    /// The limit.
    pub limit: Limit,
    /// What it was counted over: `service DEFAULT_GROUP@@x`, `namespace public`, `client …`,
    /// `this node`.
    pub scope: String,
    /// The count the write would have reached.
    pub wanted: usize,
    /// The configured maximum.
    pub max: usize,
}

/// The limits in force, read from the configuration; 0 in the configuration means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quotas {
    pub service_instances: usize,
    pub client_instances: usize,
    pub instances: usize,
    pub namespace_services: usize,
    pub services: usize,
    pub client_subscriptions: usize,
}

impl Quotas {
    pub fn from_config(config: &NamingConfig) -> Self {
        let max = |value: usize| if value == 0 { usize::MAX } else { value };
        Self {
            service_instances: max(config.service_instances_max),
            client_instances: max(config.client_instances_max),
            instances: max(config.instances_max),
            namespace_services: max(config.namespace_services_max),
            services: max(config.services_max),
            client_subscriptions: max(config.client_subscriptions_max),
        }
    }

    /// The maximum of `limit`.
    pub fn max(&self, limit: Limit) -> usize {
        match limit {
            Limit::ServiceInstances => self.service_instances,
            Limit::ClientInstances => self.client_instances,
            Limit::Instances | Limit::Clients => self.instances,
            Limit::NamespaceServices => self.namespace_services,
            Limit::Services => self.services,
            Limit::ClientSubscriptions => self.client_subscriptions,
        }
    }

    /// Refuses a count above `limit`; `scope` is only built when refusing.
    pub fn check(
        &self,
        limit: Limit,
        wanted: usize,
        scope: impl FnOnce() -> String,
    ) -> Result<(), LimitExceeded> {
        let max = self.max(limit);
        if wanted <= max {
            return Ok(());
        }
        let key = limit.config_key();
        let name = key.split_once('.').map_or(key, |(_, name)| name);
        metrics::counter!("limit_refusals_total", "limit" => name, "port" => "any").increment(1);
        Err(LimitExceeded {
            limit,
            scope: scope(),
            wanted,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit_and_messages_name_the_key() {
        let config = NamingConfig {
            service_instances_max: 0,
            client_instances_max: 2,
            ..NamingConfig::default()
        };
        let quotas = Quotas::from_config(&config);
        assert!(
            quotas
                .check(Limit::ServiceInstances, usize::MAX, String::new)
                .is_ok()
        );
        assert!(quotas.check(Limit::ClientInstances, 2, String::new).is_ok());
        let error = quotas
            .check(Limit::ClientInstances, 3, || {
                "client 1.2.3.4:80#true".into()
            })
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "too many instances in client 1.2.3.4:80#true: 3 would exceed the limit of 2 \
             (naming.client_instances_max)"
        );
    }
}
