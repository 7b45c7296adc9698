//! Distro replication between real `distro-server` processes on 127.0.0.1 (issue 5).
//!
//! Every test starts its own three nodes with short timers (verify every second, a 3 s
//! grace for connection clients of a DOWN node, probes every 300 ms, beat checks every
//! 500 ms) and fault injection on, and checks what a user of the registry sees through the
//! HTTP API of every node:
//! 1. an HTTP registration sent to any node (forwarded to the responsible one) and an SDK
//!    registration on node A are listed by all three nodes within the merge window + 2 s;
//! 2. an SDK client process that dies takes its instances with it on every node;
//! 3. a killed node's connection clients stay listed on the others until the grace is over,
//!    then go; its `ip:port` clients move to new owners, which keep beat-checking them:
//!    those still beating (through any surviving node) stay healthy, the silent ones turn
//!    unhealthy and expire on their own (short, per-instance) schedule; and a client that
//!    keeps beating stays listed on the nodes holding its replica past the registry's
//!    idle-client expiry (its beats reach only its owner);
//! 4. a restarting node answers not-ready while it cannot load a snapshot (its peers are
//!    frozen) and, once ready, lists exactly what the others list, and every node keeps
//!    listing every client while responsibility for a third of them moves back to it;
//! 5. a partition (A cut from B and C by fault injection) leaves both sides serving reads
//!    and writes (registrations and updates on both sides); after healing every node lists
//!    the same registry within two verify rounds, the state of the node responsible after
//!    the heal wins, and it stays converged;
//! 6. raw `Sync` calls on a node's cluster port carrying an older revision, a deletion at an
//!    older revision, or a duplicate of the current revision change nothing, while a newer
//!    one applies (so the check is not vacuous) and a replay after it changes nothing;
//! 7. in a settled cluster a verify round costs one root-digest message per peer, of the
//!    same size with 50 or 500 clients;
//!
//! and measures convergence (100 changes written on one node, time until both others list
//! each), printing the median and p99.
//!
//! SDK clients run in child processes (this test binary re-run as
//! `helper_sdk_client_process`): the Rust SDK never closes its connection, so a client
//! "going away" is a process being killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use distro_naming::replication::mapper::DistroMapper;
use distro_naming::replication::record::{CLIENT_DATA_TYPE, ClientRecord};
use distro_tests::{
    Http, Node, NodeSpec, free_http_port, median, member_states, metric_value,
    sees_all_up_and_contacted, wait_until,
};
use distro_transport_grpc::{ClientConfig, ClusterAuth, ClusterSecret, PeerChannels, proto};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_distro-server");
const SECRET: &str = "distro-cluster-test-secret";

/// Verify period of the test clusters (jittered ±20 % by the nodes).
const VERIFY_MS: u64 = 1_000;
/// Grace before connection clients of a DOWN node are removed.
const GRACE_MS: u64 = 3_000;
/// Probe period of the failure detector.
const PROBE_MS: u64 = 300;
/// The kernel's default merge window (a change waits this long before it is sent).
const MERGE_WINDOW: Duration = Duration::from_millis(30);
/// Bound for start-up and other waits that have no promise of their own.
const SLOW: Duration = Duration::from_secs(20);

/// When set (to an HTTP port), `helper_sdk_client_process` runs as an SDK client.
const CHILD_PORT_ENV: &str = "DISTRO_TEST_SDK_CHILD_PORT";
/// The service the child registers in.
const CHILD_SERVICE_ENV: &str = "DISTRO_TEST_SDK_CHILD_SERVICE";
/// The `ip:port` list the child registers (one batch).
const CHILD_INSTANCES_ENV: &str = "DISTRO_TEST_SDK_CHILD_INSTANCES";
/// What the child prints once its instances are registered.
const CHILD_READY: &str = "CHILD-REGISTERED";

// ---------------------------------------------------------------------------------------
// The cluster under test
// ---------------------------------------------------------------------------------------

/// Three nodes listing each other, and clients to talk to them.
struct Cluster {
    nodes: Vec<Node>,
    http: Http,
    client: reqwest::Client,
    addresses: Vec<String>,
}

