//! The load tool (`distro-load`): scenarios with fixed concurrency and duration against a
//! server on 127.0.0.1, HTTP/1.1 keep-alive and the Nacos gRPC protocol, a progress line
//! per second on stderr and one JSON summary line per scenario on stdout.
//!
//! [`engine`] drives keep-alive HTTP connections, [`scenarios`] defines what each scenario
//! sends, [`grpc`] and [`http`] are the clients, [`stats`] the histograms and summaries,
//! [`procfs`] reads the server's CPU and memory, [`cluster`] the multi-node scenarios.

pub mod cluster;
pub mod engine;
pub mod grpc;
pub mod http;
pub mod procfs;
pub mod scenarios;
pub mod soak;
pub mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};

/// Longest any scenario may run in total (set-up included): every loop is bounded by it.
pub const SCENARIO_TIME_MAX: Duration = Duration::from_secs(900);

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The HTTP stack's floor: `GET /nacos/v1/console/health/liveness` (answers `OK`).
    Liveness,
    /// HTTP v1 register, a new ip:port every request.
    Register,
    /// HTTP v1 light beats against N pre-registered instances.
    Beat,
    /// HTTP v1 full beats (with the `beat` JSON) against N pre-registered instances.
    BeatFull,
    /// HTTP v1 list of a service with N instances.
    List,
    /// HTTP v1 deregister of N pre-registered instances (ends early when all are gone).
    Deregister,
    /// gRPC register (update in place, a new ip:port every request), one service per connection.
    GrpcRegister,
    /// gRPC query of a service with N instances.
    GrpcQuery,
    /// Subscribe on one gRPC connection, change on another, time until the push arrives.
    PushLatency,
    /// Server RSS idle, after registering N instances, and under beats.
    Memory,
    /// Cluster: write on the target node, poll the others until visible.
    Convergence,
    /// Cluster: time for a restarted node to become ready with N instances registered.
    SnapshotLoad,
    /// Cluster: `distro_verify_bytes_total` per verify round, from `/metrics`.
    VerifyBytes,
    /// Cluster: constant churn for the duration, memory and queue depths sampled, then
    /// every node must drop every soak instance (`benches/soak.sh`).
    Soak,
}

