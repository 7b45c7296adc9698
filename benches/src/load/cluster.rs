//! The cluster scenarios: convergence of a change on all nodes, snapshot load time of a
//! restarted node, and verify bytes per round. They need `--nodes` (the other nodes' HTTP
//! addresses) besides `--target`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, json};
use tokio::time::Instant;

use distro_nacos_api::Instance;
use distro_nacos_api::grpc::naming::{BatchInstanceRequest, BatchInstanceResponse, NamingTarget};

use crate::load::engine::{ip_of, port_of};
use crate::load::grpc::GrpcConn;
use crate::load::http::{ClientKind, Conn, contains};
use crate::load::procfs;
use crate::load::stats::{Meter, Recorder, Summary, histogram};
use crate::load::{Options, Scenario};

/// Longest a change may take to show everywhere before it counts as an error.
const CONVERGENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two polls of a node.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// Longest a restarted node may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// Distro's verify interval (default), the pace of verify-bytes samples.
const VERIFY_INTERVAL: Duration = Duration::from_secs(5);

fn nodes(options: &Options) -> anyhow::Result<Vec<SocketAddr>> {
    let nodes = options.node_addrs()?;
    if nodes.is_empty() {
        bail!("cluster scenarios need --nodes with the other nodes' HTTP addresses");
    }
    Ok(nodes)
}

