//! Measures the bytes of one verify round between two nodes, as encoded on the wire
//! (protobuf, without gRPC framing), for 10k and 100k owned clients, in sync and with 1 %
//! of the replicas stale. Run: `cargo run --release -p distro-transport-grpc --example verify_bytes`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use distro_core::{
    ApplyError, BoxFuture, DataProcessor, DataStorage, Distro, DistroConfig, Lease, Peer,
    PeerState, RoundResult, SnapshotStream, SyncItem, Transport, TransportError, VerifyRequest,
    VerifyResponse,
};
use distro_transport_grpc::distro::{verify_answer_to_proto, verify_to_proto};
use parking_lot::Mutex;
use prost::Message;
use tokio::time::Instant;

#[derive(Default)]
struct Store(Mutex<HashMap<String, (u64, Bytes)>>);

impl DataStorage for Store {
    fn payload(&self, key: &str) -> Option<(u64, Bytes)> {
        self.0.lock().get(key).cloned()
    }
}

impl DataProcessor for Store {
    fn apply(&self, key: &str, _: &str, revision: u64, payload: &[u8]) -> Result<(), ApplyError> {
        self.0
            .lock()
            .insert(key.into(), (revision, Bytes::copy_from_slice(payload)));
        Ok(())
    }
    fn remove(&self, key: &str, _: u64) -> Result<(), ApplyError> {
        self.0.lock().remove(key);
        Ok(())
    }
}

/// Delivers calls to the replica in memory and counts the protobuf bytes both ways.
struct Counting {
    replica: Mutex<Option<Distro>>,
    request_bytes: AtomicU64,
    answer_bytes: AtomicU64,
    messages: AtomicU64,
}

impl Transport for Counting {
    fn sync<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.replica.lock().clone().unwrap().on_sync(items);
            Ok(())
        })
    }
    fn verify<'a>(
        &'a self,
        _: &'a str,
        t: &'a str,
        request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async move {
            self.request_bytes.fetch_add(
                verify_to_proto(t, request.clone()).encoded_len() as u64,
                Ordering::Relaxed,
            );
            self.messages.fetch_add(1, Ordering::Relaxed);
            let answer = self.replica.lock().clone().unwrap().on_verify(request);
            self.answer_bytes.fetch_add(
                verify_answer_to_proto(answer.clone()).encoded_len() as u64,
                Ordering::Relaxed,
            );
            Ok(answer)
        })
    }
    fn snapshot<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        Box::pin(async { Err(TransportError::NotReady) })
    }
    fn query<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async { Ok(None) })
    }
}

const OWNER: &str = "10.0.0.1:8848";
const REPLICA: &str = "10.0.0.2:8848";
const TYPE: &str = "Nacos:Naming:v2:ClientData";

async fn measure(clients: usize, stale_share: f64) -> (u64, u64, u64, RoundResult) {
    let config = DistroConfig::default();
    let transport = Arc::new(Counting {
        replica: Mutex::new(None),
        request_bytes: AtomicU64::new(0),
        answer_bytes: AtomicU64::new(0),
        messages: AtomicU64::new(0),
    });
    let owner_store = Arc::new(Store::default());
    let owner = Distro::new(
        OWNER,
        TYPE,
        config.clone(),
        owner_store.clone(),
        owner_store.clone(),
        transport.clone(),
    );
    let replica_store = Arc::new(Store::default());
    let replica = Distro::new(
        REPLICA,
        TYPE,
        config,
        replica_store.clone(),
        replica_store.clone(),
        transport.clone(),
    );
    *transport.replica.lock() = Some(replica.clone());
    owner.set_members(
        vec![Peer {
            address: REPLICA.into(),
            state: PeerState::Up,
        }],
        Instant::now(),
    );
    // The replica holds every client at revision 1 (as after a sync)...
    let items: Vec<SyncItem> = (0..clients)
        .map(|i| SyncItem {
            key: format!(
                "1700000000000_10.1.{}.{}_{}",
                i / 250,
                i % 250,
                40000 + i % 20000
            ),
            owner: OWNER.into(),
            revision: 1,
            lease: Lease::OwnerBound,
            payload: Some(Bytes::from_static(b"record")),
        })
        .collect();
    replica.on_sync(items.clone());
    // ...and the owner is at revision 2 for the stale share, 1 for the rest.
    let stale = (clients as f64 * stale_share) as usize;
    for (i, item) in items.iter().enumerate() {
        let revision = if i < stale { 2 } else { 1 };
        owner_store
            .0
            .lock()
            .insert(item.key.clone(), (revision, Bytes::from_static(b"record")));
        owner.local_upsert(&item.key, revision, Lease::OwnerBound);
    }
    let result = owner.verify_peer(&Arc::from(REPLICA)).await.unwrap();
    (
        transport.messages.load(Ordering::Relaxed),
        transport.request_bytes.load(Ordering::Relaxed),
        transport.answer_bytes.load(Ordering::Relaxed),
        result,
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!(
        "| owned clients | replica state | messages | owner -> replica bytes | replica -> owner bytes | result |"
    );
    println!("|---|---|---|---|---|---|");
    for clients in [10_000, 100_000] {
        for (label, share) in [("in sync", 0.0), ("1 % stale", 0.01)] {
            let (messages, sent, answered, result) = measure(clients, share).await;
            println!("| {clients} | {label} | {messages} | {sent} | {answered} | {result:?} |");
        }
    }
}
