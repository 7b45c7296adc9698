//! End to end with the official Rust SDK (`nacos-sdk`), a client nobody here wrote: it
//! derives the gRPC port (HTTP port + 1000), runs the whole handshake and talks JSON in
//! payloads exactly as against Nacos. Register, query, subscribe with pushes, deregister,
//! batch register, list, namespaces, and a client process that dies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use grpc_support::{WAIT, eventually, free_port_pair, start};
use nacos_sdk::api::naming::{
    NamingChangeEvent, NamingEventListener, NamingService, NamingServiceBuilder, ServiceInstance,
};
use nacos_sdk::api::props::ClientProps;
use tokio::sync::mpsc;

/// When set (to an HTTP port), the child-process helper test runs as an SDK client.
const CHILD_PORT_ENV: &str = "DISTRO_TEST_SDK_CHILD_PORT";
/// What the child prints once its instance is registered.
const CHILD_READY: &str = "CHILD-REGISTERED";

async fn sdk(port: u16, namespace: &str) -> NamingService {
    let props = ClientProps::new()
        .server_addr(format!("127.0.0.1:{port}"))
        .namespace(namespace)
        .app_name("distro-tests")
        // Let pushes of an empty list through: the tests watch instances disappear.
        .naming_push_empty_protection(false)
        // The SDK keeps a disk cache; keep it in Cargo's scratch dir, not the home dir.
        .cache_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nacos-sdk-cache"))
        .env_first(false);
    NamingServiceBuilder::new(props)
        .build()
        .await
        .expect("SDK connects")
}

fn instance(ip: &str, port: i32) -> ServiceInstance {
    ServiceInstance {
        ip: ip.to_owned(),
        port,
        metadata: HashMap::from([("zone".to_owned(), "a".to_owned())]),
        ..ServiceInstance::default()
    }
}

fn ips(instances: &[ServiceInstance]) -> Vec<String> {
    let mut ips: Vec<String> = instances
        .iter()
        .map(|i| format!("{}:{}", i.ip, i.port))
        .collect();
    ips.sort();
    ips
}

/// Forwards the SDK's change events to the test.
struct Events(mpsc::UnboundedSender<Arc<NamingChangeEvent>>);

impl NamingEventListener for Events {
    fn event(&self, event: Arc<NamingChangeEvent>) {
        let _ = self.0.send(event);
    }
}

/// Waits for an event whose instances are exactly `expected` (as `ip:port`).
async fn wait_for_event(
    events: &mut mpsc::UnboundedReceiver<Arc<NamingChangeEvent>>,
    expected: &[&str],
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(event)) = tokio::time::timeout(left, events.recv()).await else {
            panic!("no event with {expected:?}; saw {seen:?}");
        };
        let got = ips(event.instances.as_deref().unwrap_or_default());
        if got == expected {
            return;
        }
        seen.push(got);
    }
}