/// Environment every test node gets; `extra` entries override.
fn node_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = [
        ("DISTRO_CLUSTER__SECRET", SECRET.to_owned()),
        ("DISTRO_CLUSTER__PROBE_INTERVAL_MS", PROBE_MS.to_string()),
        ("DISTRO_DISTRO__VERIFY_INTERVAL_MS", VERIFY_MS.to_string()),
        ("DISTRO_DISTRO__OWNER_DOWN_GRACE_MS", GRACE_MS.to_string()),
        ("DISTRO_DISTRO__LOAD_PEER_WAIT_MS", "2000".to_owned()),
        ("DISTRO_DISTRO__SWEEP_INTERVAL_MS", "250".to_owned()),
        ("DISTRO_DISTRO__SYNC_RETRY_DELAY_MS", "500".to_owned()),
        ("DISTRO_NAMING__BEAT_CHECK_INTERVAL_MS", "500".to_owned()),
        // Instances nobody beats stay healthy for the length of a test, unless a test asks
        // otherwise through per-instance metadata.
        ("DISTRO_NAMING__HEART_BEAT_TIMEOUT_MS", "60000".to_owned()),
        ("DISTRO_NAMING__IP_DELETE_TIMEOUT_MS", "120000".to_owned()),
        ("DISTRO_SERVER__FAULT_INJECTION", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in extra {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    env.into_iter().collect()
}

impl Cluster {
    /// Starts three nodes and waits until each is ready and sees the others UP.
    async fn start(extra_env: &[(&str, &str)]) -> Self {
        let ports: Vec<u16> = (0..3).map(|_| free_http_port()).collect();
        let env = node_env(extra_env);
        let mut nodes = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            let mut spec = NodeSpec::new(BIN, &format!("n{}", i + 1), port).members(&ports);
            spec.env.extend(env.iter().cloned());
            nodes.push(Node::spawn(spec).unwrap());
        }
        let http = Http::new().unwrap();
        for node in &mut nodes {
            node.wait_ready(&http).await.unwrap();
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .no_proxy()
            .build()
            .unwrap();
        let addresses = nodes.iter().map(Node::address).collect();
        let cluster = Self {
            nodes,
            http,
            client,
            addresses,
        };
        for i in 0..3 {
            cluster.wait_ready(i, SLOW).await;
        }
        cluster.wait_all_up(SLOW).await;
        cluster
    }

    fn url(&self, node: usize, path: &str) -> String {
        self.nodes[node].url(path)
    }

    /// Whether the readiness endpoint of `node` answers 200 (`None`: no answer at all).
    async fn readiness(&self, node: usize) -> Option<bool> {
        let url = self.url(node, "/nacos/v1/console/health/readiness");
        let response = self.client.get(url).send().await.ok()?;
        Some(response.status().is_success())
    }

    async fn wait_ready(&self, node: usize, within: Duration) -> Duration {
        let what = format!("{} ready", self.nodes[node].name());
        self.expect(
            wait_until(&what, within, || async {
                self.readiness(node).await == Some(true)
            })
            .await,
        )
    }

    /// Waits until every running node sees every node UP.
    async fn wait_all_up(&self, within: Duration) {
        for node in &self.nodes {
            let result = wait_until("all members UP", within, || {
                sees_all_up_and_contacted(&self.http, node, &self.addresses)
            })
            .await;
            self.expect(result);
        }
    }

    /// Waits until `observer` reports `target` in `state`.
    async fn wait_state(&self, observer: usize, target: usize, state: &str, within: Duration) {
        let what = format!(
            "{} to see {} {state}",
            self.nodes[observer].name(),
            self.nodes[target].name()
        );
        let target = self.addresses[target].clone();
        let result = wait_until(&what, within, || async {
            member_states(&self.http, &self.nodes[observer])
                .await
                .unwrap_or_default()
                .get(&target)
                .map(String::as_str)
                == Some(state)
        })
        .await;
        self.expect(result);
    }

    /// Unwraps a wait's result; on failure panics with every node's log.
    fn expect<T>(&self, result: anyhow::Result<T>) -> T {
        match result {
            Ok(value) => value,
            Err(error) => self.fail(&error.to_string()),
        }
    }

    fn fail(&self, message: &str) -> ! {
        let mut logs = String::new();
        for node in &self.nodes {
            let log = node.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            logs.push_str(&format!("\n--- last lines of {} ---\n", node.name()));
            for line in tail.into_iter().rev() {
                logs.push_str(line);
                logs.push('\n');
            }
        }
        panic!("{message}{logs}");
    }

    /// The node responsible for `tag` (`ip:port`) when all three are healthy (Nacos's hash).
    fn owner_of(&self, tag: &str) -> usize {
        let mapper = DistroMapper::new(self.addresses[0].clone(), false);
        mapper.update(self.addresses.clone());
        let target = mapper.target(tag).unwrap();
        self.addresses.iter().position(|a| *a == target).unwrap()
    }

    /// `count` distinct `ip:port` tags under `ip_prefix` (`10.1.0.`) owned by `owner`.
    fn tags_owned_by(&self, owner: usize, ip_prefix: &str, count: usize) -> Vec<(String, u16)> {
        (1..=250u16)
            .flat_map(|host| (1000..1100u16).map(move |port| (host, port)))
            .map(|(host, port)| (format!("{ip_prefix}{host}"), port))
            .filter(|(ip, port)| self.owner_of(&format!("{ip}:{port}")) == owner)
            .take(count)
            .collect()
    }

    /// `POST /nacos/v1/ns/instance` on `node`; `extra` is appended to the query.
    async fn register(
        &self,
        node: usize,
        service: &str,
        ip: &str,
        port: u16,
        extra: &str,
    ) -> anyhow::Result<()> {
        register_at(&self.client, &self.url(node, ""), service, ip, port, extra).await
    }

    /// Registers `tags` through `node`, 16 at a time.
    async fn register_all(&self, node: usize, service: &str, tags: &[(String, u16)]) {
        let base = self.url(node, "");
        for chunk in tags.chunks(16) {
            let mut calls = tokio::task::JoinSet::new();
            for (ip, port) in chunk {
                let (client, base, service, ip, port) = (
                    self.client.clone(),
                    base.clone(),
                    service.to_owned(),
                    ip.clone(),
                    *port,
                );
                calls.spawn(
                    async move { register_at(&client, &base, &service, &ip, port, "").await },
                );
            }
            while let Some(result) = calls.join_next().await {
                result.unwrap().unwrap();
            }
        }
    }

    /// `GET /nacos/v1/ns/instance/list` on `node`: the hosts sorted by `ip:port`; `None` if
    /// the node does not answer; an unknown service has no hosts.
    async fn hosts(&self, node: usize, service: &str) -> Option<Vec<Value>> {
        let url = self.url(
            node,
            &format!("/nacos/v1/ns/instance/list?serviceName={service}"),
        );
        let response = self.client.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return Some(Vec::new());
        }
        let body: Value = response.json().await.ok()?;
        let mut hosts = body["hosts"].as_array().cloned().unwrap_or_default();
        hosts.sort_by_key(host_tag);
        Some(hosts)
    }

    /// `ip:port` of every host `node` lists, with its health.
    async fn listed(&self, node: usize, service: &str) -> Option<BTreeMap<String, bool>> {
        let hosts = self.hosts(node, service).await?;
        Some(
            hosts
                .iter()
                .map(|h| (host_tag(h), h["healthy"].as_bool().unwrap_or(false)))
                .collect(),
        )
    }

    /// Waits until each of `nodes` lists exactly `expected` (`ip:port`) in `service`.
    async fn wait_listed(
        &self,
        nodes: &[usize],
        service: &str,
        expected: &[String],
        within: Duration,
    ) -> Duration {
        let mut wanted: Vec<String> = expected.to_vec();
        wanted.sort();
        let what = format!("{nodes:?} to list {wanted:?} in {service}");
        let result = wait_until(&what, within, || async {
            for &node in nodes {
                let Some(listed) = self.listed(node, service).await else {
                    return false;
                };
                if listed.keys().cloned().collect::<Vec<_>>() != wanted {
                    return false;
                }
            }
            true
        })
        .await;
        match result {
            Ok(took) => took,
            Err(error) => {
                let mut seen = Vec::new();
                for &node in nodes {
                    seen.push(self.listed(node, service).await);
                }
                self.fail(&format!("{error}; they list {seen:?}"))
            }
        }
    }

    /// `PUT /nacos/v1/ns/instance/beat` on `node`: the `code` answered (10200 or 20404).
    async fn beat(&self, node: usize, service: &str, ip: &str, port: u16) -> Option<i64> {
        beat_at(&self.client, &self.url(node, ""), service, ip, port).await
    }

    /// Cuts `node`'s outgoing cluster traffic to `peers` (empty: heals).
    async fn block(&self, node: usize, peers: &[usize]) {
        let list: Vec<&str> = peers.iter().map(|&p| self.addresses[p].as_str()).collect();
        let url = self.url(
            node,
            &format!("/nacos/v1/ns/operator/faults?blocked={}", list.join(",")),
        );
        let response = self.client.put(url).send().await.unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }

    async fn metrics(&self, node: usize) -> String {
        self.http
            .get_text(&self.url(node, "/metrics"))
            .await
            .unwrap()
    }
}

/// Registers `ip:port` in `service` at the node whose base URL is `base`.
async fn register_at(
    client: &reqwest::Client,
    base: &str,
    service: &str,
    ip: &str,
    port: u16,
    extra: &str,
) -> anyhow::Result<()> {
    let url =
        format!("{base}/nacos/v1/ns/instance?serviceName={service}&ip={ip}&port={port}{extra}");
    let response = client.post(url).send().await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success() && body == "ok", "{status}: {body}");
    Ok(())
}

/// Beats `ip:port` in `service` at the node whose base URL is `base`.
async fn beat_at(
    client: &reqwest::Client,
    base: &str,
    service: &str,
    ip: &str,
    port: u16,
) -> Option<i64> {
    let url = format!("{base}/nacos/v1/ns/instance/beat?serviceName={service}&ip={ip}&port={port}");
    let response = client.put(url).send().await.ok()?;
    let body: Value = response.json().await.ok()?;
    body["code"].as_i64()
}

