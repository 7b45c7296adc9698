//! The network a node runs on, behind a small trait: listeners that accept byte streams and a
//! connector that opens them.
//!
//! Production uses [`TokioNetwork`] (plain TCP, exactly what the server did before the trait
//! existed: `TCP_NODELAY` and keepalive set per listener as before). A deterministic
//! simulation plugs in its own network (turmoil's) so the real server code runs unchanged
//! over simulated links. Everything that binds or dials — the HTTP port, the SDK gRPC port,
//! the cluster port, channels to peers, the HTTP forwarder — goes through a [`Network`].

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::http;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// A boxed future, as trait methods return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connected byte stream (a TCP connection, or its simulated counterpart).
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// A boxed [`ByteStream`].
pub type BoxStream = Box<dyn ByteStream>;

/// Socket options of accepted or opened streams (ignored where a network has no sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketOptions {
    /// Set `TCP_NODELAY`.
    pub nodelay: bool,
    /// TCP keepalive idle time; `None` leaves it off.
    pub keepalive: Option<Duration>,
}

/// A bound listener.
pub trait Listener: Send + 'static {
    /// The next accepted stream and its peer's address.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>>;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A boxed [`Listener`].
pub type BoxListener = Box<dyn Listener>;

/// Where a node binds and dials.
pub trait Network: Send + Sync + fmt::Debug + 'static {
    /// Binds `addr` (`host:port`; port 0 picks a free one where the network can).
    fn bind<'a>(
        &'a self,
        addr: &'a str,
        options: SocketOptions,
    ) -> BoxFuture<'a, io::Result<BoxListener>>;
    /// Opens a stream to `addr` (`host:port`).
    fn connect<'a>(
        &'a self,
        addr: &'a str,
        options: SocketOptions,
    ) -> BoxFuture<'a, io::Result<BoxStream>>;
}

/// A shared [`Network`].
pub type SharedNetwork = Arc<dyn Network>;

/// The operating system's TCP stack through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNetwork;

impl TokioNetwork {
    /// As a [`SharedNetwork`].
    pub fn shared() -> SharedNetwork {
        Arc::new(Self)
    }

    /// A listener already bound with tokio, accepting with `options`.
    pub fn listener(
        listener: tokio::net::TcpListener,
        options: SocketOptions,
    ) -> io::Result<BoxListener> {
        let local = listener.local_addr()?;
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(options.nodelay))
            .with_keepalive(options.keepalive);
        Ok(Box::new(TokioListener { incoming, local }))
    }
}

/// A tokio listener; tonic's `TcpIncoming` applies the socket options to every accepted
/// stream, as the listeners did before the trait.
struct TokioListener {
    incoming: TcpIncoming,
    local: SocketAddr,
}

impl Listener for TokioListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>> {
        Box::pin(async move {
            let stream = match self.incoming.next().await {
                Some(accepted) => accepted?,
                None => return Err(io::Error::other("listener closed")),
            };
            let peer = stream.peer_addr()?;
            Ok((Box::new(stream) as BoxStream, peer))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Network for TokioNetwork {
    fn bind<'a>(
        &'a self,
        addr: &'a str,
        options: SocketOptions,
    ) -> BoxFuture<'a, io::Result<BoxListener>> {
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            Self::listener(listener, options)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: &'a str,
        options: SocketOptions,
    ) -> BoxFuture<'a, io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(options.nodelay)?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

type Accepting = BoxFuture<'static, (BoxListener, io::Result<(BoxStream, SocketAddr)>)>;

/// A listener as a stream of accepted connections (what tonic's `serve_with_incoming` takes).
pub struct Incoming {
    listener: Option<BoxListener>,
    accepting: Option<Accepting>,
}

impl Incoming {
    /// Accepts from `listener` as the stream is polled.
    pub fn new(listener: BoxListener) -> Self {
        Self {
            listener: Some(listener),
            accepting: None,
        }
    }
}

impl Stream for Incoming {
    type Item = io::Result<(BoxStream, SocketAddr)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.accepting.is_none() {
            // The listener moves into the accept future and comes back with its result.
            let Some(mut listener) = this.listener.take() else {
                return Poll::Ready(None);
            };
            this.accepting = Some(Box::pin(async move {
                let accepted = listener.accept().await;
                (listener, accepted)
            }));
        }
        let Some(accepting) = this.accepting.as_mut() else {
            return Poll::Ready(None);
        };
        match accepting.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((listener, accepted)) => {
                this.listener = Some(listener);
                this.accepting = None;
                Poll::Ready(Some(accepted))
            }
        }
    }
}

