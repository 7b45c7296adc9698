//! Two registries replicated through their Distro kernels over an in-memory transport:
//! registrations, removals, revision floors and `ip:port` ownership moving between nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use distro_core::{
    BoxFuture, Distro, DistroConfig, Peer, PeerState, SnapshotStream, SyncItem, Transport,
    TransportError, VerifyRequest, VerifyResponse,
};
use distro_naming::replication::bridge::Replication;
use distro_naming::replication::mapper::DistroMapper;
use distro_naming::replication::plugin::ClientDataPlugin;
use distro_naming::replication::record::CLIENT_DATA_TYPE;
use distro_naming::{ClientId, InstanceSpec, NamingConfig, Registry, ServiceKey};
use parking_lot::Mutex;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Net {
    nodes: Mutex<HashMap<String, Distro>>,
}

struct Link {
    net: Arc<Net>,
}

impl Link {
    fn to(&self, peer: &str) -> Result<Distro, TransportError> {
        self.net
            .nodes
            .lock()
            .get(peer)
            .cloned()
            .ok_or_else(|| TransportError::Unreachable(peer.into()))
    }
}

impl Transport for Link {
    fn sync<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
        items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.to(peer)?.on_sync(items);
            Ok(())
        })
    }
    fn verify<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
        request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async move { Ok(self.to(peer)?.on_verify(request)) })
    }
    fn snapshot<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        Box::pin(async move { self.to(peer)?.on_snapshot() })
    }
    fn query<'a>(
        &'a self,
        peer: &'a str,
        _: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async move { Ok(self.to(peer)?.on_query(key)) })
    }
}

struct Node {
    registry: Arc<Registry>,
    distro: Distro,
    replication: Arc<Replication>,
}

const A: &str = "10.0.0.1:8848";
const B: &str = "10.0.0.2:8848";

fn node(me: &str, net: &Arc<Net>, shutdown: &CancellationToken) -> Node {
    let registry = Arc::new(Registry::new(NamingConfig::default()));
    let plugin = Arc::new(ClientDataPlugin::new(Arc::clone(&registry)));
    let transport = Arc::new(Link {
        net: Arc::clone(net),
    });
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        sync_retry_delay: Duration::from_millis(100),
        ..DistroConfig::default()
    };
    let distro = Distro::new(
        me,
        CLIENT_DATA_TYPE,
        config,
        plugin.clone(),
        plugin,
        transport,
    );
    net.nodes.lock().insert(me.to_owned(), distro.clone());
    let mapper = Arc::new(DistroMapper::new(me, false));
    let replication = Replication::install(Arc::clone(&registry), distro.clone(), mapper);
    replication.rebalance(vec![A.into(), B.into()]);
    let other = if me == A { B } else { A };
    distro.set_members(
        vec![Peer {
            address: other.into(),
            state: PeerState::Up,
        }],
        Instant::now(),
    );
    distro.start(false, shutdown.clone());
    Node {
        registry,
        distro,
        replication,
    }
}

/// Lets the event dispatcher thread and the kernels' loops run (real time: the dispatcher
/// is an OS thread).
async fn settle() {
    sleep(Duration::from_millis(300)).await;
}

fn pair(shutdown: &CancellationToken) -> (Node, Node) {
    let (a, b, _) = pair_on_net(shutdown);
    (a, b)
}

/// Two nodes and the network between them, which a test can cut and heal.
fn pair_on_net(shutdown: &CancellationToken) -> (Node, Node, Arc<Net>) {
    let net = Arc::new(Net::default());
    let a = node(A, &net, shutdown);
    let b = node(B, &net, shutdown);
    a.distro.mark_loaded();
    b.distro.mark_loaded();
    (a, b, net)
}

impl Net {
    /// Cuts every link; returns what `heal` needs to restore them.
    fn cut(&self) -> HashMap<String, Distro> {
        std::mem::take(&mut *self.nodes.lock())
    }

    fn heal(&self, nodes: HashMap<String, Distro>) {
        self.nodes.lock().extend(nodes);
    }
}

/// Registers on A an `ip:port` client that A owns; returns it with its address.
fn register_client_of_a(a: &Node, service: &ServiceKey) -> (ClientId, String, u16) {
    let (ip, port) = tag_owned_by(a.replication.mapper());
    let id = ClientId::ip_port(&ip, port);
    a.registry
        .register(
            Instant::now(),
            &id,
            service,
            InstanceSpec::new(ip.clone(), port),
        )
        .unwrap();
    (id, ip, port)
}

/// An `ip:port` whose hash maps to `owner` in the two-node list.
fn tag_owned_by(owner: &DistroMapper) -> (String, u16) {
    (1..1000)
        .map(|port| ("192.168.1.1".to_owned(), port))
        .find(|(ip, port)| owner.responsible(&format!("{ip}:{port}")))
        .unwrap()
}