fn host_tag(host: &Value) -> String {
    format!(
        "{}:{}",
        host["ip"].as_str().unwrap_or_default(),
        host["port"].as_u64().unwrap_or_default()
    )
}

/// The hosts of `service` that are not the same on every node, with each node's version.
async fn host_differences(cluster: &Cluster, service: &str) -> String {
    let mut by_tag: BTreeMap<String, Vec<Option<Value>>> = BTreeMap::new();
    for node in 0..cluster.nodes.len() {
        let hosts = cluster.hosts(node, service).await.unwrap_or_default();
        for host in hosts {
            let tag = host_tag(&host);
            by_tag
                .entry(tag)
                .or_insert_with(|| vec![None; cluster.nodes.len()])[node] = Some(host);
        }
    }
    by_tag
        .into_iter()
        .filter(|(_, versions)| versions.iter().any(|v| *v != versions[0]))
        .map(|(tag, versions)| format!("\n  {tag}: {versions:?}"))
        .collect()
}

/// Asserts that `listed` holds exactly `expected` (`ip:port`), naming what differs.
fn assert_same_tags(listed: &BTreeMap<String, bool>, expected: &[String], what: &str) {
    let missing: Vec<&String> = expected
        .iter()
        .filter(|t| !listed.contains_key(*t))
        .collect();
    let extra: Vec<&String> = listed.keys().filter(|t| !expected.contains(t)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} listed, {} expected; missing {missing:?}, extra {extra:?}",
        listed.len(),
        expected.len()
    );
}

