//! The bridge from registry events to the kernel: changes of clients this node owns become
//! syncs, removals become deletions, and membership changes move `ip:port` clients between
//! owners.

use std::sync::Arc;

use distro_core::{Distro, Lease};
use tokio::time::Instant;

use crate::client::{ClientId, ClientKind};
use crate::events::NamingEvent;
use crate::registry::Registry;
use crate::replication::mapper::DistroMapper;

/// Replication of one registry through one kernel.
pub struct Replication {
    registry: Arc<Registry>,
    distro: Distro,
    mapper: Arc<DistroMapper>,
}

impl Replication {
    /// Connects `registry` to `distro`: new clients start above replicated tombstones, and
    /// registry events feed the kernel from now on.
    pub fn install(
        registry: Arc<Registry>,
        distro: Distro,
        mapper: Arc<DistroMapper>,
    ) -> Arc<Self> {
        let floor_distro = distro.clone();
        registry.set_revision_floor(Arc::new(move |id: &ClientId| {
            floor_distro.revision_floor(id.as_str()).unwrap_or(0)
        }));
        let replication = Arc::new(Self {
            registry,
            distro,
            mapper,
        });
        let handler = Arc::clone(&replication);
        replication
            .registry
            .events()
            .subscribe(Arc::new(move |event: &NamingEvent| handler.on_event(event)));
        replication
    }

    /// The mapper deciding `ip:port` responsibility.
    pub fn mapper(&self) -> &Arc<DistroMapper> {
        &self.mapper
    }

    /// The registry replicated.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Whether this node owns a client: connection clients when connected here, `ip:port`
    /// clients when the mapper says so.
    pub fn owns(&self, id: &ClientId) -> bool {
        match id.kind() {
            ClientKind::Connection => self.registry.is_native(id),
            ClientKind::IpPort => self.mapper.responsible(id.responsible_tag()),
        }
    }

    fn on_event(&self, event: &NamingEvent) {
        match event {
            NamingEvent::ClientChanged(id) if self.owns(id) => {
                let Some(revision) = self.registry.client_revision(id) else {
                    return;
                };
                let held = self.distro.revision_floor(id.as_str());
                let peer_copy = held.is_some_and(|held| revision <= held);
                if id.kind() == ClientKind::IpPort && peer_copy && !self.distro.owns(id.as_str()) {
                    // A peer's record of a client this node is responsible for (a snapshot or
                    // a sync that arrived after responsibility moved here): take it over with
                    // a new revision, as `rebalance` does. Claiming it at the peer's revision
                    // would lose the equal-revision tie-break on nodes that hold another
                    // owner's copy, and they would drop the client once that owner let go.
                    // The adoption announces a change, which comes back here as a local one.
                    tracing::trace!(%id, revision, ?held, "a peer's copy of a client of ours: adopting");
                    self.registry.adopt(Instant::now(), id, held.unwrap_or(0));
                    return;
                }
                self.distro
                    .local_upsert(id.as_str(), revision, lease_of(id));
            }
            NamingEvent::ClientRemoved(id) if self.distro.owns(id.as_str()) => {
                let floor = self.distro.revision_floor(id.as_str()).unwrap_or(0);
                let revision = distro_core::revision::changed(floor);
                self.distro
                    .local_delete(id.as_str(), revision, lease_of(id));
            }
            _ => {}
        }
    }

    /// The healthy members changed: take over the `ip:port` clients that now map here and
    /// release those that map elsewhere.
    pub fn rebalance(&self, healthy: Vec<String>) {
        self.mapper.update(healthy);
        let now = Instant::now();
        for id in self.registry.ip_port_clients() {
            let responsible = self.mapper.responsible(id.responsible_tag());
            let owned = self.distro.owns(id.as_str());
            if responsible && !owned {
                let floor = self.distro.revision_floor(id.as_str()).unwrap_or(0);
                tracing::trace!(%id, floor, "responsibility moved here: adopting");
                // Adoption announces a change, which the event handler turns into a sync.
                self.registry.adopt(now, &id, floor);
            } else if !responsible && owned {
                self.distro.release(id.as_str());
            }
        }
    }
}

/// Connection clients die with their node; `ip:port` clients move to the next owner.
pub fn lease_of(id: &ClientId) -> Lease {
    match id.kind() {
        ClientKind::Connection => Lease::OwnerBound,
        ClientKind::IpPort => Lease::Transferable,
    }
}
