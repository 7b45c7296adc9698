//! Health of `ip:port` clients: beats in, periodic beat checks and idle-client expiry.

use distro_core::revision;
use tokio::time::Instant;

use crate::client::{ClientId, ClientKind};
use crate::instance::{BeatTimeouts, InstanceRecord, InstanceSpec};
use crate::names::ServiceKey;
use crate::registry::Registry;
use crate::state::{Cause, Changes, State};

/// What a beat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeatOutcome {
    /// The instance is registered; the client should beat again after `interval_ms`.
    Accepted {
        /// Beat interval for this instance.
        interval_ms: u64,
    },
    /// The client does not publish this service: it must register (again).
    UnknownInstance,
}

/// What one beat-check pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BeatCheckReport {
    /// Instances that turned unhealthy.
    pub marked_unhealthy: usize,
    /// Instances deleted after too long without beats.
    pub expired: usize,
}

impl Registry {
    /// A light beat for `ip:port` in `service`: refreshes the beat time and revives an
    /// unhealthy instance.
    pub fn beat(&self, now: Instant, service: &ServiceKey, ip: &str, port: u16) -> BeatOutcome {
        let id = ClientId::ip_port(ip, port);
        self.mutate(|state, changes| apply_beat(state, now, &id, service, ip, port, changes))
    }

    /// A beat this node passes on to the instance's owner: not applied here (the owner
    /// judges health), but noted as evidence that the instance is alive, so that an expiry
    /// made by a node that did not get the beats is contested here (see
    /// `replication::replica`). Returns whether the instance is held here.
    pub fn note_passing_beat(
        &self,
        now: Instant,
        service: &ServiceKey,
        ip: &str,
        port: u16,
    ) -> bool {
        let id = ClientId::ip_port(ip, port);
        self.mutate(|state, _| {
            let Some(client) = state.clients.get_mut(&id) else {
                return false;
            };
            let Some(published) = client.published.get_mut(service) else {
                return false;
            };
            let mut held = false;
            for record in published.instances_mut() {
                if &*record.ip == ip && record.port == port {
                    record.last_beat = now.into();
                    held = true;
                }
            }
            if held {
                client.beat_here_at = Some(now.into());
            }
            held
        })
    }

    /// A full beat: like [`Registry::beat`], but an unknown instance is registered from the
    /// beat's content first (what 1.x clients expect).
    pub fn beat_or_register(
        &self,
        now: Instant,
        service: &ServiceKey,
        spec: InstanceSpec,
    ) -> Result<BeatOutcome, crate::NamingError> {
        let (ip, port) = (spec.ip.clone(), spec.port);
        let outcome = self.beat(now, service, &ip, port);
        if outcome != BeatOutcome::UnknownInstance {
            return Ok(outcome);
        }
        let id = ClientId::ip_port(&ip, port);
        self.register(now, &id, service, spec)?;
        Ok(self.beat(now, service, &ip, port))
    }

    /// One beat-check pass over the `ip:port` clients this node is responsible for: silent
    /// instances turn unhealthy, then (if expiry is on) are deleted.
    pub fn check_beats(
        &self,
        now: Instant,
        responsible: &dyn Fn(&ClientId) -> bool,
    ) -> BeatCheckReport {
        // Find candidates under the read lock so that a quiet registry never takes the write lock.
        let due = self.read(|state| overdue_clients(state, now, responsible));
        if due.is_empty() {
            return BeatCheckReport::default();
        }
        let expire = self.config().expire_instance;
        self.mutate(|state, changes| {
            let mut report = BeatCheckReport::default();
            for id in &due {
                check_client(state, now, id, expire, &mut report, changes);
            }
            report
        })
    }

    /// Gives every `ip:port` client a fresh beat clock: checks count silence from `now`.
    ///
    /// Called when beat checks resume after a pause (self-preservation released): while
    /// the node was cut off, clients kept beating the nodes they could reach, so the beat
    /// times held here say nothing about whether they are alive. Without this, the first
    /// check after a heal expired every client that beat elsewhere (simulation seed
    /// 14334736817867870816), and its deletions then removed live instances everywhere.
    pub fn restart_beat_clocks(&self, now: Instant) {
        self.mutate(|state, _| {
            let ip_port = state
                .clients
                .values_mut()
                .filter(|c| c.id.kind() == ClientKind::IpPort);
            for client in ip_port {
                client.last_updated = now.into();
                client.beats_judged_from = now.into();
            }
        });
    }

