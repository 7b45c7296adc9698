//! Registry operations replication needs: a client's record, applying a peer's record as one
//! atomic replacement, and taking over `ip:port` clients when responsibility moves here.

use std::sync::Arc;

use tokio::time::Instant;

use crate::client::{Client, ClientId, ClientKind, Published};
use crate::error::{NamingError, ParamError};
use crate::instance::{InstanceRecord, InstanceSpec};
use crate::names::ServiceKey;
use crate::registry::Registry;
use crate::replication::record::{ClientRecord, InstanceData, ServiceRecord};
use crate::state::{Changes, State};
use crate::validate;

impl Registry {
    /// The replicated form of a client, if it exists.
    pub fn client_record(&self, id: &ClientId) -> Option<ClientRecord> {
        self.read(|state| state.clients.get(id).map(to_record))
    }

    /// Replaces a client with a peer's record, in one step: every service it published
    /// before and not now is withdrawn, every instance is replaced. The record is checked
    /// like a local registration; a bad one changes nothing.
    pub fn apply_record(&self, now: Instant, record: &ClientRecord) -> Result<(), NamingError> {
        let id = ClientId::new(record.id.as_str());
        let mut published = Vec::with_capacity(record.services.len());
        for service in &record.services {
            published.push(self.published_from(service, now)?);
        }
        self.mutate(|state, changes| {
            let subscribed = state
                .clients
                .get(&id)
                .map(|c| c.subscribed.clone())
                .unwrap_or_default();
            state.remove_client_quietly(now, &id, changes);
            let mut client = Client::new(id.clone(), now);
            client.revision = record.revision;
            client.native = false;
            client.subscribed = subscribed;
            for (key, entry) in published {
                state.count_instances(&key, entry.instances().len(), 0);
                let service = state.ensure_service(&key, now);
                service.publishers.insert(id.clone());
                service.last_changed = now;
                changes.client_changed(&id, &key);
                client.published.insert(key, entry);
            }
            changes.clients.push(id.clone());
            state.clients.insert(id, client);
        });
        Ok(())
    }

    /// Takes over an `ip:port` client this node just became responsible for: a new
    /// revision above `floor`, and fresh beat times so its instances get a full timeout to
    /// beat here before they are judged. Returns the new revision.
    pub fn adopt(&self, now: Instant, id: &ClientId, floor: u64) -> Option<u64> {
        self.mutate(|state, changes| {
            let client = state.clients.get_mut(id)?;
            client.revision = client.revision.max(floor) + 1;
            client.native = true;
            client.last_updated = now;
            for published in client.published.values_mut() {
                for record in published.instances_mut() {
                    record.last_beat = now;
                }
            }
            changes.clients.push(id.clone());
            Some(client.revision)
        })
    }

    /// Ids of every `ip:port` client held.
    pub fn ip_port_clients(&self) -> Vec<ClientId> {
        self.read(|state| {
            state
                .clients
                .keys()
                .filter(|id| id.kind() == ClientKind::IpPort)
                .cloned()
                .collect()
        })
    }

    /// Whether a client is native here (its connection or registration is on this node).
    pub fn is_native(&self, id: &ClientId) -> bool {
        self.read(|state| state.clients.get(id).is_some_and(|c| c.native))
    }

    fn published_from(
        &self,
        service: &ServiceRecord,
        now: Instant,
    ) -> Result<(ServiceKey, Published), NamingError> {
        validate::check_namespace(&service.namespace)?;
        validate::check_group(&service.group)?;
        validate::check_service_name(&service.name)?;
        let key = ServiceKey::new(&service.namespace, &service.group, &service.name);
        let mut records = Vec::with_capacity(service.instances.len());
        for data in &service.instances {
            records.push(instance_from(data, &key, self.config(), now)?);
        }
        let published = match (service.batch, records.len()) {
            (false, 1) => Published::One(records.remove(0)),
            (false, n) => {
                return Err(ParamError::Illegal {
                    param: "instances".into(),
                    detail: format!("a single registration carries {n} instances"),
                }
                .into());
            }
            (true, _) => Published::Batch(records),
        };
        Ok((key, published))
    }
}

impl State {
    /// Removes a client's publications without announcing a removal (it is being replaced).
    pub(crate) fn remove_client_quietly(
        &mut self,
        now: Instant,
        id: &ClientId,
        changes: &mut Changes,
    ) {
        let Some(client) = self.clients.remove(id) else {
            return;
        };
        for (service, published) in &client.published {
            self.count_instances(service, 0, published.instances().len());
            if let Some(entry) = self.services.get_mut(service) {
                entry.publishers.remove(id);
                entry.last_changed = now;
            }
            changes.services.push(service.clone());
        }
    }
}

fn instance_from(
    data: &InstanceData,
    key: &ServiceKey,
    config: &crate::NamingConfig,
    now: Instant,
) -> Result<InstanceRecord, NamingError> {
    let spec = InstanceSpec {
        ip: data.ip.clone(),
        port: data.port,
        cluster: data.cluster.clone(),
        weight: data.weight,
        healthy: data.healthy,
        enabled: data.enabled,
        metadata: data.metadata.clone(),
        instance_id: Some(data.instance_id.clone()),
    };
    let timeouts = spec.validate(config)?;
    Ok(InstanceRecord::from_spec(spec, key, timeouts, now))
}

fn to_record(client: &Client) -> ClientRecord {
    let mut services: Vec<ServiceRecord> = client
        .published
        .iter()
        .map(|(key, published)| ServiceRecord {
            namespace: key.namespace.to_string(),
            group: key.group.to_string(),
            name: key.name.to_string(),
            batch: matches!(published, Published::Batch(_)),
            instances: published.instances().iter().map(to_data).collect(),
        })
        .collect();
    services
        .sort_by(|a, b| (&a.namespace, &a.group, &a.name).cmp(&(&b.namespace, &b.group, &b.name)));
    ClientRecord {
        id: client.id.to_string(),
        revision: client.revision,
        services,
    }
}

fn to_data(record: &InstanceRecord) -> InstanceData {
    InstanceData {
        ip: record.ip.to_string(),
        port: record.port,
        cluster: record.cluster.to_string(),
        weight: record.weight,
        healthy: record.healthy,
        enabled: record.enabled,
        metadata: Arc::unwrap_or_clone(Arc::clone(&record.metadata)),
        instance_id: record.instance_id.to_string(),
    }
}
