//! Measures how long a node takes to load its startup snapshot over the real cluster port:
//! node A holds N instances (N connection clients of one instance each), node B starts and
//! the clock runs until B answers ready with all N instances.
//! Run: `cargo run --release -p distro-server --example snapshot_load -- 100000`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use distro_naming::{ClientId, InstanceSpec, ServiceKey};
use distro_server::{Config, Server};

fn config(port: u16, members: &[u16]) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1".into();
    config.server.port = port;
    config.cluster.members = members.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    config.cluster.secret = Some("snapshot-load-measurement".into());
    config.distro.load_peer_wait_ms = 1_000;
    config.log.level = "warn".into();
    config
}

#[tokio::main]
async fn main() {
    let instances: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let (a, b) = (
        distro_tests::free_http_port(),
        distro_tests::free_http_port(),
    );
    let node_a = Server::start(config(a, &[a, b])).await.unwrap();
    let registry = node_a.state().registry.clone();
    let now = tokio::time::Instant::now();
    let started = Instant::now();
    for i in 0..instances {
        let client = ClientId::new(format!(
            "1700000000000_10.{}.{}.{}_{}",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
            40000
        ));
        registry.connect(now, client.clone());
        let service = ServiceKey::new("", "", &format!("svc-{}", i % 1000));
        let mut spec = InstanceSpec::new(
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            8080,
        );
        spec.metadata.insert("version".into(), "1.0.0".into());
        registry.register(now, &client, &service, spec).unwrap();
    }
    println!(
        "registered {instances} instances on A in {:?}",
        started.elapsed()
    );
    // Let A become ready and its kernel index catch up with the registry's events.
    while !node_a.state().is_ready() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let node_b = Server::start(config(b, &[a, b])).await.unwrap();
    while !node_b.state().is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready_after = started.elapsed();
    let held = node_b.state().registry.stats().instances;
    println!("B ready after {ready_after:?} holding {held} of {instances} instances");
    assert_eq!(
        held, instances,
        "B loaded everything before it called itself ready"
    );
    node_b.stop().await;
    node_a.stop().await;
}
