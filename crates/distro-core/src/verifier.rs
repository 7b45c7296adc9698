//! Verify rounds: every interval (jittered), one root digest per peer; on a mismatch the
//! owner drills down (buckets, then entries) and sends exactly the keys the peer lacks.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::engine::Distro;
use crate::message::{VerifyRequest, VerifyResponse};
use crate::metrics as m;
use crate::plugin::TransportError;

/// Most messages in one round with one peer (root, buckets, entries).
const ROUND_STEPS_MAX: usize = 3;

/// How a round with one peer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundResult {
    /// The peer holds exactly our keys.
    Match,
    /// The peer lacked some keys; this many were queued for it (at most its backlog room;
    /// the next round queues the rest).
    Repair(usize),
}

impl Distro {
    /// Runs until cancelled. Rounds start only once the node is loaded.
    pub(crate) async fn run_verifier(self, shutdown: CancellationToken) {
        loop {
            let period = jittered(self.inner.config.verify_interval);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(period) => {}
            }
            if self.is_loaded() {
                self.verify_round().await;
            }
        }
    }

    /// One round with every reachable peer, concurrently.
    pub async fn verify_round(&self) {
        let peers = self.inner.state.lock().members.reachable();
        let rounds = peers.into_iter().map(|peer| {
            let engine = self.clone();
            tokio::spawn(async move { engine.verify_peer(&peer).await })
        });
        for round in rounds.collect::<Vec<_>>() {
            let result = round.await;
            let label = match result {
                Ok(Ok(RoundResult::Match)) => "match",
                Ok(Ok(RoundResult::Repair(_))) => "repair",
                _ => "failed",
            };
            metrics::counter!(m::VERIFY_ROUNDS_TOTAL, "result" => label).increment(1);
        }
    }

    /// One round with one peer.
    pub async fn verify_peer(&self, peer: &Arc<str>) -> Result<RoundResult, TransportError> {
        let me = self.inner.me.to_string();
        let digest = self.inner.state.lock().index.digest(&me);
        let mut request = VerifyRequest::Root {
            owner: me.clone(),
            root: digest.root(),
            count: digest.count(),
        };
        for _ in 0..ROUND_STEPS_MAX {
            let response = self.call_verify(peer, request).await?;
            request = match response {
                VerifyResponse::Match => return Ok(RoundResult::Match),
                VerifyResponse::Want(keys) => {
                    let queued = self.mark_for(peer, &keys);
                    metrics::counter!(m::REPAIRED_CLIENTS_TOTAL).increment(queued as u64);
                    return Ok(RoundResult::Repair(queued));
                }
                VerifyResponse::NeedBuckets => {
                    let sums = self.inner.state.lock().index.digest(&me).sums().to_vec();
                    VerifyRequest::Buckets {
                        owner: me.clone(),
                        sums,
                    }
                }
                VerifyResponse::NeedEntries(buckets) => {
                    let entries = self.inner.state.lock().index.entries_in(&me, &buckets);
                    VerifyRequest::Entries {
                        owner: me.clone(),
                        buckets,
                        entries,
                    }
                }
            };
        }
        Err(TransportError::Refused("verify did not settle".to_owned()))
    }

    async fn call_verify(
        &self,
        peer: &str,
        request: VerifyRequest,
    ) -> Result<VerifyResponse, TransportError> {
        let call = self
            .inner
            .transport
            .verify(peer, &self.inner.resource_type, request);
        match tokio::time::timeout(self.inner.config.rpc_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Unreachable(format!(
                "verify to {peer} timed out"
            ))),
        }
    }
}

/// `period` ± 20 %, so nodes started together do not verify in lockstep.
fn jittered(period: Duration) -> Duration {
    period.mul_f64(0.8 + 0.4 * fastrand::f64())
}
