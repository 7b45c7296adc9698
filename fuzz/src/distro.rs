//! Distro messages as a peer sends them: protobuf bytes decoded and checked by the cluster
//! transport (`distro_transport_grpc::distro`), then handed to the kernel's handlers (sync,
//! verify, query, and a snapshot being loaded), with the naming plugin applying records.
//!
//! Asserts: no panic; a message the transport refuses, a sync item the kernel does not apply
//! (stale, owned here, undecodable), a verify from this node or from an owner with no keys
//! here, and every query leave the kernel and the registry unchanged; after anything, the
//! kernel and the registry agree (a live key is a held client at that revision, a deleted
//! one is no client, a key owned here is a native client); a verify answer only names
//! buckets that exist and keys the request listed; snapshot items survive their wire form.

use std::sync::Arc;

use bytes::Bytes;
use distro_core::{
    BoxFuture, Distro, DistroConfig, Lease, Peer, PeerState, SnapshotChunk, SnapshotStream,
    SyncItem, Transport, TransportError, VerifyRequest, VerifyResponse,
};
use distro_naming::names::ServiceKey;
use distro_naming::replication::plugin::ClientDataPlugin;
use distro_naming::replication::record::{CLIENT_DATA_TYPE, ClientRecord};
use distro_naming::{ClientId, InstanceSpec, NamingConfig, Registry};
use distro_transport_grpc::distro as wire;
use distro_transport_grpc::proto;
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use prost::Message;
use tokio::time::Instant;

use crate::record::{paused_runtime, sample_record, text};

/// The corpus target name.
pub const TARGET: &str = "distro";
/// This node.
pub const ME: &str = "10.0.0.1:8848";
/// Its peers.
pub const PEERS: [&str; 2] = ["10.0.0.2:8848", "10.0.0.3:8848"];

/// A transport whose snapshot call serves the chunks put in it; everything else fails.
#[derive(Default)]
pub struct ChunkTransport {
    chunks: Mutex<Vec<SnapshotChunk>>,
}

impl Transport for ChunkTransport {
    fn sync<'a>(
        &'a self,
        _peer: &'a str,
        _resource_type: &'a str,
        _items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async { Err(TransportError::Unreachable("fuzz".into())) })
    }

    fn verify<'a>(
        &'a self,
        _peer: &'a str,
        _resource_type: &'a str,
        _request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async { Err(TransportError::Unreachable("fuzz".into())) })
    }

    fn snapshot<'a>(
        &'a self,
        _peer: &'a str,
        _resource_type: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        let chunks = std::mem::take(&mut *self.chunks.lock());
        Box::pin(async move {
            let (sender, receiver) = tokio::sync::mpsc::channel(chunks.len().max(1));
            for chunk in chunks {
                let _ = sender.try_send(Ok(chunk));
            }
            Ok(receiver)
        })
    }

    fn query<'a>(
        &'a self,
        _peer: &'a str,
        _resource_type: &'a str,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async { Err(TransportError::Unreachable("fuzz".into())) })
    }
}

/// A kernel over a registry, with an owned key, replicas of both peers and a tombstone.
pub struct Harness {
    /// The registry.
    pub registry: Arc<Registry>,
    /// The kernel.
    pub distro: Distro,
    transport: Arc<ChunkTransport>,
    runtime: tokio::runtime::Runtime,
    origin: Instant,
}

/// The key of the client this node owns.
pub const OWNED: &str = "10.0.0.1:8080#true";

