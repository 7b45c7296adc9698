//! The member list of this node and the watches other components follow.
//!
//! [`Membership`] holds self and every listed member, sorted by address. Lookups feed it
//! address sets ([`Membership::apply_addresses`]); the failure detector feeds it probe
//! results. It publishes:
//! - the **healthy list**: sorted addresses of members that are UP or SUSPICIOUS, self
//!   always included (what Distro responsibility hashes over); the watch only changes when
//!   that list changes;
//! - the **member snapshot** for APIs; its watch changes when a member is added or removed,
//!   or its state, version, readiness or extend info changes (not on every probe).
//!   [`Membership::members`] always returns fresh values (failure counts, refresh times).
//!
//! Thread-safe: one `parking_lot` mutex, never held across an await.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::watch;

use crate::address::{AddressError, DEFAULT_PORT, MemberAddress};
use crate::detector::{self, FailurePolicy};
use crate::member::{Member, MemberInfo, MemberState, StateChange};
use crate::metrics;
use crate::probe::ProbeError;

/// Receiver of the sorted healthy address list (UP or SUSPICIOUS, self included).
pub type HealthyMembers = watch::Receiver<Arc<Vec<String>>>;

/// Receiver of the sorted member snapshot.
pub type MemberSnapshots = watch::Receiver<Arc<Vec<Member>>>;

/// Addresses added to and removed from the list by [`Membership::apply_addresses`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressChange {
    /// Addresses that were not listed before (sorted).
    pub added: Vec<String>,
    /// Addresses that are no longer listed (sorted).
    pub removed: Vec<String>,
}

impl AddressChange {
    /// Whether nothing was added or removed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// This node's view of the cluster: self plus all listed members.
#[derive(Debug)]
pub struct Membership {
    self_address: String,
    members: Mutex<BTreeMap<String, Member>>,
    healthy_tx: watch::Sender<Arc<Vec<String>>>,
    members_tx: watch::Sender<Arc<Vec<Member>>>,
}

impl Membership {
    /// A membership holding only self, found by its advertised `ip:port` (port defaults to 8848).
    pub fn new(self_address: &str, version: &str, now_ms: u64) -> Result<Self, AddressError> {
        let address = MemberAddress::parse(self_address, DEFAULT_PORT)?;
        let mut me = Member::new(address, now_ms);
        me.set_version(version);
        let self_address = me.address().to_owned();
        let members = BTreeMap::from([(self_address.clone(), me)]);
        let (healthy_tx, _) = watch::channel(Arc::new(healthy_list(&members)));
        let (members_tx, _) = watch::channel(Arc::new(members.values().cloned().collect()));
        metrics::set_member_counts(members.values());
        Ok(Self {
            self_address,
            members: Mutex::new(members),
            healthy_tx,
            members_tx,
        })
    }

    /// This node's canonical address.
    pub fn self_address(&self) -> &str {
        &self.self_address
    }

    /// Replaces the member set with `addresses` (from a lookup). Members that stay keep their
    /// state and info; new ones start UP; self is always kept (a warning is logged if the list
    /// omits it). Invalid addresses are skipped with a warning.
    pub fn apply_addresses(&self, addresses: &[String], now_ms: u64) -> AddressChange {
        let wanted = self.canonical_set(addresses);
        let mut members = self.members.lock();
        let change = diff(&members, &wanted);
        if change.is_empty() {
            return change;
        }
        for address in &change.removed {
            members.remove(address);
        }
        for address in &change.added {
            if let Ok(parsed) = MemberAddress::parse(address, DEFAULT_PORT) {
                members.insert(address.clone(), Member::new(parsed, now_ms));
            }
        }
        tracing::info!(added = ?change.added, removed = ?change.removed, "cluster member list changed");
        self.publish(&members, true);
        change
    }

    /// Applies a successful probe of `peer` (or a report received from it). Ignored for self
    /// and for addresses not in the list (then `None`).
    pub fn on_probe_success(
        &self,
        peer: &str,
        info: &MemberInfo,
        now_ms: u64,
    ) -> Option<StateChange> {
        self.update_peer(peer, |member| {
            detector::record_success(member, info, now_ms)
        })
    }

    /// Applies a failed probe of `peer`. Ignored for self and for addresses not in the list.
    pub fn on_probe_failure(
        &self,
        peer: &str,
        error: &ProbeError,
        policy: &FailurePolicy,
        now_ms: u64,
    ) -> Option<StateChange> {
        let change = self.update_peer(peer, |member| {
            metrics::record_probe_failure();
            detector::record_failure(member, error, policy, now_ms)
        });
        if change.is_none() {
            tracing::debug!(peer, %error, "cluster probe failed");
        }
        change
    }

