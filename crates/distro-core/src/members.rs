//! The kernel's view of the other nodes: who to send to, and who is DOWN since when.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::time::Instant;

/// Health of a peer as the failure detector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Answering probes.
    Up,
    /// Missed a probe; still sent to.
    Suspicious,
    /// Missed several probes; nothing is sent to it.
    Down,
}

/// A peer and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Address (`ip:port`).
    pub address: String,
    /// State.
    pub state: PeerState,
}

/// Known peers (self excluded), and when each DOWN or removed peer went away.
#[derive(Debug, Default)]
pub struct Members {
    peers: BTreeMap<Arc<str>, PeerState>,
    down_since: HashMap<String, Instant>,
}

impl Members {
    /// Replaces the peer list; returns the peers that are now DOWN or gone (their backlogs
    /// should be dropped).
    pub fn update(&mut self, peers: Vec<Peer>, now: Instant) -> Vec<String> {
        let mut lost = Vec::new();
        let fresh: BTreeMap<Arc<str>, PeerState> = peers
            .into_iter()
            .map(|p| (Arc::from(p.address), p.state))
            .collect();
        for (address, state) in &fresh {
            if *state == PeerState::Down {
                self.down_since.entry(address.to_string()).or_insert(now);
                lost.push(address.to_string());
            } else {
                self.down_since.remove(&**address);
            }
        }
        for address in self.peers.keys() {
            if !fresh.contains_key(address) {
                self.down_since.entry(address.to_string()).or_insert(now);
                lost.push(address.to_string());
            }
        }
        self.peers = fresh;
        lost
    }

    /// Peers that are sent to (not DOWN), in address order.
    pub fn reachable(&self) -> Vec<Arc<str>> {
        self.peers
            .iter()
            .filter(|(_, s)| **s != PeerState::Down)
            .map(|(a, _)| Arc::clone(a))
            .collect()
    }

    /// Peers that answer probes (UP), in address order: snapshot sources.
    pub fn up(&self) -> Vec<Arc<str>> {
        self.peers
            .iter()
            .filter(|(_, s)| **s == PeerState::Up)
            .map(|(a, _)| Arc::clone(a))
            .collect()
    }

    /// Whether `peer` is known and not DOWN.
    pub fn is_reachable(&self, peer: &str) -> bool {
        self.peers.get(peer).is_some_and(|s| *s != PeerState::Down)
    }

    /// DOWN or removed owners and since when.
    pub fn down_since(&self) -> &HashMap<String, Instant> {
        &self.down_since
    }

    /// Whether this node (counted as reachable) sees at least half of the cluster: only then
    /// does it trust that DOWN owners are dead rather than cut off from it.
    pub fn sees_majority(&self) -> bool {
        let total = self.peers.len() + 1;
        let reachable = self.reachable().len() + 1;
        reachable * 2 >= total
    }
}
