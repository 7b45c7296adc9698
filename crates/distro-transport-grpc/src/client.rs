//! The client side of the cluster port: one reused channel per peer, and the failure
//! detector's [`GrpcProber`].
//!
//! A peer is named by its member address (`ip:port` of its HTTP port); its cluster port is
//! that port plus the configured offset (1001 by default). [`PeerChannels`] creates a
//! channel the first time a peer is used and keeps it: tonic channels connect lazily and
//! reconnect by themselves, so a peer that restarts is reached again through the same
//! channel. Every call made through [`PeerChannels::client`] carries the cluster secret.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use distro_cluster::{MemberAddress, MemberInfo, ProbeError, Prober};
use parking_lot::Mutex;
use tonic::codegen::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::auth::{AttachSecret, ClusterAuth};
use crate::net::{Connector, SharedNetwork, SocketOptions, TokioNetwork};
use crate::proto::MemberReport;
use crate::proto::cluster_client;
use crate::server::to_report;

/// A channel to one peer that attaches the cluster secret to every call.
pub type AuthedChannel = InterceptedService<Channel, AttachSecret>;

/// The `distro.v1.Cluster` client stub over an [`AuthedChannel`].
pub type ClusterClient = cluster_client::ClusterClient<AuthedChannel>;

/// Time between HTTP/2 pings on an open channel. A connection whose peer vanished without a
/// reset (a host gone, a dropped route) is closed after one unanswered ping, so the next call
/// dials afresh instead of queueing on a dead socket for the kernel's retransmission minutes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// How long a ping may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the channels to peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// A peer's cluster port is its HTTP port plus this.
    pub port_offset: u16,
    /// Longest a connection attempt, and a call, may take.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            port_offset: crate::CLUSTER_PORT_OFFSET_DEFAULT,
            timeout: distro_cluster::probe::PROBE_TIMEOUT_DEFAULT,
        }
    }
}

/// Why no channel can be made for a peer address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAddressError {
    /// The address is not `ip:port`.
    #[error("invalid peer address {address:?}: {reason}")]
    Invalid {
        /// The address given.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// HTTP port plus offset is beyond 65535.
    #[error("peer {0}: its cluster port would exceed 65535")]
    PortOverflow(String),
}

/// One lazily connected channel per peer, shared by every caller on this node.
#[derive(Debug)]
pub struct PeerChannels {
    config: ClientConfig,
    attach: AttachSecret,
    channels: Mutex<HashMap<String, Channel>>,
    network: SharedNetwork,
}

impl PeerChannels {
    /// Channels that authenticate with `auth`.
    pub fn new(config: ClientConfig, auth: &ClusterAuth) -> Self {
        Self {
            config,
            attach: auth.client_interceptor(),
            channels: Mutex::new(HashMap::new()),
            network: TokioNetwork::shared(),
        }
    }

    /// Dials peers over `network` instead of the operating system's TCP.
    pub fn with_network(mut self, network: SharedNetwork) -> Self {
        self.network = network;
        self
    }

    /// The settings these channels use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A client for `peer` (its member address), reusing the peer's channel.
    ///
    /// Must be called inside a tokio runtime (a new channel starts a background task).
    pub fn client(&self, peer: &str) -> Result<ClusterClient, PeerAddressError> {
        let channel = self.channel(peer)?;
        // Snapshot chunks and sync batches are bounded by the kernel, but one client's record
        // can be large (a big batch registration): accept what the server side accepts.
        Ok(
            cluster_client::ClusterClient::with_interceptor(channel, self.attach.clone())
                .max_decoding_message_size(crate::MESSAGE_LEN_MAX)
                .max_encoding_message_size(crate::MESSAGE_LEN_MAX),
        )
    }

    /// Drops `peer`'s channel: the next call dials a new connection.
    pub fn reset(&self, peer: &str) {
        self.channels.lock().remove(peer);
    }

