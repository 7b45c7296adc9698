//! An in-memory cluster: engines wired through a transport that calls peers' handlers
//! directly, with link cuts and per-kind message counts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use distro_core::{
    ApplyError, BoxFuture, DataProcessor, DataStorage, Distro, DistroConfig, Lease, Peer,
    PeerState, SnapshotStream, SyncItem, Transport, TransportError, VerifyRequest, VerifyResponse,
};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const TYPE: &str = "test:clients";

/// A node's data: key -> (revision, payload).
#[derive(Default)]
pub struct Store {
    pub data: Mutex<HashMap<String, (u64, Bytes)>>,
}

impl DataStorage for Store {
    fn payload(&self, key: &str) -> Option<(u64, Bytes)> {
        self.data.lock().get(key).cloned()
    }
}

impl DataProcessor for Store {
    fn apply(
        &self,
        key: &str,
        _owner: &str,
        revision: u64,
        payload: &[u8],
    ) -> Result<(), ApplyError> {
        if payload == b"poison" {
            return Err(ApplyError("undecodable".into()));
        }
        self.data
            .lock()
            .insert(key.to_owned(), (revision, Bytes::copy_from_slice(payload)));
        Ok(())
    }
    fn remove(&self, key: &str, _: u64) -> Result<(), ApplyError> {
        self.data.lock().remove(key);
        Ok(())
    }
}

/// Message counts and cut links of the whole network.
#[derive(Default)]
pub struct Net {
    pub nodes: Mutex<HashMap<String, Distro>>,
    pub cut: Mutex<HashSet<(String, String)>>,
    pub dropped_keys: Mutex<HashSet<String>>,
    pub counts: Mutex<HashMap<(String, String, &'static str), usize>>,
    pub synced_items: Mutex<Vec<(String, String, SyncItem)>>,
}

impl Net {
    fn count(&self, from: &str, to: &str, kind: &'static str) {
        *self
            .counts
            .lock()
            .entry((from.to_owned(), to.to_owned(), kind))
            .or_default() += 1;
    }

    pub fn sent(&self, kind: &'static str) -> usize {
        self.counts
            .lock()
            .iter()
            .filter(|((_, _, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn sent_between(&self, from: &str, to: &str, kind: &'static str) -> usize {
        self.counts
            .lock()
            .get(&(from.to_owned(), to.to_owned(), kind))
            .copied()
            .unwrap_or(0)
    }

    pub fn reset_counts(&self) {
        self.counts.lock().clear();
        self.synced_items.lock().clear();
    }

    fn target(&self, from: &str, to: &str) -> Result<Distro, TransportError> {
        if self.cut.lock().contains(&(from.to_owned(), to.to_owned())) {
            return Err(TransportError::Unreachable(format!("{from} -/-> {to}")));
        }
        self.nodes
            .lock()
            .get(to)
            .cloned()
            .ok_or_else(|| TransportError::Unreachable(to.to_owned()))
    }

    /// Cuts both directions between two nodes.
    pub fn partition(&self, a: &str, b: &str) {
        let mut cut = self.cut.lock();
        cut.insert((a.to_owned(), b.to_owned()));
        cut.insert((b.to_owned(), a.to_owned()));
    }

    pub fn heal(&self) {
        self.cut.lock().clear();
    }
}

pub struct MemTransport {
    pub from: String,
    pub net: Arc<Net>,
}

impl Transport for MemTransport {
    fn sync<'a>(
        &'a self,
        peer: &'a str,
        _t: &'a str,
        items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.net.count(&self.from, peer, "sync");
            let target = self.net.target(&self.from, peer)?;
            let dropped = self.net.dropped_keys.lock().clone();
            let items: Vec<SyncItem> = items
                .into_iter()
                .filter(|i| !dropped.contains(&i.key))
                .collect();
            for item in &items {
                self.net.synced_items.lock().push((
                    self.from.clone(),
                    peer.to_owned(),
                    item.clone(),
                ));
            }
            target.on_sync(items);
            Ok(())
        })
    }
    fn verify<'a>(
        &'a self,
        peer: &'a str,
        _t: &'a str,
        request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async move {
            self.net.count(&self.from, peer, "verify");
            Ok(self.net.target(&self.from, peer)?.on_verify(request))
        })
    }
    fn snapshot<'a>(
        &'a self,
        peer: &'a str,
        _t: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        Box::pin(async move {
            self.net.count(&self.from, peer, "snapshot");
            self.net.target(&self.from, peer)?.on_snapshot()
        })
    }
    fn query<'a>(
        &'a self,
        peer: &'a str,
        _t: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async move { Ok(self.net.target(&self.from, peer)?.on_query(key)) })
    }
}

