//! Snapshots: serving one in bounded chunks, and loading one at start-up before the node
//! calls itself ready.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::{Distro, Origin};
use crate::message::SnapshotChunk;
use crate::metrics as m;
use crate::plugin::{SnapshotStream, TransportError};

/// Chunks buffered between the producer and the stream.
const SNAPSHOT_CHUNKS_BUFFERED: usize = 2;
/// How one round of load attempts went.
enum Attempt {
    /// A peer served its snapshot.
    Loaded { peer: String, items: usize },
    /// Every peer that answered is itself not loaded; the lowest of them is named.
    AllStarting { lowest_peer: String },
    /// No peer answered at all (none UP, or all unreachable).
    NobodyAnswered,
    /// A ready peer failed during the transfer.
    FailedMidLoad,
}

/// Pause between load attempts while peers are starting too.
const LOAD_POLL: Duration = Duration::from_secs(1);

impl Distro {
    /// Handler: streams every key held, owned or replicated, with deletions. A node that has
    /// not loaded its own data refuses, so a restarting cluster never spreads an empty view.
    pub fn on_snapshot(&self) -> Result<SnapshotStream, TransportError> {
        if !self.is_loaded() {
            return Err(TransportError::NotReady);
        }
        let keys = self.all_keys();
        let (sender, receiver) = mpsc::channel(SNAPSHOT_CHUNKS_BUFFERED);
        let engine = self.clone();
        tokio::spawn(async move {
            let chunk_bytes = engine.inner.config.snapshot_chunk_bytes;
            let mut chunk = SnapshotChunk::default();
            let mut size = 0;
            for key in keys {
                let Some(item) = engine.item_for(&key, false) else {
                    continue;
                };
                size += item.size_bytes();
                chunk.items.push(item);
                if size >= chunk_bytes {
                    size = 0;
                    if sender.send(Ok(std::mem::take(&mut chunk))).await.is_err() {
                        return;
                    }
                }
            }
            if !chunk.items.is_empty() {
                let _ = sender.send(Ok(chunk)).await;
            }
        });
        Ok(receiver)
    }

    /// Runs once at start: loads a snapshot from the first UP peer that serves one.
    ///
    /// When every reachable peer answers that it is not loaded either (the whole cluster is
    /// starting), the node with the lowest address starts empty at once and the others load
    /// from it. With no peer able to serve within `load_peer_wait`, a node starts empty:
    /// owners' verify rounds then fill in what is missing.
    pub(crate) async fn run_loader(self, shutdown: CancellationToken) {
        let started = Instant::now();
        loop {
            if shutdown.is_cancelled() || self.is_loaded() {
                return;
            }
            let peers = self.inner.state.lock().members.up();
            let attempt = self.try_peers(&peers).await;
            if let Attempt::Loaded { peer, items } = &attempt {
                let seconds = started.elapsed().as_secs_f64();
                tracing::info!(%peer, items, seconds, "snapshot loaded");
                metrics::histogram!(m::SNAPSHOT_LOAD_SECONDS).record(seconds);
                self.mark_loaded();
                return;
            }
            let waited = started.elapsed() >= self.inner.config.load_peer_wait;
            let start_empty = match &attempt {
                Attempt::AllStarting { lowest_peer } => waited || *self.inner.me < **lowest_peer,
                Attempt::NobodyAnswered => waited,
                Attempt::FailedMidLoad | Attempt::Loaded { .. } => false,
            };
            if start_empty {
                tracing::info!("no peer can serve a snapshot: starting empty");
                self.mark_loaded();
                return;
            }
            let pause = match attempt {
                Attempt::FailedMidLoad => self.inner.config.load_retry_delay,
                _ => LOAD_POLL,
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Tries each peer in order until one serves a snapshot.
    async fn try_peers(&self, peers: &[std::sync::Arc<str>]) -> Attempt {
        let mut starting: Vec<&str> = Vec::new();
        let mut failed_mid_load = false;
        for peer in peers {
            match self.load_from(peer).await {
                Ok(items) => {
                    return Attempt::Loaded {
                        peer: peer.to_string(),
                        items,
                    };
                }
                Err(TransportError::NotReady) => starting.push(peer),
                Err(TransportError::Unreachable(_)) => {}
                Err(error) => {
                    tracing::warn!(%peer, %error, "snapshot load failed");
                    failed_mid_load = true;
                }
            }
        }
        match starting.iter().min() {
            _ if failed_mid_load => Attempt::FailedMidLoad,
            Some(lowest) => Attempt::AllStarting {
                lowest_peer: (*lowest).to_owned(),
            },
            None => Attempt::NobodyAnswered,
        }
    }

    /// Streams a snapshot from `peer` and applies it; returns the number of items.
    pub async fn load_from(&self, peer: &str) -> Result<usize, TransportError> {
        let deadline = Instant::now() + self.inner.config.load_timeout;
        let open = self
            .inner
            .transport
            .snapshot(peer, &self.inner.resource_type);
        let mut stream = tokio::time::timeout_at(deadline, open)
            .await
            .map_err(|_| {
                TransportError::Unreachable(format!("snapshot from {peer} timed out"))
            })??;
        let mut items = 0;
        loop {
            let next = tokio::time::timeout_at(deadline, stream.recv())
                .await
                .map_err(|_| TransportError::Refused(format!("snapshot from {peer} timed out")))?;
            match next {
                None => return Ok(items),
                Some(chunk) => {
                    let chunk = chunk?;
                    items += chunk.items.len();
                    self.apply_items(chunk.items, Origin::Snapshot);
                }
            }
        }
    }
}
