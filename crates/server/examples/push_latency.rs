//! Measures push latency: a change made on one gRPC connection until the push reaches a
//! subscriber on another, over 100 changes, with the push delay at its default (500 ms)
//! and at 0. Runs an in-process server on 127.0.0.1 and two raw Nacos gRPC clients.
//!
//! `cargo run --release -p distro-server --example push_latency [-- <delay_ms>...]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/grpc_support/mod.rs"]
mod grpc_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use distro_nacos_api::Instance;
use distro_nacos_api::grpc::naming::{
    InstanceRequest, InstanceResponse, NamingTarget, REGISTER_INSTANCE, SubscribeServiceRequest,
    SubscribeServiceResponse,
};
use grpc_support::{RawClient, start};

const CHANGES: usize = 100;

#[tokio::main]
async fn main() {
    let delays: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a delay in ms"))
        .collect();
    let delays = if delays.is_empty() {
        vec![500, 0]
    } else {
        delays
    };
    for delay_ms in delays {
        let mut samples = measure(delay_ms).await;
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "push delay {delay_ms:>3} ms: {CHANGES} changes, median {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
            ms(at(0.5)),
            ms(at(0.99)),
            ms(samples[0]),
            ms(samples[samples.len() - 1]),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Each change re-registers the publisher's instance with a new `seq` and waits for the
/// push that carries it.
async fn measure(delay_ms: u64) -> Vec<Duration> {
    let server = start(0, |c| c.push.delay_ms = delay_ms).await;
    let mut watcher = RawClient::open(server.grpc_addr(), true).await;
    let mut publisher = RawClient::open(server.grpc_addr(), true).await;
    let target = NamingTarget::new("public", "DEFAULT_GROUP", "latency");
    let _: SubscribeServiceResponse = watcher
        .ask(&SubscribeServiceRequest::new(target.clone(), "", true))
        .await;
    watcher
        .next_push(Duration::from_secs(5))
        .await
        .expect("initial push");
    let mut samples = Vec::with_capacity(CHANGES);
    for seq in 0..CHANGES {
        let instance = Instance {
            ip: "10.9.0.1".to_owned(),
            port: 80,
            metadata: BTreeMap::from([("seq".to_owned(), seq.to_string())]),
            ..Instance::default()
        };
        let started = Instant::now();
        let _: InstanceResponse = publisher
            .ask(&InstanceRequest::new(
                REGISTER_INSTANCE,
                target.clone(),
                instance,
            ))
            .await;
        loop {
            let push = watcher
                .next_push(Duration::from_secs(5))
                .await
                .expect("a push");
            let hosts = push.service_info.map(|i| i.hosts).unwrap_or_default();
            if hosts
                .iter()
                .any(|h| h.metadata.get("seq") == Some(&seq.to_string()))
            {
                samples.push(started.elapsed());
                break;
            }
        }
    }
    server.stop().await;
    samples
}
