//! Wiring of Distro replication into the server: the kernel for naming clients, its gRPC
//! transport, the bridge from registry events, membership following, and readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use distro_cluster::{MemberState, Membership};
use distro_core::{
    BoxFuture, Distro, Peer, PeerState, SnapshotStream, SyncItem, Transport, TransportError,
    VerifyRequest, VerifyResponse,
};
use distro_naming::replication::bridge::Replication;
use distro_naming::replication::mapper::DistroMapper;
use distro_naming::replication::plugin::ClientDataPlugin;
use distro_naming::replication::record::CLIENT_DATA_TYPE;
use distro_naming::{ClientId, Registry, Responsibility};
use distro_transport_grpc::GrpcTransport;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::faults::FaultyTransport;
use crate::state::AppState;

/// Replication of this node's registry.
pub struct Replicator {
    /// The kernel for naming clients.
    pub distro: Distro,
    /// The bridge (ownership, responsibility).
    pub replication: Arc<Replication>,
    /// The kernel's loops and the membership follower.
    pub tasks: Vec<JoinHandle<()>>,
    standalone: bool,
    /// Set while this node sees less than half of the cluster (see [`Self::responsibility`]).
    minority: Arc<AtomicBool>,
}

impl Replicator {
    /// Builds the kernel and the bridge and starts them. A standalone node (no channels to
    /// peers) is loaded at once.
    pub fn start(
        config: &Config,
        registry: &Arc<Registry>,
        cluster: &Cluster,
        shutdown: &CancellationToken,
    ) -> Self {
        let me = cluster.membership.self_address().to_string();
        let standalone = cluster.channels.is_none();
        let transport: Arc<dyn Transport> = match &cluster.channels {
            Some(channels) => Arc::new(FaultyTransport {
                inner: Arc::new(GrpcTransport::new(Arc::clone(channels))),
                faults: Arc::clone(&cluster.faults),
            }),
            None => Arc::new(NoPeers),
        };
        let plugin = Arc::new(ClientDataPlugin::new(Arc::clone(registry)));
        let distro = Distro::new(
            &me,
            CLIENT_DATA_TYPE,
            config.distro.to_core(),
            plugin.clone(),
            plugin,
            transport,
        );
        cluster.distro.register(distro.clone());
        let mapper = Arc::new(DistroMapper::new(me, standalone));
        let replication = Replication::install(Arc::clone(registry), distro.clone(), mapper);
        let mut tasks = distro.start(standalone, shutdown.clone());
        let minority = Arc::new(AtomicBool::new(false));
        if !standalone {
            tasks.push(follow_membership(
                Arc::clone(&cluster.membership),
                (distro.clone(), Arc::clone(&replication)),
                Arc::clone(&minority),
                shutdown.clone(),
            ));
        }
        Self {
            distro,
            replication,
            tasks,
            standalone,
            minority,
        }
    }

    /// Whether beat checks for an `ip:port` client run here: on its owner, and only while
    /// the owner sees at least half of the cluster.
    ///
    /// A node cut off from the others sees them all DOWN and becomes the owner of every
    /// `ip:port` client, but the clients keep beating the nodes they reach, so their beats
    /// never arrive here: expiring them would empty this node's registry, and after the heal
    /// its deletions would race the live instances on the other nodes (found by the
    /// simulation, seed 1). Like the kernel's expiry of replicas of DOWN owners, beat checks
    /// pause while the node is in a minority (self-preservation); they resume, with every
    /// client's beat clock where the clients left it, once it sees half of the cluster.
    pub fn responsibility(&self) -> Responsibility {
        let replication = Arc::clone(&self.replication);
        let minority = Arc::clone(&self.minority);
        Arc::new(move |id: &ClientId| !minority.load(Ordering::Relaxed) && replication.owns(id))
    }

    /// The flag set while beat checks pause because this node sees a minority.
    pub fn minority(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.minority)
    }

    /// The mapper deciding `ip:port` ownership, for forwarding; `None` when standalone.
    pub fn mapper(&self) -> Option<Arc<DistroMapper>> {
        (!self.standalone).then(|| Arc::clone(self.replication.mapper()))
    }

    /// Marks the node ready once its startup snapshot is loaded (at once when standalone).
    pub fn gate_readiness(&self, state: AppState, shutdown: CancellationToken) -> JoinHandle<()> {
        let mut loaded = self.distro.loaded_watch();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                result = loaded.wait_for(|loaded| *loaded) => {
                    if result.is_ok() {
                        tracing::info!("registry loaded: ready");
                        state.set_ready(true);
                    }
                }
            }
        })
    }
}