/// An accepted stream for tonic servers: carries the addresses tonic's `remote_addr()` reads.
pub struct ServerIo {
    io: BoxStream,
    info: TcpConnectInfo,
}

impl ServerIo {
    /// `io`, accepted from `remote` on a listener bound at `local`.
    pub fn new(io: BoxStream, remote: SocketAddr, local: Option<SocketAddr>) -> Self {
        Self {
            io,
            info: TcpConnectInfo {
                local_addr: local,
                remote_addr: Some(remote),
            },
        }
    }
}

impl Connected for ServerIo {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

crate::delegate_async_io!([] ServerIo, io);

/// A tonic/hyper connector dialing through a [`Network`]: `Endpoint::connect_with_connector`.
#[derive(Debug, Clone)]
pub struct Connector {
    network: SharedNetwork,
    options: SocketOptions,
}

impl Connector {
    /// Dials over `network` with `options`.
    pub fn new(network: SharedNetwork, options: SocketOptions) -> Self {
        Self { network, options }
    }
}

impl tonic::codegen::Service<http::Uri> for Connector {
    type Response = TokioIo<BoxStream>;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<TokioIo<BoxStream>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let network = Arc::clone(&self.network);
        let options = self.options;
        Box::pin(async move {
            let authority = authority_of(&uri)?;
            let stream = network.connect(&authority, options).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// `host:port` of an `http://` URI (port 80 when absent).
pub fn authority_of(uri: &http::Uri) -> io::Result<String> {
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URI without a host"))?;
    let port = uri.port_u16().unwrap_or(80);
    // An IPv6 host comes back bracketed from `Uri::host`, which is what `host:port` needs.
    Ok(format!("{host}:{port}"))
}

/// Implements `AsyncRead` and `AsyncWrite` for a wrapper around an `Unpin` stream by
/// delegating to its `$field`: the accepted-connection wrappers (this crate's [`ServerIo`],
/// the server's SDK and HTTP connection wrappers) only attach information to a stream.
///
/// `delegate_async_io!([generics] Type, field)`, e.g. `delegate_async_io!([] ServerIo, io)`.
#[macro_export]
macro_rules! delegate_async_io {
    ([$($generics:tt)*] $ty:ty, $field:ident) => {
        impl<$($generics)*> ::tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut ::tokio::io::ReadBuf<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_read(cx, buf)
            }
        }

        impl<$($generics)*> ::tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.$field.is_write_vectored()
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_flush(cx)
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().$field).poll_shutdown(cx)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn tokio_network_accepts_and_connects() {
        let network = TokioNetwork::shared();
        let options = SocketOptions {
            nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
        };
        let listener = network.bind("127.0.0.1:0", options).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Incoming::new(listener);
        let mut client = network.connect(&addr.to_string(), options).await.unwrap();
        let (mut server, peer) = incoming.next().await.unwrap().unwrap();
        assert_eq!(peer.ip(), addr.ip());
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn authorities_of_uris() {
        let uri: http::Uri = "http://10.0.0.1:9849".parse().unwrap();
        assert_eq!(authority_of(&uri).unwrap(), "10.0.0.1:9849");
        let uri: http::Uri = "http://[::1]:9849/x".parse().unwrap();
        assert_eq!(authority_of(&uri).unwrap(), "[::1]:9849");
        let uri: http::Uri = "http://node-a".parse().unwrap();
        assert_eq!(authority_of(&uri).unwrap(), "node-a:80");
    }
}