pub struct Node {
    pub name: String,
    pub engine: Distro,
    pub store: Arc<Store>,
}

impl Node {
    /// Changes a key this node owns, as the plugin would.
    pub fn put(&self, key: &str, revision: u64, value: &str) {
        self.store
            .data
            .lock()
            .insert(key.to_owned(), (revision, Bytes::from(value.to_owned())));
        self.engine.local_upsert(key, revision, Lease::OwnerBound);
    }

    pub fn put_lease(&self, key: &str, revision: u64, value: &str, lease: Lease) {
        self.store
            .data
            .lock()
            .insert(key.to_owned(), (revision, Bytes::from(value.to_owned())));
        self.engine.local_upsert(key, revision, lease);
    }

    pub fn delete(&self, key: &str, revision: u64) {
        self.store.data.lock().remove(key);
        self.engine.local_delete(key, revision, Lease::OwnerBound);
    }

    pub fn value(&self, key: &str) -> Option<(u64, String)> {
        self.store
            .data
            .lock()
            .get(key)
            .map(|(r, b)| (*r, String::from_utf8_lossy(b).into_owned()))
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.store.data.lock().keys().cloned().collect();
        keys.sort();
        keys
    }
}

pub fn test_config() -> DistroConfig {
    DistroConfig {
        bucket_count: 64,
        ..DistroConfig::default()
    }
}

/// Builds nodes named `names` on one network; all UP; loops started (not standalone) only
/// when `start` is set. Returns nodes in the order given.
pub fn cluster(
    names: &[&str],
    config: DistroConfig,
    shutdown: &CancellationToken,
) -> (Arc<Net>, Vec<Node>) {
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = names
        .iter()
        .map(|name| node(name, &net, config.clone()))
        .collect();
    for node in &nodes {
        set_all_up(node, names);
        node.engine.start(false, shutdown.clone());
    }
    (net, nodes)
}

pub fn node(name: &str, net: &Arc<Net>, config: DistroConfig) -> Node {
    let store = Arc::new(Store::default());
    let transport = Arc::new(MemTransport {
        from: name.to_owned(),
        net: Arc::clone(net),
    });
    let engine = Distro::new(name, TYPE, config, store.clone(), store.clone(), transport);
    net.nodes.lock().insert(name.to_owned(), engine.clone());
    Node {
        name: name.to_owned(),
        engine,
        store,
    }
}

pub fn set_all_up(node: &Node, names: &[&str]) {
    set_states(node, names, &[]);
}

/// Sets every other node UP except those listed as DOWN.
pub fn set_states(node: &Node, names: &[&str], down: &[&str]) {
    let peers = names
        .iter()
        .filter(|n| **n != node.name)
        .map(|n| Peer {
            address: (*n).to_owned(),
            state: if down.contains(n) {
                PeerState::Down
            } else {
                PeerState::Up
            },
        })
        .collect();
    node.engine.set_members(peers, Instant::now());
}

/// Waits (on the paused clock) until every node is loaded.
pub async fn wait_loaded(nodes: &[Node]) {
    for _ in 0..200 {
        if nodes.iter().all(|n| n.engine.is_loaded()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nodes did not load");
}
