//! The probe loop: every interval, probe every peer concurrently and apply the results.
//!
//! The transport is the [`Prober`] trait (implemented over the cluster gRPC port by another
//! crate). Defaults: every peer every **1000 ms** with a **500 ms** timeout. With the default
//! of three consecutive failures for DOWN, a dead peer that still accepts connections is
//! DOWN after at most ~3.5 s (three rounds of 1 s, the last one timing out after 0.5 s) and
//! one that refuses connections after at most ~1 s, inside the 5 s the cluster promises.
//! The timeout is half the interval so a round always ends before the next one starts;
//! a healthy peer on a LAN answers in well under a millisecond, so 500 ms only fails a peer
//! that is really stuck.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::detector::FailurePolicy;
use crate::member::MemberInfo;
use crate::membership::Membership;

/// Default time between two probe rounds.
pub const PROBE_INTERVAL_DEFAULT: Duration = Duration::from_millis(1000);
/// Default time a single probe may take.
pub const PROBE_TIMEOUT_DEFAULT: Duration = Duration::from_millis(500);

/// Shortest interval accepted (a zero interval would spin; `tokio::time::interval` rejects it).
const PROBE_INTERVAL_MIN: Duration = Duration::from_millis(10);

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Nothing listens on the peer's port (may make the peer DOWN at once, see [`FailurePolicy`]).
    #[error("connection refused")]
    ConnectionRefused,
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer answered with an error (e.g. bad cluster credentials).
    #[error("peer rejected the probe: {0}")]
    Rejected(String),
    /// Any other transport failure.
    #[error("probe transport error: {0}")]
    Transport(String),
}

/// Sends one probe to a peer: our info goes out, the peer's info comes back.
pub trait Prober: Send + Sync + 'static {
    /// Probes `peer` (its `ip:port` HTTP address) carrying `self_info`; returns the peer's info.
    fn probe(
        &self,
        peer: &str,
        self_info: &MemberInfo,
    ) -> impl Future<Output = Result<MemberInfo, ProbeError>> + Send;
}

/// Settings of the probe loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Time between the starts of two rounds.
    pub interval: Duration,
    /// Time one probe may take before it counts as failed.
    pub timeout: Duration,
    /// How failures turn into states.
    pub policy: FailurePolicy,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            interval: PROBE_INTERVAL_DEFAULT,
            timeout: PROBE_TIMEOUT_DEFAULT,
            policy: FailurePolicy::default(),
        }
    }
}

/// Current Unix time in milliseconds (0 if the clock is before 1970), for `now_ms` arguments.
/// Read through [`crate::clock`], so a simulation sees its own time.
pub fn unix_millis() -> u64 {
    crate::clock::unix_millis()
}

/// Probes every peer each `config.interval` (at least 10 ms) until `shutdown` is cancelled.
///
/// Peers are probed concurrently, each bounded by `config.timeout`; a round waits for all of
/// its probes (at most the timeout) and the next round starts one interval after the
/// previous one started (later if a round overran). Results are applied as they arrive.
pub async fn run_failure_detector<P: Prober>(
    membership: Arc<Membership>,
    prober: Arc<P>,
    config: DetectorConfig,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.interval.max(PROBE_INTERVAL_MIN));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if !probe_round(&membership, &prober, &config, &shutdown).await {
            break;
        }
    }
    tracing::debug!("cluster failure detector stopped");
}

/// One round: probe all peers; returns false if shutdown interrupted it.
async fn probe_round<P: Prober>(
    membership: &Membership,
    prober: &Arc<P>,
    config: &DetectorConfig,
    shutdown: &CancellationToken,
) -> bool {
    let self_info = membership.self_info();
    let mut probes = JoinSet::new();
    let mut peers_by_task = HashMap::new();
    for peer in membership.peers() {
        let task = probe_one(
            prober.clone(),
            peer.clone(),
            self_info.clone(),
            config.timeout,
        );
        peers_by_task.insert(probes.spawn(task).id(), peer);
    }
    loop {
        let joined = tokio::select! {
            biased;
            () = shutdown.cancelled() => return false,
            joined = probes.join_next_with_id() => joined,
        };
        let (peer, result) = match joined {
            None => return true,
            Some(Ok((id, result))) => (peers_by_task.remove(&id), result),
            Some(Err(error)) => (
                peers_by_task.remove(&error.id()),
                Err(ProbeError::Transport(format!("probe task failed: {error}"))),
            ),
        };
        if let Some(peer) = peer {
            apply_result(membership, &peer, result, &config.policy);
        }
    }
}

/// Probes one peer with a timeout.
async fn probe_one<P: Prober>(
    prober: Arc<P>,
    peer: String,
    self_info: MemberInfo,
    timeout: Duration,
) -> Result<MemberInfo, ProbeError> {
    match tokio::time::timeout(timeout, prober.probe(&peer, &self_info)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ProbeError::Timeout(timeout)),
    }
}

/// Feeds one probe result to the membership.
fn apply_result(
    membership: &Membership,
    peer: &str,
    result: Result<MemberInfo, ProbeError>,
    policy: &FailurePolicy,
) {
    let now_ms = unix_millis();
    match result {
        Ok(info) => {
            if info.address != peer {
                tracing::debug!(peer, reported = %info.address, "peer reports a different address");
            }
            membership.on_probe_success(peer, &info, now_ms);
        }
        Err(error) => {
            membership.on_probe_failure(peer, &error, policy, now_ms);
        }
    }
}