    /// Applies a report a peer sent us (the receiving side of its probe): its info always,
    /// UP only while our own probes of it succeed (see [`detector::record_report`]).
    pub fn on_report_received(&self, info: &MemberInfo, now_ms: u64) -> Option<StateChange> {
        self.update_peer(&info.address, |member| {
            detector::record_report(member, info, now_ms)
        })
    }

    /// Sets this node's readiness (startup snapshot loaded), carried in probes.
    pub fn set_self_ready(&self, ready: bool) {
        self.update_self(|me| me.set_ready(ready));
    }

    /// Sets one `extendInfo` entry of self (e.g. ports), shown by the nodes API.
    pub fn set_self_extend_info(&self, key: &str, value: Value) {
        self.update_self(|me| me.set_extend_info(key.to_owned(), value));
    }

    /// What this node tells peers about itself.
    pub fn self_info(&self) -> MemberInfo {
        let members = self.members.lock();
        members
            .get(&self.self_address)
            .map(Member::info)
            .unwrap_or_default()
    }

    /// Sorted addresses of every member except self (the peers to probe).
    pub fn peers(&self) -> Vec<String> {
        let members = self.members.lock();
        members
            .keys()
            .filter(|address| **address != self.self_address)
            .cloned()
            .collect()
    }

    /// A fresh copy of every member (self included), sorted by address.
    pub fn members(&self) -> Vec<Member> {
        self.members.lock().values().cloned().collect()
    }

    /// A fresh copy of one member.
    pub fn member(&self, address: &str) -> Option<Member> {
        self.members.lock().get(address).cloned()
    }

    /// Whether `address` is listed (self included).
    pub fn contains(&self, address: &str) -> bool {
        self.members.lock().contains_key(address)
    }

    /// The current healthy list (sorted, self included).
    pub fn healthy(&self) -> Arc<Vec<String>> {
        self.healthy_tx.borrow().clone()
    }

    /// Follows the healthy list; changes only when the list itself changes.
    pub fn subscribe_healthy(&self) -> HealthyMembers {
        self.healthy_tx.subscribe()
    }

    /// Follows the member snapshot; changes on membership, state, version, readiness or extend info changes.
    pub fn subscribe_members(&self) -> MemberSnapshots {
        self.members_tx.subscribe()
    }

    /// Parses lookup output into canonical addresses, always including self.
    fn canonical_set(&self, addresses: &[String]) -> BTreeSet<String> {
        let mut wanted = BTreeSet::new();
        for text in addresses {
            match MemberAddress::parse(text, DEFAULT_PORT) {
                Ok(address) => {
                    wanted.insert(address.to_string());
                }
                Err(error) => {
                    tracing::warn!(address = %text, %error, "skipping invalid member address")
                }
            }
        }
        if !wanted.contains(&self.self_address) {
            tracing::warn!(
                self_address = %self.self_address,
                "this node's advertised address is not in the member list; adding it"
            );
            wanted.insert(self.self_address.clone());
        }
        wanted
    }

    /// Runs `apply` on a listed peer (never self) and publishes what changed.
    fn update_peer(
        &self,
        peer: &str,
        apply: impl FnOnce(&mut Member) -> Option<StateChange>,
    ) -> Option<StateChange> {
        if peer == self.self_address {
            return None;
        }
        let mut members = self.members.lock();
        let member = members.get_mut(peer)?;
        let before = member.clone();
        let change = apply(member);
        let view_changed = member.differs_in_view(&before);
        if let Some(change) = &change {
            log_state_change(change);
            metrics::record_state_change(change.to);
        }
        if view_changed {
            self.publish(&members, change.is_some());
        }
        change
    }

    /// Runs `apply` on self and publishes the new snapshot if the view changed.
    fn update_self(&self, apply: impl FnOnce(&mut Member)) {
        let mut members = self.members.lock();
        let Some(me) = members.get_mut(&self.self_address) else {
            return;
        };
        let before = me.clone();
        apply(me);
        if me.differs_in_view(&before) {
            self.publish(&members, false);
        }
    }

