//! The server's [`Network`] over turmoil's simulated TCP.

use std::io;
use std::net::SocketAddr;

use distro_transport_grpc::net::{
    BoxFuture, BoxListener, BoxStream, Listener, Network, SocketOptions,
};

/// turmoil's network; socket options mean nothing there and are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilNetwork;

struct TurmoilListener(turmoil::net::TcpListener);

impl Listener for TurmoilListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>> {
        Box::pin(async move {
            let (stream, peer) = self.0.accept().await?;
            Ok((Box::new(stream) as BoxStream, peer))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Network for TurmoilNetwork {
    fn bind<'a>(
        &'a self,
        addr: &'a str,
        _options: SocketOptions,
    ) -> BoxFuture<'a, io::Result<BoxListener>> {
        Box::pin(async move {
            let listener = turmoil::net::TcpListener::bind(addr).await?;
            Ok(Box::new(TurmoilListener(listener)) as BoxListener)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: &'a str,
        _options: SocketOptions,
    ) -> BoxFuture<'a, io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect(addr).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}
