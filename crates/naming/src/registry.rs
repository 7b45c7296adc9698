//! The registry: state behind one lock, rendered views in a moka cache, events on the bus.
//!
//! Writers hold the write lock only for in-memory work and invalidate the views they touched
//! before releasing it. Readers render on a cache miss under the read lock and insert while
//! still holding it, so a view rendered before a write can never be cached after it.

use std::collections::BTreeSet;
use std::sync::Arc;

use moka::sync::Cache;
use parking_lot::RwLock;
use tokio::time::Instant;

use crate::client::{ClientId, Published, Subscriber};
use crate::config::NamingConfig;
use crate::error::NamingError;
use crate::events::{EventBus, EventDispatch, NamingEvent};
use crate::instance::{InstanceRecord, InstanceSpec};
use crate::names::ServiceKey;
use crate::quota::{Limit, Quotas};
use crate::state::{Cause, Changes, State};
use crate::view::ServiceView;

/// Counts for `/operator/metrics` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryStats {
    /// Services in the index.
    pub services: usize,
    /// Instances across all clients.
    pub instances: usize,
    /// Clients of both kinds.
    pub clients: usize,
    /// `ip:port` clients.
    pub ip_port_clients: usize,
    /// Connection clients.
    pub connection_clients: usize,
    /// Subscriptions across all clients.
    pub subscriptions: usize,
}

/// Gives the revision a newly created client must start at (above any tombstone of the
/// same id that replication still remembers).
pub type RevisionFloor = Arc<dyn Fn(&ClientId) -> u64 + Send + Sync>;

/// The ephemeral naming registry of one node.
pub struct Registry {
    config: NamingConfig,
    quotas: Quotas,
    state: RwLock<State>,
    views: Cache<ServiceKey, Arc<ServiceView>>,
    events: EventBus,
    revision_floor: RwLock<Option<RevisionFloor>>,
}

impl Registry {
    /// An empty registry with its event dispatcher running.
    pub fn new(config: NamingConfig) -> Self {
        Self::with_dispatch(config, EventDispatch::Thread)
    }

    /// An empty registry whose events are dispatched as `dispatch` says (a simulation
    /// dispatches on a runtime task so everything runs in simulated time).
    pub fn with_dispatch(config: NamingConfig, dispatch: EventDispatch) -> Self {
        let views = Cache::new(config.view_cache_capacity);
        let events = EventBus::with_dispatch(config.event_queue_len_max, dispatch);
        Self {
            quotas: Quotas::from_config(&config),
            config,
            state: RwLock::default(),
            views,
            events,
            revision_floor: RwLock::new(None),
        }
    }

    /// Sets where new clients take their first revision from (replication's tombstones).
    pub fn set_revision_floor(&self, floor: RevisionFloor) {
        *self.revision_floor.write() = Some(floor);
    }

