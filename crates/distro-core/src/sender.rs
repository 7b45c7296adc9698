//! The execute side of the delay engine: sends due keys to each peer in batches, one batch
//! in flight per peer (so one key's states reach a peer in order), retrying failures.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::Distro;
use crate::message::SyncItem;
use crate::metrics as m;

impl Distro {
    /// Runs until cancelled: waits for the next deadline or a new mark, then sends.
    pub(crate) async fn run_sender(self, shutdown: CancellationToken) {
        loop {
            let now = Instant::now();
            let batches = self.inner.state.lock().queue.take_due(now);
            for (peer, keys) in batches {
                tokio::spawn(self.clone().send_batch(peer, keys));
            }
            let next = self.inner.state.lock().queue.next_due();
            let sleep_until = next.unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(sleep_until) => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }

    /// Sends the current state of `keys` to `peer`, in chunks of bounded size.
    async fn send_batch(self, peer: Arc<str>, keys: Vec<String>) {
        let items: Vec<SyncItem> = keys.iter().filter_map(|k| self.item_for(k, true)).collect();
        let mut failed: Vec<String> = Vec::new();
        for chunk in chunks(items, self.inner.config.sync_batch_bytes) {
            if !failed.is_empty() {
                failed.extend(chunk.into_iter().map(|i| i.key));
                continue;
            }
            let keys_of_chunk: Vec<String> = chunk.iter().map(|i| i.key.clone()).collect();
            let call = self
                .inner
                .transport
                .sync(&peer, &self.inner.resource_type, chunk);
            match tokio::time::timeout(self.inner.config.rpc_timeout, call).await {
                Ok(Ok(())) => metrics::counter!(m::SYNC_TOTAL, "result" => "ok").increment(1),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "sync failed");
                    failed = keys_of_chunk;
                }
                Err(_) => {
                    tracing::debug!(%peer, "sync timed out");
                    failed = keys_of_chunk;
                }
            }
        }
        let mut state = self.inner.state.lock();
        if !failed.is_empty() {
            metrics::counter!(m::SYNC_TOTAL, "result" => "failed").increment(1);
            if state.members.is_reachable(&peer) {
                let retry_at = Instant::now() + self.inner.config.sync_retry_delay;
                for key in &failed {
                    state.queue.mark(&peer, key, retry_at);
                }
            }
        }
        state.queue.finished(&peer);
        let backlog = state.queue.backlog(&peer);
        drop(state);
        metrics::gauge!(m::SYNC_BACKLOG, "peer" => peer.to_string()).set(backlog as f64);
        self.inner.wake.notify_one();
    }
}

/// Splits items into batches of at most `bytes_max` (a single larger item goes alone).
fn chunks(items: Vec<SyncItem>, bytes_max: usize) -> Vec<Vec<SyncItem>> {
    let mut batches = vec![Vec::new()];
    let mut size = 0;
    for item in items {
        let item_size = item.size_bytes();
        if size + item_size > bytes_max && batches.last().is_some_and(|b| !b.is_empty()) {
            batches.push(Vec::new());
            size = 0;
        }
        size += item_size;
        if let Some(batch) = batches.last_mut() {
            batch.push(item);
        }
    }
    batches.retain(|b| !b.is_empty());
    batches
}
