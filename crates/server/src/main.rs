//! The `distro-server` binary: flags, configuration, logging, and running until a signal.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use distro_server::{Config, Server};
use figment::Figment;
use figment::providers::Serialized;
use tracing_subscriber::EnvFilter;

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
        figment
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
    let config = Config::load(flags.config.as_deref(), flags.overrides())
        .context("loading configuration")?;
    init_logging(&config);
    let server = Server::start(config).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}
