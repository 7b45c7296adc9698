//! Test-only fault injection on the cluster port: when `server.fault_injection` is on, a
//! test can cut this node's outgoing cluster traffic (probes and Distro) to chosen peers
//! through `PUT /nacos/v1/ns/operator/faults?blocked=a:8848,b:8848`, to partition real
//! processes without touching the network. Off by default; nothing is blocked then.

use std::collections::HashSet;
use std::sync::Arc;

use distro_cluster::{MemberInfo, ProbeError, Prober};
use distro_core::{
    BoxFuture, SnapshotStream, SyncItem, Transport, TransportError, VerifyRequest, VerifyResponse,
};
use parking_lot::RwLock;

/// Peers this node pretends it cannot reach.
#[derive(Debug, Default)]
pub struct Faults {
    blocked: RwLock<HashSet<String>>,
}

impl Faults {
    /// Replaces the set of unreachable peers.
    pub fn block(&self, peers: impl IntoIterator<Item = String>) {
        *self.blocked.write() = peers.into_iter().collect();
    }

    /// Whether `peer` is cut off.
    pub fn is_blocked(&self, peer: &str) -> bool {
        self.blocked.read().contains(peer)
    }

    fn check(&self, peer: &str) -> Result<(), TransportError> {
        if self.is_blocked(peer) {
            Err(TransportError::Unreachable(format!(
                "{peer} blocked by fault injection"
            )))
        } else {
            Ok(())
        }
    }
}

/// A prober that fails for blocked peers.
pub struct FaultyProber<P> {
    /// The real prober.
    pub inner: P,
    /// The faults in force.
    pub faults: Arc<Faults>,
}

impl<P: Prober> Prober for FaultyProber<P> {
    async fn probe(&self, peer: &str, self_info: &MemberInfo) -> Result<MemberInfo, ProbeError> {
        if self.faults.is_blocked(peer) {
            return Err(ProbeError::Timeout(std::time::Duration::ZERO));
        }
        self.inner.probe(peer, self_info).await
    }
}

/// A transport that fails for blocked peers.
pub struct FaultyTransport {
    /// The real transport.
    pub inner: Arc<dyn Transport>,
    /// The faults in force.
    pub faults: Arc<Faults>,
}

impl Transport for FaultyTransport {
    fn sync<'a>(
        &'a self,
        peer: &'a str,
        t: &'a str,
        items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.faults.check(peer)?;
            self.inner.sync(peer, t, items).await
        })
    }
    fn verify<'a>(
        &'a self,
        peer: &'a str,
        t: &'a str,
        request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async move {
            self.faults.check(peer)?;
            self.inner.verify(peer, t, request).await
        })
    }
    fn snapshot<'a>(
        &'a self,
        peer: &'a str,
        t: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        Box::pin(async move {
            self.faults.check(peer)?;
            self.inner.snapshot(peer, t).await
        })
    }
    fn query<'a>(
        &'a self,
        peer: &'a str,
        t: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async move {
            self.faults.check(peer)?;
            self.inner.query(peer, t, key).await
        })
    }
}