impl Harness {
    /// A fresh harness.
    pub fn new() -> Self {
        let runtime = paused_runtime();
        let _time = runtime.enter();
        let origin = Instant::now();
        let registry = Arc::new(Registry::new(NamingConfig::default()));
        let plugin = Arc::new(ClientDataPlugin::new(Arc::clone(&registry)));
        let transport = Arc::new(ChunkTransport::default());
        let config = DistroConfig {
            bucket_count: 16,
            ..DistroConfig::default()
        };
        let distro = Distro::new(
            ME,
            CLIENT_DATA_TYPE,
            config,
            plugin.clone(),
            plugin,
            transport.clone(),
        );
        let peers = PEERS
            .iter()
            .map(|p| Peer {
                address: (*p).to_owned(),
                state: PeerState::Up,
            })
            .collect();
        distro.set_members(peers, origin);
        // Owned here: registered natively, recorded by the kernel (the bridge's job).
        let key = ServiceKey::new("public", "DEFAULT_GROUP", "orders");
        let owned = ClientId::new(OWNED);
        registry
            .register(origin, &owned, &key, InstanceSpec::new("10.0.0.1", 8080))
            .expect("seed registration");
        let revision = registry.client_revision(&owned).expect("held");
        distro.local_upsert(OWNED, revision, Lease::Transferable);
        // Replicas of both peers and one deletion.
        let mut items = Vec::new();
        for (i, peer) in PEERS.iter().enumerate() {
            let id = format!("10.0.0.{}:80#true", i + 2);
            items.push(item_with_record(&id, peer, 5));
        }
        items.push(SyncItem {
            key: "gone-conn".into(),
            owner: PEERS[0].into(),
            revision: 9,
            lease: Lease::OwnerBound,
            payload: None,
        });
        let applied = distro.on_sync(items);
        assert_eq!(applied.applied, 3, "seed replicas: {applied:?}");
        Self {
            registry,
            distro,
            transport,
            runtime,
            origin,
        }
    }

    /// Kernel dump and registry dump.
    pub fn dump(&self) -> (String, String) {
        (
            self.distro.debug_dump(self.origin),
            self.registry.debug_dump(self.origin),
        )
    }

