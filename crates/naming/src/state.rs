//! The registry's data: clients, the service index and subscriptions, changed only through
//! operations that report what they changed.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio::time::Instant;

use crate::client::{Client, ClientId, ClientKind, Published, Subscriber};
use crate::error::NamingError;
use crate::names::ServiceKey;
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
#[derive(Debug, Default)]
pub(crate) struct State {
    pub clients: HashMap<ClientId, Client>,
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
    pub subscribers: HashMap<ServiceKey, HashSet<ClientId>>,
}

impl State {
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
        changes: &mut Changes,
    ) -> Result<(), NamingError> {
        if id.kind() == ClientKind::IpPort {
            self.connect(id.clone(), now, floor);
        }
        let client = self
            .clients
            .get_mut(id)
            .ok_or_else(|| NamingError::ClientDisconnected(id.clone()))?;
        // Every publisher keeps the index's copy of the key: its names are allocated once.
        let service = self
            .services
            .get_key_value(service)
            .map_or_else(|| service.clone(), |(key, _)| key.clone());
        client.published.insert(service.clone(), published);
        client.revision += 1;
        client.last_updated = now;
        let entry = self
            .services
            .entry(service.clone())
            .or_insert_with(|| ServiceEntry::new(now));
        entry.publishers.insert(id.clone());
        entry.last_changed = now;
        changes.client_changed(id, &service);
        Ok(())
    }

    /// Removes what `client` publishes for `service`; false when it published nothing there.
    pub fn unpublish(
        &mut self,
        now: Instant,
        id: &ClientId,
        service: &ServiceKey,
        changes: &mut Changes,
    ) -> bool {
        let Some(client) = self.clients.get_mut(id) else {
            return false;
        };
        client.last_updated = now;
        if client.published.remove(service).is_none() {
            return false;
        }
        client.revision += 1;
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
        for service in client.published.keys() {
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
        changes: &mut Changes,
    ) -> Result<(), NamingError> {
        let client = self
            .clients
            .get_mut(id)
            .ok_or_else(|| NamingError::ClientDisconnected(id.clone()))?;
        client.last_updated = now;
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
        client.last_updated = now;
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
