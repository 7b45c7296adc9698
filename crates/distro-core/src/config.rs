//! Timers and limits of the Distro kernel.

use std::time::Duration;

/// Every timer and limit of the protocol, with defaults chosen for a LAN cluster.
///
/// Nacos waits 1 s before syncing a change; our syncs are batched per peer, so a short merge
/// window costs little and keeps a change visible everywhere within ~100 ms.
#[derive(Debug, Clone, PartialEq)]
pub struct DistroConfig {
    /// Merge window: a changed key is sent to peers this long after its first change.
    pub sync_delay: Duration,
    /// Wait before re-sending keys whose sync failed.
    pub sync_retry_delay: Duration,
    /// Timeout of one sync, verify or query call.
    pub rpc_timeout: Duration,
    /// Verify round period (jittered by ±20 %).
    pub verify_interval: Duration,
    /// A replica not renewed by verify for this long is removed (Nacos: 3 min).
    pub replica_expiry: Duration,
    /// Replicas bound to an owner that is DOWN are removed after this grace.
    pub owner_down_grace: Duration,
    /// Replicas an owner says it no longer holds are removed after this grace, unless a sync
    /// claims them first (ownership moving between nodes). It covers the same gap as the
    /// owner-down grace: a restarted node disowns the connection clients of its previous run,
    /// whose SDKs need this long to reconnect elsewhere and register again.
    pub orphan_grace: Duration,
    /// Tombstones are kept this long (at least twice the replica expiry).
    pub tombstone_keep: Duration,
    /// How often expiry runs.
    pub sweep_interval: Duration,
    /// Expiry pauses when one sweep would remove more than this share of all replicas.
    pub self_preservation_fraction: f64,
    /// Wait between snapshot load attempts.
    pub load_retry_delay: Duration,
    /// A starting node with no UP peer after this long starts empty.
    pub load_peer_wait: Duration,
    /// Timeout of a whole snapshot transfer.
    pub load_timeout: Duration,
    /// Largest snapshot chunk, in bytes of payload.
    pub snapshot_chunk_bytes: usize,
    /// Largest sync batch, in bytes of payload.
    pub sync_batch_bytes: usize,
    /// Most dirty keys kept for one peer; beyond it the backlog is dropped and verify repairs.
    pub peer_backlog_len_max: usize,
    /// Digest buckets per owner.
    pub bucket_count: u32,
    /// Key of the digest hash; the same on every node of a cluster.
    pub digest_seed: u64,
}

impl Default for DistroConfig {
    fn default() -> Self {
        let replica_expiry = Duration::from_secs(180);
        Self {
            sync_delay: Duration::from_millis(30),
            sync_retry_delay: Duration::from_secs(3),
            rpc_timeout: Duration::from_secs(3),
            verify_interval: Duration::from_secs(5),
            replica_expiry,
            owner_down_grace: Duration::from_secs(30),
            orphan_grace: Duration::from_secs(30),
            tombstone_keep: replica_expiry * 2,
            sweep_interval: Duration::from_secs(5),
            self_preservation_fraction: 0.5,
            load_retry_delay: Duration::from_secs(30),
            load_peer_wait: Duration::from_secs(10),
            load_timeout: Duration::from_secs(30),
            snapshot_chunk_bytes: 1024 * 1024,
            sync_batch_bytes: 4 * 1024 * 1024,
            peer_backlog_len_max: 200_000,
            bucket_count: 4096,
            digest_seed: 0x6469_7374_726f_2d31,
        }
    }
}