    /// Removes idle `ip:port` clients this node is responsible for: those without instances
    /// after `empty_client_expired_ms`, and any after `client_expired_ms`. Returns how many
    /// were removed.
    ///
    /// Only the owner judges idleness: beats reach the owner alone, so on a replica a
    /// beating client looks idle. The owner's removal reaches replicas as a deletion, and a
    /// replica whose owner is gone expires through replication instead.
    pub fn remove_idle_clients(
        &self,
        now: Instant,
        responsible: &dyn Fn(&ClientId) -> bool,
    ) -> usize {
        let empty_ms = self.config().empty_client_expired_ms;
        let any_ms = self.config().client_expired_ms;
        let idle = |idle_ms: u128, empty: bool| {
            (empty && idle_ms > u128::from(empty_ms)) || idle_ms > u128::from(any_ms)
        };
        let due: Vec<ClientId> = self.read(|state| {
            state
                .clients
                .values()
                .filter(|c| c.id.kind() == ClientKind::IpPort && responsible(&c.id))
                .filter(|c| {
                    idle(
                        now.saturating_duration_since(c.last_updated.instant())
                            .as_millis(),
                        c.published.is_empty(),
                    )
                })
                .map(|c| c.id.clone())
                .collect()
        });
        if due.is_empty() {
            return 0;
        }
        self.mutate(|state, changes| {
            due.iter()
                .filter(|id| state.remove_client(now, id, changes))
                .count()
        })
    }
}

fn apply_beat(
    state: &mut State,
    now: Instant,
    id: &ClientId,
    service: &ServiceKey,
    ip: &str,
    port: u16,
    changes: &mut Changes,
) -> BeatOutcome {
    let Some(client) = state.clients.get_mut(id) else {
        return BeatOutcome::UnknownInstance;
    };
    let Some(published) = client.published.get_mut(service) else {
        return BeatOutcome::UnknownInstance;
    };
    let mut interval_ms = None;
    let mut revived = false;
    for record in published.instances_mut() {
        if &*record.ip == ip && record.port == port {
            record.last_beat = now.into();
            interval_ms = Some(record.timeouts.interval_ms);
            revived |= !record.healthy;
            record.healthy = true;
        }
    }
    client.last_updated = now.into();
    let Some(interval_ms) = interval_ms else {
        return BeatOutcome::UnknownInstance;
    };
    client.beat_here_at = Some(now.into());
    if revived {
        client.revision = revision::changed(client.revision);
        touch_service(state, service, now);
        changes.client_changed(id, service);
    }
    BeatOutcome::Accepted { interval_ms }
}

fn overdue_clients(
    state: &State,
    now: Instant,
    responsible: &dyn Fn(&ClientId) -> bool,
) -> Vec<ClientId> {
    state
        .clients
        .values()
        .filter(|c| c.id.kind() == ClientKind::IpPort && responsible(&c.id))
        .filter(|c| {
            c.published.values().flat_map(|p| p.instances()).any(|r| {
                let silent = silence_ms(r, c.beats_judged_from.instant(), now);
                (r.healthy && silent > u128::from(r.timeouts.unhealthy_ms))
                    || silent > u128::from(r.timeouts.delete_ms)
            })
        })
        .map(|c| c.id.clone())
        .collect()
}

/// How long an instance has been silent as beat checks judge it: since its last beat, or
/// since its client's checks started here if that is later.
fn silence_ms(record: &InstanceRecord, judged_from: Instant, now: Instant) -> u128 {
    now.saturating_duration_since(record.last_beat.instant().max(judged_from))
        .as_millis()
}

fn check_client(
    state: &mut State,
    now: Instant,
    id: &ClientId,
    expire: bool,
    report: &mut BeatCheckReport,
    changes: &mut Changes,
) {
    let Some(client) = state.clients.get_mut(id) else {
        return;
    };
    let mut flipped = Vec::new();
    let mut expired = Vec::new();
    let judged_from = client.beats_judged_from.instant();
    for (service, published) in &mut client.published {
        for record in published.instances_mut() {
            let silent = silence_ms(record, judged_from, now);
            let BeatTimeouts {
                unhealthy_ms,
                delete_ms,
                ..
            } = record.timeouts;
            if record.healthy && silent > u128::from(unhealthy_ms) {
                record.healthy = false;
                report.marked_unhealthy += 1;
                flipped.push(service.clone());
            }
            if expire && silent > u128::from(delete_ms) {
                expired.push(service.clone());
            }
        }
    }
    if !flipped.is_empty() {
        client.revision = revision::changed(client.revision);
    }
    for service in flipped {
        touch_service(state, &service, now);
        changes.client_changed(id, &service);
    }
    for service in expired {
        if state.unpublish((now, Cause::Owner), id, &service, changes) {
            report.expired += 1;
        }
    }
}

fn touch_service(state: &mut State, service: &ServiceKey, now: Instant) {
    if let Some(entry) = state.services.get_mut(service) {
        entry.last_changed = now;
    }
}
