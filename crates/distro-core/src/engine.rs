//! The engine of one resource type: the index and queue behind one lock, the handlers peers
//! call, and the operations the owning plugin calls when its data changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::config::DistroConfig;
use crate::digest::DigestHasher;
use crate::index::{Decision, Index, UNOWNED};
use crate::members::{Members, Peer};
use crate::message::{Lease, SyncItem, VerifyRequest, VerifyResponse};
use crate::metrics as m;
use crate::plugin::{DataProcessor, DataStorage, Transport};
use crate::queue::{Marked, SyncQueue};

/// Everything behind the engine's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub index: Index,
    pub queue: SyncQueue,
    pub members: Members,
}

/// Where applied items come from: snapshots treat records claiming this node as owner
/// specially (they describe a previous run of this node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Sync,
    Snapshot,
}

/// Counts of what applying a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Items applied.
    pub applied: usize,
    /// Items ignored as not newer than what is held.
    pub stale: usize,
    /// Items refused: this node owns the key, or the plugin could not decode the record.
    pub refused: usize,
}

pub(crate) struct Inner {
    pub me: Arc<str>,
    pub resource_type: String,
    pub config: DistroConfig,
    pub storage: Arc<dyn DataStorage>,
    pub processor: Arc<dyn DataProcessor>,
    pub transport: Arc<dyn Transport>,
    pub state: Mutex<State>,
    pub wake: Notify,
    pub loaded: watch::Sender<bool>,
    pub preserving: AtomicBool,
}

/// Distro for one resource type on one node. Cheap to clone.
#[derive(Clone)]
pub struct Distro {
    pub(crate) inner: Arc<Inner>,
}