    /// The starting revision of a new client. Read before the state lock is taken: the
    /// floor comes from replication, which calls into the registry under its own lock.
    fn floor(&self, client: &ClientId) -> u64 {
        self.revision_floor
            .read()
            .as_ref()
            .map_or(0, |floor| floor(client))
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &NamingConfig {
        &self.config
    }

    /// The capacity limits in force.
    pub(crate) fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// The event bus, to subscribe consumers.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Runs `op` under the write lock, then invalidates views and publishes events.
    pub(crate) fn mutate<T>(&self, op: impl FnOnce(&mut State, &mut Changes) -> T) -> T {
        let mut changes = Changes::default();
        let result = {
            let mut state = self.state.write();
            let result = op(&mut state, &mut changes);
            for service in &changes.services {
                self.views.invalidate(service);
            }
            result
        };
        self.publish(changes);
        result
    }

    /// Runs `op` under the read lock.
    pub(crate) fn read<T>(&self, op: impl FnOnce(&State) -> T) -> T {
        op(&self.state.read())
    }

    fn publish(&self, mut changes: Changes) {
        changes.services.sort();
        changes.services.dedup();
        changes.clients.sort();
        changes.clients.dedup();
        for service in changes.services {
            self.events.publish(NamingEvent::ServiceChanged(service));
        }
        for client in changes.clients {
            self.events.publish(NamingEvent::ClientChanged(client));
        }
        for client in changes.removed_clients {
            self.events.publish(NamingEvent::ClientRemoved(client));
        }
        for (service, client) in changes.subscribed {
            self.events
                .publish(NamingEvent::ServiceSubscribed { service, client });
        }
    }

    /// Registers (or replaces) `client`'s instance of `service`.
    pub fn register(
        &self,
        now: Instant,
        client: &ClientId,
        service: &ServiceKey,
        spec: InstanceSpec,
    ) -> Result<(), NamingError> {
        let timeouts = spec.validate(&self.config)?;
        let record = InstanceRecord::from_spec(spec, service, timeouts, now);
        let floor = self.floor(client);
        self.mutate(|state, changes| {
            state.publish(
                now,
                (client, floor),
                service,
                Published::One(record),
                (&self.quotas, changes),
            )
        })
    }

    /// Replaces `client`'s entry for `service` with a batch of instances.
    pub fn batch_register(
        &self,
        now: Instant,
        client: &ClientId,
        service: &ServiceKey,
        specs: Vec<InstanceSpec>,
    ) -> Result<(), NamingError> {
        // A batch above the client limit is refused before any of it is validated.
        self.quotas.check(Limit::ClientInstances, specs.len(), || {
            format!("client {client}")
        })?;
        let mut records = Vec::with_capacity(specs.len());
        for spec in specs {
            let timeouts = spec.validate(&self.config)?;
            records.push(InstanceRecord::from_spec(spec, service, timeouts, now));
        }
        let floor = self.floor(client);
        self.mutate(|state, changes| {
            state.publish(
                now,
                (client, floor),
                service,
                Published::Batch(records),
                (&self.quotas, changes),
            )
        })
    }

    /// Removes `client`'s entry for `service`; false when it had none.
    pub fn deregister(&self, now: Instant, client: &ClientId, service: &ServiceKey) -> bool {
        self.mutate(|state, changes| {
            state.unpublish((now, Cause::Client), client, service, changes)
        })
    }

    /// Adds a connection client (idempotent).
    pub fn connect(&self, now: Instant, client: ClientId) {
        let floor = self.floor(&client);
        self.mutate(|state, _| state.connect(client, now, floor));
    }

    /// Removes a client with everything it published and subscribed; false if unknown.
    pub fn disconnect(&self, now: Instant, client: &ClientId) -> bool {
        self.mutate(|state, changes| state.remove_client(now, client, changes))
    }

    /// Subscribes a connection client to a service.
    pub fn subscribe(
        &self,
        now: Instant,
        client: &ClientId,
        service: &ServiceKey,
        subscriber: Subscriber,
    ) -> Result<(), NamingError> {
        self.mutate(|state, changes| {
            state.subscribe(now, client, service, subscriber, (&self.quotas, changes))
        })
    }

    /// Ends a subscription; false when there was none.
    pub fn unsubscribe(&self, now: Instant, client: &ClientId, service: &ServiceKey) -> bool {
        self.mutate(|state, _| state.unsubscribe(now, client, service))
    }

    /// The subscribers of a service on this node, with their subscription details.
    pub fn subscribers_of(&self, service: &ServiceKey) -> Vec<(ClientId, Subscriber)> {
        self.read(|state| {
            let Some(ids) = state.subscribers.get(service) else {
                return Vec::new();
            };
            ids.iter()
                .filter_map(|id| {
                    let subscriber = state.clients.get(id)?.subscribed.get(service)?;
                    Some((id.clone(), subscriber.clone()))
                })
                .collect()
        })
    }

    /// The rendered view of a service (empty when it does not exist), from the cache.
    pub fn view(&self, key: &ServiceKey) -> Arc<ServiceView> {
        if let Some(view) = self.views.get(key) {
            return view;
        }
        let state = self.state.read();
        let view = Arc::new(state.render(key));
        if view.exists {
            self.views.insert(key.clone(), Arc::clone(&view));
        }
        view
    }

    /// The revision of a client, if it exists.
    pub fn client_revision(&self, client: &ClientId) -> Option<u64> {
        self.read(|state| state.clients.get(client).map(|c| c.revision))
    }

    /// Names of the clusters that have instances in a service.
    pub fn clusters_of(&self, key: &ServiceKey) -> BTreeSet<String> {
        self.view(key)
            .hosts
            .iter()
            .filter_map(|h| h.cluster_name.clone())
            .collect()
    }

    /// Counts of services, instances, clients and subscriptions.
    pub fn stats(&self) -> RegistryStats {
        self.read(|state| {
            let mut stats = RegistryStats {
                services: state.services.len(),
                clients: state.clients.len(),
                instances: state.instance_total(),
                ..RegistryStats::default()
            };
            for (id, client) in &state.clients {
                stats.subscriptions += client.subscribed.len();
                match id.kind() {
                    crate::ClientKind::IpPort => stats.ip_port_clients += 1,
                    crate::ClientKind::Connection => stats.connection_clients += 1,
                }
            }
            stats
        })
    }
}
