//! `distro-server`: a Nacos-compatible naming server.
//!
//! [`Server::start`] builds the registry and its maintenance loops, joins the cluster
//! (`cluster`: membership, the authenticated cluster port), starts replication
//! (`replication`: the Distro kernel for naming clients, readiness once loaded), and serves
//! the Nacos HTTP Open API (v1, v2, with forwarding of misrouted `ip:port` writes) and
//! `/metrics` on the HTTP port and the Nacos 2.x SDK protocol (`grpc`) on HTTP port + 1000.
//! The binary (`main.rs`) only parses flags, loads [`Config`] and waits for a signal; tests
//! start servers in-process the same way.

mod cluster;
pub mod config;
mod faults;
mod grpc;
mod http;
mod metrics;
mod replication;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use distro_naming::{Registry, spawn_maintenance};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use state::AppState;

/// A running server: its addresses, its registry, and the handle to stop it.
pub struct Server {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    state: AppState,
    distro: distro_core::Distro,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds the listeners and starts serving; returns once the ports are open.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        // A start that fails halfway must not leave the tasks it spawned running.
        let abort_on_error = shutdown.clone().drop_guard();
        let registry = Arc::new(Registry::new(config.naming.clone()));
        let metrics = metrics::install_recorder().context("installing the metrics recorder")?;
        let bind = format!("{}:{}", config.server.bind, config.server.port);
        let listener = TcpListener::bind(&bind)
            .await
            .with_context(|| format!("binding HTTP {bind}"))?;
        let http_addr = listener.local_addr()?;
        // Membership needs the bound HTTP port (its member address); handlers need membership.
        let cluster = cluster::start(&config, http_addr, shutdown.clone()).await?;
        let mut replicator =
            replication::Replicator::start(&config, &registry, &cluster, &shutdown);
        let forwarder = match replicator.mapper() {
            Some(mapper) => Some(Arc::new(
                http::Forwarder::new(mapper).context("building the HTTP forwarder")?,
            )),
            None => None,
        };
        let faults = config
            .server
            .fault_injection
            .then(|| Arc::clone(&cluster.faults));
        let state = AppState::new(config, Arc::clone(&registry), metrics, cluster.membership)
            .with_forwarder(forwarder)
            .with_faults(faults);
        let mut tasks = spawn_maintenance(registry, replicator.responsibility(), shutdown.clone());
        tasks.extend(cluster.tasks);
        tasks.append(&mut replicator.tasks);
        tasks.push(http::serve(listener, state.clone(), shutdown.clone()));
        // The Nacos 2.x SDK front door (HTTP port + grpc_port_offset) and its push engine.
        let grpc = grpc::start(&state, shutdown.clone())
            .await
            .context("starting gRPC")?;
        tasks.extend(grpc.tasks);
        tasks.push(metrics::spawn_upkeep(
            state.metrics.clone(),
            shutdown.clone(),
        ));
        // Ready once the startup snapshot is loaded (at once when standalone).
        tasks.push(replicator.gate_readiness(state.clone(), shutdown.clone()));
        tracing::info!(%http_addr, "distro-server listening");
        abort_on_error.disarm();
        Ok(Self {
            http_addr,
            grpc_addr: grpc.addr,
            state,
            distro: replicator.distro.clone(),
            shutdown,
            tasks,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound Nacos SDK gRPC address (HTTP port + offset, or ephemeral when the HTTP port
    /// was 0).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The shared state (registry, configuration).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops gracefully: readiness goes false (load balancers and peers stop counting on this
    /// node), changes already made are sent to the peers (at most half of `server.drain_ms`),
    /// then every listener and loop stops: SDK clients get a `ConnectResetRequest` and
    /// `grpc.reset_grace_ms` to move to another node before their streams close. Connection
    /// clients closed by the shutdown itself are not synced as deletions: peers keep those
    /// replicas (until the owner-down or orphan grace) while the SDKs register elsewhere, so
    /// a rolling restart never drops a live client's instances. The caller bounds the whole
    /// by `server.drain_ms`.
    pub async fn stop(self) {
        self.state.set_ready(false);
        let flush_within = Duration::from_millis(self.state.config.server.drain_ms / 2);
        if !self.distro.flush(flush_within).await {
            tracing::warn!(?flush_within, "pending syncs not flushed before shutdown");
        }
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
