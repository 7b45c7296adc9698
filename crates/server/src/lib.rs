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
pub mod limits;
mod metrics;
mod replication;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use distro_naming::{EventDispatch, Registry, spawn_maintenance};
use distro_transport_grpc::net::{SharedNetwork, SocketOptions, TokioNetwork};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use distro_transport_grpc::net;
pub use state::AppState;

/// What a server runs on: the network it binds and dials, and where registry events are
/// dispatched. The default is production's: TCP through tokio and a dispatcher thread; a
/// deterministic simulation supplies its own network and dispatches on a runtime task.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Every listener (HTTP, SDK gRPC, cluster) and every connection to a peer.
    pub network: SharedNetwork,
    /// Where the registry's events are dispatched.
    pub event_dispatch: EventDispatch,
}

impl Default for Environment {
    fn default() -> Self {
        Self {
            network: TokioNetwork::shared(),
            event_dispatch: EventDispatch::Thread,
        }
    }
}
/// Test seam (fuzzing): the HTTP routes over `state`, to drive with `tower::ServiceExt::oneshot`.
#[doc(hidden)]
pub use http::router as http_router;

/// A running server: its addresses, its registry, and the handle to stop it.
pub struct Server {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    state: AppState,
    distro: distro_core::Distro,
    minority: Arc<std::sync::atomic::AtomicBool>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds the listeners and starts serving over TCP; returns once the ports are open.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        Self::start_with(config, Environment::default()).await
    }

    /// As [`Server::start`], on the network and event dispatch of `env`.
    pub async fn start_with(config: Config, env: Environment) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        // A start that fails halfway must not leave the tasks it spawned running.
        let abort_on_error = shutdown.clone().drop_guard();
        let registry = Arc::new(Registry::with_dispatch(
            config.naming.clone(),
            env.event_dispatch,
        ));
        let metrics = metrics::install_recorder().context("installing the metrics recorder")?;
        let bind = format!("{}:{}", config.server.bind, config.server.port);
        // The HTTP port's sockets keep the operating system's defaults, as before.
        let listener = env
            .network
            .bind(&bind, SocketOptions::default())
            .await
            .with_context(|| format!("binding HTTP {bind}"))?;
        let http_addr = listener.local_addr()?;
        // Membership needs the bound HTTP port (its member address); handlers need membership.
        let cluster = cluster::start(&config, http_addr, &env.network, shutdown.clone()).await?;
        let mut replicator =
            replication::Replicator::start(&config, &registry, &cluster, &shutdown);
        let forwarder = replicator.mapper().map(|mapper| {
            let distro = replicator.distro.clone();
            Arc::new(http::Forwarder::new(
                mapper,
                distro,
                Arc::clone(&env.network),
            ))
        });
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
        let grpc = grpc::start(&state, &env.network, shutdown.clone())
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
            minority: replicator.minority(),
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

    /// The Distro kernel replicating naming clients (loaded, self-preservation, backlogs), for
    /// tests and the simulation.
    pub fn distro(&self) -> &distro_core::Distro {
        &self.distro
    }

    /// Whether self-preservation holds anything back: the kernel keeps replicas that came
    /// due, or beat checks pause because this node sees a minority of the cluster.
    pub fn self_preservation(&self) -> bool {
        self.distro.is_preserving() || self.minority.load(std::sync::atomic::Ordering::Relaxed)
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
