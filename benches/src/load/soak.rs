//! The soak scenario: constant churn against a cluster for `--duration` seconds, sampling
//! every node's resident memory and queue depths, then checking that nothing lingers.
//!
//! Churn: `--concurrency` HTTP workers (spread over the nodes) register, beat and deregister
//! `ip:port` instances of a fixed universe (`--instances`, 20 services), so the registry's
//! size stays bounded and any growth of memory is a leak, not data; two gRPC workers open
//! an SDK-like connection to a random node, batch-register instances, hold it a moment
//! and drop it (connection clients come and go). At the end every worker deregisters what
//! it still holds and the scenario waits until no node lists any soak instance.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use distro_nacos_api::Instance;
use distro_nacos_api::grpc::naming::{BatchInstanceRequest, BatchInstanceResponse, NamingTarget};

use crate::load::cluster::metric_sum;
use crate::load::engine::{ip_of, port_of};
use crate::load::grpc::GrpcConn;
use crate::load::http::{ClientKind, Conn, Expect, encode};
use crate::load::procfs;
use crate::load::stats::{Meter, Recorder, Summary, spawn_progress};
use crate::load::{Options, Scenario};

/// Services the HTTP universe is spread over.
const HTTP_SERVICES: u64 = 20;
/// gRPC churn workers, and the instances each registers per connection.
const GRPC_WORKERS: usize = 2;
const GRPC_BATCH: u64 = 10;
/// Share of actions on a registered instance that deregister it (the rest beat it).
const DEREGISTER_SHARE: f64 = 0.1;
/// Longest the cluster may take to drop every soak instance after the churn stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Queue-depth and memory series read from each node's `/metrics`.
const SAMPLED_METRICS: [&str; 6] = [
    "distro_sync_backlog",
    "naming_push_pending_services",
    "naming_instances",
    "naming_clients",
    "naming_events_dropped_total",
    "distro_sync_overflows_total",
];

fn http_service(i: u64) -> String {
    format!("DEFAULT_GROUP%40%40soak.{}", i % HTTP_SERVICES)
}

fn grpc_service(worker: usize) -> String {
    format!("soak.grpc.{worker}")
}

/// Runs the soak; needs `--nodes` (the other nodes) and, for memory, `--node-pids`.
pub async fn soak(options: &Options) -> anyhow::Result<Summary> {
    let mut nodes = vec![options.http_addr()?];
    nodes.extend(options.node_addrs()?);
    let universe = options.instances_for(Scenario::Soak).max(1);
    let workers = options.concurrency.clamp(1, 1024);
    let started = Instant::now();
    let deadline = started + options.duration();
    let meter = Arc::new(Meter::default());
    let progress = spawn_progress(
        Scenario::Soak.name().to_owned(),
        Arc::clone(&meter),
        options.duration(),
    );
    let mut handles = Vec::new();
    for w in 0..workers {
        let node = nodes[w % nodes.len()];
        let mine: Vec<u64> = (0..universe)
            .filter(|i| i % workers as u64 == w as u64)
            .collect();
        let pace = pace_of(options.rate, workers);
        handles.push(tokio::spawn(http_worker(
            options.client,
            node,
            mine,
            pace,
            Recorder::new(Arc::clone(&meter), started),
            deadline,
        )));
    }
    let grpc_nodes: Vec<SocketAddr> = nodes.iter().map(|n| grpc_of(*n)).collect();
    let grpc = (0..GRPC_WORKERS)
        .map(|w| tokio::spawn(grpc_worker(w, grpc_nodes.clone(), deadline)))
        .collect::<Vec<_>>();
    let samples = sample_until(options, &nodes, started, deadline).await;
    let mut recorded = Recorder::new(Arc::clone(&meter), started);
    for handle in handles {
        if let Ok(worker) = handle.await {
            recorded.merge(&worker);
        }
    }
    let mut grpc_cycles = 0u64;
    let mut grpc_errors = 0u64;
    for handle in grpc {
        if let Ok((cycles, errors)) = handle.await {
            grpc_cycles += cycles;
            grpc_errors += errors;
        }
    }
    let churn_elapsed = started.elapsed();
    progress.abort();
    let drained = drain_time(options.client, &nodes).await;
    let after = sample_once(options, &nodes, started).await;
    let mut extra = Map::new();
    extra.insert("nodes".into(), json!(nodes.len()));
    extra.insert("universe".into(), json!(universe));
    extra.insert("grpc_cycles".into(), json!(grpc_cycles));
    extra.insert("grpc_errors".into(), json!(grpc_errors));
    extra.insert("drained_s".into(), json!(drained.map(|d| d.as_secs_f64())));
    extra.insert("flat".into(), flatness(&samples));
    extra.insert("after_drain".into(), after);
    extra.insert("samples".into(), Value::Array(samples));
    Ok(Summary {
        scenario: Scenario::Soak.name().to_owned(),
        concurrency: workers,
        elapsed: churn_elapsed,
        recorded,
        server: None,
        extra,
    })
}

