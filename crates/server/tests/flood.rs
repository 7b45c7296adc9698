//! A registration flood against one server on 127.0.0.1 (HTTP and gRPC at once, a few
//! seconds): the registry stops at its limits, refusals are quick 429s / 503s, memory stops
//! growing once the limits are reached, and the liveness endpoint and gRPC health checks keep
//! answering promptly throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use distro_nacos_api::Instance;
use distro_nacos_api::grpc::internal::HealthCheckRequest;
use distro_nacos_api::grpc::naming::{BatchInstanceRequest, NamingTarget};
use grpc_support::RawClient;
use tokio::time::Instant;

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(3);
const INSTANCES_MAX: usize = 400;
const SERVICES_MAX: usize = 60;
const HTTP_WORKERS: u64 = 12;
const GRPC_WORKERS: u64 = 4;

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    refused: AtomicU64,
    other: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_flood_is_bounded_and_health_keeps_answering() {
    let server = grpc_support::start(0, |c| {
        c.naming.instances_max = INSTANCES_MAX;
        c.naming.services_max = SERVICES_MAX;
        c.naming.namespace_services_max = SERVICES_MAX / 2;
        c.naming.service_instances_max = 100;
        c.naming.client_instances_max = 50;
    })
    .await;
    let base = format!("http://{}", server.http_addr());
    let rss_start = rss();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut flooders = Vec::new();
    for worker in 0..HTTP_WORKERS {
        let (base, tally, stop) = (base.clone(), Arc::clone(&tally), Arc::clone(&stop));
        flooders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let n = worker * 1_000_000 + i;
                let service = format!("flood{}", n % 40);
                let namespace = format!("ns{}", n % 2);
                let ip = format!("10.{}.{}.{}", worker, (i >> 8) & 255, i & 255);
                let port = (1000 + (i >> 16)).to_string();
                let query = [
                    ("serviceName", service.as_str()),
                    ("namespaceId", namespace.as_str()),
                    ("ip", ip.as_str()),
                    ("port", port.as_str()),
                    ("metadata", "version=1"),
                ];
                let url = format!("{base}/nacos/v1/ns/instance");
                match http
                    .post(url)
                    .query(&query)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                {
                    Ok(200) => tally.accepted.fetch_add(1, Ordering::Relaxed),
                    Ok(429) => tally.refused.fetch_add(1, Ordering::Relaxed),
                    _ => tally.other.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for worker in 0..GRPC_WORKERS {
        let (tally, stop) = (Arc::clone(&tally), Arc::clone(&stop));
        let addr = server.grpc_addr();
        flooders.push(tokio::spawn(async move {
            let mut client = RawClient::open(addr, true).await;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // Batches of varying size, some past the client limit, replacing each other.
                let size = 10 + (i % 60) as usize;
                let instances = (0..size)
                    .map(|k| Instance {
                        ip: format!("10.200.{worker}.{k}"),
                        port: 80,
                        ..Instance::default()
                    })
                    .collect();
                let target = NamingTarget::new("public", "g", &format!("grpc{worker}"));
                let status = client
                    .status(&BatchInstanceRequest::new(target, instances))
                    .await;
                let counter = match (status.result_code, status.error_code) {
                    (200, _) => &tally.accepted,
                    (503, 503) => &tally.refused,
                    _ => &tally.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // Health checks all along: HTTP liveness on fresh connections, and an SDK's gRPC health
    // check on its own connection.
    let started = Instant::now();
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut sdk = RawClient::open(server.grpc_addr(), true).await;
    let (mut probes, mut slowest_http, mut slowest_grpc) = (0, Duration::ZERO, Duration::ZERO);
    let (mut rss_at_half, mut peak) = (0, 0);
    while started.elapsed() < FLOOD {
        let held = server.state().registry.stats().instances;
        assert!(held <= INSTANCES_MAX, "{held} instances held");
        peak = peak.max(held);
        let sent = Instant::now();
        let response = probe
            .get(format!("{base}/nacos/v1/console/health/liveness"))
            .send()
            .await
            .expect("liveness answers during the flood");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "OK");
        slowest_http = slowest_http.max(sent.elapsed());
        let sent = Instant::now();
        assert!(sdk.status(&HealthCheckRequest::new()).await.is_success());
        slowest_grpc = slowest_grpc.max(sent.elapsed());
        probes += 1;
        if rss_at_half == 0 && started.elapsed() >= FLOOD / 2 {
            rss_at_half = rss();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        flooder.await.unwrap();
    }
    let rss_end = rss();
    let stats = server.state().registry.stats();
    let accepted = tally.accepted.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let other = tally.other.load(Ordering::Relaxed);
    let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!(
        "flood {FLOOD:?}: {accepted} accepted, {refused} refused, {other} other; \
         {} instances ({peak} at most), {} services held; {probes} health probes, slowest liveness {slowest_http:?}, \
         slowest gRPC health check {slowest_grpc:?}; RSS {:.1} -> {:.1} (half-time) -> {:.1} MiB",
        stats.instances,
        stats.services,
        mib(rss_start),
        mib(rss_at_half),
        mib(rss_end),
    );
    assert!(accepted > 0 && refused > 0, "the flood reached the limits");
    assert_eq!(other, 0, "every answer was a success or a limit refusal");
    assert_eq!(peak, INSTANCES_MAX, "the flood filled the registry");
    assert!(stats.instances <= INSTANCES_MAX, "{stats:?}");
    assert!(stats.services <= SERVICES_MAX, "{stats:?}");
    assert!(probes >= 10, "health was probed all along ({probes})");
    assert!(
        slowest_http < Duration::from_secs(2),
        "liveness took {slowest_http:?}"
    );
    assert!(
        slowest_grpc < Duration::from_secs(2),
        "health check took {slowest_grpc:?}"
    );
    // Once the registry is full, refusals keep nothing: memory stays put (generous margin
    // for allocator and connection buffers of this test's own clients).
    assert!(
        rss_end.saturating_sub(rss_at_half) < 64 * 1_048_576,
        "RSS grew {:.1} MiB in the second half",
        mib(rss_end.saturating_sub(rss_at_half))
    );
    server.stop().await;
}