#[tokio::test]
async fn connection_clients_replicate_and_vanish_with_their_connection() {
    let shutdown = CancellationToken::new();
    let (a, b) = pair(&shutdown);
    let service = ServiceKey::new("", "", "orders");
    let conn = ClientId::new("1700000000000_10.9.9.9_5000");
    a.registry.connect(Instant::now(), conn.clone());
    let batch = vec![
        InstanceSpec::new("10.9.9.9", 1),
        InstanceSpec::new("10.9.9.9", 2),
    ];
    a.registry
        .batch_register(Instant::now(), &conn, &service, batch)
        .unwrap();
    settle().await;
    let view = b.registry.view(&service);
    assert_eq!(view.hosts.len(), 2);
    assert_eq!(
        view.hosts[0].instance_id,
        a.registry.view(&service).hosts[0].instance_id
    );
    assert!(!b.registry.is_native(&conn), "B holds a replica");

    a.registry.disconnect(Instant::now(), &conn);
    settle().await;
    assert!(b.registry.view(&service).hosts.is_empty());
    assert_eq!(b.registry.stats().clients, 0);
    shutdown.cancel();
}

#[tokio::test]
async fn ip_port_clients_replicate_from_their_owner_only() {
    let shutdown = CancellationToken::new();
    let (a, b) = pair(&shutdown);
    let service = ServiceKey::new("", "", "pay");
    let (id, _, _) = register_client_of_a(&a, &service);
    settle().await;
    assert_eq!(b.registry.view(&service).hosts.len(), 1);

    a.registry.deregister(Instant::now(), &id, &service);
    settle().await;
    assert!(b.registry.view(&service).hosts.is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn a_recreated_client_outranks_its_tombstone() {
    let shutdown = CancellationToken::new();
    let (a, b) = pair(&shutdown);
    let service = ServiceKey::new("", "", "pay");
    let (ip, port) = tag_owned_by(a.replication.mapper());
    let id = ClientId::ip_port(&ip, port);
    for round in 0..3 {
        a.registry
            .register(
                Instant::now(),
                &id,
                &service,
                InstanceSpec::new(ip.clone(), port),
            )
            .unwrap();
        settle().await;
        assert_eq!(
            b.registry.view(&service).hosts.len(),
            1,
            "round {round}: registered"
        );
        a.registry.disconnect(Instant::now(), &id);
        settle().await;
        assert!(
            b.registry.view(&service).hosts.is_empty(),
            "round {round}: removed"
        );
    }
    shutdown.cancel();
}

#[tokio::test]
async fn ip_port_clients_move_to_the_next_owner_when_theirs_goes_down() {
    let shutdown = CancellationToken::new();
    let (a, b) = pair(&shutdown);
    let service = ServiceKey::new("", "", "pay");
    let (id, ip, port) = register_client_of_a(&a, &service);
    settle().await;
    assert!(!b.distro.owns(id.as_str()));

    // A is DOWN: B is now responsible for everything and takes the client over.
    b.replication.rebalance(vec![B.into()]);
    settle().await;
    assert!(b.distro.owns(id.as_str()));
    assert!(b.replication.owns(&id));
    assert_eq!(
        b.registry.view(&service).hosts.len(),
        1,
        "adoption keeps the instance"
    );

    // A comes back: the client maps to A again; B releases it and A's next change wins.
    b.replication.rebalance(vec![A.into(), B.into()]);
    settle().await;
    assert!(!b.distro.owns(id.as_str()));
    let mut spec = InstanceSpec::new(ip.clone(), port);
    spec.weight = 5.0;
    a.registry
        .register(Instant::now(), &id, &service, spec)
        .unwrap();
    settle().await;
    assert_eq!(b.registry.view(&service).hosts[0].weight, 5.0);
    shutdown.cancel();
}

/// B, cut off from A, takes over A's `ip:port` client and counts changes to it (adoption,
/// health flips); the client writes through whichever node it reaches. After the heal the
/// newest client write wins on both nodes, wherever it was made, and A owns the client
/// again (regression: simulation seed 14334736817867870816, where counted changes won).
#[tokio::test]
async fn after_a_split_brain_the_newest_client_write_wins() {
    for write_on_b in [false, true] {
        let shutdown = CancellationToken::new();
        let (a, b, net) = pair_on_net(&shutdown);
        let service = ServiceKey::new("", "", "pay");
        let (id, ip, port) = register_client_of_a(&a, &service);
        settle().await;
        assert_eq!(b.registry.view(&service).hosts.len(), 1);

        let links = net.cut();
        b.replication.rebalance(vec![B.into()]);
        settle().await;
        assert!(b.distro.owns(id.as_str()), "B adopted the client");
        for _ in 0..3 {
            b.registry.adopt(Instant::now(), &id, 0).unwrap();
        }
        sleep(Duration::from_millis(5)).await;
        let mut spec = InstanceSpec::new(ip.clone(), port);
        spec.weight = 7.0;
        let writer = if write_on_b { &b } else { &a };
        writer
            .registry
            .register(Instant::now(), &id, &service, spec)
            .unwrap();
        settle().await;

        net.heal(links);
        b.replication.rebalance(vec![A.into(), B.into()]);
        settle().await;
        for (name, node) in [("A", &a), ("B", &b)] {
            assert_eq!(
                node.registry.view(&service).hosts[0].weight,
                7.0,
                "write on B: {write_on_b}; node {name} holds the newest write"
            );
        }
        assert!(a.distro.owns(id.as_str()), "A owns the client again");
        assert!(!b.distro.owns(id.as_str()));
        shutdown.cancel();
    }
}