impl Distro {
    /// An engine for `resource_type` on node `me` (its `ip:port`); call
    /// [`Distro::start`] to run its loops.
    pub fn new(
        me: &str,
        resource_type: &str,
        config: DistroConfig,
        storage: Arc<dyn DataStorage>,
        processor: Arc<dyn DataProcessor>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        let hasher = DigestHasher::new(config.digest_seed, config.bucket_count);
        let state = State {
            index: Index::new(me, hasher),
            queue: SyncQueue::new(config.peer_backlog_len_max),
            members: Members::default(),
        };
        let inner = Inner {
            me: Arc::from(me),
            resource_type: resource_type.to_owned(),
            config,
            storage,
            processor,
            transport,
            state: Mutex::new(state),
            wake: Notify::new(),
            loaded: watch::Sender::new(false),
            preserving: AtomicBool::new(false),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// This node's address.
    pub fn me(&self) -> &str {
        &self.inner.me
    }

    /// The resource type served.
    pub fn resource_type(&self) -> &str {
        &self.inner.resource_type
    }

    /// The configuration.
    pub fn config(&self) -> &DistroConfig {
        &self.inner.config
    }

    /// Whether the startup snapshot is loaded (or the node started empty).
    pub fn is_loaded(&self) -> bool {
        *self.inner.loaded.borrow()
    }

    /// Follows [`Distro::is_loaded`].
    pub fn loaded_watch(&self) -> watch::Receiver<bool> {
        self.inner.loaded.subscribe()
    }

    /// Declares the data loaded (a standalone node has nothing to load).
    pub fn mark_loaded(&self) {
        self.inner.loaded.send_replace(true);
    }

    /// Whether expiry is paused by self-preservation.
    pub fn is_preserving(&self) -> bool {
        self.inner.preserving.load(Ordering::Relaxed)
    }

    /// Replaces the peer list (self excluded). DOWN and removed peers lose their backlog.
    pub fn set_members(&self, peers: Vec<Peer>, now: Instant) {
        let mut state = self.inner.state.lock();
        for lost in state.members.update(peers, now) {
            let dropped = state.queue.drop_peer(&lost);
            if dropped > 0 {
                tracing::info!(peer = %lost, dropped, "peer down or gone: dropped its sync backlog");
            }
        }
        drop(state);
        self.inner.wake.notify_one();
    }

    /// The plugin changed a key this node owns: record it and sync it to every peer after
    /// the merge window.
    pub fn local_upsert(&self, key: &str, revision: u64, lease: Lease) {
        tracing::trace!(%key, revision, "local change");
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        state
            .index
            .upsert(key, &self.inner.me, revision, lease, now);
        self.mark_all(&mut state, key, now + self.inner.config.sync_delay);
    }

    /// The plugin deleted a key this node owns: keep a tombstone and sync the deletion.
    pub fn local_delete(&self, key: &str, revision: u64, lease: Lease) {
        tracing::trace!(%key, revision, "local deletion");
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        state
            .index
            .tombstone(key, &self.inner.me, revision, lease, now);
        self.mark_all(&mut state, key, now + self.inner.config.sync_delay);
    }

    /// This node stopped owning a key (responsibility moved); the new owner's sync will
    /// claim it. Our copy is sent once more (a handover): if nodes disagreed on who owned
    /// the key, the new owner may hold an older client write, and takes ours.
    pub fn release(&self, key: &str) {
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        if state.index.release(key, now) {
            self.mark_all(&mut state, key, now + self.inner.config.sync_delay);
        }
    }

    /// The highest revision held for a key, live or deleted: a change made here (a
    /// re-created or adopted key) must go above it.
    pub fn revision_floor(&self, key: &str) -> Option<u64> {
        self.inner.state.lock().index.get(key).map(|e| e.high_water)
    }

    /// Whether this node owns `key` (a live key it recorded with `local_upsert`).
    pub fn owns(&self, key: &str) -> bool {
        let state = self.inner.state.lock();
        state
            .index
            .get(key)
            .is_some_and(|e| e.live && e.owner == self.inner.me)
    }

    /// Whether every reachable peer has been sent everything marked for it (nothing pending,
    /// nothing in flight). DOWN peers do not count: their backlog is dropped anyway.
    pub fn is_flushed(&self) -> bool {
        let state = self.inner.state.lock();
        state
            .members
            .reachable()
            .iter()
            .all(|peer| state.queue.is_idle(peer))
    }

    /// Waits, at most `within`, until [`Distro::is_flushed`] (graceful shutdown: changes made
    /// before it reach the peers). The sender must still be running. Returns whether it did.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.is_flushed() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Keys waiting to be sent to `peer`.
    pub fn backlog(&self, peer: &str) -> usize {
        self.inner.state.lock().queue.backlog(peer)
    }

    /// Live keys held for other owners.
    pub fn replica_count(&self) -> usize {
        self.inner.state.lock().index.replica_count()
    }

    fn mark_all(&self, state: &mut State, key: &str, due: Instant) {
        for peer in state.members.reachable() {
            if state.queue.mark(&peer, key, due) == Marked::Overflowed {
                tracing::warn!(%peer, "sync backlog full: dropped it, verify will repair the peer");
                metrics::counter!(m::SYNC_OVERFLOWS_TOTAL).increment(1);
            }
        }
        self.inner.wake.notify_one();
    }

    /// Queues keys for one peer at once (verify asked for them), only as many as its
    /// backlog has room for: a repair larger than the bound proceeds over several rounds
    /// instead of overflowing every round. Returns how many were queued.
    pub(crate) fn mark_for(&self, peer: &Arc<str>, keys: &[String]) -> usize {
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        if !state.members.is_reachable(peer) {
            return 0;
        }
        let room = state.queue.room(peer);
        for key in keys.iter().take(room) {
            state.queue.mark(peer, key, now);
        }
        drop(state);
        self.inner.wake.notify_one();
        keys.len().min(room)
    }

    /// Handler: a peer sent key states.
    pub fn on_sync(&self, items: Vec<SyncItem>) -> Applied {
        self.apply_items(items, Origin::Sync)
    }

    pub(crate) fn apply_items(&self, items: Vec<SyncItem>, origin: Origin) -> Applied {
        let now = Instant::now();
        let mut applied = Applied::default();
        let mut state = self.inner.state.lock();
        for item in items {
            // A sync speaks for its sender, the owner of what it sends: an item claiming
            // this node, or nobody, as owner is refused (found by fuzzing: it was applied as
            // a replica while the index recorded the key as owned here, so this node then
            // advertised by verify a client it does not serve).
            if origin == Origin::Sync && (*item.owner == *self.inner.me || item.owner == UNOWNED) {
                applied.refused += 1;
                continue;
            }
            let Some(item) = self.admit(item, origin) else {
                continue;
            };
            match state.index.decide(&item) {
                Decision::Stale => applied.stale += 1,
                Decision::OwnedHere => applied.refused += 1,
                Decision::Apply => match self.apply_one(&mut state, &item, now) {
                    Ok(()) => applied.applied += 1,
                    Err(error) => {
                        tracing::warn!(key = %item.key, %error, me = %self.inner.me, "refused a record");
                        applied.refused += 1;
                    }
                },
            }
        }
        applied
    }

    /// Snapshot records claiming this node describe its previous run: connection-bound ones
    /// died with it, transferable ones wait for whoever is now responsible.
    fn admit(&self, mut item: SyncItem, origin: Origin) -> Option<SyncItem> {
        if origin == Origin::Snapshot && *item.owner == *self.inner.me {
            if item.lease == Lease::OwnerBound {
                return None;
            }
            item.owner = UNOWNED.to_owned();
        }
        Some(item)
    }

    fn apply_one(
        &self,
        state: &mut State,
        item: &SyncItem,
        now: Instant,
    ) -> Result<(), crate::ApplyError> {
        tracing::trace!(
            key = %item.key,
            owner = %item.owner,
            revision = item.revision,
            live = item.payload.is_some(),
            "applying a peer's state"
        );
        match &item.payload {
            Some(payload) => {
                self.inner
                    .processor
                    .apply(&item.key, &item.owner, item.revision, payload)?;
                state
                    .index
                    .upsert(&item.key, &item.owner, item.revision, item.lease, now);
            }
            None => {
                self.inner.processor.remove(&item.key, item.revision)?;
                state
                    .index
                    .tombstone(&item.key, &item.owner, item.revision, item.lease, now);
            }
        }
        Ok(())
    }

    /// Handler: an owner's verify message.
    pub fn on_verify(&self, request: VerifyRequest) -> VerifyResponse {
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        let index = &mut state.index;
        if *request.owner() == **index.me() {
            return VerifyResponse::Match;
        }
        match request {
            VerifyRequest::Root { owner, root, count } => {
                let digest = index.digest(&owner);
                if digest.root() == root && digest.count() == count {
                    index.renew_owner(&owner, now);
                    VerifyResponse::Match
                } else {
                    VerifyResponse::NeedBuckets
                }
            }
            VerifyRequest::Buckets { owner, sums } => {
                let differing = index.digest(&owner).differing(&sums);
                let all = index.hasher().bucket_count();
                let equal = (0..all).filter(|b| differing.binary_search(b).is_err());
                index.renew_buckets(&owner, equal, now);
                if differing.is_empty() {
                    VerifyResponse::Match
                } else {
                    VerifyResponse::NeedEntries(differing)
                }
            }
            VerifyRequest::Entries {
                owner,
                buckets,
                entries,
            } => {
                let reconciled = index.reconcile(&owner, &buckets, &entries, now);
                drop(state);
                self.hand_back(owner, &reconciled.hand_back);
                if reconciled.want.is_empty() {
                    VerifyResponse::Match
                } else {
                    VerifyResponse::Want(reconciled.want)
                }
            }
        }
    }

    /// Sends `owner` our copies of keys it claims at an older client write, once (the next
    /// verify round finds any still missing). They go as they are held, from whichever
    /// owner; the owner takes a newer write of a key it owns (see `Index::decide`).
    fn hand_back(&self, owner: String, keys: &[String]) {
        let items: Vec<SyncItem> = keys
            .iter()
            .filter_map(|key| {
                let mut item = self.item_for(key, false)?;
                if item.owner == UNOWNED {
                    item.owner = self.inner.me.to_string();
                }
                Some(item)
            })
            .collect();
        if items.is_empty() {
            return;
        }
        tracing::info!(%owner, keys = items.len(), "handing newer copies back to their owner");
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let call = inner.transport.sync(&owner, &inner.resource_type, items);
            if let Ok(Err(error)) = tokio::time::timeout(inner.config.rpc_timeout, call).await {
                tracing::debug!(%owner, %error, "hand-back failed");
            }
        });
    }

