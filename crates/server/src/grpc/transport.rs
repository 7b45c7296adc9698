//! Accepted TCP transports: each gets a Nacos connection id, visible to every request on it,
//! and a guard that removes the connection the moment the transport is gone.
//!
//! tonic copies [`Connected::connect_info`] into each request's extensions, so unary calls
//! and the bi-stream of one HTTP/2 connection find the same [`TransportInfo`]. The guard
//! lives inside the IO object hyper owns, so it drops when hyper drops the connection
//! (peer closed, reset, keepalive failure), with no polling.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpIncoming};

use crate::grpc::connections::Connections;
use crate::grpc::setup::SetupGate;

/// What every request on one transport knows about it.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    /// The Nacos connection id: `<millis>_<remoteIp>_<remotePort>`.
    pub id: Arc<str>,
    /// The peer's socket address.
    pub remote: SocketAddr,
    /// Setup progress of the transport's streams, shared by all its requests.
    pub setup: Arc<SetupGate>,
}

impl TransportInfo {
    fn new(remote: SocketAddr) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let id = format!("{millis}_{}_{}", remote.ip(), remote.port());
        Self {
            id: Arc::from(id),
            remote,
            setup: Arc::default(),
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

/// A TCP stream carrying its [`TransportInfo`] and removal guard.
pub struct TrackedIo {
    io: TcpStream,
    info: TransportInfo,
    _guard: TransportGuard,
}

impl Connected for TrackedIo {
    type ConnectInfo = TransportInfo;

    fn connect_info(&self) -> TransportInfo {
        self.info.clone()
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Accepted transports with `TCP_NODELAY`, TCP keepalive (`keepalive_ms`, 0 = off) and a
/// connection id each.
pub fn incoming(
    listener: TcpListener,
    keepalive_ms: u64,
    connections: &Arc<Connections>,
) -> impl Stream<Item = io::Result<TrackedIo>> + use<> {
    let keepalive = (keepalive_ms > 0).then(|| Duration::from_millis(keepalive_ms));
    let connections = Arc::downgrade(connections);
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(keepalive)
        .map(move |accepted| {
            let io = accepted?;
            let info = TransportInfo::new(io.peer_addr()?);
            let guard = TransportGuard {
                id: Arc::clone(&info.id),
                connections: connections.clone(),
            };
            Ok(TrackedIo {
                io,
                info,
                _guard: guard,
            })
        })
}