    /// Drops the channels of peers for which `keep` is false (peers no longer listed).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.channels.lock().retain(|peer, _| keep(peer));
    }

    /// How many peers have a channel.
    pub fn len(&self) -> usize {
        self.channels.lock().len()
    }

    /// Whether no peer has a channel.
    pub fn is_empty(&self) -> bool {
        self.channels.lock().is_empty()
    }

    /// The cached channel of `peer`, created on first use.
    fn channel(&self, peer: &str) -> Result<Channel, PeerAddressError> {
        if let Some(channel) = self.channels.lock().get(peer) {
            return Ok(channel.clone());
        }
        let uri = cluster_uri(peer, self.config.port_offset)?;
        let endpoint = Endpoint::from_shared(uri).map_err(|error| PeerAddressError::Invalid {
            address: peer.to_owned(),
            reason: error.to_string(),
        })?;
        // No channel-wide call timeout: probes set their own, and Distro bounds its syncs and
        // snapshot streams (which may take seconds) itself.
        // Dialed through the node's network (TCP with `TCP_NODELAY` in production).
        let connector = Connector::new(
            Arc::clone(&self.network),
            SocketOptions {
                nodelay: true,
                keepalive: None,
            },
        );
        let channel = endpoint
            .connect_timeout(self.config.timeout)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .connect_with_connector_lazy(connector);
        // Two callers may race to create the same peer's channel; the first one stored wins
        // so every caller shares one connection.
        let mut channels = self.channels.lock();
        Ok(channels.entry(peer.to_owned()).or_insert(channel).clone())
    }
}

/// `http://host:cluster_port` for the member address `peer`.
pub fn cluster_uri(peer: &str, port_offset: u16) -> Result<String, PeerAddressError> {
    let address = MemberAddress::parse(peer, distro_cluster::DEFAULT_PORT).map_err(|error| {
        PeerAddressError::Invalid {
            address: peer.to_owned(),
            reason: error.to_string(),
        }
    })?;
    let port = address
        .port()
        .checked_add(port_offset)
        .ok_or_else(|| PeerAddressError::PortOverflow(peer.to_owned()))?;
    Ok(format!("http://{}", with_port(&address, port)))
}

/// `host:port` (`[ipv6]:port`) of `address` with another port.
fn with_port(address: &MemberAddress, port: u16) -> String {
    match address.host().parse::<IpAddr>() {
        Ok(ip) => MemberAddress::from_ip(ip, port).to_string(),
        Err(_) => format!("{}:{port}", address.host()),
    }
}

/// The failure detector's transport: a `Report` call over the peer's channel.
#[derive(Debug)]
pub struct GrpcProber {
    channels: Arc<PeerChannels>,
    /// Last failure kind per peer, so a new kind of failure is logged once, not every second.
    last_failure: Mutex<HashMap<String, &'static str>>,
}

impl GrpcProber {
    /// A prober over `channels` (which may be shared with other cluster callers).
    pub fn new(channels: Arc<PeerChannels>) -> Self {
        Self {
            channels,
            last_failure: Mutex::new(HashMap::new()),
        }
    }

    /// The channels this prober uses.
    pub fn channels(&self) -> &Arc<PeerChannels> {
        &self.channels
    }

    /// Sends one report to `peer` and returns its answer.
    async fn call(&self, peer: &str, self_info: &MemberInfo) -> Result<MemberInfo, ProbeError> {
        let mut client = self
            .channels
            .client(peer)
            .map_err(|error| ProbeError::Transport(error.to_string()))?;
        let timeout = self.channels.config.timeout;
        let mut request = tonic::Request::new(to_report(self_info));
        request.set_timeout(timeout);
        let answer = client
            .report(request)
            .await
            .map_err(|status| classify(&status, timeout))?;
        Ok(from_report(answer.into_inner()))
    }

    /// Logs when the kind of failure of a peer changes (and when it recovers).
    fn note(&self, peer: &str, result: &Result<MemberInfo, ProbeError>) {
        let kind = result.as_ref().err().map(failure_kind);
        let mut last = self.last_failure.lock();
        let previous = match kind {
            Some(kind) => last.insert(peer.to_owned(), kind),
            None => last.remove(peer),
        };
        if previous == kind {
            return;
        }
        match result {
            Err(ProbeError::Rejected(reason)) if reason.starts_with("unauthenticated") => {
                tracing::warn!(peer, %reason, "peer refused our cluster secret: every node needs the same cluster.secret");
            }
            Err(error) => tracing::info!(peer, %error, "cluster probes to peer failing"),
            Ok(_) => tracing::info!(peer, "cluster probes to peer succeed again"),
        }
    }
}

impl Prober for GrpcProber {
    async fn probe(&self, peer: &str, self_info: &MemberInfo) -> Result<MemberInfo, ProbeError> {
        let result = self.call(peer, self_info).await;
        // A timed-out probe may sit on a connection that is dead without a reset: a
        // partition or a stateful firewall dropped its packets. HTTP/2 keepalive notices
        // only after its interval and timeout (10 s), and until then every call to the peer,
        // Distro's included, queues on that connection, so a healed partition looked unhealed
        // for seconds (found by the simulation, seed 4354685564936846354). Dialing afresh on
        // the next probe costs one connection per timeout at most.
        if matches!(result, Err(ProbeError::Timeout(_))) {
            self.channels.reset(peer);
        }
        self.note(peer, &result);
        result
    }
}

