//! An axum listener that applies a [`ConnectionPolicy`] at accept: a connection over its IP's
//! limit is answered 429 and closed ([`Refuser`]); an admitted one carries its
//! [`ConnectionLimits`] inside its IO, so they live exactly as long as the connection, and
//! every request finds them as `ConnectInfo<ConnectionLimits>`.

use std::io;
use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::limits::connection::{ConnectionLimits, ConnectionPolicy};
use crate::limits::refusal::Refuser;

/// Wraps any listener with socket addresses (TCP, or a simulated network's).
pub struct GatedListener<L> {
    inner: L,
    policy: ConnectionPolicy,
    refuser: Refuser,
}

impl<L> GatedListener<L> {
    /// `inner`, admitting connections by `policy`.
    pub fn new(inner: L, policy: ConnectionPolicy) -> Self {
        Self {
            inner,
            policy,
            refuser: Refuser::default(),
        }
    }
}

impl<L> Listener for GatedListener<L>
where
    L: Listener<Addr = SocketAddr>,
{
    type Io = GatedIo<L::Io>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, remote) = self.inner.accept().await;
            match self.policy.admit(remote.ip()) {
                Ok(limits) => return (GatedIo { io, limits }, remote),
                Err(full) => self.refuser.refuse(io, &full.to_string()),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl<L> Connected<IncomingStream<'_, GatedListener<L>>> for ConnectionLimits
where
    L: Listener<Addr = SocketAddr>,
{
    fn connect_info(stream: IncomingStream<'_, GatedListener<L>>) -> Self {
        stream.io().limits.clone()
    }
}

/// An admitted connection's IO, holding its limits (and so its IP slot).
pub struct GatedIo<Io> {
    io: Io,
    limits: ConnectionLimits,
}

impl<Io> GatedIo<Io> {
    /// The connection's limits.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }
}

distro_transport_grpc::delegate_async_io!([Io: AsyncRead + AsyncWrite + Unpin] GatedIo<Io>, io);