/// The pause between two requests of one worker for a total `rate` (0: none).
fn pace_of(rate: f64, workers: usize) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs_f64(workers as f64 / rate))
}

/// The SDK port of a node (HTTP port + 1000, the default offset).
fn grpc_of(http: SocketAddr) -> SocketAddr {
    SocketAddr::new(http.ip(), http.port().saturating_add(1000))
}

/// One HTTP worker: random actions on its own share of the universe until `deadline`, then
/// deregisters what it still holds.
async fn http_worker(
    kind: ClientKind,
    node: SocketAddr,
    mine: Vec<u64>,
    pace: Option<Duration>,
    mut recorder: Recorder,
    deadline: Instant,
) -> Recorder {
    let mut conn: Option<Conn> = None;
    let mut registered: HashSet<u64> = HashSet::new();
    while Instant::now() < deadline && !mine.is_empty() {
        let i = mine[fastrand::usize(..mine.len())];
        let action = if !registered.contains(&i) {
            Action::Register
        } else if fastrand::f64() < DEREGISTER_SHARE {
            Action::Deregister
        } else {
            Action::Beat
        };
        let started = Instant::now();
        let ok = act(&mut conn, kind, node, i, action).await;
        recorder.record(started, ok);
        if ok {
            match action {
                Action::Register => {
                    registered.insert(i);
                }
                Action::Deregister => {
                    registered.remove(&i);
                }
                Action::Beat => {}
            }
        }
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
    }
    // Leave nothing behind: the drain check expects every soak instance gone.
    for i in registered {
        for _ in 0..3 {
            if act(&mut conn, kind, node, i, Action::Deregister).await {
                break;
            }
        }
    }
    recorder
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Register,
    Beat,
    Deregister,
}

/// Sends one action; a transport error drops the connection (reopened next time).
async fn act(
    slot: &mut Option<Conn>,
    kind: ClientKind,
    node: SocketAddr,
    i: u64,
    action: Action,
) -> bool {
    if slot.is_none() {
        match Conn::open(kind, node).await {
            Ok(conn) => *slot = Some(conn),
            Err(_) => return false,
        }
    }
    let Some(conn) = slot.as_mut() else {
        return false;
    };
    let (ip, port, service) = (ip_of(i), port_of(i), http_service(i));
    let identity = format!("serviceName={service}&ip={ip}&port={port}");
    let answer = match action {
        Action::Register => {
            conn.call(
                "POST",
                "/nacos/v1/ns/instance",
                Some(identity.as_bytes()),
                Expect::Body(b"ok"),
            )
            .await
        }
        Action::Beat => {
            let path = format!("/nacos/v1/ns/instance/beat?{identity}");
            conn.call("PUT", &path, None, Expect::Ok).await
        }
        Action::Deregister => {
            let path = format!("/nacos/v1/ns/instance?{identity}");
            conn.call("DELETE", &path, None, Expect::Body(b"ok")).await
        }
    };
    answer.unwrap_or_else(|_| {
        *slot = None;
        false
    })
}