    /// The kernel and the registry agree on every key the kernel knows.
    pub fn check_consistent(&self) -> Result<(), TestCaseError> {
        let kernel = self.distro.debug_dump(self.origin);
        for line in kernel.lines().filter(|l| l.starts_with("key ")) {
            let (key, owner, revision, live) = parse_key_line(line)?;
            let id = ClientId::new(key.as_str());
            let held = self.registry.client_revision(&id);
            if live {
                prop_assert!(held.is_some(), "live key {key} has no client");
                if owner == ME {
                    prop_assert!(
                        self.registry.is_native(&id),
                        "key {key} owned here is held as a peer's replica"
                    );
                } else {
                    prop_assert_eq!(held, Some(revision), "replica {} at another revision", key);
                }
            } else {
                prop_assert!(held.is_none(), "deleted key {key} still has a client");
            }
        }
        Ok(())
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

fn parse_key_line(line: &str) -> Result<(String, String, u64, bool), TestCaseError> {
    // key "k" owner="o" rev=1 lease=… live=true …
    let fail = || TestCaseError::fail(format!("unreadable dump line {line}"));
    let rest = line.strip_prefix("key ").ok_or_else(fail)?;
    let (key, rest) = split_quoted(rest).ok_or_else(fail)?;
    let rest = rest.trim_start().strip_prefix("owner=").ok_or_else(fail)?;
    let (owner, rest) = split_quoted(rest).ok_or_else(fail)?;
    let field = |name: &str| {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_owned)
    };
    let revision = field("rev=")
        .and_then(|r| r.parse().ok())
        .ok_or_else(fail)?;
    let live = field("live=").ok_or_else(fail)? == "true";
    Ok((key, owner, revision, live))
}

/// A Rust-debug-quoted string at the start of `text`, unquoted, and the rest.
fn split_quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                '0' => value.push('\0'),
                'u' => {
                    let mut hex = String::new();
                    for (_, h) in chars.by_ref() {
                        match h {
                            '{' => {}
                            '}' => break,
                            h => hex.push(h),
                        }
                    }
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// A sync item carrying a plausible record for `key`.
pub fn item_with_record(key: &str, owner: &str, revision: u64) -> SyncItem {
    SyncItem {
        key: key.to_owned(),
        owner: owner.to_owned(),
        revision,
        lease: Lease::Transferable,
        payload: Some(Bytes::from(sample_record(key, revision).encode())),
    }
}

/// One Distro message on the wire.
#[derive(Debug, Clone)]
pub enum Input {
    /// `Sync` request bytes.
    Sync(Vec<u8>),
    /// `Verify` request bytes.
    Verify(Vec<u8>),
    /// `Query` request bytes.
    Query(Vec<u8>),
    /// One `SnapshotChunk` as received while loading a snapshot.
    Chunk(Vec<u8>),
    /// Serve a snapshot and check its items' wire form.
    Serve,
}

impl Input {
    /// The corpus file form: the kind, a newline, the protobuf bytes.
    pub fn to_file(&self) -> Vec<u8> {
        let (kind, bytes): (&str, &[u8]) = match self {
            Self::Sync(b) => ("sync", b),
            Self::Verify(b) => ("verify", b),
            Self::Query(b) => ("query", b),
            Self::Chunk(b) => ("chunk", b),
            Self::Serve => ("serve", &[]),
        };
        let mut out = kind.as_bytes().to_vec();
        out.push(b'\n');
        out.extend_from_slice(bytes);
        out
    }

    /// Reads the file form (an unknown kind is a sync: mutations of the kind still test).
    pub fn from_file(file: &[u8]) -> Self {
        let (kind, bytes) = match file.iter().position(|b| *b == b'\n') {
            Some(i) => (&file[..i], file[i + 1..].to_vec()),
            None => (file, Vec::new()),
        };
        match kind {
            b"verify" => Self::Verify(bytes),
            b"query" => Self::Query(bytes),
            b"chunk" => Self::Chunk(bytes),
            b"serve" => Self::Serve,
            _ => Self::Sync(bytes),
        }
    }
}

/// Feeds one message with every assertion of the module.
pub fn check(harness: &Harness, input: Input) -> Result<(), TestCaseError> {
    let _time = harness.runtime.enter();
    match input {
        Input::Sync(bytes) => check_sync(harness, &bytes)?,
        Input::Verify(bytes) => check_verify(harness, &bytes)?,
        Input::Query(bytes) => check_query(harness, &bytes)?,
        Input::Chunk(bytes) => check_chunk(harness, &bytes)?,
        Input::Serve => check_serve(harness)?,
    }
    harness.check_consistent()
}

fn check_sync(harness: &Harness, bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(request) = proto::SyncRequest::decode(bytes) else {
        return Ok(());
    };
    // The transport checks every item before any is applied; a bad batch never reaches
    // the kernel (nothing to compare).
    let Ok(items) = wire::items_from_proto(request.items) else {
        return Ok(());
    };
    for item in items {
        let before = harness.dump();
        let applied = harness.distro.on_sync(vec![item.clone()]);
        let after = harness.dump();
        prop_assert_eq!(applied.applied + applied.stale + applied.refused, 1);
        if applied.applied == 0 {
            prop_assert_eq!(
                &before,
                &after,
                "an unapplied sync item changed state: {:?}",
                applied
            );
            continue;
        }
        let entry = entry_of(&after.0, &item.key)?;
        prop_assert_eq!(
            (entry.1.as_str(), entry.2, entry.3),
            (item.owner.as_str(), item.revision, item.payload.is_some()),
            "the kernel does not hold what it applied"
        );
    }
    Ok(())
}

fn entry_of(kernel_dump: &str, key: &str) -> Result<(String, String, u64, bool), TestCaseError> {
    for line in kernel_dump.lines().filter(|l| l.starts_with("key ")) {
        let entry = parse_key_line(line)?;
        if entry.0 == key {
            return Ok(entry);
        }
    }
    Err(TestCaseError::fail(format!(
        "key {key} is not in the kernel"
    )))
}

fn check_verify(harness: &Harness, bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(request) = proto::VerifyRequest::decode(bytes) else {
        return Ok(());
    };
    let Ok(request) = wire::verify_from_proto(request) else {
        return Ok(());
    };
    let before = harness.dump();
    let owner = request.owner().to_owned();
    let owner_known = before.0.contains(&format!("owner={owner:?}"));
    let listed: Vec<String> = match &request {
        VerifyRequest::Entries { entries, .. } => entries.iter().map(|(k, _)| k.clone()).collect(),
        _ => Vec::new(),
    };
    let answer = harness.distro.on_verify(request);
    let after = harness.dump();
    prop_assert_eq!(&before.1, &after.1, "a verify changed the registry");
    if owner == ME || !owner_known {
        prop_assert_eq!(
            &before.0,
            &after.0,
            "a verify from {} (self, or no key here) changed the kernel",
            owner
        );
    }
    let buckets = harness.distro.config().bucket_count;
    match answer {
        VerifyResponse::NeedEntries(list) => {
            prop_assert!(!list.is_empty(), "asked for no bucket");
            prop_assert!(list.windows(2).all(|w| w[0] < w[1]), "buckets unsorted");
            prop_assert!(
                list.iter().all(|b| *b < buckets),
                "a bucket that does not exist"
            );
        }
        VerifyResponse::Want(keys) => {
            prop_assert!(!keys.is_empty(), "wants no key");
            prop_assert!(
                keys.iter().all(|k| listed.contains(k)),
                "wants an unlisted key"
            );
        }
        VerifyResponse::Match | VerifyResponse::NeedBuckets => {}
    }
    Ok(())
}

fn check_query(harness: &Harness, bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(request) = proto::QueryRequest::decode(bytes) else {
        return Ok(());
    };
    let before = harness.dump();
    let answer = harness.distro.on_query(&request.key);
    prop_assert_eq!(&before, &harness.dump(), "a query changed state");
    if let Some(item) = answer {
        prop_assert_eq!(&item.key, &request.key);
        if let Some(payload) = &item.payload {
            let record = ClientRecord::decode(payload)
                .map_err(|e| TestCaseError::fail(format!("served an undecodable record: {e}")))?;
            prop_assert_eq!(&record.id, &request.key);
            prop_assert_eq!(record.revision, item.revision);
        }
        let wire = wire::item_to_proto(item.clone());
        let back = proto::SyncItem::decode(wire.encode_to_vec().as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(wire::item_from_proto(back).ok(), Some(item));
    }
    Ok(())
}

fn check_chunk(harness: &Harness, bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(chunk) = proto::SnapshotChunk::decode(bytes) else {
        return Ok(());
    };
    let Ok(items) = wire::items_from_proto(chunk.items) else {
        return Ok(());
    };
    // Keys whose only items claim this node with an owner-bound lease (another item of the
    // same key, from another owner, may legitimately apply).
    let own_bound: Vec<String> = items
        .iter()
        .filter(|i| i.owner == ME && i.lease == Lease::OwnerBound)
        .filter(|i| {
            items
                .iter()
                .all(|o| o.key != i.key || (o.owner == ME && o.lease == Lease::OwnerBound))
        })
        .map(|i| i.key.clone())
        .collect();
    let before = harness.dump();
    *harness.transport.chunks.lock() = vec![SnapshotChunk { items }];
    let loaded = harness.runtime.block_on(harness.distro.load_from(PEERS[0]));
    prop_assert!(loaded.is_ok(), "loading a chunk failed: {:?}", loaded);
    let after = harness.dump();
    for key in own_bound {
        // A connection of this node's previous run died with it: never resurrected.
        let was = before
            .0
            .lines()
            .find(|l| l.starts_with(&format!("key {key:?} ")));
        let now = after
            .0
            .lines()
            .find(|l| l.starts_with(&format!("key {key:?} ")));
        prop_assert_eq!(was, now, "an owner-bound record of this node was loaded");
    }
    Ok(())
}

fn check_serve(harness: &Harness) -> Result<(), TestCaseError> {
    harness.distro.mark_loaded();
    let mut stream = harness
        .distro
        .on_snapshot()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let before = harness.dump();
    let mut served = Vec::new();
    harness.runtime.block_on(async {
        while let Some(chunk) = stream.recv().await {
            if let Ok(chunk) = chunk {
                served.extend(chunk.items);
            }
        }
    });
    prop_assert_eq!(&before, &harness.dump(), "serving a snapshot changed state");
    let kernel_keys = before.0.lines().filter(|l| l.starts_with("key ")).count();
    prop_assert!(served.len() <= kernel_keys, "served more keys than held");
    for item in served {
        let wire = wire::item_to_proto(item.clone());
        let back = proto::SyncItem::decode(wire.encode_to_vec().as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(wire::item_from_proto(back).ok(), Some(item));
    }
    Ok(())
}

fn owner() -> impl Strategy<Value = String> {
    text(&[PEERS[0], PEERS[1], ME, "", "10.0.0.4:8848"])
}

fn key() -> impl Strategy<Value = String> {
    text(&[
        OWNED,
        "10.0.0.2:80#true",
        "10.0.0.3:80#true",
        "gone-conn",
        "new-conn",
        "10.0.0.9:80#true",
        "",
    ])
}

fn payload(key: String, revision: u64) -> impl Strategy<Value = Option<Vec<u8>>> {
    let valid = sample_record(&key, revision).encode();
    let other = sample_record("someone-else", revision).encode();
    prop_oneof![
        3 => Just(Some(valid.clone())),
        1 => Just(None),
        1 => Just(Some(other)),
        1 => proptest::collection::vec(crate::corpus::mutation(), 1..4)
            .prop_map(move |edits| Some(crate::corpus::mutate(&valid, &edits))),
    ]
}

fn sync_item() -> impl Strategy<Value = proto::SyncItem> {
    (
        key(),
        owner(),
        prop_oneof![0u64..12, any::<u64>()],
        prop_oneof![8 => 0i32..2, 1 => any::<i32>()],
    )
        .prop_flat_map(|(key, owner, revision, lease)| {
            payload(key.clone(), revision).prop_map(move |payload| proto::SyncItem {
                key: key.clone(),
                owner: owner.clone(),
                revision,
                lease,
                payload,
            })
        })
}

fn verify_request() -> impl Strategy<Value = proto::VerifyRequest> {
    use proto::verify_request::Step;
    let step = prop_oneof![
        (owner(), any::<u64>(), 0u64..5)
            .prop_map(|(owner, root, count)| Step::Root(proto::RootDigest { owner, root, count })),
        (
            owner(),
            proptest::collection::vec(prop_oneof![Just(0u64), any::<u64>()], 0..20)
        )
            .prop_map(|(owner, sums)| Step::Buckets(proto::BucketDigests { owner, sums })),
        (
            owner(),
            proptest::collection::vec(prop_oneof![0u32..16, any::<u32>()], 0..5),
            proptest::collection::vec((key(), 0u64..12), 0..5),
        )
            .prop_map(
                |(owner, buckets, entries)| Step::Entries(proto::BucketEntries {
                    owner,
                    buckets,
                    entries: entries
                        .into_iter()
                        .map(|(key, revision)| proto::KeyRevision { key, revision })
                        .collect(),
                })
            ),
    ];
    (
        prop_oneof![9 => Just(CLIENT_DATA_TYPE.to_owned()), 1 => any::<String>()],
        step,
    )
        .prop_map(|(resource_type, step)| proto::VerifyRequest {
            resource_type,
            step: Some(step),
        })
}

/// Structured messages, encoded.
pub fn structured() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => proptest::collection::vec(sync_item(), 0..4).prop_map(|items| Input::Sync(
            proto::SyncRequest {
                resource_type: CLIENT_DATA_TYPE.to_owned(),
                items
            }
            .encode_to_vec()
        )),
        3 => verify_request().prop_map(|r| Input::Verify(r.encode_to_vec())),
        1 => key().prop_map(|key| Input::Query(
            proto::QueryRequest {
                resource_type: CLIENT_DATA_TYPE.to_owned(),
                key
            }
            .encode_to_vec()
        )),
        2 => proptest::collection::vec(sync_item(), 0..4)
            .prop_map(|items| Input::Chunk(proto::SnapshotChunk { items }.encode_to_vec())),
        1 => Just(Input::Serve),
    ]
}

/// Corpus messages with byte-level edits (the kind line kept apart from the edits).
pub fn mutated() -> impl Strategy<Value = Input> {
    crate::corpus::mutated(TARGET).prop_map(|file| Input::from_file(&file))
}

/// The corpus: one message of every kind, as this node's transport would send them.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let harness = Harness::new();
    let _time = harness.runtime.enter();
    let mut out = Vec::new();
    let sync = proto::SyncRequest {
        resource_type: CLIENT_DATA_TYPE.to_owned(),
        items: vec![
            wire::item_to_proto(item_with_record("10.0.0.2:80#true", PEERS[0], 6)),
            wire::item_to_proto(SyncItem {
                key: "10.0.0.3:80#true".into(),
                owner: PEERS[1].into(),
                revision: 7,
                lease: Lease::Transferable,
                payload: None,
            }),
        ],
    };
    out.push((
        "sync-change-and-delete".to_owned(),
        Input::Sync(sync.encode_to_vec()),
    ));
    let conn = SyncItem {
        key: "1700000000000_10.0.0.5_51234".into(),
        lease: Lease::OwnerBound,
        ..item_with_record("1700000000000_10.0.0.5_51234", PEERS[1], 1)
    };
    let sync_conn = proto::SyncRequest {
        resource_type: CLIENT_DATA_TYPE.to_owned(),
        items: vec![wire::item_to_proto(conn)],
    };
    out.push((
        "sync-connection".to_owned(),
        Input::Sync(sync_conn.encode_to_vec()),
    ));
    let root = VerifyRequest::Root {
        owner: PEERS[0].into(),
        root: 0,
        count: 1,
    };
    let buckets = VerifyRequest::Buckets {
        owner: PEERS[0].into(),
        sums: vec![0; 16],
    };
    let entries = VerifyRequest::Entries {
        owner: PEERS[1].into(),
        buckets: vec![0, 3, 7],
        entries: vec![("10.0.0.3:80#true".into(), 5), ("new-conn".into(), 2)],
    };
    for (name, request) in [
        ("verify-root", root),
        ("verify-buckets", buckets),
        ("verify-entries", entries),
    ] {
        let bytes = wire::verify_to_proto(CLIENT_DATA_TYPE, request).encode_to_vec();
        out.push((name.to_owned(), Input::Verify(bytes)));
    }
    let query = proto::QueryRequest {
        resource_type: CLIENT_DATA_TYPE.to_owned(),
        key: OWNED.to_owned(),
    };
    out.push((
        "query-owned".to_owned(),
        Input::Query(query.encode_to_vec()),
    ));
    // A real snapshot chunk, as this node serves it.
    harness.distro.mark_loaded();
    let mut stream = harness.distro.on_snapshot().expect("loaded");
    let items = harness.runtime.block_on(async {
        let mut items = Vec::new();
        while let Some(Ok(chunk)) = stream.recv().await {
            items.extend(chunk.items);
        }
        items
    });
    let mut items: Vec<proto::SyncItem> = items.into_iter().map(wire::item_to_proto).collect();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    let chunk = proto::SnapshotChunk { items };
    out.push((
        "chunk-served".to_owned(),
        Input::Chunk(chunk.encode_to_vec()),
    ));
    out.push(("serve".to_owned(), Input::Serve));
    // Regressions (bugs the fuzzer found): a verify from an owner with no keys here used to
    // leave a renewal vector behind; a sync claiming this node as owner used to be applied.
    let unknown = VerifyRequest::Buckets {
        owner: "10.0.y.2:8848".into(),
        sums: vec![0; 16],
    };
    let bytes = wire::verify_to_proto(CLIENT_DATA_TYPE, unknown).encode_to_vec();
    out.push((
        "regress-verify-unknown-owner".to_owned(),
        Input::Verify(bytes),
    ));
    let claim = proto::SyncRequest {
        resource_type: CLIENT_DATA_TYPE.to_owned(),
        items: vec![wire::item_to_proto(item_with_record(
            "10.0.0.9:80#true",
            ME,
            1,
        ))],
    };
    out.push((
        "regress-sync-owner-self".to_owned(),
        Input::Sync(claim.encode_to_vec()),
    ));
    out.into_iter()
        .map(|(name, input)| (format!("{name}.bin"), input.to_file()))
        .collect()
}

/// Feeds a sequence of inputs to a fresh harness (so a failure shrinks to the few inputs
/// that cause it, whatever ran before).
pub fn check_sequence(_: &(), inputs: Vec<Input>) -> Result<(), TestCaseError> {
    let harness = Harness::new();
    for input in inputs {
        check(&harness, input)?;
    }
    Ok(())
}

/// Sequences of structured and mutated inputs.
pub fn sequences(mutated_only: bool) -> BoxedStrategy<Vec<Input>> {
    crate::driver::sequences(structured().boxed(), mutated().boxed(), mutated_only)
}