/// Feeds member changes to the kernel (who to send to, who is DOWN) and the mapper (who
/// owns which `ip:port` client).
fn follow_membership(
    membership: Arc<Membership>,
    (distro, replication): (Distro, Arc<Replication>),
    minority: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let mut members = membership.subscribe_members();
    tokio::spawn(async move {
        loop {
            apply_members(&membership, &distro, &replication);
            if note_minority(&membership, &minority) == Some(false) {
                // Beat checks resume: clients beat other nodes meanwhile, so each gets a
                // full timeout to beat here (or be forwarded here) before it is judged.
                replication.registry().restart_beat_clocks(Instant::now());
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = members.changed() => if changed.is_err() { return },
            }
        }
    })
}

fn apply_members(membership: &Membership, distro: &Distro, replication: &Replication) {
    let me = membership.self_address();
    let peers = membership
        .members()
        .iter()
        .filter(|m| m.address() != me)
        .map(|m| Peer {
            address: m.address().to_string(),
            state: peer_state(m.state()),
        })
        .collect();
    distro.set_members(peers, Instant::now());
    replication.rebalance(membership.healthy().to_vec());
}

/// Sets `minority` when fewer than half of the members (self included) are healthy.
/// Returns the new value when it changed.
fn note_minority(membership: &Membership, minority: &AtomicBool) -> Option<bool> {
    let healthy = membership.healthy().len();
    let total = membership.peers().len() + 1;
    let now_minority = healthy * 2 < total;
    let was = minority.swap(now_minority, Ordering::Relaxed);
    if now_minority && !was {
        tracing::warn!(
            healthy,
            total,
            "self-preservation: this node sees a minority of the cluster; beat checks pause"
        );
    } else if was && !now_minority {
        tracing::info!(
            healthy,
            total,
            "self-preservation released: beat checks resume"
        );
    }
    (now_minority != was).then_some(now_minority)
}

fn peer_state(state: MemberState) -> PeerState {
    match state {
        MemberState::Up => PeerState::Up,
        MemberState::Suspicious => PeerState::Suspicious,
        MemberState::Down => PeerState::Down,
    }
}

/// The transport of a standalone node: there is nobody to call.
struct NoPeers;

impl Transport for NoPeers {
    fn sync<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
        _: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move { Err(TransportError::Unreachable(peer.to_owned())) })
    }
    fn verify<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
        _: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async move { Err(TransportError::Unreachable(peer.to_owned())) })
    }
    fn snapshot<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        Box::pin(async move { Err(TransportError::Unreachable(peer.to_owned())) })
    }
    fn query<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async move { Err(TransportError::Unreachable(peer.to_owned())) })
    }
}

#[cfg(test)]
mod tests {
    use distro_cluster::{FailurePolicy, ProbeError};

    use super::*;

    /// Regression (simulation seed 1): a node that sees a minority pauses its beat checks
    /// and resumes them once it sees half of the cluster again.
    #[test]
    fn beat_checks_pause_while_in_a_minority() {
        let me = "10.0.0.1:8848";
        let peers = ["10.0.0.2:8848", "10.0.0.3:8848"];
        let membership = Membership::new(me, "1", 0).unwrap();
        let all: Vec<String> = std::iter::once(me)
            .chain(peers)
            .map(str::to_owned)
            .collect();
        membership.apply_addresses(&all, 0);
        let minority = AtomicBool::new(false);
        assert_eq!(note_minority(&membership, &minority), None, "all UP");
        assert!(!minority.load(Ordering::Relaxed));
        let policy = FailurePolicy::default();
        membership.on_probe_failure(peers[0], &ProbeError::ConnectionRefused, &policy, 1);
        assert_eq!(note_minority(&membership, &minority), None);
        assert!(!minority.load(Ordering::Relaxed), "two of three still UP");
        membership.on_probe_failure(peers[1], &ProbeError::ConnectionRefused, &policy, 1);
        assert_eq!(note_minority(&membership, &minority), Some(true));
        assert!(minority.load(Ordering::Relaxed), "alone among three");
        let info = distro_cluster::MemberInfo {
            address: peers[1].to_owned(),
            version: "1".to_owned(),
            ready: true,
        };
        membership.on_probe_success(peers[1], &info, 2);
        assert_eq!(
            note_minority(&membership, &minority),
            Some(false),
            "released: the caller restarts the beat clocks"
        );
        assert!(!minority.load(Ordering::Relaxed), "two of three UP again");
    }
}
