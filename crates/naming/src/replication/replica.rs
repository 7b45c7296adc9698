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
    /// like a local registration; a bad one changes nothing, nor does one that drops an
    /// instance beating this node (see [`contest`]).
    pub fn apply_record(&self, now: Instant, record: &ClientRecord) -> Result<(), NamingError> {
        let id = ClientId::new(record.id.as_str());
        let mut published = Vec::with_capacity(record.services.len());
        for service in &record.services {
            published.push(self.published_from(service, now)?);
        }
        let expired: Vec<ServiceKey> = record
            .expired
            .iter()
            .map(|(namespace, group, name)| ServiceKey::new(namespace, group, name))
            .collect();
        self.mutate(move |state, changes| {
            let old = state.clients.get(&id);
            let incoming = Incoming {
                revision: record.revision,
                published: &published,
                expired: &expired,
            };
            if let Some(reason) = old.and_then(|old| contest(old, &incoming, now)) {
                return Err(NamingError::Contested(reason));
            }
            let mut client = Client::new(id.clone(), now);
            if let Some(old) = old {
                client.subscribed = old.subscribed.clone();
                client.beat_here_at = old.beat_here_at;
                client.beats_judged_from = old.beats_judged_from;
                keep_beat_times(old, &mut published);
            }
            state.remove_client_quietly(now, &id, changes);
            client.revision = record.revision;
            client.native = false;
            client.expired_since_write = expired.into();
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
            Ok(())
        })
    }

    /// Removes a client a peer deleted at `revision`, unless it beats this node (see
    /// [`contest`]).
    pub fn remove_record(
        &self,
        now: Instant,
        id: &ClientId,
        revision: u64,
    ) -> Result<(), NamingError> {
        self.mutate(|state, changes| {
            let incoming = Incoming {
                revision,
                published: &[],
                expired: &[],
            };
            if let Some(reason) = state
                .clients
                .get(id)
                .and_then(|old| contest(old, &incoming, now))
            {
                return Err(NamingError::Contested(reason));
            }
            state.remove_client(now, id, changes);
            Ok(())
        })
    }

    /// Takes over an `ip:port` client this node just became responsible for: a new
    /// revision above `floor`, and fresh beat times so its instances get a full timeout to
    /// beat here before they are judged. Returns the new revision.
    pub fn adopt(&self, now: Instant, id: &ClientId, floor: u64) -> Option<u64> {
        self.mutate(|state, changes| {
            let client = state.clients.get_mut(id)?;
            client.revision = distro_core::revision::changed(client.revision.max(floor));
            client.native = true;
            client.last_updated = now.into();
            client.beats_judged_from = now.into();
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

/// A peer's state of a client, as [`contest`] judges it.
struct Incoming<'a> {
    revision: u64,
    /// Its publications (none for a deletion).
    published: &'a [(ServiceKey, Published)],
    /// Services an owner expired since the client's last write.
    expired: &'a [ServiceKey],
}

/// Why a peer's state of a client must not replace ours, if it must not: it drops an
/// instance that beat this node within its unhealthy timeout, and either carries no newer
/// client write than ours, or the drop is an owner's expiry made after that write (seed
/// 6631485212509652625: one side of a partition took a metadata update, then expired the
/// instance, which beat the other side).
///
/// Such a state comes from a node that judged the instance silent because the beats came
/// here instead: nodes disagreed on who owned the client (a partition, one-way loss). The
/// beats prove the instance alive, so the expiry is refused; the instance stays listed here,
/// and its next beat, now forwarded to the owner, restores it there (by a full beat, or by
/// the re-registration a 20404 asks for). A deregistration is a client write and is never
/// refused. Found by the simulation (seed 7288707563483517685).
fn contest(local: &Client, incoming: &Incoming<'_>, now: Instant) -> Option<String> {
    use distro_core::revision::stamp;
    let newer_write = stamp(incoming.revision) > stamp(local.revision);
    if newer_write && incoming.expired.is_empty() {
        return None;
    }
    let beat_here = local.beat_here_at?.instant();
    let recent = |since: Instant, record: &InstanceRecord| {
        now.saturating_duration_since(since).as_millis() <= u128::from(record.timeouts.unhealthy_ms)
    };
    // After a newer client write, only the owner's expiries since it are contested.
    let contestable =
        |service: &ServiceKey| !newer_write || incoming.expired.iter().any(|s| s == service);
    let kept = |service: &ServiceKey, record: &InstanceRecord| {
        incoming.published.iter().any(|(key, published)| {
            key == service
                && published
                    .instances()
                    .iter()
                    .any(|r| r.is_at(&record.ip, record.port, &record.cluster))
        })
    };
    local.published.iter().find_map(|(service, published)| {
        published
            .instances()
            .iter()
            .filter(|_| contestable(service))
            .find(|r| recent(beat_here, r) && recent(r.last_beat.instant(), r) && !kept(service, r))
            .map(|r| {
                format!(
                    "{}:{} of {} beat this node {} ms ago; a peer's expiry of it is refused",
                    r.ip,
                    r.port,
                    service.grouped_name(),
                    now.saturating_duration_since(r.last_beat.instant())
                        .as_millis()
                )
            })
    })
}

/// Instances a peer's record keeps get the beat times they had here (a replica's beat time
/// says when this node last heard of them; resetting it would forge evidence of beats).
fn keep_beat_times(old: &Client, incoming: &mut [(ServiceKey, Published)]) {
    for (service, published) in incoming {
        let Some(before) = old.published.get(service) else {
            continue;
        };
        for record in published.instances_mut() {
            if let Some(was) = before
                .instances()
                .iter()
                .find(|r| r.is_at(&record.ip, record.port, &record.cluster))
            {
                record.last_beat = was.last_beat;
            }
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
            instances: published
                .instances()
                .iter()
                .map(|record| to_data(record, key))
                .collect(),
        })
        .collect();
    services
        .sort_by(|a, b| (&a.namespace, &a.group, &a.name).cmp(&(&b.namespace, &b.group, &b.name)));
    ClientRecord {
        id: client.id.to_string(),
        revision: client.revision,
        services,
        expired: client
            .expired_since_write
            .iter()
            .map(|s| {
                (
                    s.namespace.to_string(),
                    s.group.to_string(),
                    s.name.to_string(),
                )
            })
            .collect(),
    }
}

fn to_data(record: &InstanceRecord, service: &ServiceKey) -> InstanceData {
    InstanceData {
        ip: record.ip.to_string(),
        port: record.port,
        cluster: record.cluster.to_string(),
        weight: record.weight,
        healthy: record.healthy,
        enabled: record.enabled,
        metadata: Arc::unwrap_or_clone(Arc::clone(&record.metadata)),
        instance_id: record.instance_id(service).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use distro_core::revision::{changed, written};

    use super::*;
    use crate::NamingConfig;

    fn registered(now: Instant) -> (Registry, ClientId, ServiceKey) {
        let registry = Registry::new(NamingConfig::default());
        let id = ClientId::ip_port("10.0.0.1", 80);
        let service = ServiceKey::new("", "", "orders");
        registry
            .register(now, &id, &service, InstanceSpec::new("10.0.0.1", 80))
            .unwrap();
        (registry, id, service)
    }

    /// A peer's copy after its owner expired the instance: same client write, no services.
    fn expired_elsewhere(registry: &Registry, id: &ClientId) -> ClientRecord {
        let mut record = registry.client_record(id).unwrap();
        record.services.clear();
        record.revision = changed(changed(record.revision));
        record
    }

    /// Regression (simulation seeds 7288707563483517685, 4990025626469012731): a node the
    /// instance beats (or beats through) refuses a peer's expiry made without those beats.
    #[tokio::test(start_paused = true)]
    async fn an_expiry_made_without_the_beats_is_contested() {
        let start = Instant::now();
        let (registry, id, service) = registered(start);
        let now = start + Duration::from_secs(20);
        registry.note_passing_beat(now, &service, "10.0.0.1", 80);
        let record = expired_elsewhere(&registry, &id);
        let refused = registry.apply_record(now, &record);
        assert!(
            matches!(refused, Err(NamingError::Contested(_))),
            "{refused:?}"
        );
        assert_eq!(registry.view(&service).hosts.len(), 1, "still listed");
        let deleted = registry.remove_record(now, &id, record.revision);
        assert!(matches!(deleted, Err(NamingError::Contested(_))));
        assert_eq!(registry.view(&service).hosts.len(), 1);

        // Once the beats stop for the unhealthy timeout, the expiry applies.
        let later = now + Duration::from_millis(15_001);
        registry.apply_record(later, &record).unwrap();
        assert!(registry.view(&service).hosts.is_empty());
    }

    /// Regression (simulation seed 6631485212509652625): a newer client write followed by an
    /// owner's expiry of the instance (made without the beats this node got) is contested;
    /// the same drop as the client's own write (a deregistration) is not.
    #[tokio::test(start_paused = true)]
    async fn an_expiry_after_a_newer_write_is_contested_too() {
        let now = Instant::now();
        let (registry, id, service) = registered(now);
        registry.note_passing_beat(now, &service, "10.0.0.1", 80);
        let mut record = registry.client_record(&id).unwrap();
        record.services.clear();
        record.revision = changed(written(record.revision));
        record.expired = vec![(
            service.namespace.to_string(),
            service.group.to_string(),
            service.name.to_string(),
        )];
        let refused = registry.apply_record(now, &record);
        assert!(
            matches!(refused, Err(NamingError::Contested(_))),
            "{refused:?}"
        );
        assert_eq!(registry.view(&service).hosts.len(), 1);
        record.expired.clear();
        registry.apply_record(now, &record).unwrap();
        assert!(registry.view(&service).hosts.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn client_writes_and_unbeaten_replicas_are_never_contested() {
        let now = Instant::now();
        // Never beaten here: a plain replica follows its owner.
        let (registry, id, service) = registered(now);
        registry
            .apply_record(now, &expired_elsewhere(&registry, &id))
            .unwrap();
        assert!(registry.view(&service).hosts.is_empty());

        // Beaten here, but the peer's state is a newer client write (a deregistration).
        let (registry, id, service) = registered(now);
        registry.note_passing_beat(now, &service, "10.0.0.1", 80);
        let mut deregistered = registry.client_record(&id).unwrap();
        deregistered.services.clear();
        deregistered.revision = written(deregistered.revision);
        registry.apply_record(now, &deregistered).unwrap();
        assert!(registry.view(&service).hosts.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn adoption_and_resumed_checks_give_a_full_timeout_without_forging_beats() {
        let start = Instant::now();
        let (registry, id, service) = registered(start);
        let now = start + Duration::from_secs(40);
        registry.adopt(now, &id, 0).unwrap();
        let everyone = |_: &ClientId| true;
        let report = registry.check_beats(now + Duration::from_secs(14), &everyone);
        assert_eq!(report.marked_unhealthy, 0, "a full timeout after adoption");
        // The adoption is no beat: a peer's expiry is not contested.
        registry
            .apply_record(now, &expired_elsewhere(&registry, &id))
            .unwrap();
        assert!(registry.view(&service).hosts.is_empty());

        let (registry, _, _) = registered(start);
        registry.restart_beat_clocks(now);
        let report = registry.check_beats(now + Duration::from_secs(14), &everyone);
        assert_eq!(
            report.marked_unhealthy, 0,
            "a full timeout after checks resume"
        );
        let report = registry.check_beats(now + Duration::from_secs(16), &everyone);
        assert_eq!(report.marked_unhealthy, 1);
    }
}