    /// Sends the member snapshot, and the healthy list if `states_changed` and it differs.
    /// Called with the lock held so concurrent updates publish in order.
    fn publish(&self, members: &BTreeMap<String, Member>, states_changed: bool) {
        self.members_tx
            .send_replace(Arc::new(members.values().cloned().collect()));
        if !states_changed {
            return;
        }
        metrics::set_member_counts(members.values());
        let healthy = healthy_list(members);
        self.healthy_tx.send_if_modified(|current| {
            if **current == healthy {
                return false;
            }
            *current = Arc::new(healthy);
            true
        });
    }
}

/// Sorted addresses of members that are UP or SUSPICIOUS (self is never probed, so stays UP).
fn healthy_list(members: &BTreeMap<String, Member>) -> Vec<String> {
    members
        .values()
        .filter(|member| member.state().is_healthy())
        .map(|member| member.address().to_owned())
        .collect()
}

/// What turning the current key set into `wanted` adds and removes.
fn diff(current: &BTreeMap<String, Member>, wanted: &BTreeSet<String>) -> AddressChange {
    AddressChange {
        added: wanted
            .iter()
            .filter(|address| !current.contains_key(*address))
            .cloned()
            .collect(),
        removed: current
            .keys()
            .filter(|address| !wanted.contains(*address))
            .cloned()
            .collect(),
    }
}

/// Logs a transition: DOWN as a warning, others as info.
fn log_state_change(change: &StateChange) {
    let (address, from, to) = (&change.address, change.from.as_str(), change.to.as_str());
    if change.to == MemberState::Down {
        tracing::warn!(member = %address, from, to, "cluster member state changed");
    } else {
        tracing::info!(member = %address, from, to, "cluster member state changed");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn membership() -> Membership {
        Membership::new("10.0.0.2:8848", "1.0.0", 0).expect("valid self address")
    }

    fn timeout() -> ProbeError {
        ProbeError::Timeout(Duration::from_millis(500))
    }

    fn info(address: &str) -> MemberInfo {
        MemberInfo {
            address: address.into(),
            version: "2.0.0".into(),
            ready: true,
        }
    }

    #[test]
    fn starts_with_self_only() {
        let m = membership();
        assert_eq!(m.self_address(), "10.0.0.2:8848");
        assert_eq!(*m.healthy(), strings(&["10.0.0.2:8848"]));
        assert!(m.peers().is_empty());
        let me = m.self_info();
        assert_eq!(
            (me.address.as_str(), me.version.as_str(), me.ready),
            ("10.0.0.2:8848", "1.0.0", false)
        );
    }

    #[test]
    fn self_address_is_canonicalised_and_validated() {
        let m = Membership::new(" 10.0.0.2 ", "v", 0).unwrap();
        assert_eq!(m.self_address(), "10.0.0.2:8848");
        assert!(Membership::new("10.0.0.2:notaport", "v", 0).is_err());
    }

    #[test]
    fn apply_addresses_sorts_adds_self_and_keeps_state() {
        let m = membership();
        let change = m.apply_addresses(&strings(&["10.0.0.3", "10.0.0.1:8848"]), 1);
        assert_eq!(change.added, strings(&["10.0.0.1:8848", "10.0.0.3:8848"]));
        assert!(change.removed.is_empty());
        assert_eq!(
            *m.healthy(),
            strings(&["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"])
        );
        assert_eq!(m.peers(), strings(&["10.0.0.1:8848", "10.0.0.3:8848"]));

        // Keep 10.0.0.1's state across a new lookup result.
        m.on_probe_failure(
            "10.0.0.1:8848",
            &ProbeError::ConnectionRefused,
            &FailurePolicy::default(),
            2,
        );
        let change = m.apply_addresses(
            &strings(&["10.0.0.1:8848", "10.0.0.4:8848", "bad:addr:x"]),
            3,
        );
        assert_eq!(change.added, strings(&["10.0.0.4:8848"]));
        assert_eq!(change.removed, strings(&["10.0.0.3:8848"]));
        let kept = m.member("10.0.0.1:8848").unwrap();
        assert_eq!(kept.state(), MemberState::Down);
        assert!(m.contains("10.0.0.2:8848"), "self kept although not listed");
        assert_eq!(*m.healthy(), strings(&["10.0.0.2:8848", "10.0.0.4:8848"]));
    }

    #[test]
    fn healthy_watch_changes_only_on_real_changes() {
        let m = membership();
        let mut rx = m.subscribe_healthy();
        assert!(!rx.has_changed().unwrap());

        m.apply_addresses(&strings(&["10.0.0.1", "10.0.0.3"]), 1);
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            **rx.borrow_and_update(),
            strings(&["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"])
        );

        // Same set again, success on an UP peer, SUSPICIOUS (still healthy): no change.
        m.apply_addresses(&strings(&["10.0.0.3", "10.0.0.1"]), 2);
        m.on_probe_success("10.0.0.1:8848", &info("10.0.0.1:8848"), 3);
        let policy = FailurePolicy::default();
        let to = m
            .on_probe_failure("10.0.0.3:8848", &timeout(), &policy, 4)
            .map(|c| c.to);
        assert_eq!(to, Some(MemberState::Suspicious));
        assert!(!rx.has_changed().unwrap());

        // DOWN leaves the healthy list.
        m.on_probe_failure("10.0.0.3:8848", &timeout(), &policy, 5);
        assert!(!rx.has_changed().unwrap());
        m.on_probe_failure("10.0.0.3:8848", &timeout(), &policy, 6);
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            **rx.borrow_and_update(),
            strings(&["10.0.0.1:8848", "10.0.0.2:8848"])
        );

        // More failures while DOWN: no change.
        m.on_probe_failure("10.0.0.3:8848", &timeout(), &policy, 7);
        assert!(!rx.has_changed().unwrap());

        // Back UP.
        let back = m.on_probe_success("10.0.0.3:8848", &info("10.0.0.3:8848"), 8);
        assert_eq!(
            back.map(|c| (c.from, c.to)),
            Some((MemberState::Down, MemberState::Up))
        );
        assert_eq!(
            **rx.borrow_and_update(),
            strings(&["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"])
        );
    }

