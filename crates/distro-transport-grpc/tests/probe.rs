//! The cluster port end to end on 127.0.0.1: reports both ways, the secret check, the
//! mapping of transport failures, and the failure detector over real channels.
//!
//! The port offset is 0 here, so a member address names the gRPC listener itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use distro_cluster::{
    DetectorConfig, FailurePolicy, MemberInfo, MemberState, Membership, ProbeError, Prober,
    run_failure_detector,
};
use distro_transport_grpc::{
    ClientConfig, ClusterAuth, ClusterSecret, ClusterService, GrpcProber, PeerChannels,
    SocketOptions, TokioNetwork, router, serve,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Bound on any wait in these tests.
const WAIT: Duration = Duration::from_secs(10);
/// Probe timeout used by the clients.
const TIMEOUT: Duration = Duration::from_millis(300);

fn secret(text: &str) -> ClusterAuth {
    ClusterAuth::Secret(ClusterSecret::new(text).unwrap())
}

fn membership(address: &str, peers: &[&str]) -> Arc<Membership> {
    let m = Arc::new(Membership::new(address, "test-1.0", 0).unwrap());
    let mut all: Vec<String> = peers.iter().map(|p| (*p).to_owned()).collect();
    all.push(address.to_owned());
    m.apply_addresses(&all, 0);
    m
}

/// A free port on 127.0.0.1 (bound, then released).
async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A running cluster server.
struct TestServer {
    address: String,
    membership: Arc<Membership>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(port: u16, peers: &[&str], auth: &ClusterAuth) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let membership = membership(&address, peers);
        let shutdown = CancellationToken::new();
        let app = router(ClusterService::new(membership.clone()), auth);
        let listener = TokioNetwork::listener(
            listener,
            SocketOptions {
                nodelay: true,
                keepalive: None,
            },
        )
        .unwrap();
        let task = serve(listener, app, shutdown.clone());
        Self {
            address,
            membership,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops")
            .unwrap();
    }
}

fn prober(auth: &ClusterAuth) -> GrpcProber {
    let config = ClientConfig {
        port_offset: 0,
        timeout: TIMEOUT,
    };
    GrpcProber::new(Arc::new(PeerChannels::new(config, auth)))
}

fn info(address: &str) -> MemberInfo {
    MemberInfo {
        address: address.to_owned(),
        version: "client-2.0".to_owned(),
        ready: true,
    }
}

/// Marks `peer` DOWN in `m` so a later UP is visible.
fn mark_down(m: &Membership, peer: &str) {
    m.on_probe_failure(
        peer,
        &ProbeError::ConnectionRefused,
        &FailurePolicy::default(),
        1,
    );
    assert_eq!(m.member(peer).unwrap().state(), MemberState::Down);
}

#[tokio::test]
async fn report_carries_info_both_ways_and_marks_the_caller_up() {
    let auth = secret("s3cret");
    let client_address = "127.0.0.1:1";
    let server = TestServer::start(0, &[client_address], &auth).await;
    mark_down(&server.membership, client_address);
    server.membership.set_self_ready(true);

    let answer = prober(&auth)
        .probe(&server.address, &info(client_address))
        .await
        .unwrap();
    assert_eq!(answer.address, server.address);
    assert_eq!(answer.version, "test-1.0");
    assert!(answer.ready);

    let seen = server.membership.member(client_address).unwrap();
    assert_eq!(seen.state(), MemberState::Up);
    assert_eq!(seen.version(), "client-2.0");
    assert!(seen.ready());
    server.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_secret_is_unauthenticated_and_changes_nothing() {
    let client_address = "127.0.0.1:1";
    let server = TestServer::start(0, &[client_address], &secret("right")).await;
    mark_down(&server.membership, client_address);

    for auth in [secret("wrong"), secret("righ"), ClusterAuth::Insecure] {
        let error = prober(&auth)
            .probe(&server.address, &info(client_address))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProbeError::Rejected(reason) if reason.starts_with("unauthenticated")),
            "{auth:?}: {error:?}"
        );
    }
    let seen = server.membership.member(client_address).unwrap();
    assert_eq!(
        seen.state(),
        MemberState::Down,
        "a refused call proves nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn insecure_servers_accept_any_caller() {
    let server = TestServer::start(0, &[], &ClusterAuth::Insecure).await;
    for auth in [ClusterAuth::Insecure, secret("whatever")] {
        let answer = prober(&auth)
            .probe(&server.address, &info("127.0.0.1:1"))
            .await
            .unwrap();
        assert_eq!(answer.address, server.address);
    }
    server.stop().await;
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let port = free_port().await;
    let error = prober(&ClusterAuth::Insecure)
        .probe(&format!("127.0.0.1:{port}"), &info("127.0.0.1:1"))
        .await
        .unwrap_err();
    assert_eq!(error, ProbeError::ConnectionRefused);
}

#[tokio::test]
async fn a_silent_peer_is_a_timeout() {
    // Accepts TCP connections and never answers: a hung process looks like this.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = tokio::time::Instant::now();
    let error = prober(&ClusterAuth::Insecure)
        .probe(&address, &info("127.0.0.1:1"))
        .await
        .unwrap_err();
    assert_eq!(error, ProbeError::Timeout(TIMEOUT), "{error:?}");
    assert!(started.elapsed() < WAIT);
    hold.abort();
}

#[tokio::test]
async fn channels_are_reused_and_pruned() {
    let auth = secret("s");
    let server = TestServer::start(0, &[], &auth).await;
    let prober = prober(&auth);
    for _ in 0..3 {
        prober
            .probe(&server.address, &info("127.0.0.1:1"))
            .await
            .unwrap();
    }
    assert_eq!(prober.channels().len(), 1);
    prober.channels().retain(|peer| peer != server.address);
    assert!(prober.channels().is_empty());
    server.stop().await;
}

/// Waits until `peer` has `state` in `m`, bounded by [`WAIT`]; returns how long it took.
async fn wait_for_state(m: &Membership, peer: &str, state: MemberState) -> Duration {
    let started = tokio::time::Instant::now();
    let mut rx = m.subscribe_members();
    let wait = rx.wait_for(|members| {
        members
            .iter()
            .any(|member| member.address() == peer && member.state() == state)
    });
    if tokio::time::timeout(WAIT, wait).await.is_err() {
        panic!("{peer} never became {state:?}: {:?}", m.member(peer));
    }
    started.elapsed()
}

#[tokio::test]
async fn detector_follows_a_peer_that_stops_and_restarts_on_the_same_port() {
    let auth = secret("s3cret");
    let port = free_port().await;
    let peer_address = format!("127.0.0.1:{port}");
    let me = "127.0.0.1:1";
    let server = TestServer::start(port, &[me], &auth).await;
    let local = membership(me, &[&peer_address]);
    let shutdown = CancellationToken::new();
    let config = DetectorConfig {
        interval: Duration::from_millis(100),
        timeout: TIMEOUT,
        policy: FailurePolicy::default(),
    };
    let detector = tokio::spawn(run_failure_detector(
        local.clone(),
        Arc::new(prober(&auth)),
        config,
        shutdown.clone(),
    ));

    // Probes succeed: the peer reports its version, and it sees us through our reports.
    let mut rx = local.subscribe_members();
    let versioned = rx.wait_for(|members| {
        members
            .iter()
            .any(|m| m.address() == peer_address && m.version() == "test-1.0")
    });
    tokio::time::timeout(WAIT, versioned)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        server.membership.member(me).unwrap().version(),
        "test-1.0",
        "the report reached the peer"
    );

    // The peer stops: refused connections make it DOWN at the next probe.
    server.stop().await;
    let took = wait_for_state(&local, &peer_address, MemberState::Down).await;
    assert!(took < Duration::from_secs(2), "DOWN after {took:?}");

    // It comes back on the same port: the same channel reconnects and it is UP again.
    let server = TestServer::start(port, &[me], &auth).await;
    wait_for_state(&local, &peer_address, MemberState::Up).await;
    assert!(local.healthy().contains(&peer_address));

    shutdown.cancel();
    tokio::time::timeout(WAIT, detector).await.unwrap().unwrap();
    server.stop().await;
}
