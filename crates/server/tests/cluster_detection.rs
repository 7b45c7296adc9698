//! Measures failure detection with the default timers (probe every 1000 ms, 500 ms timeout,
//! DOWN after 3 failures or at once on a refused connection): the time from a peer's death
//! to a surviving node's `/nacos/v1/core/cluster/nodes` showing it DOWN, median of 10 runs,
//! for a crash (SIGKILL: the port refuses) and a hang (SIGSTOP: the port accepts, nothing
//! answers). Prints the figures; fails if any run misses the 5 s promise.
//!
//! Run it alone to see the numbers:
//! `cargo test --release -p distro-server --test cluster_detection -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use distro_tests::{Http, Node, NodeSpec, WAIT, free_http_port, median, member_states, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_distro-server");
const RUNS: usize = 10;
const DETECTION_BOUND: Duration = Duration::from_secs(5);
/// The default probe interval (the phase of a failure is drawn within it).
const PROBE_INTERVAL_MS: u64 = 1000;

/// Whether `observer` reports `target` in `state`.
async fn sees(http: &Http, observer: &Node, target: &str, state: &str) -> bool {
    member_states(http, observer)
        .await
        .is_ok_and(|states| states.get(target).map(String::as_str) == Some(state))
}

/// Waits until `observer` sees `target` in `state`; returns the time it took.
async fn wait_for(
    http: &Http,
    observer: &Node,
    target: &str,
    state: &str,
    within: Duration,
) -> Duration {
    let what = format!("{} to see {target} {state}", observer.name());
    match wait_until(&what, within, || sees(http, observer, target, state)).await {
        Ok(took) => took,
        Err(error) => panic!("{error}\n{}", observer.log()),
    }
}

/// Sleeps a random part of a probe interval, so the failure does not always land at the same
/// point of the probe cycle (the previous wait ended right after a probe round).
async fn random_phase(run: usize) {
    let random = RandomState::new().hash_one(run);
    tokio::time::sleep(Duration::from_millis(random % PROBE_INTERVAL_MS)).await;
}

fn report(kind: &str, samples: &[Duration]) -> Duration {
    let ms: Vec<u128> = samples.iter().map(Duration::as_millis).collect();
    let median = median(samples);
    println!(
        "{kind}: median {} ms, min {} ms, max {} ms over {} runs; runs (ms): {ms:?}",
        median.as_millis(),
        ms.iter().min().unwrap(),
        ms.iter().max().unwrap(),
        samples.len()
    );
    median
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_time_median_of_ten_with_default_timers() {
    let http = Http::new().unwrap();
    let ports = [free_http_port(), free_http_port(), free_http_port()];
    let mut nodes = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let spec = NodeSpec::new(BIN, &format!("node{}", i + 1), port)
            .members(&ports)
            .env("DISTRO_CLUSTER__SECRET", "detection-test-secret");
        nodes.push(Node::start(spec, &http).await.unwrap());
    }
    let target = nodes[1].address();
    wait_for(&http, &nodes[0], &target, "UP", WAIT).await;

    let mut crashes = Vec::new();
    for run in 0..RUNS {
        random_phase(run).await;
        nodes[1].kill();
        let killed = Instant::now();
        wait_for(&http, &nodes[0], &target, "DOWN", WAIT).await;
        crashes.push(killed.elapsed());
        nodes[1].restart(&http).await.unwrap();
        wait_for(&http, &nodes[0], &target, "UP", WAIT).await;
    }

    let mut hangs = Vec::new();
    #[cfg(unix)]
    for run in 0..RUNS {
        random_phase(run).await;
        nodes[1].freeze().unwrap();
        let frozen = Instant::now();
        wait_for(&http, &nodes[0], &target, "DOWN", WAIT).await;
        hangs.push(frozen.elapsed());
        nodes[1].thaw().unwrap();
        wait_for(&http, &nodes[0], &target, "UP", WAIT).await;
    }

    println!("failure detection, default timers, 3 nodes on 127.0.0.1:");
    report("crash (SIGKILL)", &crashes);
    if !hangs.is_empty() {
        report("hang (SIGSTOP)", &hangs);
    }
    for sample in crashes.iter().chain(&hangs) {
        assert!(*sample < DETECTION_BOUND, "a run took {sample:?}");
    }
}