    /// Asks `peer` for its state of `key` and applies it like a sync (a replica learning
    /// early that it misses a key the peer has: it forwarded a beat the peer answered).
    /// Returns whether anything was applied.
    pub async fn fetch(&self, peer: &str, key: &str) -> bool {
        let call = self
            .inner
            .transport
            .query(peer, &self.inner.resource_type, key);
        match tokio::time::timeout(self.inner.config.rpc_timeout, call).await {
            Ok(Ok(Some(item))) if item.key == key => self.on_sync(vec![item]).applied > 0,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %key, %error, "fetch failed");
                false
            }
            _ => false,
        }
    }

    /// Handler: one key's current state, if held (owned here or replicated).
    pub fn on_query(&self, key: &str) -> Option<SyncItem> {
        self.item_for(key, false)
    }

    /// The state of a key as a sync item; `owned_only` (what the sender sends) skips keys
    /// owned elsewhere and sends keys released here as ours (a handover, see
    /// [`Distro::release`]).
    pub(crate) fn item_for(&self, key: &str, owned_only: bool) -> Option<SyncItem> {
        let mut entry = self.inner.state.lock().index.get(key).cloned()?;
        if owned_only && *entry.owner == *UNOWNED {
            entry.owner = Arc::clone(&self.inner.me);
        }
        if owned_only && entry.owner != self.inner.me {
            return None;
        }
        let (revision, payload) = if entry.live {
            let (revision, payload) = self.inner.storage.payload(key)?;
            (revision, Some(payload))
        } else {
            (entry.revision, None)
        };
        Some(SyncItem {
            key: key.to_owned(),
            owner: entry.owner.to_string(),
            revision,
            lease: entry.lease,
            payload,
        })
    }

    /// Every key held (for snapshots), in no particular order.
    pub(crate) fn all_keys(&self) -> Vec<String> {
        self.inner
            .state
            .lock()
            .index
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }
}
