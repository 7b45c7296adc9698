//! A rolling restart of a three-node cluster of real processes with Nacos SDK clients
//! connected: each node in turn gets SIGTERM (graceful: readiness off, pending syncs
//! flushed, SDK clients reset to another node) and must exit 0 within its drain time, then
//! starts again. All the while every node that is serving lists every client's instance,
//! and after the roll every node lists the same registry as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use distro_tests::{Http, Node, NodeSpec, WAIT, free_http_port, wait_until};
use nacos_sdk::api::naming::{NamingService, NamingServiceBuilder, ServiceInstance};
use nacos_sdk::api::props::ClientProps;
use parking_lot::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_distro-server");
const SERVICE: &str = "rolling";
const CLIENTS: usize = 4;
const DRAIN: Duration = Duration::from_secs(5);
/// Bound for an SDK client to reconnect to another node and register there again.
const SDK_MOVE: Duration = Duration::from_secs(25);

fn specs() -> Vec<NodeSpec> {
    let ports: Vec<u16> = (0..3).map(|_| free_http_port()).collect();
    ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            NodeSpec::new(BIN, &format!("node{}", i + 1), port)
                .members(&ports)
                .env("DISTRO_CLUSTER__SECRET", "rolling-restart-secret")
                .env("DISTRO_SERVER__DRAIN_MS", &DRAIN.as_millis().to_string())
                .env("DISTRO_GRPC__RESET_GRACE_MS", "500")
                .env("DISTRO_DISTRO__VERIFY_INTERVAL_MS", "500")
                .env("DISTRO_DISTRO__LOAD_PEER_WAIT_MS", "1000")
                .env("DISTRO_PUSH__DELAY_MS", "0")
                // The Rust SDK (0.8.3) ignores ConnectResetRequest and reconnects only ~11 s
                // after its stream closes, then re-registers within its 3 s redo period. The
                // replicas its old node disowns once restarted must outlive that; the default
                // orphan grace (10 s) does not.
                .env("DISTRO_DISTRO__ORPHAN_GRACE_MS", "30000")
        })
        .collect()
}

/// An SDK client knowing every node, the first one listed being `first`.
async fn sdk(ports: &[u16], first: usize) -> NamingService {
    let mut rotated = ports.to_vec();
    rotated.rotate_left(first);
    let addresses: Vec<String> = rotated.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let props = ClientProps::new()
        .server_addr(addresses.join(","))
        .namespace("public")
        .app_name("distro-rolling-restart")
        .cache_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nacos-sdk-cache-roll"))
        .env_first(false);
    NamingServiceBuilder::new(props)
        .build()
        .await
        .expect("SDK connects")
}

fn instance(i: usize) -> ServiceInstance {
    ServiceInstance {
        ip: format!("10.9.0.{}", i + 1),
        port: 80,
        ..Default::default()
    }
}

/// `ip:port` of every instance `node` lists for the service; `None` if it does not answer.
async fn listed(http: &Http, node_url: &str) -> Option<BTreeSet<String>> {
    let body = http
        .get_json(&format!(
            "{node_url}/nacos/v1/ns/instance/list?serviceName={SERVICE}"
        ))
        .await
        .ok()?;
    Some(
        body["hosts"]
            .as_array()?
            .iter()
            .map(|h| format!("{}:{}", h["ip"].as_str().unwrap_or(""), h["port"]))
            .collect(),
    )
}

async fn is_ready(http: &Http, node_url: &str) -> bool {
    http.get_text(&format!("{node_url}/nacos/v1/console/health/readiness"))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_keeps_every_connected_client_listed() {
    let http = Http::new().unwrap();
    let mut nodes: Vec<Node> = specs()
        .into_iter()
        .map(|s| Node::spawn(s).unwrap())
        .collect();
    for node in &mut nodes {
        node.wait_ready(&http).await.unwrap();
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    for url in &urls {
        wait_until("node ready", WAIT, || is_ready(&http, url))
            .await
            .unwrap();
    }
    let ports: Vec<u16> = nodes.iter().map(Node::http_port).collect();

    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let client = sdk(&ports, i % 3).await;
        client
            .register_instance(SERVICE.to_owned(), None, instance(i))
            .await
            .unwrap();
        clients.push(client);
    }
    let expected: BTreeSet<String> = (0..CLIENTS)
        .map(|i| format!("{}:80", instance(i).ip))
        .collect();
    for url in &urls {
        wait_until("every node lists every client", WAIT, || async {
            listed(&http, url).await.as_ref() == Some(&expected)
        })
        .await
        .unwrap();
    }

    // The monitor: every 100 ms, every serving node must list every instance.
    let serving: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (http, urls, serving, violations, stop, expected) = (
            http.clone(),
            urls.clone(),
            Arc::clone(&serving),
            Arc::clone(&violations),
            Arc::clone(&stop),
            expected.clone(),
        );
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut checks = 0u64;
            while !stop.load(Ordering::Acquire) {
                for (i, url) in urls.iter().enumerate() {
                    if !serving[i].load(Ordering::Acquire) {
                        continue;
                    }
                    let seen = listed(&http, url).await;
                    // Re-checked after the call: the node may have been stopped meanwhile.
                    if !serving[i].load(Ordering::Acquire) {
                        continue;
                    }
                    checks += 1;
                    if seen.as_ref() != Some(&expected) {
                        if violations.lock().is_empty() {
                            // Which removal fired (distro_expired_clients_total{reason}).
                            let ops = http
                                .get_text(&format!("{url}/metrics"))
                                .await
                                .unwrap_or_default()
                                .lines()
                                .filter(|l| l.starts_with("distro_") && !l.contains("bucket"))
                                .collect::<Vec<_>>()
                                .join("\n");
                            eprintln!("first violation, distro metrics of node{}:\n{ops}", i + 1);
                        }
                        violations.lock().push(format!(
                            "{:?} node{} listed {seen:?}",
                            started.elapsed(),
                            i + 1
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            checks
        })
    };

    let roll_started = tokio::time::Instant::now();
    eprintln!("roll starts");
    for i in 0..nodes.len() {
        serving[i].store(false, Ordering::Release);
        eprintln!("{:?} SIGTERM node{}", roll_started.elapsed(), i + 1);
        let status = nodes[i].terminate(DRAIN + Duration::from_secs(3)).await;
        let status = status.unwrap();
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            nodes[i].name(),
            nodes[i].log()
        );
        nodes[i].restart(&http).await.unwrap();
        let url = urls[i].clone();
        wait_until("restarted node ready", WAIT, || is_ready(&http, &url))
            .await
            .unwrap();
        wait_until("restarted node lists every client", SDK_MOVE, || async {
            listed(&http, &url).await.as_ref() == Some(&expected)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", nodes[i].log()));
        serving[i].store(true, Ordering::Release);
        eprintln!("{:?} node{} serving again", roll_started.elapsed(), i + 1);
    }
    let roll_took = roll_started.elapsed();
    stop.store(true, Ordering::Release);
    let checks = monitor.await.unwrap();
    let violations = violations.lock().clone();
    assert!(
        violations.is_empty(),
        "instances missing during the roll ({} of {checks} checks):\n{}",
        violations.len(),
        violations.join("\n")
    );
    assert!(checks > 10, "too few checks: {checks}");

    // After the roll: every node lists the registry of before, and keeps listing it once
    // the replicas left behind by the restarted nodes have expired (orphan grace).
    for url in &urls {
        assert_eq!(listed(&http, url).await.as_ref(), Some(&expected), "{url}");
    }
    eprintln!("roll of 3 nodes took {roll_took:?}, {checks} checks");
    drop(clients);
}
