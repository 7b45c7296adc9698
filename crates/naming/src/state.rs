//! The registry's data: clients, the service index and subscriptions, changed only through
//! operations that report what they changed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use distro_core::revision;
use tokio::time::Instant;

use crate::client::{Client, ClientId, ClientKind, Published, Subscriber};
use crate::error::NamingError;
use crate::names::ServiceKey;
use crate::quota::{Limit, Quotas};
use crate::service::ServiceEntry;
use crate::view::ServiceView;

/// What one operation changed; the registry turns it into cache invalidations and events.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub services: Vec<ServiceKey>,
    pub clients: Vec<ClientId>,
    pub removed_clients: Vec<ClientId>,
    pub subscribed: Vec<(ServiceKey, ClientId)>,
}

impl Changes {
    pub(crate) fn client_changed(&mut self, client: &ClientId, service: &ServiceKey) {
        self.clients.push(client.clone());
        self.services.push(service.clone());
    }
}

/// Clients, services and subscriptions. Not synchronised: the registry holds it in a lock.
///
/// The counts the limits need are kept up to date by every change (through
/// [`State::count_instances`], [`State::ensure_service`] and [`State::remove_service`]), so a
/// check costs O(1) however large the service or namespace.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub clients: HashMap<ClientId, Client>,
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
    pub subscribers: HashMap<ServiceKey, HashSet<ClientId>>,
    /// Instances across all clients.
    instances: usize,
    /// Instances per service, across its clients (services with none are absent).
    service_instances: HashMap<ServiceKey, usize>,
    /// Services per namespace.
    namespace_services: HashMap<Arc<str>, usize>,
}

/// Who made a change to a client: the client itself (a write that outranks, after a split
/// brain, whatever owners did before it), or its owner on its behalf (beat checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Register, update, deregister.
    Client,
    /// Health flips and expiry by the owner's beat checks.
    Owner,
}

impl Cause {
    /// The client's revision after a change with this cause.
    pub fn next_revision(self, previous: u64) -> u64 {
        match self {
            Self::Client => revision::written(previous),
            Self::Owner => revision::changed(previous),
        }
    }
}

impl State {
    /// Instances held, across all clients.
    pub fn instance_total(&self) -> usize {
        self.instances
    }

    /// Instances of one service, across its clients.
    pub fn instances_of(&self, service: &ServiceKey) -> usize {
        self.service_instances.get(service).copied().unwrap_or(0)
    }

    /// Services of one namespace.
    pub fn services_in(&self, namespace: &str) -> usize {
        self.namespace_services.get(namespace).copied().unwrap_or(0)
    }

    /// Records that `added` instances of `service` appeared and `removed` went.
    pub fn count_instances(&mut self, service: &ServiceKey, added: usize, removed: usize) {
        self.instances = (self.instances + added).saturating_sub(removed);
        let count = self.service_instances.entry(service.clone()).or_default();
        *count = (*count + added).saturating_sub(removed);
        if *count == 0 {
            self.service_instances.remove(service);
        }
    }

    /// The service's entry, created (and counted in its namespace) if it is new.
    pub fn ensure_service(&mut self, key: &ServiceKey, now: Instant) -> &mut ServiceEntry {
        if !self.services.contains_key(key) {
            *self
                .namespace_services
                .entry(Arc::clone(&key.namespace))
                .or_default() += 1;
        }
        self.services
            .entry(key.clone())
            .or_insert_with(|| ServiceEntry::new(now))
    }

