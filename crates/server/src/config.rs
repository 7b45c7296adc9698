//! Configuration: built-in defaults < TOML file < `DISTRO_` environment < command-line flags.

use std::fmt;
use std::path::{Path, PathBuf};

use distro_naming::{NamingConfig, PushConfig};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listeners and HTTP limits.
    pub server: ServerConfig,
    /// Registry timers and limits.
    pub naming: NamingConfig,
    /// The Nacos 2.x SDK gRPC front door: liveness, keepalive, limits.
    pub grpc: GrpcConfig,
    /// Push to subscribers: merge delay, timeout, retry (`nacos.naming.push.*`).
    pub push: PushConfig,
    /// Cluster membership, lookups, failure detection and the cluster port.
    pub cluster: ClusterConfig,
    /// Replication between nodes.
    pub distro: DistroSettings,
    /// Logging.
    pub log: LogConfig,
}

/// Listeners and HTTP limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the listeners bind to.
    pub bind: String,
    /// HTTP port (Nacos `server.port`); 0 picks a free one (tests).
    pub port: u16,
    /// The SDK gRPC port is the HTTP port plus this (Nacos: 1000).
    pub grpc_port_offset: u16,
    /// Largest HTTP request body accepted, in bytes.
    pub body_len_max: usize,
    /// Most HTTP connections open at once from one client IP (0 = no limit).
    pub connections_per_ip_max: usize,
    /// Requests per second one HTTP connection may keep sending (token bucket refill;
    /// 0 = no limit).
    pub request_rate_per_connection: u32,
    /// Requests one HTTP connection may send in a burst above the rate (bucket size).
    pub request_burst_per_connection: u32,
    /// Test only: lets `PUT /nacos/v1/ns/operator/faults` cut cluster traffic to chosen peers.
    pub fault_injection: bool,
    /// On SIGTERM/SIGINT, the most time the graceful shutdown may take (readiness off, pending
    /// syncs flushed, SDK clients reset, listeners closed) before the process exits anyway (ms).
    pub drain_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0".to_owned(),
            port: 8848,
            grpc_port_offset: 1000,
            body_len_max: 1024 * 1024,
            connections_per_ip_max: 1_024,
            // Far above any real client (the benchmarks send ~1 000/s per connection) but a
            // cap on one connection's share of the node.
            request_rate_per_connection: 10_000,
            request_burst_per_connection: 20_000,
            fault_injection: false,
            drain_ms: 10_000,
        }
    }
}

/// The SDK gRPC front door, on the HTTP port plus `server.grpc_port_offset`. Defaults are
/// Nacos 2.5's where Nacos has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// A connection silent this long gets a `ClientDetectionRequest` (ms); Nacos
    /// `KEEP_ALIVE_TIME`.
    pub idle_ms: u64,
    /// A detection unanswered this long removes the connection and its instances (ms).
    pub detection_timeout_ms: u64,
    /// How often connections are checked for idleness (ms); Nacos's ejector period.
    pub detection_interval_ms: u64,
    /// HTTP/2 PING interval on every connection, to notice half-open ones (ms; 0 = off).
    pub http2_keepalive_interval_ms: u64,
    /// A PING unanswered this long closes the connection (ms).
    pub http2_keepalive_timeout_ms: u64,
    /// TCP keepalive idle time on accepted sockets (ms; 0 = off).
    pub tcp_keepalive_ms: u64,
    /// Largest inbound message in bytes (Nacos: 10 MiB).
    pub message_len_max: usize,
    /// Most SDK connections open at once from one client IP (0 = no limit).
    pub connections_per_ip_max: usize,
    /// Requests per second one SDK connection may keep sending (0 = no limit).
    pub request_rate_per_connection: u32,
    /// Requests one SDK connection may send in a burst above the rate.
    pub request_burst_per_connection: u32,
    /// Most messages waiting to be written to one connection's stream.
    pub stream_queue_len_max: usize,
    /// On shutdown, how long clients get to acknowledge `ConnectResetRequest` before their
    /// streams are closed (ms).
    pub reset_grace_ms: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            idle_ms: 20_000,
            detection_timeout_ms: 5_000,
            detection_interval_ms: 3_000,
            http2_keepalive_interval_ms: 60_000,
            http2_keepalive_timeout_ms: 20_000,
            tcp_keepalive_ms: 60_000,
            message_len_max: 10 * 1024 * 1024,
            connections_per_ip_max: 1_024,
            request_rate_per_connection: 10_000,
            request_burst_per_connection: 20_000,
            stream_queue_len_max: 1_024,
            reset_grace_ms: 1_000,
        }
    }
}