async fn all_instances(client: &NamingService, service: &str, group: Option<&str>) -> Vec<String> {
    let found = client
        .get_all_instances(
            service.to_owned(),
            group.map(str::to_owned),
            Vec::new(),
            false,
        )
        .await
        .expect("query");
    ips(&found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_register_a_third_queries_subscribes_and_sees_pushes() {
    let port = free_port_pair();
    let server = start(port, |_| {}).await;
    assert_eq!(
        server.grpc_addr().port(),
        port + 1000,
        "SDKs expect HTTP port + 1000"
    );
    let (a, b, watcher) = (
        sdk(port, "public").await,
        sdk(port, "public").await,
        sdk(port, "public").await,
    );
    a.register_instance("orders".to_owned(), None, instance("10.0.0.1", 8080))
        .await
        .unwrap();
    b.register_instance("orders".to_owned(), None, instance("10.0.0.2", 8080))
        .await
        .unwrap();
    assert_eq!(
        all_instances(&watcher, "orders", None).await,
        ["10.0.0.1:8080", "10.0.0.2:8080"]
    );
    let found = watcher
        .get_all_instances("orders".to_owned(), None, Vec::new(), false)
        .await
        .unwrap();
    assert!(
        found
            .iter()
            .all(|i| i.metadata.get("zone").map(String::as_str) == Some("a"))
    );
    assert!(
        found
            .iter()
            .all(|i| i.service_name.as_deref() == Some("DEFAULT_GROUP@@orders"))
    );

    let (tx, mut events) = mpsc::unbounded_channel();
    watcher
        .subscribe("orders".to_owned(), None, Vec::new(), Arc::new(Events(tx)))
        .await
        .unwrap();
    wait_for_event(&mut events, &["10.0.0.1:8080", "10.0.0.2:8080"]).await;

    a.deregister_instance("orders".to_owned(), None, instance("10.0.0.1", 8080))
        .await
        .unwrap();
    wait_for_event(&mut events, &["10.0.0.2:8080"]).await;
    assert_eq!(
        all_instances(&watcher, "orders", None).await,
        ["10.0.0.2:8080"]
    );

    b.register_instance("orders".to_owned(), None, instance("10.0.0.3", 9090))
        .await
        .unwrap();
    wait_for_event(&mut events, &["10.0.0.3:9090"]).await;
    let metrics = reqwest::get(format!("http://{}/metrics", server.http_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in metrics.lines().filter(|l| l.starts_with("naming_")) {
        eprintln!("{line}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_register_and_list_services() {
    let port = free_port_pair();
    let server = start(port, |_| {}).await;
    let client = sdk(port, "public").await;
    let batch = vec![
        instance("10.1.0.1", 1),
        instance("10.1.0.2", 2),
        instance("10.1.0.3", 3),
    ];
    client
        .batch_register_instance("inventory".to_owned(), Some("SHOP".to_owned()), batch)
        .await
        .unwrap();
    client
        .register_instance(
            "billing".to_owned(),
            Some("SHOP".to_owned()),
            instance("10.1.1.1", 1),
        )
        .await
        .unwrap();
    assert_eq!(
        all_instances(&client, "inventory", Some("SHOP")).await,
        ["10.1.0.1:1", "10.1.0.2:2", "10.1.0.3:3"]
    );
    let (mut names, count) = client
        .get_service_list(1, 10, Some("SHOP".to_owned()))
        .await
        .unwrap();
    names.sort();
    assert_eq!(
        (names, count),
        (vec!["billing".to_owned(), "inventory".to_owned()], 2)
    );
    let (page, count) = client
        .get_service_list(2, 1, Some("SHOP".to_owned()))
        .await
        .unwrap();
    assert_eq!((page.len(), count), (1, 2));
    let (other_group, _) = client.get_service_list(1, 10, None).await.unwrap();
    assert!(
        other_group.is_empty(),
        "DEFAULT_GROUP has none: {other_group:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_kept_apart() {
    let port = free_port_pair();
    let server = start(port, |_| {}).await;
    let dev = sdk(port, "dev").await;
    let public = sdk(port, "public").await;
    dev.register_instance("catalog".to_owned(), None, instance("10.2.0.1", 80))
        .await
        .unwrap();
    public
        .register_instance("catalog".to_owned(), None, instance("10.2.0.2", 80))
        .await
        .unwrap();
    assert_eq!(all_instances(&dev, "catalog", None).await, ["10.2.0.1:80"]);
    assert_eq!(
        all_instances(&public, "catalog", None).await,
        ["10.2.0.2:80"]
    );
    dev.register_instance("dev-only".to_owned(), None, instance("10.2.0.3", 80))
        .await
        .unwrap();
    let (names, _) = public.get_service_list(1, 100, None).await.unwrap();
    assert_eq!(names, vec!["catalog".to_owned()]);
    assert!(all_instances(&public, "dev-only", None).await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_vanish_when_the_client_process_dies() {
    let port = free_port_pair();
    let server = start(port, |_| {}).await;
    let watcher = sdk(port, "public").await;
    // The Rust SDK has no shutdown and leaks its connection when dropped, so "the client
    // goes away" is a real client process that gets killed.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_sdk_client_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_PORT_ENV, port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(CHILD_READY))
    });
    let ready = tokio::time::timeout(WAIT * 3, ready).await;
    assert!(matches!(ready, Ok(Ok(true))), "child never registered");

    let (tx, mut events) = mpsc::unbounded_channel();
    watcher
        .subscribe("mortal".to_owned(), None, Vec::new(), Arc::new(Events(tx)))
        .await
        .unwrap();
    wait_for_event(&mut events, &["10.3.0.1:80"]).await;

    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = tokio::time::Instant::now();
    wait_for_event(&mut events, &[]).await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "took {:?}",
        killed_at.elapsed()
    );
    let gone = eventually(Duration::from_secs(1), || async {
        all_instances(&watcher, "mortal", None).await.is_empty()
    })
    .await;
    assert!(gone);
    server.stop().await;
}

/// Not a test on its own: the SDK client process of
/// `instances_vanish_when_the_client_process_dies`. Without its environment variable it
/// returns at once.
#[test]
fn helper_sdk_client_process() {
    let Ok(port) = std::env::var(CHILD_PORT_ENV) else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = sdk(port, "public").await;
        client
            .register_instance("mortal".to_owned(), None, instance("10.3.0.1", 80))
            .await
            .unwrap();
        println!("{CHILD_READY}");
        // Waits to be killed; the bound keeps an orphan from living forever.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}