/// GET `path` on `addr` with a fresh connection kept in `slot`.
async fn get(
    slot: &mut Option<Conn>,
    kind: ClientKind,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<(u16, bytes::Bytes)> {
    if slot.is_none() {
        *slot = Some(Conn::open(kind, addr).await?);
    }
    let Some(conn) = slot.as_mut() else {
        bail!("no connection");
    };
    match conn.fetch("GET", path).await {
        Ok(answer) => Ok(answer),
        Err(error) => {
            *slot = None;
            Err(error.into())
        }
    }
}

/// Write on the target, poll every node (the target included) until the new instance is
/// listed everywhere; one sample per change.
pub async fn convergence(options: &Options) -> anyhow::Result<Summary> {
    let mut all = vec![options.http_addr()?];
    all.extend(nodes(options)?);
    let mut writer = Conn::open(options.client, all[0]).await?;
    let mut readers: Vec<Option<Conn>> = all.iter().map(|_| None).collect();
    let meter = Arc::new(Meter::default());
    let started_all = Instant::now();
    let mut recorder = Recorder::new(Arc::clone(&meter), started_all);
    let mut per_node: Vec<_> = all.iter().map(|_| histogram()).collect();
    let changes = options.changes.clamp(1, 10_000);
    let list = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40bench.converge";
    for k in 0..changes {
        let ip = format!("10.254.{}.{}", (k >> 8) & 255, k & 255);
        let form = format!("serviceName=DEFAULT_GROUP%40%40bench.converge&ip={ip}&port=9000");
        let started = Instant::now();
        let ok = writer
            .call(
                "POST",
                "/nacos/v1/ns/instance",
                Some(form.as_bytes()),
                crate::load::http::Expect::Body(b"ok"),
            )
            .await
            .unwrap_or(false);
        if !ok {
            recorder.record(started, false);
            continue;
        }
        let needle = format!("\"ip\":\"{ip}\"");
        let mut pending: Vec<usize> = (0..all.len()).collect();
        while !pending.is_empty() && started.elapsed() < CONVERGENCE_TIMEOUT {
            let mut still = Vec::new();
            for &node in &pending {
                let seen = match get(&mut readers[node], options.client, all[node], list).await {
                    Ok((200, body)) => contains(&body, needle.as_bytes()),
                    _ => false,
                };
                if seen {
                    let us = started.elapsed().as_micros() as u64;
                    per_node[node].saturating_record(us.max(1));
                } else {
                    still.push(node);
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        recorder.record(started, pending.is_empty());
    }
    let mut extra = Map::new();
    extra.insert("changes".into(), json!(changes));
    extra.insert("nodes".into(), json!(all.len()));
    let medians: Vec<f64> = per_node
        .iter()
        .map(|h| h.value_at_quantile(0.5) as f64 / 1000.0)
        .collect();
    extra.insert("p50_ms_per_node".into(), json!(medians));
    Ok(Summary {
        scenario: Scenario::Convergence.name().to_owned(),
        concurrency: 1,
        elapsed: started_all.elapsed(),
        recorded: recorder,
        server: None,
        extra,
    })
}

/// Services the cluster scenarios spread their instances over.
const CLUSTER_SERVICES: u64 = 100;

/// Registers `n` instances through gRPC connections to the target, one connection (one
/// client) per service, each with one batch (connection-bound: they live as long as the
/// returned connections, no beats needed).
async fn register_batches(
    options: &Options,
    n: u64,
    prefix: &str,
) -> anyhow::Result<Vec<GrpcConn>> {
    let mut conns = Vec::new();
    let per = n.div_ceil(CLUSTER_SERVICES);
    for s in 0..CLUSTER_SERVICES {
        let first = s * per;
        let last = ((s + 1) * per).min(n);
        if first >= last {
            break;
        }
        let instances = (first..last)
            .map(|i| Instance {
                ip: ip_of(i),
                port: port_of(i) as i64,
                ..Instance::default()
            })
            .collect();
        let target = NamingTarget::new("public", "DEFAULT_GROUP", &format!("{prefix}.{s}"));
        let mut conn = GrpcConn::open(options.grpc_addr()?).await?;
        let answer: BatchInstanceResponse = conn
            .ask(&BatchInstanceRequest::new(target, instances))
            .await?;
        if !answer.status.is_success() {
            bail!("batch registration refused: {:?}", answer.status);
        }
        conns.push(conn);
    }
    Ok(conns)
}

/// Registers N instances on the target (gRPC batches), waits until the first of `--nodes`
/// holds them, runs `--restart-cmd` (which must restart that node empty), and times until
/// it is ready and lists all N again.
pub async fn snapshot_load(options: &Options) -> anyhow::Result<Summary> {
    let n = options.instances_for(Scenario::SnapshotLoad);
    let node = *nodes(options)?.first().context("no node")?;
    let restart = options
        .restart_cmd
        .clone()
        .context("snapshot-load needs --restart-cmd to restart the first of --nodes")?;
    let _publisher = register_batches(options, n, "bench.snap").await?;
    let mut slot = None;
    wait_instances(&mut slot, options.client, node, n, READY_TIMEOUT).await?;
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&restart)
        .status()
        .await?;
    if !status.success() {
        bail!("--restart-cmd failed: {status}");
    }
    let started = Instant::now();
    let mut slot = None;
    let deadline = started + READY_TIMEOUT;
    // Ready first (the node says it loaded), then all instances visible.
    loop {
        if Instant::now() > deadline {
            bail!("the restarted node never became ready");
        }
        let ready = get(
            &mut slot,
            options.client,
            node,
            "/nacos/v1/console/health/readiness",
        )
        .await;
        if matches!(ready, Ok((200, _))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready_after = started.elapsed();
    wait_instances(&mut slot, options.client, node, n, READY_TIMEOUT).await?;
    let complete_after = started.elapsed();
    let meter = Arc::new(Meter::default());
    let mut recorder = Recorder::new(meter, started);
    recorder.record(started, true);
    let mut extra = Map::new();
    extra.insert("instances".into(), json!(n));
    extra.insert("ready_s".into(), json!(ready_after.as_secs_f64()));
    extra.insert(
        "all_instances_s".into(),
        json!(complete_after.as_secs_f64()),
    );
    Ok(Summary {
        scenario: Scenario::SnapshotLoad.name().to_owned(),
        concurrency: 1,
        elapsed: complete_after,
        recorded: recorder,
        server: None,
        extra,
    })
}

/// Waits until `/v1/ns/operator/metrics` on `node` counts at least `n` instances.
async fn wait_instances(
    slot: &mut Option<Conn>,
    kind: ClientKind,
    node: SocketAddr,
    n: u64,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok((200, body)) = get(
            slot,
            kind,
            node,
            "/nacos/v1/ns/operator/metrics?onlyStatus=false",
        )
        .await
        {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if value["instanceCount"].as_u64().unwrap_or(0) >= n {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{node} never listed {n} instances")
}

/// Sum of every series of `name` in a Prometheus text page.
pub fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // An empty f64 sum is -0.0; adding 0.0 prints it as 0.
        .sum::<f64>()
        + 0.0
}

/// Registers N instances (gRPC batches, default none), then reads `distro_verify_bytes_total` and
/// `distro_verify_rounds_total` from the target's `/metrics` every verify interval.
pub async fn verify_bytes(options: &Options) -> anyhow::Result<Summary> {
    let n = options.instances.unwrap_or(0);
    let _publisher = register_batches(options, n, "bench.verify").await?;
    let addr = options.http_addr()?;
    let mut slot = None;
    let read = |page: &str| {
        (
            metric_sum(page, "distro_verify_bytes_total"),
            metric_sum(page, "distro_verify_rounds_total"),
        )
    };
    let (_, first) = get(&mut slot, options.client, addr, "/metrics").await?;
    let (bytes0, rounds0) = read(&String::from_utf8_lossy(&first));
    let start_sample = options.server_pid.and_then(procfs::sample);
    let started = Instant::now();
    let rounds = options.changes.clamp(1, 120);
    let mut per_interval = Vec::new();
    let mut last = bytes0;
    let mut end = (bytes0, rounds0);
    for _ in 0..rounds {
        tokio::time::sleep(VERIFY_INTERVAL).await;
        let (_, page) = get(&mut slot, options.client, addr, "/metrics").await?;
        end = read(&String::from_utf8_lossy(&page));
        per_interval.push(end.0 - last);
        last = end.0;
    }
    let elapsed = started.elapsed();
    let bytes = end.0 - bytes0;
    let peer_rounds = end.1 - rounds0;
    let meter = Arc::new(Meter::default());
    let mut recorder = Recorder::new(meter, started);
    recorder.record(started, true);
    let mut extra = Map::new();
    extra.insert("instances".into(), json!(n));
    extra.insert("verify_bytes".into(), json!(bytes));
    extra.insert("verify_peer_rounds".into(), json!(peer_rounds));
    extra.insert(
        "bytes_per_peer_round".into(),
        json!(if peer_rounds > 0.0 {
            bytes / peer_rounds
        } else {
            0.0
        }),
    );
    extra.insert(
        "bytes_per_second".into(),
        json!(bytes / elapsed.as_secs_f64()),
    );
    extra.insert("bytes_per_interval".into(), json!(per_interval));
    Ok(Summary {
        scenario: Scenario::VerifyBytes.name().to_owned(),
        concurrency: 1,
        elapsed,
        recorded: recorder,
        server: start_sample.zip(options.server_pid.and_then(procfs::sample)),
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_metric_series() {
        let page = "# TYPE distro_verify_bytes_total counter\n\
                    distro_verify_bytes_total{peer=\"a\"} 100\n\
                    distro_verify_bytes_total{peer=\"b\"} 50\n\
                    distro_verify_bytes_totalx 7\n";
        assert_eq!(metric_sum(page, "distro_verify_bytes_total"), 150.0);
    }
}
