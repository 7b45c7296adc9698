//! Clients: the unit that owns instances (an `ip:port` HTTP client or one gRPC connection).

use std::fmt;
use std::sync::Arc;

use distro_core::moment::Moment;
use thin_vec::ThinVec;
use tokio::time::Instant;

use crate::instance::InstanceRecord;
use crate::names::ServiceKey;
use crate::service_map::ServiceMap;

/// Id of a client: `ip:port#true` for HTTP clients, the connection id for gRPC ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// The ephemeral HTTP client that owns instances registered at `ip:port`.
    pub fn ip_port(ip: &str, port: u16) -> Self {
        Self(Arc::from(format!("{ip}:{port}#true")))
    }

    /// A client id as given (a connection id, or an id read from a peer).
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// Which kind of client the id names: ids with `#` are `ip:port` clients.
    pub fn kind(&self) -> ClientKind {
        if self.0.contains('#') {
            ClientKind::IpPort
        } else {
            ClientKind::Connection
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For `ip:port` clients, the `ip:port` part that decides the responsible node.
    pub fn responsible_tag(&self) -> &str {
        self.0.split_once('#').map_or(&self.0, |(tag, _)| tag)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two kinds of ephemeral client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// Registered over HTTP, kept alive by beats, id `ip:port#true`.
    IpPort,
    /// One gRPC connection; its instances live as long as the connection.
    Connection,
}

/// What a client publishes for one service: one instance, or one batch (gRPC only).
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    /// A single instance.
    One(InstanceRecord),
    /// A batch registered at once; replaced as a whole.
    Batch(Vec<InstanceRecord>),
}

impl Published {
    /// The instances, whatever the shape.
    pub fn instances(&self) -> &[InstanceRecord] {
        match self {
            Self::One(record) => std::slice::from_ref(record),
            Self::Batch(records) => records,
        }
    }

    /// The instances, mutable.
    pub fn instances_mut(&mut self) -> &mut [InstanceRecord] {
        match self {
            Self::One(record) => std::slice::from_mut(record),
            Self::Batch(records) => records,
        }
    }
}

/// Who subscribed to a service through a connection, for pushes and the subscriber list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscriber {
    /// Client address.
    pub ip: String,
    /// Client agent (SDK version string).
    pub agent: String,
    /// Application name.
    pub app: String,
    /// Cluster filter (comma list) the pushes are computed with.
    pub clusters: String,
}

/// One client's record: its instances per service, subscriptions and revision.
///
/// Kept for every client (100k of them are normal), so its times are [`Moment`]s and its
/// lists thin vectors: 96 bytes in the clients map instead of 168.
#[derive(Debug, Clone)]
pub struct Client {
    /// Id.
    pub id: ClientId,
    /// Bumped on every change of what the client publishes (including health flips).
    pub revision: u64,
    /// At most one entry per service.
    pub published: ServiceMap<Published>,
    /// Services this client subscribed to (connection clients).
    pub subscribed: ServiceMap<Subscriber>,
    /// Last register, deregister, subscribe or beat.
    pub last_updated: Moment,
    /// True for a client whose connection (or HTTP registration) is on this node; false for
    /// a replica received from its owner.
    pub native: bool,
    /// When this node last received a beat of the client: evidence that it is alive, which a
    /// peer's expiry of it (made without the beats) does not overrule.
    pub beat_here_at: Option<Moment>,
    /// Beat checks count silence from here at the earliest: when this node adopted the
    /// client or resumed its checks, a full timeout to beat here before it is judged.
    pub beats_judged_from: Moment,
    /// Services whose instances an owner expired since the client's last write (replicated):
    /// a node those instances beat may contest such a drop even when it comes with a newer
    /// client write, which a deregistration (a client write itself) never appears in.
    pub expired_since_write: ThinVec<ServiceKey>,
}

impl Client {
    /// An empty client created at `now`.
    pub fn new(id: ClientId, now: Instant) -> Self {
        Self {
            id,
            revision: 0,
            published: ServiceMap::new(),
            subscribed: ServiceMap::new(),
            last_updated: now.into(),
            native: true,
            beat_here_at: None,
            beats_judged_from: now.into(),
            expired_since_write: ThinVec::new(),
        }
    }

    /// Number of instances across services.
    pub fn instance_count(&self) -> usize {
        self.published.values().map(|p| p.instances().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_slot_stays_small() {
        // The clients map holds (ClientId, Client) per client: keep it at 96 bytes.
        assert!(
            size_of::<(ClientId, Client)>() <= 96,
            "{}",
            size_of::<(ClientId, Client)>()
        );
    }

    #[test]
    fn ids_tell_their_kind_and_tag() {
        let http = ClientId::ip_port("127.0.0.1", 80);
        assert_eq!(http.as_str(), "127.0.0.1:80#true");
        assert_eq!(http.kind(), ClientKind::IpPort);
        assert_eq!(http.responsible_tag(), "127.0.0.1:80");
        let grpc = ClientId::new("1623893550599_10.0.0.8_45624");
        assert_eq!(grpc.kind(), ClientKind::Connection);
    }
}