/// Cluster membership: where peers come from (at most one of `members`, `conf_file`,
/// `address_server`, `dns`; none means standalone), how this node is listed, the shared
/// secret of the cluster port (HTTP port + `port_offset`) and the failure detector's timers.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// A static member list, `ip[:port]` each (port defaults to the HTTP port); an entry may
    /// hold several comma-separated addresses, and a plain string is one entry (flag `--members`).
    #[serde(deserialize_with = "string_or_list")]
    pub members: Vec<String>,
    /// A `cluster.conf` file (one `ip[:port]` per line, `#` comments), re-read when it changes.
    pub conf_file: Option<PathBuf>,
    /// An address server URL answering Nacos's plain-text `serverlist`, polled.
    pub address_server: Option<String>,
    /// A DNS name resolving to every member (a Kubernetes headless service), re-resolved.
    pub dns: Option<String>,
    /// This node's `ip[:port]` as peers list it; default: the bind address if specific, else
    /// this host's first non-loopback address, else 127.0.0.1, with the HTTP port.
    pub advertise: Option<String>,
    /// The shared cluster secret (flag `--cluster-secret`); required when there are peers.
    pub secret: Option<String>,
    /// Run a cluster without a secret (anyone reaching the cluster port can join).
    pub insecure: bool,
    /// The cluster port is the HTTP port plus this (Nacos: 1001).
    pub port_offset: u16,
    /// Time between two probe rounds (ms).
    pub probe_interval_ms: u64,
    /// Time one probe may take (ms).
    pub probe_timeout_ms: u64,
    /// Consecutive failed probes that make a peer DOWN (a refused connection does at once).
    pub down_after_failures: u32,
    /// Time between two reads of `conf_file` (ms).
    pub conf_file_poll_interval_ms: u64,
    /// Time between two requests to `address_server` (ms).
    pub address_server_poll_interval_ms: u64,
    /// Time between two resolutions of `dns` (ms).
    pub dns_poll_interval_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            members: Vec::new(),
            conf_file: None,
            address_server: None,
            dns: None,
            advertise: None,
            secret: None,
            insecure: false,
            port_offset: 1001,
            probe_interval_ms: 1000,
            probe_timeout_ms: 500,
            down_after_failures: 3,
            conf_file_poll_interval_ms: 1000,
            address_server_poll_interval_ms: 5000,
            dns_poll_interval_ms: 5000,
        }
    }
}

/// Never prints the secret (configurations end up in logs and panic messages).
impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("members", &self.members)
            .field("conf_file", &self.conf_file)
            .field("address_server", &self.address_server)
            .field("dns", &self.dns)
            .field("advertise", &self.advertise)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("insecure", &self.insecure)
            .field("port_offset", &self.port_offset)
            .field("probe_interval_ms", &self.probe_interval_ms)
            .field("probe_timeout_ms", &self.probe_timeout_ms)
            .field("down_after_failures", &self.down_after_failures)
            .finish_non_exhaustive()
    }
}

/// Accepts a list or one string (`DISTRO_CLUSTER__MEMBERS=a:8848,b:8848` arrives as a string).
fn string_or_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(text) if text.trim().is_empty() => Vec::new(),
        OneOrMany::One(text) => vec![text],
        OneOrMany::Many(list) => list,
    })
}

/// Replication timers and limits (see `distro_core::DistroConfig` for what each does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistroSettings {
    /// Merge window before a change is sent to peers (Nacos: 1000; ours is batched).
    pub sync_delay_ms: u64,
    /// Wait before re-sending a failed sync (Nacos: 3000).
    pub sync_retry_delay_ms: u64,
    /// Timeout of one sync or verify call (Nacos: 3000).
    pub rpc_timeout_ms: u64,
    /// Verify round period, jittered ±20 % (Nacos: 5000).
    pub verify_interval_ms: u64,
    /// A replica not renewed for this long is removed (Nacos: 180000).
    pub replica_expiry_ms: u64,
    /// Connection clients of a DOWN owner are removed after this grace.
    pub owner_down_grace_ms: u64,
    /// Replicas their owner disowned are removed after this grace.
    pub orphan_grace_ms: u64,
    /// How often expiry runs.
    pub sweep_interval_ms: u64,
    /// Expiry pauses if one sweep would remove more than this share of replicas.
    pub self_preservation_fraction: f64,
    /// Wait between snapshot load attempts after a failed transfer (Nacos: 30000).
    pub load_retry_delay_ms: u64,
    /// A starting node that no peer can serve a snapshot within this starts empty.
    pub load_peer_wait_ms: u64,
    /// Timeout of a whole snapshot transfer (Nacos: 30000).
    pub load_timeout_ms: u64,
    /// Largest snapshot chunk, bytes.
    pub snapshot_chunk_bytes: usize,
    /// Largest sync batch, bytes.
    pub sync_batch_bytes: usize,
    /// Most keys waiting for one peer.
    pub peer_backlog_len_max: usize,
    /// Digest buckets per owner.
    pub bucket_count: u32,
}