    /// Removes a service's entry (only ever done to services nobody publishes).
    pub fn remove_service(&mut self, key: &ServiceKey) -> Option<ServiceEntry> {
        let entry = self.services.remove(key)?;
        if let Some(count) = self.namespace_services.get_mut(&key.namespace) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.namespace_services.remove(&key.namespace);
            }
        }
        Some(entry)
    }

    /// Refuses a new service that would pass the namespace or node limit.
    pub fn check_new_service(&self, key: &ServiceKey, quotas: &Quotas) -> Result<(), NamingError> {
        if self.services.contains_key(key) {
            return Ok(());
        }
        quotas.check(
            Limit::NamespaceServices,
            self.services_in(&key.namespace) + 1,
            || format!("namespace {}", key.namespace),
        )?;
        quotas.check(Limit::Services, self.services.len() + 1, || {
            "this node".to_owned()
        })?;
        Ok(())
    }

    /// Refuses a publication that would pass an instance limit. Only growth is checked: a
    /// client replacing its instances with as many or fewer always may.
    fn check_publication(
        &self,
        id: &ClientId,
        service: &ServiceKey,
        new_len: usize,
        quotas: &Quotas,
    ) -> Result<(), NamingError> {
        let client = self.clients.get(id);
        let old_len = client
            .and_then(|c| c.published.get(service))
            .map_or(0, |p| p.instances().len());
        if new_len <= old_len {
            return Ok(());
        }
        if client.is_none() {
            quotas.check(Limit::Clients, self.clients.len() + 1, || {
                "this node".to_owned()
            })?;
        }
        let client_total = client
            .map_or(0, Client::instance_count)
            .saturating_sub(old_len)
            + new_len;
        quotas.check(Limit::ClientInstances, client_total, || {
            format!("client {id}")
        })?;
        let service_total = self.instances_of(service).saturating_sub(old_len) + new_len;
        quotas.check(Limit::ServiceInstances, service_total, || {
            format!("service {}", service.grouped_name())
        })?;
        quotas.check(
            Limit::Instances,
            self.instances.saturating_sub(old_len) + new_len,
            || "this node".to_owned(),
        )?;
        self.check_new_service(service, quotas)
    }

    /// Adds a client (idempotent); a new one starts at revision `floor`.
    pub fn connect(&mut self, id: ClientId, now: Instant, floor: u64) {
        self.clients.entry(id.clone()).or_insert_with(|| {
            let mut client = Client::new(id, now);
            client.revision = floor;
            client
        });
    }

    /// Replaces what `client` publishes for `service`. `ip:port` clients are created on
    /// demand; a connection client must have connected first.
    pub fn publish(
        &mut self,
        now: Instant,
        (id, floor): (&ClientId, u64),
        service: &ServiceKey,
        published: Published,
        (quotas, changes): (&Quotas, &mut Changes),
    ) -> Result<(), NamingError> {
        if id.kind() == ClientKind::Connection && !self.clients.contains_key(id) {
            return Err(NamingError::ClientDisconnected(id.clone()));
        }
        // Checked before anything is created: a refused write leaves no trace, not even an
        // empty `ip:port` client.
        let new_len = published.instances().len();
        self.check_publication(id, service, new_len, quotas)?;
        if id.kind() == ClientKind::IpPort {
            self.connect(id.clone(), now, floor);
        }
        // Every publisher keeps the index's copy of the key: its names are allocated once.
        let service = self
            .services
            .get_key_value(service)
            .map_or_else(|| service.clone(), |(key, _)| key.clone());
        let client = self
            .clients
            .get_mut(id)
            .ok_or_else(|| NamingError::ClientDisconnected(id.clone()))?;
        let old_len = client
            .published
            .insert(service.clone(), published)
            .map_or(0, |old| old.instances().len());
        client.revision = revision::written(client.revision);
        client.expired_since_write.clear();
        client.last_updated = now.into();
        self.count_instances(&service, new_len, old_len);
        let entry = self.ensure_service(&service, now);
        entry.publishers.insert(id.clone());
        entry.last_changed = now;
        changes.client_changed(id, &service);
        Ok(())
    }

    /// Removes what `client` publishes for `service`; false when it published nothing there.
    pub fn unpublish(
        &mut self,
        (now, cause): (Instant, Cause),
        id: &ClientId,
        service: &ServiceKey,
        changes: &mut Changes,
    ) -> bool {
        let Some(client) = self.clients.get_mut(id) else {
            return false;
        };
        client.last_updated = now.into();
        let Some(removed) = client.published.remove(service) else {
            return false;
        };
        client.revision = cause.next_revision(client.revision);
        match cause {
            Cause::Client => client.expired_since_write.clear(),
            Cause::Owner => client.expired_since_write.push(service.clone()),
        }
        self.count_instances(service, 0, removed.instances().len());
        if let Some(entry) = self.services.get_mut(service) {
            entry.publishers.remove(id);
            entry.last_changed = now;
        }
        changes.client_changed(id, service);
        true
    }

    /// Removes a client with its instances and subscriptions.
    pub fn remove_client(&mut self, now: Instant, id: &ClientId, changes: &mut Changes) -> bool {
        let Some(client) = self.clients.remove(id) else {
            return false;
        };
        for (service, published) in &client.published {
            self.count_instances(service, 0, published.instances().len());
            if let Some(entry) = self.services.get_mut(service) {
                entry.publishers.remove(id);
                entry.last_changed = now;
            }
            changes.services.push(service.clone());
        }
        for service in client.subscribed.keys() {
            self.drop_subscriber(service, id);
        }
        changes.removed_clients.push(id.clone());
        true
    }

    /// Records a subscription; reports it when it is the client's first to that service.
    pub fn subscribe(
        &mut self,
        now: Instant,
        id: &ClientId,
        service: &ServiceKey,
        subscriber: Subscriber,
        (quotas, changes): (&Quotas, &mut Changes),
    ) -> Result<(), NamingError> {
        let client = self
            .clients
            .get_mut(id)
            .ok_or_else(|| NamingError::ClientDisconnected(id.clone()))?;
        if !client.subscribed.contains_key(service) {
            quotas.check(
                Limit::ClientSubscriptions,
                client.subscribed.len() + 1,
                || format!("client {id}"),
            )?;
        }
        client.last_updated = now.into();
        let first = client
            .subscribed
            .insert(service.clone(), subscriber)
            .is_none();
        self.subscribers
            .entry(service.clone())
            .or_default()
            .insert(id.clone());
        if first {
            changes.subscribed.push((service.clone(), id.clone()));
        }
        Ok(())
    }

    /// Drops a subscription; false when there was none.
    pub fn unsubscribe(&mut self, now: Instant, id: &ClientId, service: &ServiceKey) -> bool {
        let Some(client) = self.clients.get_mut(id) else {
            return false;
        };
        client.last_updated = now.into();
        let removed = client.subscribed.remove(service).is_some();
        self.drop_subscriber(service, id);
        removed
    }

    fn drop_subscriber(&mut self, service: &ServiceKey, id: &ClientId) {
        if let Some(ids) = self.subscribers.get_mut(service) {
            ids.remove(id);
            if ids.is_empty() {
                self.subscribers.remove(service);
            }
        }
    }

    /// The view of a service: every publisher's instances, de-duplicated and sorted.
    pub fn render(&self, key: &ServiceKey) -> ServiceView {
        let Some(entry) = self.services.get(key) else {
            return ServiceView::missing(key.clone());
        };
        let mut hosts: Vec<_> = entry
            .publishers
            .iter()
            .filter_map(|id| self.clients.get(id)?.published.get(key))
            .flat_map(|published| published.instances().iter().map(|r| r.to_api(key)))
            .collect();
        hosts.sort_by(|a, b| {
            (&a.cluster_name, &a.ip, a.port, &a.instance_id).cmp(&(
                &b.cluster_name,
                &b.ip,
                b.port,
                &b.instance_id,
            ))
        });
        // Identical copies published by two clients collapse into one, as in Nacos.
        hosts.dedup();
        ServiceView::new(
            key.clone(),
            hosts,
            entry.meta.as_ref().map(|m| m.protect_threshold),
        )
    }
}