    #[test]
    fn reports_do_not_revive_a_peer_our_probes_cannot_reach() {
        let m = membership();
        m.apply_addresses(&strings(&["10.0.0.2:8848", "10.0.0.3:8848"]), 0);
        let policy = FailurePolicy::default();
        let peer = "10.0.0.3:8848";
        for now in 1..=3 {
            m.on_probe_failure(peer, &timeout(), &policy, now);
        }
        assert_eq!(m.member(peer).unwrap().state(), MemberState::Down);
        // One-way loss: its reports reach us, our probes of it do not get through.
        let report = info(peer);
        assert!(!m.member(peer).unwrap().ready());
        assert_eq!(m.on_report_received(&report, 4), None);
        let member = m.member(peer).unwrap();
        assert_eq!(member.state(), MemberState::Down);
        assert!(member.ready(), "the report's info is kept");
        assert_eq!(member.fail_count(), 3);
        // Our own probe getting through is what brings it back.
        assert!(m.on_probe_success(peer, &report, 5).is_some());
        assert_eq!(m.member(peer).unwrap().state(), MemberState::Up);
        // A suspicious peer is not reset by a report either, so it still goes DOWN.
        m.on_probe_failure(peer, &timeout(), &policy, 6);
        assert_eq!(m.on_report_received(&report, 7), None);
        m.on_probe_failure(peer, &timeout(), &policy, 8);
        m.on_probe_failure(peer, &timeout(), &policy, 9);
        assert_eq!(m.member(peer).unwrap().state(), MemberState::Down);
        // A refused connection means no process listened: a report after it is a restart.
        m.on_probe_failure(peer, &ProbeError::ConnectionRefused, &policy, 10);
        assert!(m.on_report_received(&report, 11).is_some());
        assert_eq!(m.member(peer).unwrap().state(), MemberState::Up);
    }

    #[test]
    fn probe_results_for_self_or_unknown_are_ignored() {
        let m = membership();
        let policy = FailurePolicy::default();
        assert_eq!(
            m.on_probe_failure("10.0.0.2:8848", &ProbeError::ConnectionRefused, &policy, 1),
            None
        );
        assert_eq!(
            m.on_probe_failure("10.9.9.9:8848", &ProbeError::ConnectionRefused, &policy, 1),
            None
        );
        assert_eq!(m.member("10.0.0.2:8848").unwrap().state(), MemberState::Up);
        assert_eq!(m.on_report_received(&info("10.9.9.9:8848"), 1), None);
        assert!(!m.contains("10.9.9.9:8848"));
    }

    #[test]
    fn member_watch_follows_view_not_counters() {
        let m = membership();
        m.apply_addresses(&strings(&["10.0.0.1"]), 1);
        let mut rx = m.subscribe_members();
        rx.borrow_and_update();

        m.on_probe_success("10.0.0.1:8848", &info("10.0.0.1:8848"), 2);
        assert!(rx.has_changed().unwrap(), "version and readiness reported");
        rx.borrow_and_update();
        m.on_probe_success("10.0.0.1:8848", &info("10.0.0.1:8848"), 3);
        assert!(!rx.has_changed().unwrap(), "same info again");
        assert_eq!(
            m.member("10.0.0.1:8848").unwrap().last_refresh_ms(),
            3,
            "fresh values readable"
        );

        m.set_self_ready(true);
        assert!(rx.has_changed().unwrap());
        let snapshot = rx.borrow_and_update().clone();
        assert!(
            snapshot
                .iter()
                .any(|mm| mm.address() == "10.0.0.2:8848" && mm.ready())
        );
        assert!(m.self_info().ready);
        m.set_self_ready(true);
        assert!(!rx.has_changed().unwrap());

        m.set_self_extend_info("raftPort", Value::from("7848"));
        assert!(rx.has_changed().unwrap());
    }
}