impl Scenario {
    /// The name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Liveness => "liveness",
            Self::Register => "register",
            Self::Beat => "beat",
            Self::BeatFull => "beat-full",
            Self::List => "list",
            Self::Deregister => "deregister",
            Self::GrpcRegister => "grpc-register",
            Self::GrpcQuery => "grpc-query",
            Self::PushLatency => "push-latency",
            Self::Memory => "memory",
            Self::Convergence => "convergence",
            Self::SnapshotLoad => "snapshot-load",
            Self::VerifyBytes => "verify-bytes",
            Self::Soak => "soak",
        }
    }

    /// Instances registered before the measurement when `--instances` is not given.
    pub fn default_instances(self) -> u64 {
        match self {
            Self::List | Self::GrpcQuery => 10,
            Self::Beat | Self::BeatFull | Self::Memory | Self::Deregister => 100_000,
            Self::SnapshotLoad => 100_000,
            Self::Soak => 2_000,
            Self::Liveness
            | Self::Register
            | Self::GrpcRegister
            | Self::PushLatency
            | Self::Convergence
            | Self::VerifyBytes => 0,
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// HTTP address of the server (127.0.0.1 only).
    #[arg(long, default_value = "127.0.0.1:8848")]
    pub target: String,
    /// gRPC SDK address; default: the HTTP port + 1000.
    #[arg(long)]
    pub grpc_target: Option<String>,
    /// Connections, each with one request in flight.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Instances registered before the measurement (scenario default when absent).
    #[arg(long, short = 'n')]
    pub instances: Option<u64>,
    /// Server process to read CPU time and RSS of (`/proc/<pid>`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Load threads (1 = a current-thread runtime, the r-nacos comparison setting).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// HTTP client implementation.
    #[arg(long, value_enum, default_value_t = http::ClientKind::Raw)]
    pub client: http::ClientKind,
    /// Other cluster nodes' HTTP addresses, comma-separated (cluster scenarios).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Changes (push-latency, convergence) or rounds (verify-bytes) to measure.
    #[arg(long, default_value_t = 100)]
    pub changes: usize,
    /// Command that (re)starts a node for snapshot-load, run with `sh -c`; it must print
    /// nothing required and return once the process is launched.
    #[arg(long)]
    pub restart_cmd: Option<String>,
    /// Label added to the summary (e.g. `pinned`).
    #[arg(long)]
    pub label: Option<String>,
    /// Total HTTP requests per second the soak's workers aim at (0: as fast as they can).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Process ids of the target and of `--nodes`, in that order (soak: RSS per node).
    #[arg(long, value_delimiter = ',')]
    pub node_pids: Vec<u32>,
}

impl Options {
    /// Defaults, for tests and programmatic use.
    pub fn for_target(target: SocketAddr) -> Self {
        Self {
            target: target.to_string(),
            grpc_target: None,
            concurrency: 32,
            duration: 10.0,
            warmup: 1.0,
            instances: None,
            server_pid: None,
            threads: 1,
            client: http::ClientKind::Raw,
            nodes: Vec::new(),
            changes: 100,
            restart_cmd: None,
            label: None,
            rate: 2000.0,
            node_pids: Vec::new(),
        }
    }

    /// The HTTP address, checked to be on the loopback interface.
    pub fn http_addr(&self) -> anyhow::Result<SocketAddr> {
        loopback(&self.target)
    }

    /// The gRPC SDK address (HTTP port + 1000 unless given).
    pub fn grpc_addr(&self) -> anyhow::Result<SocketAddr> {
        match &self.grpc_target {
            Some(target) => loopback(target),
            None => {
                let http = self.http_addr()?;
                let port = http
                    .port()
                    .checked_add(1000)
                    .context("HTTP port too high for a gRPC port at +1000")?;
                Ok(SocketAddr::new(http.ip(), port))
            }
        }
    }

    /// The other nodes' HTTP addresses, checked.
    pub fn node_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        self.nodes.iter().map(|n| loopback(n)).collect()
    }

    /// Instances for `scenario`.
    pub fn instances_for(&self, scenario: Scenario) -> u64 {
        self.instances
            .unwrap_or_else(|| scenario.default_instances())
    }

    /// The measured window.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.clamp(0.1, SCENARIO_TIME_MAX.as_secs_f64()))
    }

    /// The warm-up before it.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup.clamp(0.0, 60.0))
    }
}

/// Resolves `text` and refuses anything but a loopback address.
pub fn loopback(text: &str) -> anyhow::Result<SocketAddr> {
    let addr = text
        .to_socket_addrs()
        .with_context(|| format!("bad address {text}"))?
        .next()
        .with_context(|| format!("{text} resolves to nothing"))?;
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: the load tool only targets this machine");
    }
    Ok(addr)
}

/// Runs one scenario and returns its summary as JSON.
pub async fn run(scenario: Scenario, options: &Options) -> anyhow::Result<serde_json::Value> {
    let summary = tokio::time::timeout(SCENARIO_TIME_MAX, async {
        match scenario {
            Scenario::Liveness
            | Scenario::Register
            | Scenario::Beat
            | Scenario::BeatFull
            | Scenario::List
            | Scenario::Deregister
            | Scenario::Memory => scenarios::http(scenario, options).await,
            Scenario::GrpcRegister | Scenario::GrpcQuery => {
                scenarios::grpc(scenario, options).await
            }
            Scenario::PushLatency => scenarios::push_latency(options).await,
            Scenario::Convergence => cluster::convergence(options).await,
            Scenario::SnapshotLoad => cluster::snapshot_load(options).await,
            Scenario::VerifyBytes => cluster::verify_bytes(options).await,
            Scenario::Soak => soak::soak(options).await,
        }
    })
    .await
    .context("scenario ran longer than its time limit")??;
    let mut json = summary.to_json();
    if let Some(map) = json.as_object_mut() {
        if let Some(label) = &options.label {
            map.insert("label".into(), serde_json::json!(label));
        }
        // The 1-minute load average at the end: a busy machine makes a run worthless.
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        if let Some(one) = loadavg
            .split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
        {
            map.insert("loadavg".into(), serde_json::json!(one));
        }
    }
    Ok(json)
}