fn tag_strings(tags: &[(String, u16)]) -> Vec<String> {
    tags.iter()
        .map(|(ip, port)| format!("{ip}:{port}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// SDK clients in child processes
// ---------------------------------------------------------------------------------------

/// A Nacos SDK client in its own process, connected to one node; killed on drop.
struct SdkChild {
    child: Child,
}

impl SdkChild {
    /// Starts a child that registers `instances` (`ip:port`) in `service` on the node with
    /// HTTP port `port`; returns once they are registered.
    async fn spawn(port: u16, service: &str, instances: &[&str]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "helper_sdk_client_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_PORT_ENV, port.to_string())
            .env(CHILD_SERVICE_ENV, service)
            .env(CHILD_INSTANCES_ENV, instances.join(","))
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
        let mut this = Self { child };
        let ready = tokio::time::timeout(SLOW, ready).await;
        if !matches!(ready, Ok(Ok(true))) {
            this.kill();
            panic!("the SDK child never registered in {service}");
        }
        this
    }

    /// Kills the process (its connection closes with it).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SdkChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Not a test on its own: the SDK client process of the tests above. Without its
/// environment it returns at once.
#[test]
fn helper_sdk_client_process() {
    use nacos_sdk::api::naming::{NamingServiceBuilder, ServiceInstance};
    use nacos_sdk::api::props::ClientProps;

    let Ok(port) = std::env::var(CHILD_PORT_ENV) else {
        return;
    };
    let service = std::env::var(CHILD_SERVICE_ENV).unwrap();
    let instances: Vec<ServiceInstance> = std::env::var(CHILD_INSTANCES_ENV)
        .unwrap()
        .split(',')
        .map(|tag| {
            let (ip, port) = tag.split_once(':').unwrap();
            ServiceInstance {
                ip: ip.to_owned(),
                port: port.parse().unwrap(),
                ..ServiceInstance::default()
            }
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let props = ClientProps::new()
            .server_addr(format!("127.0.0.1:{port}"))
            .namespace("public")
            .app_name("distro-cluster-tests")
            .cache_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nacos-sdk-cache"))
            .env_first(false);
        let client = NamingServiceBuilder::new(props).build().await.unwrap();
        client
            .batch_register_instance(service, None, instances)
            .await
            .unwrap();
        println!("{CHILD_READY}");
        // Waits to be killed; the bound keeps an orphan from living forever.
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

// ---------------------------------------------------------------------------------------
// 1. Registrations are visible everywhere
// ---------------------------------------------------------------------------------------

/// How long a change may take to be listed everywhere: the merge window plus a small bound.
const VISIBLE_BOUND: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_on_any_node_are_listed_by_all_three() {
    let cluster = Cluster::start(&[]).await;
    let all = [0, 1, 2];

    // One ip:port client per receiving node, each owned by another node, so every write is
    // forwarded to its owner and then replicated.
    let mut registered = Vec::new();
    for receiver in 0..3 {
        let owner = (receiver + 1) % 3;
        let (ip, port) = cluster
            .tags_owned_by(owner, &format!("10.1.{receiver}."), 1)
            .remove(0);
        let sent = Instant::now();
        cluster
            .register(
                receiver,
                "http-svc",
                &ip,
                port,
                "&weight=2&metadata=%7B%22k%22%3A%22v%22%7D",
            )
            .await
            .unwrap();
        registered.push(format!("{ip}:{port}"));
        let took = cluster
            .wait_listed(&all, "http-svc", &registered, MERGE_WINDOW + VISIBLE_BOUND)
            .await;
        println!(
            "HTTP registration via {} (owner {}) listed everywhere {:?} after it was sent ({took:?} after it was answered)",
            cluster.nodes[receiver].name(),
            cluster.nodes[owner].name(),
            sent.elapsed()
        );
    }
    // Every node shows the same instances: same ids, weights, metadata, health.
    let reference = cluster.hosts(0, "http-svc").await.unwrap();
    for node in 1..3 {
        assert_eq!(cluster.hosts(node, "http-svc").await.unwrap(), reference);
    }
    assert!(
        reference
            .iter()
            .all(|h| h["weight"] == 2.0 && h["metadata"]["k"] == "v"),
        "{reference:?}"
    );

    // An SDK client connected to node A (a connection client owned by A).
    let sdk = SdkChild::spawn(cluster.nodes[0].http_port(), "sdk-svc", &["10.1.9.1:8080"]).await;
    let took = cluster
        .wait_listed(
            &all,
            "sdk-svc",
            &["10.1.9.1:8080".to_owned()],
            MERGE_WINDOW + VISIBLE_BOUND,
        )
        .await;
    println!("SDK registration on A listed everywhere {took:?} after the SDK returned");
    let reference = cluster.hosts(0, "sdk-svc").await.unwrap();
    for node in 1..3 {
        assert_eq!(cluster.hosts(node, "sdk-svc").await.unwrap(), reference);
    }
    drop(sdk);
}

// ---------------------------------------------------------------------------------------
// 2. A client that disconnects is gone everywhere
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_client_that_dies_is_gone_on_every_node() {
    let cluster = Cluster::start(&[]).await;
    let all = [0, 1, 2];
    let mut sdk = SdkChild::spawn(
        cluster.nodes[1].http_port(),
        "mortal",
        &["10.2.0.1:80", "10.2.0.2:80"],
    )
    .await;
    let expected = ["10.2.0.1:80".to_owned(), "10.2.0.2:80".to_owned()];
    cluster
        .wait_listed(&all, "mortal", &expected, MERGE_WINDOW + VISIBLE_BOUND)
        .await;
    // A neighbour that stays, so "gone" is not "the service vanished".
    let survivor = SdkChild::spawn(cluster.nodes[2].http_port(), "mortal", &["10.2.0.3:80"]).await;
    let mut with_survivor = expected.to_vec();
    with_survivor.push("10.2.0.3:80".to_owned());
    cluster
        .wait_listed(&all, "mortal", &with_survivor, MERGE_WINDOW + VISIBLE_BOUND)
        .await;

    sdk.kill();
    let took = cluster
        .wait_listed(
            &all,
            "mortal",
            &["10.2.0.3:80".to_owned()],
            Duration::from_secs(5),
        )
        .await;
    println!("a dead SDK client's instances were gone on every node {took:?} after the kill");
    drop(survivor);
}

// ---------------------------------------------------------------------------------------
// 3. A node dies: its connection clients go after the grace, its ip:port clients move
// ---------------------------------------------------------------------------------------

/// Per-instance beat timing of the `ip:port` clients of scenario 3 (ms).
const BEAT_INTERVAL_MS: u64 = 400;
const UNHEALTHY_AFTER_MS: u64 = 2_000;
const DELETE_AFTER_MS: u64 = 4_000;

/// When a beat was answered, for which `ip:port`, with which code.
type BeatAnswer = (Instant, String, Option<i64>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_hands_over_its_clients() {
    let mut cluster = Cluster::start(&[]).await;
    let (a, survivors) = (0, [1, 2]);

    // A connection client on A.
    let sdk = SdkChild::spawn(cluster.nodes[a].http_port(), "conn-svc", &["10.3.0.1:80"]).await;
    let conn = ["10.3.0.1:80".to_owned()];
    cluster
        .wait_listed(&[0, 1, 2], "conn-svc", &conn, SLOW)
        .await;

    // Four ip:port clients owned by A with short per-instance timeouts, registered through B
    // (forwarded to A): two will keep beating after A dies, two fall silent with it.
    let tags = cluster.tags_owned_by(a, "10.3.1.", 4);
    let meta = format!(
        "&metadata=%7B%22preserved.heart.beat.interval%22%3A%22{BEAT_INTERVAL_MS}%22%2C\
         %22preserved.heart.beat.timeout%22%3A%22{UNHEALTHY_AFTER_MS}%22%2C\
         %22preserved.ip.delete.timeout%22%3A%22{DELETE_AFTER_MS}%22%7D"
    );
    for (ip, port) in &tags {
        cluster
            .register(1, "beat-svc", ip, *port, &meta)
            .await
            .unwrap();
    }
    let (mut beating, silent) = (tag_strings(&tags[..2]), tag_strings(&tags[2..]));
    beating.sort();
    let all_tags = tag_strings(&tags);

    // Beats go to the survivors in turn (forwarded to whoever owns the client).
    let stop = Arc::new(AtomicBool::new(false));
    let silence = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<BeatAnswer>>> = Arc::default();
    let beater = {
        let (stop, silence, answers) = (stop.clone(), silence.clone(), answers.clone());
        let client = cluster.client.clone();
        let bases: Vec<String> = survivors.iter().map(|&n| cluster.url(n, "")).collect();
        let tags = tags.clone();
        tokio::spawn(async move {
            let mut turn = 0;
            while !stop.load(Ordering::Relaxed) {
                for (i, (ip, port)) in tags.iter().enumerate() {
                    if i >= 2 && silence.load(Ordering::Relaxed) {
                        continue;
                    }
                    turn += 1;
                    let base = &bases[turn % bases.len()];
                    let code = beat_at(&client, base, "beat-svc", ip, *port).await;
                    answers
                        .lock()
                        .push((Instant::now(), format!("{ip}:{port}"), code));
                }
                tokio::time::sleep(Duration::from_millis(BEAT_INTERVAL_MS)).await;
            }
        })
    };
    cluster
        .wait_listed(&[0, 1, 2], "beat-svc", &all_tags, SLOW)
        .await;
    tokio::time::sleep(Duration::from_millis(2 * BEAT_INTERVAL_MS)).await;
    for node in 0..3 {
        let listed = cluster.listed(node, "beat-svc").await.unwrap();
        assert!(listed.values().all(|&healthy| healthy), "{listed:?}");
    }

    // The silent two stop beating, and A dies.
    silence.store(true, Ordering::Relaxed);
    let killed_at = Instant::now();
    cluster.nodes[a].kill();

    // Until the grace is over (counted from the kill, so at most from DOWN), A's
    // connection client is still listed by B and C; the beating clients stay healthy.
    let grace = Duration::from_millis(GRACE_MS);
    while killed_at.elapsed() < grace - Duration::from_millis(200) {
        for node in survivors {
            let conn_listed = cluster.listed(node, "conn-svc").await.unwrap();
            assert!(
                conn_listed.contains_key(&conn[0]),
                "{} dropped A's connection client {:?} after the kill, before the {grace:?} grace",
                cluster.nodes[node].name(),
                killed_at.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Then it goes, on both (DOWN is detected within a few probes, the sweep runs often).
    cluster
        .wait_listed(&survivors, "conn-svc", &[], Duration::from_secs(5))
        .await;
    let conn_gone = killed_at.elapsed();
    println!(
        "A's connection client was gone on B and C {conn_gone:?} after the kill (grace {grace:?})"
    );

    // The silent ip:port clients: not deleted before their delete timeout (their last beat
    // was at the kill at the latest, and adoption restarts their clock), turned unhealthy by
    // their new owner, then deleted on both survivors.
    let mut seen_unhealthy = [false, false];
    let expiry_bound = Duration::from_secs(12);
    loop {
        let elapsed = killed_at.elapsed();
        let mut gone_everywhere = true;
        for (slot, node) in survivors.into_iter().enumerate() {
            let listed = cluster.listed(node, "beat-svc").await.unwrap();
            for tag in &beating {
                assert_eq!(
                    listed.get(tag),
                    Some(&true),
                    "{}: a beating client is not listed healthy {elapsed:?} after the kill: {listed:?}",
                    cluster.nodes[node].name()
                );
            }
            let silent_listed: Vec<bool> = silent
                .iter()
                .filter_map(|t| listed.get(t).copied())
                .collect();
            if silent_listed.iter().any(|healthy| !healthy) {
                seen_unhealthy[slot] = true;
            }
            if !silent_listed.is_empty() {
                gone_everywhere = false;
            } else {
                assert!(
                    elapsed > Duration::from_millis(DELETE_AFTER_MS - 500),
                    "{}: silent clients deleted {elapsed:?} after the kill, before their {DELETE_AFTER_MS} ms timeout",
                    cluster.nodes[node].name()
                );
            }
        }
        if gone_everywhere {
            break;
        }
        if elapsed > expiry_bound {
            cluster.fail(&format!(
                "silent clients still listed {elapsed:?} after the kill: {:?} / {:?}",
                cluster.listed(1, "beat-svc").await,
                cluster.listed(2, "beat-svc").await
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expired_after = killed_at.elapsed();
    println!("the silent ip:port clients expired on B and C {expired_after:?} after the kill");
    assert_eq!(
        seen_unhealthy,
        [true, true],
        "they turned unhealthy before being deleted"
    );

    // The beating clients outlive the silent ones by a margin, healthy on both survivors,
    // and their beats reach their new owners.
    let watch_until = Instant::now() + Duration::from_millis(2 * UNHEALTHY_AFTER_MS);
    while Instant::now() < watch_until {
        for node in survivors {
            let listed = cluster.listed(node, "beat-svc").await.unwrap();
            assert_eq!(
                listed.keys().cloned().collect::<Vec<_>>(),
                beating,
                "{}",
                cluster.nodes[node].name()
            );
            assert!(listed.values().all(|&h| h), "{listed:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    beater.await.unwrap();
    let settled = killed_at + Duration::from_secs(3);
    let late: Vec<_> = answers
        .lock()
        .iter()
        .filter(|(at, tag, _)| *at > settled && beating.contains(tag))
        .map(|(_, _, code)| *code)
        .collect();
    assert!(!late.is_empty());
    assert!(late.iter().all(|code| *code == Some(10200)), "{late:?}");
    drop(sdk);
}

/// Scenario 3's promise, kept past the registry's idle-client expiry: an `ip:port` client
/// that keeps beating stays listed by the nodes that only hold a replica of it, although
/// its beats reach only its owner (the replicas' life is the kernel's business: verify
/// renews them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beating_clients_stay_listed_on_replicas_past_the_idle_client_expiry() {
    let idle_ms: u64 = 2_000;
    let cluster = Cluster::start(&[
        ("DISTRO_NAMING__CLIENT_EXPIRED_MS", &idle_ms.to_string()),
        ("DISTRO_NAMING__CLIENT_CLEAN_INTERVAL_MS", "250"),
    ])
    .await;
    let (ip, port) = cluster.tags_owned_by(0, "10.3.5.", 1).remove(0);
    let tag = format!("{ip}:{port}");
    cluster
        .register(1, "idle-svc", &ip, port, "")
        .await
        .unwrap();
    cluster
        .wait_listed(&[0, 1, 2], "idle-svc", std::slice::from_ref(&tag), SLOW)
        .await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3 * idle_ms) {
        let through = 1 + (started.elapsed().as_millis() / 500 % 2) as usize;
        assert_eq!(
            cluster.beat(through, "idle-svc", &ip, port).await,
            Some(10200)
        );
        for node in 0..3 {
            let listed = cluster.listed(node, "idle-svc").await.unwrap();
            if listed.get(&tag) != Some(&true) {
                let metrics = cluster.metrics(node).await;
                let counters: Vec<&str> = metrics
                    .lines()
                    .filter(|l| {
                        l.starts_with("naming_clients_expired_total")
                            || l.starts_with("distro_verify_rounds_total")
                    })
                    .collect();
                cluster.fail(&format!(
                    "{} stopped listing the beating client {tag} {:?} after it was registered \
                     (idle-client expiry {idle_ms} ms): {listed:?}; {counters:?}",
                    cluster.nodes[node].name(),
                    started.elapsed()
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------
// 4. A node restarts: not ready until loaded, then it holds everything
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_ready_only_with_the_full_registry() {
    // A long peer wait: with its peers frozen, the restarted node must wait for them rather
    // than start empty. A short orphan grace: replicas disowned while ownership moves back
    // to the restarted node would be removed within the watch below.
    let mut cluster = Cluster::start(&[
        ("DISTRO_DISTRO__LOAD_PEER_WAIT_MS", "20000"),
        ("DISTRO_DISTRO__ORPHAN_GRACE_MS", "2000"),
    ])
    .await;
    // The victim is the node with the lowest address: a claim it would make at a peer's
    // revision always loses the equal-revision tie-break (greater owner address wins).
    let victim = (0..3)
        .min_by_key(|&i| cluster.addresses[i].clone())
        .unwrap();
    let (b, c) = ((victim + 1) % 3, (victim + 2) % 3);

    // 150 ip:port clients spread over the three owners, and a connection client on B.
    let mut tags = Vec::new();
    for owner in 0..3 {
        tags.extend(cluster.tags_owned_by(owner, "10.4.0.", 50));
    }
    cluster.register_all(c, "restart-svc", &tags).await;
    let _sdk = SdkChild::spawn(
        cluster.nodes[b].http_port(),
        "restart-conn",
        &["10.4.9.1:80", "10.4.9.2:80"],
    )
    .await;
    let conn = ["10.4.9.1:80".to_owned(), "10.4.9.2:80".to_owned()];
    cluster
        .wait_listed(&[0, 1, 2], "restart-conn", &conn, SLOW)
        .await;
    cluster
        .wait_listed(&[0, 1, 2], "restart-svc", &tag_strings(&tags), SLOW)
        .await;

    // The victim dies; 30 more clients register while it is away.
    cluster.nodes[victim].kill();
    cluster.wait_state(b, victim, "DOWN", SLOW).await;
    cluster.wait_state(c, victim, "DOWN", SLOW).await;
    let late = cluster.tags_owned_by(b, "10.4.1.", 30);
    cluster.register_all(b, "restart-svc", &late).await;
    tags.extend(late);
    let mut expected = tag_strings(&tags);
    expected.sort();
    cluster
        .wait_listed(&[b, c], "restart-svc", &expected, SLOW)
        .await;

    // It restarts while its peers are frozen: nobody can serve it a snapshot, so it says
    // not-ready (and indeed holds nothing).
    cluster.nodes[b].freeze().unwrap();
    cluster.nodes[c].freeze().unwrap();
    let restarted = cluster.nodes[victim].restart(&cluster.http).await;
    if let Err(error) = restarted {
        cluster.nodes[b].thaw().unwrap();
        cluster.nodes[c].thaw().unwrap();
        cluster.fail(&error.to_string());
    }
    let frozen_until = Instant::now() + Duration::from_millis(1500);
    let mut checks = 0;
    while Instant::now() < frozen_until {
        let ready = cluster.readiness(victim).await;
        let listed = cluster.listed(victim, "restart-svc").await;
        if ready != Some(false) || listed.as_ref().is_none_or(|l| !l.is_empty()) {
            cluster.nodes[b].thaw().unwrap();
            cluster.nodes[c].thaw().unwrap();
            cluster.fail(&format!(
                "without a snapshot the restarted node answered readiness {ready:?} and lists {listed:?}"
            ));
        }
        checks += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(checks > 5);

    // The peers come back: it loads, becomes ready, and at that moment lists what they do.
    let thawed_at = Instant::now();
    cluster.nodes[b].thaw().unwrap();
    cluster.nodes[c].thaw().unwrap();
    cluster.wait_ready(victim, Duration::from_secs(10)).await;
    let ready_after = thawed_at.elapsed();
    let victim_svc = cluster.listed(victim, "restart-svc").await.unwrap();
    let victim_conn = cluster.listed(victim, "restart-conn").await.unwrap();
    println!("the restarted node was ready {ready_after:?} after its peers thawed");
    assert_same_tags(&victim_svc, &expected, "ready without every ip:port client");
    assert_same_tags(&victim_conn, &conn, "ready without the connection client");
    // Same records as the others, field for field.
    for service in ["restart-svc", "restart-conn"] {
        let reference = cluster.hosts(victim, service).await.unwrap();
        for node in [b, c] {
            assert_eq!(
                cluster.hosts(node, service).await.unwrap(),
                reference,
                "{service} on {}",
                cluster.nodes[node].name()
            );
        }
    }
    // Responsibility for a third of the ip:port clients moves back to it: every node keeps
    // listing every client while that happens (orphan grace and several verify rounds).
    cluster.wait_all_up(SLOW).await;
    let watch_until = Instant::now() + Duration::from_millis(2000 + 4 * VERIFY_MS);
    while Instant::now() < watch_until {
        for node in 0..3 {
            let listed = cluster.listed(node, "restart-svc").await.unwrap();
            let missing: Vec<&String> = expected
                .iter()
                .filter(|t| !listed.contains_key(*t))
                .collect();
            if !missing.is_empty() {
                cluster.fail(&format!(
                    "{} lost {} clients {:?} after the restart: {missing:?}",
                    cluster.nodes[node].name(),
                    missing.len(),
                    thawed_at.elapsed()
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Beats for the clients it is responsible for again are answered (by it).
    for (ip, port) in tags
        .iter()
        .filter(|(ip, port)| cluster.owner_of(&format!("{ip}:{port}")) == victim)
    {
        assert_eq!(cluster.beat(b, "restart-svc", ip, *port).await, Some(10200));
    }

    // And it is a full member again: writes through it reach everyone.
    let (ip, port) = cluster.tags_owned_by(c, "10.4.2.", 1).remove(0);
    cluster
        .register(victim, "restart-svc", &ip, port, "")
        .await
        .unwrap();
    expected.push(format!("{ip}:{port}"));
    expected.sort();
    cluster
        .wait_listed(
            &[0, 1, 2],
            "restart-svc",
            &expected,
            MERGE_WINDOW + VISIBLE_BOUND,
        )
        .await;
}

// ---------------------------------------------------------------------------------------
// 5. A partition: both sides serve; after healing everyone converges
// ---------------------------------------------------------------------------------------

/// How long the partition lasts: longer than the grace, so the majority side drops A's
/// connection client and the heal has to bring it back.
const PARTITION: Duration = Duration::from_millis(GRACE_MS + 1_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_partition_heals_every_node_converges_within_two_verify_rounds() {
    let cluster = Cluster::start(&[]).await;
    // A, the isolated node, has the lowest address: equal revisions are settled by the
    // greater owner address, so A's copies are never preferred for that reason alone.
    let a = (0..3)
        .min_by_key(|&i| cluster.addresses[i].clone())
        .unwrap();
    let (b, c) = ((a + 1) % 3, (a + 2) % 3);
    let all = [0, 1, 2];

    // Before: ip:port clients of every owner, and a connection client on A.
    let mut tags = Vec::new();
    for owner in [a, b, c] {
        tags.extend(cluster.tags_owned_by(owner, "10.5.0.", 10));
    }
    cluster.register_all(b, "part-svc", &tags).await;
    let _sdk = SdkChild::spawn(cluster.nodes[a].http_port(), "part-conn", &["10.5.9.1:80"]).await;
    let conn = ["10.5.9.1:80".to_owned()];
    cluster.wait_listed(&all, "part-conn", &conn, SLOW).await;
    let mut before = tag_strings(&tags);
    before.sort();
    cluster.wait_listed(&all, "part-svc", &before, SLOW).await;

    // Cut A from B and C, both ways.
    cluster.block(a, &[b, c]).await;
    cluster.block(b, &[a]).await;
    cluster.block(c, &[a]).await;
    let cut_at = Instant::now();
    for (observer, target) in [(a, b), (a, c), (b, a), (c, a)] {
        cluster.wait_state(observer, target, "DOWN", SLOW).await;
    }
    println!("both sides saw the partition after {:?}", cut_at.elapsed());

    // Both sides accept writes: A alone is responsible for everything it sees, B and C
    // share the rest (a write to B may be forwarded to C).
    let a_side = cluster.tags_owned_by(a, "10.5.1.", 5);
    let bc_side = cluster.tags_owned_by(c, "10.5.2.", 5);
    cluster.register_all(a, "part-svc", &a_side).await;
    cluster.register_all(b, "part-svc", &bc_side).await;
    // Updates (new metadata) of clients registered before, on both sides: one A owns
    // (updated by A; the B/C side adopted it meanwhile, unchanged), one C owns (updated
    // through B), and one B owns, updated on A's side, twice, where A adopted it.
    let (a_ip, a_port) = &tags[0];
    let (b_ip, b_port) = &tags[10];
    let (c_ip, c_port) = &tags[20];
    let side = |name: &str| format!("&metadata=%7B%22side%22%3A%22{name}%22%7D");
    cluster
        .register(a, "part-svc", a_ip, *a_port, &side("a"))
        .await
        .unwrap();
    cluster
        .register(b, "part-svc", c_ip, *c_port, &side("bc"))
        .await
        .unwrap();
    for name in ["minority-1", "minority-2"] {
        cluster
            .register(a, "part-svc", b_ip, *b_port, &side(name))
            .await
            .unwrap();
    }

    // Both sides keep serving reads, each with its own writes (and nothing lost).
    let mut a_view = before.clone();
    a_view.extend(tag_strings(&a_side));
    a_view.sort();
    let mut bc_view = before.clone();
    bc_view.extend(tag_strings(&bc_side));
    bc_view.sort();
    cluster
        .wait_listed(&[a], "part-svc", &a_view, MERGE_WINDOW + VISIBLE_BOUND)
        .await;
    cluster
        .wait_listed(&[b, c], "part-svc", &bc_view, MERGE_WINDOW + VISIBLE_BOUND)
        .await;
    // Past the grace, B and C drop the connection client of A (its owner is DOWN for them);
    // A, which does not see a majority, drops nothing.
    let left = PARTITION.saturating_sub(cut_at.elapsed());
    tokio::time::sleep(left).await;
    cluster
        .wait_listed(&[b, c], "part-conn", &[], Duration::from_secs(3))
        .await;
    cluster
        .wait_listed(&[a], "part-conn", &conn, Duration::ZERO)
        .await;
    cluster
        .wait_listed(&[a], "part-svc", &a_view, Duration::ZERO)
        .await;

    // Heal. Within two verify rounds (each at most 1.2 x the interval) plus the merge
    // window, after the failure detector has seen the peers again, every node lists the same.
    for node in all {
        cluster.block(node, &[]).await;
    }
    let healed_at = Instant::now();
    let mut union = a_view.clone();
    union.extend(tag_strings(&bc_side));
    union.sort();
    let bound = Duration::from_millis(2 * VERIFY_MS * 6 / 5)
        + MERGE_WINDOW
        + Duration::from_millis(3 * PROBE_MS)
        + Duration::from_millis(500);
    let what = "every node to list the same registry after the heal";
    let result = wait_until(what, bound, || async {
        let mut views = Vec::new();
        for node in all {
            let (Some(svc), Some(conn_hosts)) = (
                cluster.hosts(node, "part-svc").await,
                cluster.hosts(node, "part-conn").await,
            ) else {
                return false;
            };
            views.push((svc, conn_hosts));
        }
        let tags: Vec<String> = views[0].0.iter().map(host_tag).collect();
        tags == union
            && views[0].1.iter().map(host_tag).collect::<Vec<_>>() == conn
            && views.iter().all(|v| *v == views[0])
    })
    .await;
    let converged = match result {
        Ok(took) => took,
        Err(error) => {
            let mut seen = Vec::new();
            for node in all {
                seen.push((
                    cluster.listed(node, "part-svc").await.map(|l| l.len()),
                    cluster.listed(node, "part-conn").await,
                ));
            }
            let diff = host_differences(&cluster, "part-svc").await;
            cluster.fail(&format!(
                "{error} (bound {bound:?}); counts and conn: {seen:?}; differences: {diff}"
            ))
        }
    };
    println!("converged {converged:?} after the heal (bound {bound:?})");
    // The newest client write wins, wherever it was made: the updates A and C made to their
    // own clients survive, and so do the two A made to B's client while it had adopted it
    // (acknowledged to the client, and newer than anything B held; every node agrees,
    // checked above). Before revisions carried the write's stamp, B's older state won.
    let hosts = cluster.hosts(a, "part-svc").await.unwrap();
    let side_of = |tag: String| {
        hosts
            .iter()
            .find(|h| host_tag(h) == tag)
            .map(|h| h["metadata"]["side"].clone())
    };
    assert_eq!(side_of(format!("{a_ip}:{a_port}")), Some(Value::from("a")));
    assert_eq!(side_of(format!("{c_ip}:{c_port}")), Some(Value::from("bc")));
    assert_eq!(
        side_of(format!("{b_ip}:{b_port}")),
        Some(Value::from("minority-2"))
    );

    // And it stays converged (ownership settles back, orphans are resolved): watched for
    // a few more verify rounds.
    let watch_until = healed_at + Duration::from_millis(4 * VERIFY_MS) + converged;
    while Instant::now() < watch_until {
        let reference = cluster.hosts(a, "part-svc").await.unwrap();
        for node in [b, c] {
            let hosts = cluster.hosts(node, "part-svc").await.unwrap();
            if hosts != reference {
                cluster.fail(&format!(
                    "{} diverged again {:?} after the heal",
                    cluster.nodes[node].name(),
                    healed_at.elapsed()
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// 6. Stale, duplicated and replayed syncs change nothing
// ---------------------------------------------------------------------------------------

/// A client of the cluster port, authenticated with the cluster secret.
fn cluster_port_client(cluster: &Cluster, node: usize) -> distro_transport_grpc::ClusterClient {
    let auth = ClusterAuth::Secret(ClusterSecret::new(SECRET).unwrap());
    let channels = PeerChannels::new(ClientConfig::default(), &auth);
    channels.client(&cluster.addresses[node]).unwrap()
}

/// A `Sync` of one item to `node`; the receiver's counts `(applied, stale, refused)`.
async fn raw_sync(cluster: &Cluster, node: usize, item: proto::SyncItem) -> (u32, u32, u32) {
    let answer = cluster_port_client(cluster, node)
        .sync(proto::SyncRequest {
            resource_type: CLIENT_DATA_TYPE.to_owned(),
            items: vec![item],
        })
        .await
        .unwrap()
        .into_inner();
    (answer.applied, answer.stale, answer.refused)
}

/// What `node` holds for `key`, through the cluster port's `Query`.
async fn raw_query(cluster: &Cluster, node: usize, key: &str) -> proto::SyncItem {
    cluster_port_client(cluster, node)
        .query(proto::QueryRequest {
            resource_type: CLIENT_DATA_TYPE.to_owned(),
            key: key.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap()
}

/// `item`'s record with the instance's metadata `version` set to `version`.
fn with_version(item: &proto::SyncItem, revision: u64, version: &str) -> proto::SyncItem {
    let mut record = ClientRecord::decode(item.payload.as_deref().unwrap()).unwrap();
    for service in &mut record.services {
        for instance in &mut service.instances {
            instance
                .metadata
                .insert("version".to_owned(), version.to_owned());
        }
    }
    record.revision = revision;
    proto::SyncItem {
        revision,
        payload: Some(record.encode()),
        ..item.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_duplicate_and_replayed_syncs_do_not_overwrite_newer_data() {
    let cluster = Cluster::start(&[]).await;
    let (ip, port) = cluster.tags_owned_by(0, "10.6.0.", 1).remove(0);
    let (owner, replica) = (0, 1);
    let key = format!("{ip}:{port}#true");
    let version = |v: &str| format!("&metadata=%7B%22version%22%3A%22{v}%22%7D");
    // Two states, so the replica holds revision >= 2 and an older one exists.
    for v in ["1", "2"] {
        cluster
            .register(owner, "sync-svc", &ip, port, &version(v))
            .await
            .unwrap();
    }
    let version_on = |node: usize| {
        let cluster = &cluster;
        async move {
            let hosts = cluster.hosts(node, "sync-svc").await.unwrap();
            assert!(hosts.len() <= 1, "{hosts:?}");
            let version = hosts.first().map(|h| h["metadata"]["version"].clone());
            version.and_then(|v| v.as_str().map(str::to_owned))
        }
    };
    let what = "the replica to hold version 2";
    cluster.expect(
        wait_until(what, MERGE_WINDOW + VISIBLE_BOUND, || async {
            version_on(replica).await.as_deref() == Some("2")
        })
        .await,
    );
    let current = raw_query(&cluster, replica, &key).await;
    assert_eq!(current.owner, cluster.addresses[owner]);
    assert_eq!(
        current.revision,
        raw_query(&cluster, owner, &key).await.revision
    );
    let r = current.revision;
    assert!(r >= 2, "{current:?}");
    let hosts_before = cluster.hosts(replica, "sync-svc").await.unwrap();

    // Older revision with other content: ignored.
    let older = with_version(&current, r - 1, "stale");
    assert_eq!(raw_sync(&cluster, replica, older.clone()).await, (0, 1, 0));
    // A deletion at an older revision: ignored.
    let old_delete = proto::SyncItem {
        revision: r - 1,
        payload: None,
        ..current.clone()
    };
    assert_eq!(raw_sync(&cluster, replica, old_delete).await, (0, 1, 0));
    // The current state again (a duplicate), and other content at the same revision.
    assert_eq!(
        raw_sync(&cluster, replica, current.clone()).await,
        (0, 1, 0)
    );
    let twin = with_version(&current, r, "twin");
    assert_eq!(raw_sync(&cluster, replica, twin).await, (0, 1, 0));
    // Nothing changed, now or a little later (no delayed effect).
    for _ in 0..2 {
        assert_eq!(
            cluster.hosts(replica, "sync-svc").await.unwrap(),
            hosts_before
        );
        assert_eq!(raw_query(&cluster, replica, &key).await, current);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The owner refuses anyone else's copy of its own client, however new.
    let usurper = proto::SyncItem {
        owner: cluster.addresses[replica].clone(),
        ..with_version(&current, r + 100, "usurper")
    };
    assert_eq!(raw_sync(&cluster, owner, usurper).await, (0, 0, 1));
    assert_eq!(version_on(owner).await.as_deref(), Some("2"));

    // The same path does apply a newer revision (so the checks above are not vacuous)…
    let newer = with_version(&current, r + 1, "newer");
    assert_eq!(raw_sync(&cluster, replica, newer.clone()).await, (1, 0, 0));
    assert_eq!(version_on(replica).await.as_deref(), Some("newer"));
    // …after which a replay of the state it replaced, or of older ones, changes nothing.
    assert_eq!(
        raw_sync(&cluster, replica, current.clone()).await,
        (0, 1, 0)
    );
    assert_eq!(raw_sync(&cluster, replica, older).await, (0, 1, 0));
    assert_eq!(raw_sync(&cluster, replica, newer.clone()).await, (0, 1, 0));
    assert_eq!(version_on(replica).await.as_deref(), Some("newer"));
    assert_eq!(raw_query(&cluster, replica, &key).await.revision, r + 1);
}

// ---------------------------------------------------------------------------------------
// 7. A verify round is one message per peer, whatever the client count
// ---------------------------------------------------------------------------------------

/// Bytes of a protobuf varint holding `value`.
fn varint_len(mut value: u64) -> u64 {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Encoded size of the first (and, in sync, only) message of a verify round:
/// `VerifyRequest { resource_type = 1, root = 2: RootDigest { owner = 1, root = 3
/// (fixed64), count = 3 } }` (a zero root or count would be omitted; neither is zero here).
fn root_message_len(owner: &str, count: u64) -> u64 {
    let field = |len: u64| 1 + varint_len(len) + len;
    let digest = field(owner.len() as u64) + (1 + 8) + (1 + varint_len(count));
    field(CLIENT_DATA_TYPE.len() as u64) + field(digest)
}

/// Verify counters of one node: rounds by result, and bytes sent.
#[derive(Debug, Clone, Copy, PartialEq)]
struct VerifyCounters {
    matched: f64,
    repaired: f64,
    failed: f64,
    bytes: f64,
}

impl VerifyCounters {
    fn read(metrics: &str) -> Self {
        let rounds = |result: &str| {
            metric_value(
                metrics,
                &format!("distro_verify_rounds_total{{result=\"{result}\"}}"),
            )
            .unwrap_or(0.0)
        };
        Self {
            matched: rounds("match"),
            repaired: rounds("repair"),
            failed: rounds("failed"),
            bytes: metric_value(metrics, "distro_verify_bytes_total").unwrap_or(0.0),
        }
    }
}

impl Cluster {
    /// The counters of `node` read between two rounds: two reads 100 ms apart that agree
    /// (a round with both peers takes a few milliseconds, rounds are ~1 s apart).
    async fn quiet_verify_counters(&self, node: usize) -> VerifyCounters {
        let deadline = Instant::now() + SLOW;
        loop {
            let first = VerifyCounters::read(&self.metrics(node).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
            let second = VerifyCounters::read(&self.metrics(node).await);
            if first == second {
                return second;
            }
            assert!(Instant::now() < deadline, "verify counters never settled");
        }
    }

    /// Waits until `node`'s verify rounds match with every peer (`rounds` in a row).
    async fn wait_verify_matching(&self, node: usize, rounds: f64) {
        let start = self.quiet_verify_counters(node).await;
        let what = format!(
            "{rounds} matching verify rounds of {}",
            self.nodes[node].name()
        );
        let result = wait_until(&what, SLOW, || async {
            let now = VerifyCounters::read(&self.metrics(node).await);
            now.repaired == start.repaired && now.matched >= start.matched + rounds
        })
        .await;
        self.expect(result);
    }
}

/// Over a few verify intervals in a settled cluster: (match rounds, bytes) sent by `node`.
async fn verify_cost(cluster: &Cluster, node: usize) -> (f64, f64) {
    let before = cluster.quiet_verify_counters(node).await;
    let window = Duration::from_millis(4 * VERIFY_MS);
    tokio::time::sleep(window).await;
    let after = cluster.quiet_verify_counters(node).await;
    assert_eq!(
        (after.repaired, after.failed),
        (before.repaired, before.failed),
        "a settled cluster only has matching rounds: {before:?} -> {after:?}"
    );
    let rounds = after.matched - before.matched;
    // Each round is one exchange per peer (2); rounds come every 0.8 to 1.2 intervals.
    let (min, max) = (2.0 * (4.0 / 1.2_f64).floor(), 2.0 * (4.0 / 0.8_f64).ceil());
    assert!(
        (min - 2.0..=max + 2.0).contains(&rounds) && rounds % 2.0 == 0.0,
        "{rounds} peer rounds in {window:?}"
    );
    (rounds, after.bytes - before.bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_round_is_one_small_message_per_peer_whatever_the_client_count() {
    let cluster = Cluster::start(&[]).await;
    let owner = 0;
    let tags = cluster.tags_owned_by(owner, "10.7.0.", 500);
    let all = tag_strings(&tags);

    let mut results = Vec::new();
    for count in [50, 500] {
        let done = results.len();
        let start = if done == 0 { 0 } else { 50 };
        cluster
            .register_all(owner, "verify-svc", &tags[start..count])
            .await;
        cluster
            .wait_listed(&[0, 1, 2], "verify-svc", &all[..count], SLOW)
            .await;
        cluster.wait_verify_matching(owner, 4.0).await;
        let (rounds, bytes) = verify_cost(&cluster, owner).await;
        let per_message = bytes / rounds;
        let expected = root_message_len(&cluster.addresses[owner], count as u64) as f64;
        println!(
            "{count} clients: {rounds} peer rounds, {bytes} bytes, {per_message} bytes per peer per round (a root digest is {expected})"
        );
        assert_eq!(
            per_message, expected,
            "one root-digest message per peer per round with {count} clients"
        );
        results.push(per_message);
    }
    // Ten times the clients, the same message (one more byte for the count's varint).
    assert!(results[1] - results[0] <= 1.0, "{results:?}");
}

// ---------------------------------------------------------------------------------------
// Measurement: time for a change to be listed by every node
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_convergence_of_100_changes() {
    let cluster = Cluster::start(&[]).await;
    let writer = 0;
    let others = [1, 2];
    // Clients the writer owns, so each change is applied on it and replicated from it.
    let tags = cluster.tags_owned_by(writer, "10.8.0.", 100);
    let mut samples = Vec::new();
    for (ip, port) in &tags {
        let tag = format!("{ip}:{port}");
        let sent = Instant::now();
        cluster
            .register(writer, "conv-svc", ip, *port, "")
            .await
            .unwrap();
        let mut seen = [false, false];
        loop {
            for (slot, &node) in others.iter().enumerate() {
                if !seen[slot] {
                    let listed = cluster.listed(node, "conv-svc").await.unwrap();
                    seen[slot] = listed.contains_key(&tag);
                }
            }
            if seen == [true, true] {
                break;
            }
            if sent.elapsed() > Duration::from_secs(5) {
                cluster.fail(&format!("{tag} not listed everywhere within 5 s"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(sent.elapsed());
    }
    let mut sorted = samples.clone();
    sorted.sort();
    let p99 = sorted[(sorted.len() * 99).div_ceil(100) - 1];
    println!(
        "convergence of {} changes written on one node, listed by both others: median {:?}, p99 {p99:?}, max {:?} (merge window {MERGE_WINDOW:?})",
        samples.len(),
        median(&samples),
        sorted[sorted.len() - 1]
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
}
