//! The service catalogue: explicit service create/update/delete, listing, instance lookup and
//! update, and removal of services left empty.

use tokio::time::Instant;

use distro_nacos_api::Instance;

use crate::error::NamingError;
use crate::names::ServiceKey;
use crate::registry::Registry;
use crate::service::ServiceMeta;

/// A change to an existing instance (Nacos's `PUT /instance`): enabled and weight replace,
/// metadata keys are added or overwritten.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstancePatch {
    /// New weight.
    pub weight: Option<f64>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// Metadata entries to set.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A service's metadata and the clusters it has instances in.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDetail {
    /// Metadata, defaulted for services created by registration.
    pub meta: ServiceMeta,
    /// Clusters with instances.
    pub clusters: Vec<String>,
}

impl Registry {
    /// Creates a service with metadata; fails if it exists.
    pub fn create_service(
        &self,
        now: Instant,
        key: &ServiceKey,
        meta: ServiceMeta,
    ) -> Result<(), NamingError> {
        crate::validate::check_service_meta(&meta, self.config().metadata_len_max)?;
        self.mutate(|state, changes| {
            if state.services.contains_key(key) {
                return Err(NamingError::ServiceAlreadyExists(key.clone()));
            }
            state.check_new_service(key, self.quotas())?;
            state.ensure_service(key, now).meta = Some(meta);
            changes.services.push(key.clone());
            Ok(())
        })
    }

    /// Replaces a service's metadata; fails if it does not exist.
    pub fn update_service(
        &self,
        now: Instant,
        key: &ServiceKey,
        meta: ServiceMeta,
    ) -> Result<(), NamingError> {
        crate::validate::check_service_meta(&meta, self.config().metadata_len_max)?;
        self.mutate(|state, changes| {
            let entry = state
                .services
                .get_mut(key)
                .ok_or_else(|| NamingError::ServiceNotFound(key.clone()))?;
            entry.meta = Some(meta);
            entry.last_changed = now;
            changes.services.push(key.clone());
            Ok(())
        })
    }

    /// Deletes a service without instances.
    pub fn delete_service(&self, key: &ServiceKey) -> Result<(), NamingError> {
        self.mutate(|state, changes| {
            let entry = state
                .services
                .get(key)
                .ok_or_else(|| NamingError::ServiceNotFound(key.clone()))?;
            if !entry.publishers.is_empty() {
                return Err(NamingError::ServiceNotEmpty(key.clone()));
            }
            state.remove_service(key);
            changes.services.push(key.clone());
            Ok(())
        })
    }

    /// A service's metadata and clusters, if it exists.
    pub fn service_detail(&self, key: &ServiceKey) -> Option<ServiceDetail> {
        let meta = self.read(|state| {
            state
                .services
                .get(key)
                .map(|e| e.meta.clone().unwrap_or_default())
        })?;
        Some(ServiceDetail {
            meta,
            clusters: self.clusters_of(key).into_iter().collect(),
        })
    }

    /// Names (without group) of the services in `namespace`/`group`, 1-based page, in name
    /// order, with the total count.
    pub fn list_services(
        &self,
        namespace: &str,
        group: &str,
        page_no: usize,
        page_size: usize,
    ) -> (usize, Vec<String>) {
        self.read(|state| {
            let names: Vec<&str> = state
                .services
                .keys()
                .filter(|k| &*k.namespace == namespace && &*k.group == group)
                .map(|k| &*k.name)
                .collect();
            let skip = page_no.saturating_sub(1).saturating_mul(page_size);
            let page = names
                .iter()
                .skip(skip)
                .take(page_size)
                .map(|n| (*n).to_owned())
                .collect();
            (names.len(), page)
        })
    }

    /// The instance at `ip:port` in `cluster` of a service.
    pub fn find_instance(
        &self,
        key: &ServiceKey,
        ip: &str,
        port: u16,
        cluster: &str,
    ) -> Result<Instance, NamingError> {
        let view = self.view(key);
        if !view.exists {
            return Err(NamingError::ServiceNotFound(key.clone()));
        }
        view.hosts
            .iter()
            .find(|h| {
                h.ip == ip
                    && h.port == i64::from(port)
                    && h.cluster_name.as_deref() == Some(cluster)
            })
            .cloned()
            .ok_or_else(|| NamingError::InstanceNotFound {
                service: key.grouped_name(),
                cluster: cluster.to_owned(),
            })
    }

    /// Changes weight, enabled flag or metadata of an existing instance, in the record of the
    /// client that owns it (so the change replicates with that client).
    pub fn update_instance(
        &self,
        now: Instant,
        key: &ServiceKey,
        address: (&str, u16, &str),
        patch: InstancePatch,
    ) -> Result<(), NamingError> {
        let (ip, port, cluster) = address;
        if let Some(weight) = patch.weight {
            crate::validate::check_weight(weight)?;
        }
        self.mutate(|state, changes| {
            let entry = state
                .services
                .get(key)
                .ok_or_else(|| NamingError::ServiceNotFound(key.clone()))?;
            let not_found = || NamingError::InstanceNotFound {
                service: key.grouped_name(),
                cluster: cluster.to_owned(),
            };
            let owners: Vec<_> = entry.publishers.iter().cloned().collect();
            // Metadata merges into what is there: the result must fit the limit too, and is
            // checked for every matching record before any of them changes.
            if !patch.metadata.is_empty() {
                let len_max = self.config().metadata_len_max;
                for record in owners
                    .iter()
                    .filter_map(|id| state.clients.get(id)?.published.get(key))
                    .flat_map(|published| published.instances())
                    .filter(|r| r.is_at(ip, port, cluster))
                {
                    let mut merged = (*record.metadata).clone();
                    merged.extend(patch.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
                    crate::validate::check_metadata(&merged, len_max)?;
                }
            }
            let mut found = false;
            for id in owners {
                let Some(client) = state.clients.get_mut(&id) else {
                    continue;
                };
                let Some(published) = client.published.get_mut(key) else {
                    continue;
                };
                let mut touched = false;
                for record in published
                    .instances_mut()
                    .iter_mut()
                    .filter(|r| r.is_at(ip, port, cluster))
                {
                    apply_patch(record, &patch);
                    touched = true;
                }
                if touched {
                    client.revision = distro_core::revision::written(client.revision);
                    client.expired_since_write.clear();
                    client.last_updated = now.into();
                    changes.client_changed(&id, key);
                    found = true;
                }
            }
            if found { Ok(()) } else { Err(not_found()) }
        })
    }

    /// Removes services nobody publishes and that changed last more than
    /// `empty_service_expired_ms` ago. Services created through the API are kept.
    pub fn remove_empty_services(&self, now: Instant) -> usize {
        let expired_ms = u128::from(self.config().empty_service_expired_ms);
        self.mutate(|state, changes| {
            let due: Vec<ServiceKey> = state
                .services
                .iter()
                .filter(|(_, e)| e.publishers.is_empty() && e.meta.is_none())
                .filter(|(_, e)| {
                    now.saturating_duration_since(e.last_changed).as_millis() >= expired_ms
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in &due {
                state.remove_service(key);
                changes.services.push(key.clone());
            }
            due.len()
        })
    }
}

fn apply_patch(record: &mut crate::instance::InstanceRecord, patch: &InstancePatch) {
    if let Some(weight) = patch.weight {
        record.weight = weight;
    }
    if let Some(enabled) = patch.enabled {
        record.enabled = enabled;
    }
    if !patch.metadata.is_empty() {
        let metadata = std::sync::Arc::make_mut(&mut record.metadata);
        metadata.extend(patch.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}
