//! The `distro-server` binary: flags, configuration, logging, and running until a signal.

mod local_cluster;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use distro_server::{Config, Server};
use figment::Figment;
use figment::providers::Serialized;
use local_cluster::LocalCluster;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: requests allocate many small short-lived
/// buffers, and glibc's malloc/free were close to a fifth of a query's CPU time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Nacos-compatible naming server replicated with Distro.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Flags {
    /// TOML configuration file (defaults < file < DISTRO_* environment < flags).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// HTTP port (the SDK gRPC port is this + 1000).
    #[arg(long, short = 'p')]
    port: Option<u16>,
    /// Address to bind.
    #[arg(long)]
    bind: Option<String>,
    /// Log filter, e.g. `info` or `distro_naming=debug,info`.
    #[arg(long)]
    log_level: Option<String>,
    /// Cluster members, `ip[:port]` comma-separated (this node included); none = standalone.
    #[arg(long, value_delimiter = ',')]
    members: Vec<String>,
    /// The shared cluster secret (visible in process lists: prefer DISTRO_CLUSTER__SECRET).
    #[arg(long)]
    cluster_secret: Option<String>,
    /// Run N nodes (default 3) of this binary on 127.0.0.1 as one cluster, ports from
    /// --port (8848) in steps of 10; Ctrl-C stops them all.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "3",
          value_parser = clap::value_parser!(u16).range(1..=9),
          conflicts_with_all = ["members", "cluster_secret", "bind"])]
    local_cluster: Option<u16>,
}

impl Flags {
    /// The flags given, as the top configuration layer.
    fn overrides(&self) -> Figment {
        let mut figment = Figment::new();
        if let Some(port) = self.port {
            figment = figment.merge(Serialized::default("server.port", port));
        }
        if let Some(bind) = &self.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(level) = &self.log_level {
            figment = figment.merge(Serialized::default("log.level", level));
        }
        if !self.members.is_empty() {
            figment = figment.merge(Serialized::default("cluster.members", &self.members));
        }
        if let Some(secret) = &self.cluster_secret {
            figment = figment.merge(Serialized::default("cluster.secret", secret));
        }
        figment
    }

    /// The `--local-cluster` supervisor, if asked for; nodes inherit `--config` and `--log-level`.
    fn local_cluster(&self) -> Option<LocalCluster> {
        let nodes = self.local_cluster?;
        let mut extra_args = Vec::new();
        if let Some(path) = &self.config {
            extra_args.extend([OsString::from("--config"), path.clone().into_os_string()]);
        }
        if let Some(level) = &self.log_level {
            extra_args.extend([OsString::from("--log-level"), OsString::from(level)]);
        }
        Some(LocalCluster {
            nodes,
            base_port: self.port.unwrap_or(8848),
            extra_args,
        })
    }
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    if let Some(local_cluster) = flags.local_cluster() {
        return local_cluster.run(wait_for_signal()).await;
    }
    let config = Config::load(flags.config.as_deref(), flags.overrides())
        .context("loading configuration")?;
    init_logging(&config);
    let drain = std::time::Duration::from_millis(config.server.drain_ms);
    let server = Server::start(config).await?;
    wait_for_signal().await;
    tracing::info!(?drain, "shutting down gracefully");
    if tokio::time::timeout(drain, server.stop()).await.is_err() {
        tracing::warn!(
            ?drain,
            "graceful shutdown took longer than server.drain_ms; exiting"
        );
        // Tasks still running would hold the runtime's drop; the drain time is the promise.
        std::process::exit(0);
    }
    tracing::info!("stopped");
    Ok(())
}
