//! What nodes say to each other: sync batches, verify exchanges, snapshot chunks.
//!
//! These are the kernel's own types; a transport encodes them (protobuf in
//! `distro-transport-grpc`). Payloads are opaque bytes owned by the resource type's plugin.

use bytes::Bytes;

/// How a replica's life is tied to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lease {
    /// Dies with its owner (a gRPC connection client): removed soon after the owner is DOWN.
    OwnerBound,
    /// Moves to another owner when responsibility moves (an `ip:port` client).
    Transferable,
}

/// The state of one key as its owner last knew it: a record, or a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncItem {
    /// The key (a client id).
    pub key: String,
    /// The node that owns it.
    pub owner: String,
    /// Version; a replica ignores anything not newer than what it holds.
    pub revision: u64,
    /// How the replica's life is tied to the owner.
    pub lease: Lease,
    /// The record, or `None` for a deletion (tombstone).
    pub payload: Option<Bytes>,
}

impl SyncItem {
    /// Rough size on the wire, for batching limits.
    pub fn size_bytes(&self) -> usize {
        self.key.len() + self.owner.len() + 16 + self.payload.as_ref().map_or(0, Bytes::len)
    }
}

/// One verify message from an owner to a replica. A round starts with `Root`; the replica's
/// answer decides whether the owner drills down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyRequest {
    /// The owner's digest over all keys it owns.
    Root {
        /// Owner address.
        owner: String,
        /// Wrapping sum of every bucket.
        root: u64,
        /// Number of keys.
        count: u64,
    },
    /// Every bucket digest of the owner.
    Buckets {
        /// Owner address.
        owner: String,
        /// One digest per bucket.
        sums: Vec<u64>,
    },
    /// The owner's `(key, revision)` pairs of some buckets.
    Entries {
        /// Owner address.
        owner: String,
        /// Bucket ids covered.
        buckets: Vec<u32>,
        /// Every key the owner holds in those buckets.
        entries: Vec<(String, u64)>,
    },
}

impl VerifyRequest {
    /// The owner the request speaks for.
    pub fn owner(&self) -> &str {
        match self {
            Self::Root { owner, .. }
            | Self::Buckets { owner, .. }
            | Self::Entries { owner, .. } => owner,
        }
    }
}

/// A replica's answer to a verify message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyResponse {
    /// Everything compared equal; the replicas concerned were renewed.
    Match,
    /// The root differs: send the bucket vector.
    NeedBuckets,
    /// These buckets differ: send their entries. The equal ones were renewed.
    NeedEntries(Vec<u32>),
    /// Send these keys: the replica lacks them or holds an older revision.
    Want(Vec<String>),
}

/// One chunk of a snapshot stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotChunk {
    /// Records and tombstones, with their owners.
    pub items: Vec<SyncItem>,
}