/// Member info from the wire form (the failure detector treats the address as informative).
fn from_report(report: MemberReport) -> MemberInfo {
    MemberInfo {
        address: report.address,
        version: report.version,
        ready: report.ready,
    }
}

/// A short name of the kind of failure, for change-only logging.
fn failure_kind(error: &ProbeError) -> &'static str {
    match error {
        ProbeError::ConnectionRefused => "refused",
        ProbeError::Timeout(_) => "timeout",
        ProbeError::Rejected(_) => "rejected",
        ProbeError::Transport(_) => "transport",
    }
}

/// Maps a failed call to the detector's error kinds.
///
/// tonic reports every transport failure as `UNAVAILABLE` (or `UNKNOWN`) with the cause in
/// the error's source chain, so the chain is searched for the I/O error that says what
/// happened: a refused connection means nothing listens (the detector may mark the peer
/// DOWN at once), a timeout means the peer is slow or gone.
pub fn classify(status: &Status, timeout: Duration) -> ProbeError {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => {
            return ProbeError::Rejected(format!("unauthenticated: {}", status.message()));
        }
        Code::DeadlineExceeded | Code::Cancelled => return ProbeError::Timeout(timeout),
        Code::Unavailable | Code::Unknown | Code::Internal => {}
        _ => return ProbeError::Rejected(format!("{:?}: {}", status.code(), status.message())),
    }
    let mut source: Option<&(dyn StdError + 'static)> = status
        .source()
        .map(|error| error as &(dyn StdError + 'static));
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return ProbeError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return ProbeError::Timeout(timeout),
                _ => {}
            }
        }
        if error.to_string().contains("timed out") {
            return ProbeError::Timeout(timeout);
        }
        source = error.source();
    }
    ProbeError::Transport(describe(status))
}

/// The status message followed by its source chain, for logs.
fn describe(status: &Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source: Option<&(dyn StdError + 'static)> = status
        .source()
        .map(|error| error as &(dyn StdError + 'static));
    while let Some(error) = source {
        text.push_str(": ");
        text.push_str(&error.to_string());
        source = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_uri_adds_the_offset() {
        assert_eq!(
            cluster_uri("127.0.0.1:8848", 1001).unwrap(),
            "http://127.0.0.1:9849"
        );
        assert_eq!(
            cluster_uri("[::1]:8848", 1001).unwrap(),
            "http://[::1]:9849"
        );
        assert_eq!(cluster_uri("Node-A:8848", 1).unwrap(), "http://node-a:8849");
        assert!(matches!(
            cluster_uri("127.0.0.1:65000", 1001),
            Err(PeerAddressError::PortOverflow(_))
        ));
        assert!(matches!(
            cluster_uri("not valid", 1001),
            Err(PeerAddressError::Invalid { .. })
        ));
    }

    /// Regression (simulation seed 4354685564936846354): a reset drops the peer's channel,
    /// so the next call dials a new connection instead of queueing on a dead one.
    #[tokio::test]
    async fn reset_drops_the_channel_of_one_peer() {
        let channels = PeerChannels::new(ClientConfig::default(), &ClusterAuth::Insecure);
        channels.client("127.0.0.1:8848").unwrap();
        channels.client("127.0.0.1:8858").unwrap();
        assert_eq!(channels.len(), 2);
        channels.reset("127.0.0.1:8848");
        assert_eq!(channels.len(), 1);
        channels.client("127.0.0.1:8848").unwrap();
        assert_eq!(channels.len(), 2);
    }

    #[test]
    fn statuses_map_to_probe_errors() {
        let timeout = Duration::from_millis(5);
        assert!(matches!(
            classify(&Status::unauthenticated("wrong"), timeout),
            ProbeError::Rejected(reason) if reason.starts_with("unauthenticated")
        ));
        assert_eq!(
            classify(&Status::deadline_exceeded("late"), timeout),
            ProbeError::Timeout(timeout)
        );
        assert!(matches!(
            classify(&Status::invalid_argument("bad"), timeout),
            ProbeError::Rejected(_)
        ));
        assert!(matches!(
            classify(&Status::unavailable("gone"), timeout),
            ProbeError::Transport(_)
        ));
        let refused = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(classify(&refused, timeout), ProbeError::ConnectionRefused);
    }
}
