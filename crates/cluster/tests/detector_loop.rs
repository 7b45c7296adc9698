//! The probe loop against an in-memory prober, on tokio's paused clock.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use distro_cluster::{
    DetectorConfig, MemberInfo, MemberState, Membership, ProbeError, Prober, run_failure_detector,
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use common::{membership, strings};

/// What the fake peer does when probed.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Answer,
    Hang,
    Refuse,
}

/// An in-memory prober: per-peer behaviour, and a log of what it was asked.
#[derive(Default)]
struct FakeProber {
    behaviour: Mutex<HashMap<String, Behaviour>>,
    probes: Mutex<HashMap<String, u32>>,
    last_self_info: Mutex<Option<MemberInfo>>,
}

impl FakeProber {
    fn set(&self, peer: &str, behaviour: Behaviour) {
        self.behaviour.lock().insert(peer.to_owned(), behaviour);
    }

    fn probes_of(&self, peer: &str) -> u32 {
        self.probes.lock().get(peer).copied().unwrap_or(0)
    }
}

impl Prober for FakeProber {
    async fn probe(&self, peer: &str, self_info: &MemberInfo) -> Result<MemberInfo, ProbeError> {
        *self.probes.lock().entry(peer.to_owned()).or_default() += 1;
        *self.last_self_info.lock() = Some(self_info.clone());
        let behaviour = self
            .behaviour
            .lock()
            .get(peer)
            .copied()
            .unwrap_or(Behaviour::Answer);
        match behaviour {
            Behaviour::Answer => Ok(MemberInfo {
                address: peer.to_owned(),
                version: format!("v-{peer}"),
                ready: true,
            }),
            Behaviour::Hang => std::future::pending().await,
            Behaviour::Refuse => Err(ProbeError::ConnectionRefused),
        }
    }
}

fn state(m: &Membership, address: &str) -> MemberState {
    m.member(address).unwrap().state()
}

