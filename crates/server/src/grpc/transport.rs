//! Accepted transports: each gets a Nacos connection id, visible to every request on it,
//! and a guard that removes the connection the moment the transport is gone.
//!
//! tonic copies [`Connected::connect_info`] into each request's extensions, so unary calls
//! and the bi-stream of one HTTP/2 connection find the same [`TransportInfo`]. The guard
//! lives inside the IO object hyper owns, so it drops when hyper drops the connection
//! (peer closed, reset, keepalive failure), with no polling.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use distro_transport_grpc::net::{BoxListener, BoxStream, Incoming};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::Connected;

use crate::grpc::connections::Connections;
use crate::grpc::setup::SetupGate;
use crate::limits::{ConnectionLimits, ConnectionPolicy};

/// What every request on one transport knows about it.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    /// The Nacos connection id: `<millis>_<remoteIp>_<remotePort>`.
    pub id: Arc<str>,
    /// The peer's socket address.
    pub remote: SocketAddr,
    /// Setup progress of the transport's streams, shared by all its requests.
    pub setup: Arc<SetupGate>,
    /// The connection's IP slot (freed when the transport and its requests are gone) and
    /// its request bucket.
    pub limits: ConnectionLimits,
}

impl TransportInfo {
    fn new(remote: SocketAddr, limits: ConnectionLimits) -> Self {
        // Wall clock through `distro_cluster::clock`, so a simulation's ids replay.
        let millis = distro_cluster::clock::unix_millis();
        let id = format!("{millis}_{}_{}", remote.ip(), remote.port());
        Self {
            id: Arc::from(id),
            remote,
            setup: Arc::default(),
            limits,
        }
    }
}

/// Removes the transport's connection when dropped.
struct TransportGuard {
    id: Arc<str>,
    connections: Weak<Connections>,
}

impl Drop for TransportGuard {
    fn drop(&mut self) {
        if let Some(connections) = self.connections.upgrade() {
            connections.transport_closed(&self.id);
        }
    }
}

/// An accepted stream carrying its [`TransportInfo`] and removal guard.
pub struct TrackedIo {
    io: BoxStream,
    info: TransportInfo,
    _guard: TransportGuard,
}

impl Connected for TrackedIo {
    type ConnectInfo = TransportInfo;

    fn connect_info(&self) -> TransportInfo {
        self.info.clone()
    }
}

distro_transport_grpc::delegate_async_io!([] TrackedIo, io);

/// Accepted transports (socket options were set by the listener's network), each with a
/// connection id.
pub fn incoming(
    listener: BoxListener,
    connections: &Arc<Connections>,
    policy: ConnectionPolicy,
) -> impl Stream<Item = io::Result<TrackedIo>> + use<> {
    let connections = Arc::downgrade(connections);
    Incoming::new(listener).filter_map(move |accepted| {
        let (io, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => return Some(Err(error)),
        };
        // Over its IP's limit: dropping the stream closes it at once (Nacos's connection
        // control does the same).
        let limits = policy.admit(remote.ip()).ok()?;
        let info = TransportInfo::new(remote, limits);
        let guard = TransportGuard {
            id: Arc::clone(&info.id),
            connections: connections.clone(),
        };
        Some(Ok(TrackedIo {
            io,
            info,
            _guard: guard,
        }))
    })
}