impl Default for DistroSettings {
    fn default() -> Self {
        let core = distro_core::DistroConfig::default();
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        Self {
            sync_delay_ms: ms(core.sync_delay),
            sync_retry_delay_ms: ms(core.sync_retry_delay),
            rpc_timeout_ms: ms(core.rpc_timeout),
            verify_interval_ms: ms(core.verify_interval),
            replica_expiry_ms: ms(core.replica_expiry),
            owner_down_grace_ms: ms(core.owner_down_grace),
            orphan_grace_ms: ms(core.orphan_grace),
            sweep_interval_ms: ms(core.sweep_interval),
            self_preservation_fraction: core.self_preservation_fraction,
            load_retry_delay_ms: ms(core.load_retry_delay),
            load_peer_wait_ms: ms(core.load_peer_wait),
            load_timeout_ms: ms(core.load_timeout),
            snapshot_chunk_bytes: core.snapshot_chunk_bytes,
            sync_batch_bytes: core.sync_batch_bytes,
            peer_backlog_len_max: core.peer_backlog_len_max,
            bucket_count: core.bucket_count,
        }
    }
}

impl DistroSettings {
    /// The kernel's configuration; tombstones are kept twice the replica expiry.
    pub fn to_core(&self) -> distro_core::DistroConfig {
        use std::time::Duration;
        let ms = Duration::from_millis;
        distro_core::DistroConfig {
            sync_delay: ms(self.sync_delay_ms),
            sync_retry_delay: ms(self.sync_retry_delay_ms),
            rpc_timeout: ms(self.rpc_timeout_ms),
            verify_interval: ms(self.verify_interval_ms),
            replica_expiry: ms(self.replica_expiry_ms),
            owner_down_grace: ms(self.owner_down_grace_ms),
            orphan_grace: ms(self.orphan_grace_ms),
            tombstone_keep: ms(self.replica_expiry_ms.saturating_mul(2)),
            sweep_interval: ms(self.sweep_interval_ms),
            self_preservation_fraction: self.self_preservation_fraction,
            load_retry_delay: ms(self.load_retry_delay_ms),
            load_peer_wait: ms(self.load_peer_wait_ms),
            load_timeout: ms(self.load_timeout_ms),
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            sync_batch_bytes: self.sync_batch_bytes,
            peer_backlog_len_max: self.peer_backlog_len_max,
            bucket_count: self.bucket_count,
            ..distro_core::DistroConfig::default()
        }
    }
}

/// Log level and format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `distro_naming=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: "text".to_owned(),
        }
    }
}

impl Config {
    /// Layers defaults, the TOML file (if any), `DISTRO_` environment variables
    /// (`DISTRO_SERVER__PORT=8849`, `DISTRO_NAMING__HEART_BEAT_TIMEOUT_MS=20000`) and the
    /// given overrides (command-line flags), later layers winning.
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Env::prefixed("DISTRO_").split("__"))
            .merge(verbatim_env())
            .merge(overrides)
            .extract()
            .map_err(Box::new)
    }
}

/// Environment values taken as the exact text given. figment parses every `DISTRO_` value
/// (`0123` would become the number 123), which must not happen to a secret.
fn verbatim_env() -> Figment {
    let mut figment = Figment::new();
    if let Ok(secret) = std::env::var("DISTRO_CLUSTER__SECRET") {
        figment = figment.merge(Serialized::default("cluster.secret", secret));
    }
    figment
}

#[cfg(test)]
// figment's test jail returns its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn layers_file_then_environment_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file("distro.toml", "[server]\nport = 9000\n[naming]\nheart_beat_timeout_ms = 20000\nip_delete_timeout_ms = 40000\n")?;
            jail.set_env("DISTRO_NAMING__IP_DELETE_TIMEOUT_MS", "50000");
            let flags = Figment::new().merge(Serialized::default("server.bind", "127.0.0.1"));
            let config = Config::load(Some(Path::new("distro.toml")), flags).expect("valid config");
            assert_eq!(config.server.port, 9000);
            assert_eq!(config.server.bind, "127.0.0.1");
            assert_eq!(config.naming.heart_beat_timeout_ms, 20000);
            assert_eq!(config.naming.ip_delete_timeout_ms, 50000);
            assert_eq!(config.naming.beat_check_interval_ms, 5000);
            Ok(())
        });
    }

    #[test]
    fn limits_are_configurable_from_file_and_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "limits.toml",
                "[naming]\nservice_instances_max = 10\n[server]\nrequest_rate_per_connection = 0\n",
            )?;
            jail.set_env("DISTRO_GRPC__CONNECTIONS_PER_IP_MAX", "3");
            jail.set_env("DISTRO_NAMING__CLIENT_INSTANCES_MAX", "7");
            let config =
                Config::load(Some(Path::new("limits.toml")), Figment::new()).expect("valid config");
            assert_eq!(config.naming.service_instances_max, 10);
            assert_eq!(config.naming.client_instances_max, 7);
            assert_eq!(config.server.request_rate_per_connection, 0);
            assert_eq!(config.grpc.connections_per_ip_max, 3);
            assert_eq!(config.server.connections_per_ip_max, 1024, "default kept");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[naming]\nheart_beat_timeout = 1\n")?;
            assert!(Config::load(Some(Path::new("bad.toml")), Figment::new()).is_err());
            Ok(())
        });
    }
}
