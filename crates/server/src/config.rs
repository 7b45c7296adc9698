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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0".to_owned(),
            port: 8848,
            grpc_port_offset: 1000,
            body_len_max: 1024 * 1024,
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
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[naming]\nheart_beat_timeout = 1\n")?;
            assert!(Config::load(Some(Path::new("bad.toml")), Figment::new()).is_err());
            Ok(())
        });
    }
}