/// Sleeps until `ms` milliseconds after `start` on the (paused) tokio clock.
async fn at(start: tokio::time::Instant, ms: u64) {
    tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn suspicious_then_down_then_up_with_default_timing() {
    let m = membership("10.0.0.1:8848");
    m.apply_addresses(
        &strings(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]),
        0,
    );
    m.set_self_ready(true);
    let prober = Arc::new(FakeProber::default());
    prober.set("10.0.0.3:8848", Behaviour::Hang);
    prober.set("10.0.0.5:8848", Behaviour::Hang);
    let mut healthy = m.subscribe_healthy();
    healthy.borrow_and_update();
    let shutdown = CancellationToken::new();
    let start = tokio::time::Instant::now();
    let task = tokio::spawn(run_failure_detector(
        m.clone(),
        prober.clone(),
        DetectorConfig::default(),
        shutdown.clone(),
    ));

    // Round 1 (t=0): both hanging peers time out at 500 ms, concurrently.
    at(start, 600).await;
    assert_eq!(state(&m, "10.0.0.3:8848"), MemberState::Suspicious);
    assert_eq!(state(&m, "10.0.0.5:8848"), MemberState::Suspicious);
    assert_eq!(state(&m, "10.0.0.2:8848"), MemberState::Up);
    let peer2 = m.member("10.0.0.2:8848").unwrap();
    assert_eq!((peer2.version(), peer2.ready()), ("v-10.0.0.2:8848", true));
    let sent = prober.last_self_info.lock().clone().unwrap();
    assert_eq!((sent.address.as_str(), sent.ready), ("10.0.0.1:8848", true));
    assert!(!healthy.has_changed().unwrap(), "SUSPICIOUS stays healthy");

    // Round 2 (t=1000): still SUSPICIOUS.
    at(start, 1600).await;
    assert_eq!(state(&m, "10.0.0.3:8848"), MemberState::Suspicious);
    assert_eq!(m.member("10.0.0.3:8848").unwrap().fail_count(), 2);
    assert!(!healthy.has_changed().unwrap());

    // Round 3 (t=2000): DOWN at 2500 ms, 3.5 s at most after the peer died.
    at(start, 2400).await;
    assert_eq!(state(&m, "10.0.0.3:8848"), MemberState::Suspicious);
    at(start, 2600).await;
    assert_eq!(state(&m, "10.0.0.3:8848"), MemberState::Down);
    assert!(healthy.has_changed().unwrap());
    assert_eq!(
        **healthy.borrow_and_update(),
        strings(&["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.4:8848"])
    );

    // Round 4: no new healthy-list event while they stay DOWN; peer 4 refuses -> DOWN at once.
    prober.set("10.0.0.4:8848", Behaviour::Refuse);
    at(start, 3600).await;
    assert_eq!(state(&m, "10.0.0.4:8848"), MemberState::Down);
    assert_eq!(
        **healthy.borrow_and_update(),
        strings(&["10.0.0.1:8848", "10.0.0.2:8848"])
    );

    // Peers 3 and 4 come back: one success each -> UP, counters reset.
    prober.set("10.0.0.3:8848", Behaviour::Answer);
    prober.set("10.0.0.4:8848", Behaviour::Answer);
    at(start, 4600).await;
    assert_eq!(state(&m, "10.0.0.3:8848"), MemberState::Up);
    assert_eq!(m.member("10.0.0.3:8848").unwrap().fail_count(), 0);
    assert_eq!(
        **healthy.borrow_and_update(),
        strings(&[
            "10.0.0.1:8848",
            "10.0.0.2:8848",
            "10.0.0.3:8848",
            "10.0.0.4:8848"
        ])
    );
    at(start, 5600).await;
    assert!(
        !healthy.has_changed().unwrap(),
        "steady state sends nothing"
    );

    // One probe per peer per round (rounds at 0..=5 s), never self.
    for peer in [
        "10.0.0.2:8848",
        "10.0.0.3:8848",
        "10.0.0.4:8848",
        "10.0.0.5:8848",
    ] {
        assert_eq!(prober.probes_of(peer), 6, "{peer}");
    }
    assert_eq!(prober.probes_of("10.0.0.1:8848"), 0);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_millis(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_a_round_in_progress() {
    let m = membership("10.0.0.1:8848");
    m.apply_addresses(&strings(&["10.0.0.2"]), 0);
    let prober = Arc::new(FakeProber::default());
    prober.set("10.0.0.2:8848", Behaviour::Hang);
    let config = DetectorConfig {
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(30),
        ..DetectorConfig::default()
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_failure_detector(
        m.clone(),
        prober.clone(),
        config,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(prober.probes_of("10.0.0.2:8848"), 1);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_millis(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state(&m, "10.0.0.2:8848"),
        MemberState::Up,
        "an interrupted probe is no failure"
    );
}

#[tokio::test(start_paused = true)]
async fn members_added_later_are_probed_and_removed_ones_are_not() {
    let m = membership("10.0.0.1:8848");
    let prober = Arc::new(FakeProber::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_failure_detector(
        m.clone(),
        prober.clone(),
        DetectorConfig::default(),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    m.apply_addresses(&strings(&["10.0.0.2"]), 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(prober.probes_of("10.0.0.2:8848"), 1);
    m.apply_addresses(&strings(&["10.0.0.3"]), 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(prober.probes_of("10.0.0.2:8848"), 1);
    assert_eq!(prober.probes_of("10.0.0.3:8848"), 2);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_millis(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn zero_interval_is_clamped_not_a_panic() {
    let m = membership("10.0.0.1:8848");
    m.apply_addresses(&strings(&["10.0.0.2"]), 0);
    let prober = Arc::new(FakeProber::default());
    let config = DetectorConfig {
        interval: Duration::ZERO,
        ..DetectorConfig::default()
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_failure_detector(
        m.clone(),
        prober.clone(),
        config,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(95)).await;
    assert_eq!(
        prober.probes_of("10.0.0.2:8848"),
        10,
        "one round per 10 ms from t=0"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_millis(10), task)
        .await
        .unwrap()
        .unwrap();
}
