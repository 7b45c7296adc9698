//! Names of the protocol's metrics (all through the `metrics` facade).

/// Sync batches sent, by `result` (`ok`, `failed`).
pub const SYNC_TOTAL: &str = "distro_sync_total";
/// Keys waiting to be sent, by `peer`.
pub const SYNC_BACKLOG: &str = "distro_sync_backlog";
/// Backlogs dropped because they were full.
pub const SYNC_OVERFLOWS_TOTAL: &str = "distro_sync_overflows_total";
/// Verify rounds with one peer, by `result` (`match`, `repair`, `failed`).
pub const VERIFY_ROUNDS_TOTAL: &str = "distro_verify_rounds_total";
/// Keys re-sent because a peer's verify found them missing or stale.
pub const REPAIRED_CLIENTS_TOTAL: &str = "distro_repaired_clients_total";
/// Time to load the startup snapshot.
pub const SNAPSHOT_LOAD_SECONDS: &str = "distro_snapshot_load_seconds";
/// Live keys held for other owners.
pub const REPLICA_CLIENTS: &str = "distro_replica_clients";
/// Replicas removed by expiry, by `reason` (`expired`, `owner_down`, `orphaned`).
pub const EXPIRED_CLIENTS_TOTAL: &str = "distro_expired_clients_total";
/// 1 while self-preservation pauses expiry.
pub const SELF_PRESERVATION_ACTIVE: &str = "distro_self_preservation_active";
/// Bytes of verify messages sent (recorded by the transport, which knows the encoding).
pub const VERIFY_BYTES_TOTAL: &str = "distro_verify_bytes_total";
