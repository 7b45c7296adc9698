//! The Nacos 2.x client gRPC front door, on the HTTP port plus `server.grpc_port_offset`.
//!
//! `transport` gives every accepted TCP connection its Nacos connection id and removes the
//! connection when the transport dies; `unary` answers `Request/request` (handshake,
//! health checks and the `naming` handlers); `bistream` registers connections from
//! `ConnectionSetupRequest` and carries server requests; `connections` is the table of
//! registered connections and the push sink; `push` drains each connection's push queue;
//! `detector` probes idle connections. On shutdown every client gets a `ConnectResetRequest`
//! so it moves to another node before its stream closes.

mod bistream;
mod connection;
mod connections;
mod detector;
mod naming;
mod params;
mod push;
mod render;
mod reply;
mod setup;
mod transport;
mod unary;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use distro_nacos_api::grpc::proto::bi_request_stream_server::BiRequestStreamServer;
use distro_nacos_api::grpc::proto::request_server::RequestServer;
use distro_naming::PushEngine;
use distro_transport_grpc::net::{BoxListener, SharedNetwork, SocketOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::config::Config;
use crate::grpc::connections::Connections;
use crate::state::AppState;

/// Extra time, after the reset grace, that connections get to close on shutdown.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the gRPC handlers share: the server state and the connection table.
#[derive(Clone)]
pub struct GrpcContext {
    /// Configuration, registry, readiness.
    pub state: AppState,
    /// Registered connections.
    pub connections: Arc<Connections>,
}

/// The running front door.
pub struct GrpcServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Its tasks (server, push engine, idle detector); they end on shutdown.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Binds the gRPC port and starts the server, the push engine and the idle detector.
pub async fn start(
    state: &AppState,
    network: &SharedNetwork,
    shutdown: CancellationToken,
) -> anyhow::Result<GrpcServer> {
    let listener = bind(&state.config, network).await?;
    let addr = listener.local_addr()?;
    let connections = Arc::new(Connections::new(Arc::clone(&state.registry)));
    let sink: Arc<dyn distro_naming::PushSink> = connections.clone();
    let engine = PushEngine::new(Arc::clone(&state.registry), sink, &state.config.push);
    engine.listen();
    let ctx = GrpcContext {
        state: state.clone(),
        connections: Arc::clone(&connections),
    };
    let tasks = vec![
        engine.spawn(shutdown.clone()),
        detector::spawn(connections, &state.config.grpc, shutdown.clone()),
        serve(listener, ctx, shutdown),
    ];
    tracing::info!(grpc_addr = %addr, "Nacos SDK gRPC listening");
    Ok(GrpcServer { addr, tasks })
}

/// HTTP port + offset; an ephemeral port when the HTTP port is (tests). Accepted sockets get
/// `TCP_NODELAY` and TCP keepalive (`grpc.tcp_keepalive_ms`, 0 = off).
async fn bind(config: &Config, network: &SharedNetwork) -> anyhow::Result<BoxListener> {
    let port = if config.server.port == 0 {
        0
    } else {
        config
            .server
            .port
            .checked_add(config.server.grpc_port_offset)
            .context("HTTP port + grpc_port_offset exceeds 65535")?
    };
    let address = format!("{}:{port}", config.server.bind);
    let keepalive_ms = config.grpc.tcp_keepalive_ms;
    let options = SocketOptions {
        nodelay: true,
        keepalive: (keepalive_ms > 0).then(|| Duration::from_millis(keepalive_ms)),
    };
    network
        .bind(&address, options)
        .await
        .with_context(|| format!("binding gRPC {address}"))
}

fn millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// Serves until `shutdown`: then resets every client, closes the streams and waits a
/// bounded time for the connections to go.
fn serve(listener: BoxListener, ctx: GrpcContext, shutdown: CancellationToken) -> JoinHandle<()> {
    let config = ctx.state.config.grpc.clone();
    let incoming = transport::incoming(
        listener,
        &ctx.connections,
        crate::limits::ConnectionPolicy::grpc(&config),
    );
    let unary = RequestServer::new(unary::UnaryService::new(ctx.clone()))
        .max_decoding_message_size(config.message_len_max);
    let stream = BiRequestStreamServer::new(bistream::BiStreamService::new(ctx.clone()))
        .max_decoding_message_size(config.message_len_max);
    let grace = Duration::from_millis(config.reset_grace_ms);
    let connections = ctx.connections;
    let signal = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            connections.reset_all(grace).await;
            connections.close_all();
        }
    };
    tokio::spawn(async move {
        let server = Server::builder()
            .http2_keepalive_interval(millis(config.http2_keepalive_interval_ms))
            .http2_keepalive_timeout(millis(config.http2_keepalive_timeout_ms))
            .add_service(unary)
            .add_service(stream)
            .serve_with_incoming_shutdown(incoming, signal);
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace + CLOSE_WAIT).await;
        };
        tokio::select! {
            served = server => {
                if let Err(error) = served {
                    tracing::error!(%error, "gRPC server stopped");
                }
            }
            () = deadline => tracing::warn!("gRPC connections still open at shutdown; leaving them"),
        }
    })
}