/// One gRPC worker: connect to a random node, batch-register, hold 0.2–2 s, drop; returns
/// (cycles, errors).
async fn grpc_worker(worker: usize, nodes: Vec<SocketAddr>, deadline: Instant) -> (u64, u64) {
    let (mut cycles, mut errors) = (0, 0);
    let base = 1_000_000 + worker as u64 * 10_000;
    while Instant::now() < deadline {
        let node = nodes[fastrand::usize(..nodes.len())];
        let first = base + (cycles % 100) * GRPC_BATCH;
        let instances = (first..first + GRPC_BATCH)
            .map(|i| Instance {
                ip: ip_of(i),
                port: port_of(i) as i64,
                ..Instance::default()
            })
            .collect();
        let target = NamingTarget::new("public", "DEFAULT_GROUP", &grpc_service(worker));
        let cycle = async {
            let mut conn = GrpcConn::open(node).await?;
            let answer: BatchInstanceResponse = conn
                .ask(&BatchInstanceRequest::new(target, instances))
                .await?;
            if !answer.status.is_success() {
                bail!("batch registration refused");
            }
            tokio::time::sleep(Duration::from_millis(fastrand::u64(200..2000))).await;
            anyhow::Ok(())
        };
        match cycle.await {
            Ok(()) => cycles += 1,
            Err(_) => {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    (cycles, errors)
}

/// The sampling period: about 30 samples per run, between 2 and 10 seconds apart.
fn sample_period(options: &Options) -> Duration {
    Duration::from_secs_f64((options.duration().as_secs_f64() / 30.0).clamp(2.0, 10.0))
}

/// Samples every node each period until `deadline`; prints each sample to stderr.
async fn sample_until(
    options: &Options,
    nodes: &[SocketAddr],
    started: Instant,
    deadline: Instant,
) -> Vec<Value> {
    let period = sample_period(options);
    let mut samples = Vec::new();
    loop {
        let sample = sample_once(options, nodes, started).await;
        eprintln!("soak sample {sample}");
        samples.push(sample);
        let next = Instant::now() + period;
        if next > deadline {
            tokio::time::sleep_until(deadline).await;
            return samples;
        }
        tokio::time::sleep_until(next).await;
    }
}

/// One sample: per node, RSS (when its pid is known) and the queue-depth metrics.
async fn sample_once(options: &Options, nodes: &[SocketAddr], started: Instant) -> Value {
    let mut per_node = Vec::new();
    for (k, node) in nodes.iter().enumerate() {
        let mut entry = Map::new();
        entry.insert("node".into(), json!(node.to_string()));
        if let Some(sample) = options
            .node_pids
            .get(k)
            .and_then(|pid| procfs::sample(*pid))
        {
            entry.insert(
                "rss_mb".into(),
                json!((sample.rss_mb() * 10.0).round() / 10.0),
            );
        }
        if let Ok(mut conn) = Conn::open(options.client, *node).await
            && let Ok((200, page)) = conn.fetch("GET", "/metrics").await
        {
            let page = String::from_utf8_lossy(&page);
            for name in SAMPLED_METRICS {
                entry.insert(name.into(), json!(metric_sum(&page, name)));
            }
        }
        per_node.push(Value::Object(entry));
    }
    json!({"t_s": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0, "nodes": per_node})
}

/// How flat memory and queues stayed: per node, RSS at the end of the first fifth of the
/// run, at the end, and the largest; the largest backlog and push queue anywhere.
fn flatness(samples: &[Value]) -> Value {
    let warm = samples.len() / 5;
    let node_count = samples
        .first()
        .and_then(|s| s["nodes"].as_array())
        .map_or(0, Vec::len);
    let mut rss = Vec::new();
    for k in 0..node_count {
        let series: Vec<f64> = samples
            .iter()
            .filter_map(|s| s["nodes"][k]["rss_mb"].as_f64())
            .collect();
        if let (Some(at_warm), Some(last)) = (series.get(warm), series.last()) {
            let max = series.iter().copied().fold(0.0, f64::max);
            rss.push(json!({"after_warmup_mb": at_warm, "end_mb": last, "max_mb": max}));
        }
    }
    let max_of = |name: &str| {
        samples
            .iter()
            .filter_map(|s| s["nodes"].as_array())
            .flatten()
            .filter_map(|n| n[name].as_f64())
            .fold(0.0, f64::max)
    };
    json!({
        "rss": rss,
        "max_sync_backlog": max_of("distro_sync_backlog"),
        "max_push_pending_services": max_of("naming_push_pending_services"),
        "events_dropped": max_of("naming_events_dropped_total"),
        "sync_overflows": max_of("distro_sync_overflows_total"),
    })
}

/// Time until no node lists any soak instance, or `None` if some still do after
/// [`DRAIN_TIMEOUT`].
async fn drain_time(kind: ClientKind, nodes: &[SocketAddr]) -> Option<Duration> {
    let started = Instant::now();
    let mut services: Vec<String> = (0..HTTP_SERVICES)
        .map(|s| format!("DEFAULT_GROUP%40%40soak.{s}"))
        .collect();
    services.extend((0..GRPC_WORKERS).map(|w| encode(&grpc_service(w))));
    while started.elapsed() < DRAIN_TIMEOUT {
        if listed_anywhere(kind, nodes, &services).await == Some(0) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Soak instances listed on all nodes together; `None` when a node could not be asked.
async fn listed_anywhere(
    kind: ClientKind,
    nodes: &[SocketAddr],
    services: &[String],
) -> Option<usize> {
    let mut total = 0;
    for node in nodes {
        let mut conn = Conn::open(kind, *node).await.ok()?;
        for service in services {
            let path = format!("/nacos/v1/ns/instance/list?serviceName={service}");
            let (status, body) = conn.fetch("GET", &path).await.ok()?;
            if status != 200 {
                return None;
            }
            let value: Value = serde_json::from_slice(&body).ok()?;
            total += value["hosts"].as_array().map_or(0, Vec::len);
        }
    }
    Some(total)
}
