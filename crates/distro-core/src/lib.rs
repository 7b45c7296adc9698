//! Distro, Nacos's AP replication protocol, as a transport-agnostic kernel.
//!
//! Every key (a client id) has one owner node. The owner records each change with
//! [`Distro::local_upsert`] / [`Distro::local_delete`]; the kernel sends the key's *current*
//! state to every reachable peer after a short merge window, in batches, one batch in flight
//! per peer, retrying failures. Peers keep replicas and ignore anything not newer than what
//! they hold; a key this node owns is never overwritten by a remote copy.
//!
//! Every verify interval the owner sends each peer one digest of the keys it owns (a keyed
//! 64-bit hash of `(key, revision)` summed per bucket, kept up to date in O(1)). Equal
//! digests renew every replica of that owner; unequal ones drill down (bucket vector, then
//! the entries of the differing buckets) and the owner re-sends exactly the keys that
//! differ. Replicas not renewed for the expiry, bound to an owner DOWN past a grace, or
//! disowned by their owner are removed, unless self-preservation judges it a partition.
//! A starting node loads a chunked snapshot from a peer before it calls itself loaded.
//!
//! Which of two states of a key is newer is decided by its [`revision`]: the wall-clock
//! stamp of its client's last write first, then the count of changes since, so that after
//! a partition in which two nodes both owned a key the latest client write wins.
//!
//! Layout: [`DistroConfig`]; [`clock`], [`moment`] and [`revision`]; `message` (what peers exchange); `digest` and `index` (what the
//! node knows); `queue` (the delay engine); `members`; `plugin` (traits for the resource
//! type's storage and processor and for the transport); `engine` (the lock and handlers);
//! `sender`, `verifier`, `sweeper`, `loader` (the loops).

pub mod clock;
mod config;
mod digest;
mod dump;
mod engine;
mod index;
mod loader;
mod members;
mod message;
pub mod metrics;
pub mod moment;
mod plugin;
mod queue;
pub mod revision;
mod sender;
mod sweeper;
mod verifier;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::DistroConfig;
pub use digest::{Digest, DigestHasher};
pub use engine::{Applied, Distro};
pub use index::UNOWNED;
pub use members::{Peer, PeerState};
pub use message::{Lease, SnapshotChunk, SyncItem, VerifyRequest, VerifyResponse};
pub use plugin::{
    ApplyError, BoxFuture, DataProcessor, DataStorage, SnapshotStream, Transport, TransportError,
};
pub use sweeper::SweepReport;
pub use verifier::RoundResult;

impl Distro {
    /// Starts the sender, verifier, sweeper and (unless `standalone`) the snapshot loader.
    /// A standalone node is loaded at once.
    pub fn start(&self, standalone: bool, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(self.clone().run_sender(shutdown.clone())),
            tokio::spawn(self.clone().run_verifier(shutdown.clone())),
            tokio::spawn(self.clone().run_sweeper(shutdown.clone())),
        ];
        if standalone {
            self.mark_loaded();
        } else {
            tasks.push(tokio::spawn(self.clone().run_loader(shutdown)));
        }
        tasks
    }
}
