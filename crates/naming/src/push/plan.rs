//! Pending pushes, one per service, with Nacos's `PushDelayTask` merge rules.
//!
//! Merging keeps the EARLIEST deadline, so a steady stream of changes cannot postpone a
//! push forever: a burst yields one push about one delay after its first change. A push to
//! all subscribers absorbs any targeted push; targeted pushes merge by union.

use std::collections::{BTreeSet, HashMap};

use tokio::time::Instant;

use crate::client::ClientId;
use crate::names::ServiceKey;

/// Who a pending push goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Targets {
    /// Every subscriber of the service on this node.
    All,
    /// Only these subscribers (a first subscription, a retry).
    Clients(BTreeSet<ClientId>),
}

impl Targets {
    /// One client.
    pub(crate) fn one(client: ClientId) -> Self {
        Self::Clients(BTreeSet::from([client]))
    }

    /// Push-to-all wins; otherwise the union of both target sets.
    fn merge(self, other: Self) -> Self {
        match (self, other) {
            (Self::Clients(mut mine), Self::Clients(theirs)) => {
                mine.extend(theirs);
                Self::Clients(mine)
            }
            _ => Self::All,
        }
    }

    /// Whether `client` is a target.
    pub(crate) fn includes(&self, client: &ClientId) -> bool {
        match self {
            Self::All => true,
            Self::Clients(clients) => clients.contains(client),
        }
    }
}

#[derive(Debug)]
struct Pending {
    due: Instant,
    targets: Targets,
}

/// Pending pushes keyed by service, indexed by deadline. Holds at most one entry per
/// service, so it is bounded by the number of services.
#[derive(Debug, Default)]
pub(crate) struct PushPlan {
    pending: HashMap<ServiceKey, Pending>,
    by_due: BTreeSet<(Instant, ServiceKey)>,
}

impl PushPlan {
    /// Adds a push of `service` to `targets` due at `due`, merged with any pending one.
    pub(crate) fn add(&mut self, service: ServiceKey, targets: Targets, due: Instant) {
        let merged = match self.pending.remove(&service) {
            None => Pending { due, targets },
            Some(old) => {
                self.by_due.remove(&(old.due, service.clone()));
                Pending {
                    due: old.due.min(due),
                    targets: old.targets.merge(targets),
                }
            }
        };
        self.by_due.insert((merged.due, service.clone()));
        self.pending.insert(service, merged);
    }

    /// Removes and returns every push due at or before `now`, earliest first.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<(ServiceKey, Targets)> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_due.first() {
            if *at > now {
                break;
            }
            let Some((_, service)) = self.by_due.pop_first() else {
                break;
            };
            if let Some(pending) = self.pending.remove(&service) {
                due.push((service, pending.targets));
            }
        }
        due
    }

    /// The earliest deadline, if anything is pending.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.by_due.first().map(|(at, _)| *at)
    }

    /// Number of services with a pending push.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn svc(name: &str) -> ServiceKey {
        ServiceKey::new("", "", name)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_keeps_the_first_deadline() {
        let t0 = Instant::now();
        let mut plan = PushPlan::default();
        plan.add(svc("a"), Targets::All, t0 + ms(500));
        plan.add(svc("a"), Targets::All, t0 + ms(600));
        plan.add(svc("a"), Targets::All, t0 + ms(900));
        assert_eq!(plan.len(), 1);
        assert_eq!(plan.next_due(), Some(t0 + ms(500)));
        assert!(plan.take_due(t0 + ms(499)).is_empty());
        assert_eq!(plan.take_due(t0 + ms(500)), vec![(svc("a"), Targets::All)]);
        assert_eq!(plan.len(), 0);
        assert_eq!(plan.next_due(), None);
    }

    #[test]
    fn push_to_all_absorbs_targets_and_targets_union() {
        let t0 = Instant::now();
        let (a, b) = (ClientId::new("a"), ClientId::new("b"));
        let mut plan = PushPlan::default();
        plan.add(svc("s"), Targets::one(a.clone()), t0 + ms(1000));
        plan.add(svc("s"), Targets::one(b.clone()), t0 + ms(10));
        let due = plan.take_due(t0 + ms(10));
        assert_eq!(
            due,
            vec![(svc("s"), Targets::Clients(BTreeSet::from([a.clone(), b])))]
        );
        plan.add(svc("s"), Targets::All, t0 + ms(500));
        plan.add(svc("s"), Targets::one(a.clone()), t0);
        assert_eq!(
            plan.take_due(t0),
            vec![(svc("s"), Targets::All)],
            "earliest deadline wins"
        );
        plan.add(svc("s"), Targets::one(a), t0);
        plan.add(svc("s"), Targets::All, t0 + ms(500));
        assert_eq!(plan.take_due(t0), vec![(svc("s"), Targets::All)]);
    }

    #[test]
    fn services_are_independent_and_ordered_by_deadline() {
        let t0 = Instant::now();
        let mut plan = PushPlan::default();
        plan.add(svc("late"), Targets::All, t0 + ms(300));
        plan.add(svc("early"), Targets::All, t0 + ms(100));
        plan.add(svc("later"), Targets::All, t0 + ms(900));
        let due: Vec<_> = plan
            .take_due(t0 + ms(300))
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(due, vec![svc("early"), svc("late")]);
        assert_eq!(plan.next_due(), Some(t0 + ms(900)));
    }
}
