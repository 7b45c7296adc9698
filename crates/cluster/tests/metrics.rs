//! The cluster metrics, captured with a local in-memory recorder.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use distro_cluster::{FailurePolicy, MemberInfo, ProbeError};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::Mutex;

use common::{membership, strings};

/// Keeps counters and gauges as atomics keyed by `name{label=value,...}`.
#[derive(Default)]
struct MemoryRecorder {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl MemoryRecorder {
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let id = format!("{}{{{}}}", key.name(), labels.join(","));
        self.values.lock().entry(id).or_default().clone()
    }

    fn counter(&self, id: &str) -> u64 {
        self.values
            .lock()
            .get(id)
            .map_or(0, |v| v.load(Ordering::SeqCst))
    }

    fn gauge(&self, id: &str) -> f64 {
        self.values
            .lock()
            .get(id)
            .map_or(f64::NAN, |v| f64::from_bits(v.load(Ordering::SeqCst)))
    }
}

impl Recorder for MemoryRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.slot(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.slot(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn member_gauges_probe_failures_and_state_changes() {
    let recorder = MemoryRecorder::default();
    metrics::with_local_recorder(&recorder, || {
        distro_cluster::metrics::describe();
        let m = membership("10.0.0.1:8848");
        assert_eq!(recorder.gauge("cluster_members{state=up}"), 1.0);
        m.apply_addresses(&strings(&["10.0.0.2", "10.0.0.3"]), 0);
        assert_eq!(recorder.gauge("cluster_members{state=up}"), 3.0);
        assert_eq!(recorder.gauge("cluster_members{state=down}"), 0.0);

        let policy = FailurePolicy::default();
        let timeout = ProbeError::Timeout(Duration::from_millis(500));
        for now in 0..4 {
            m.on_probe_failure("10.0.0.2:8848", &timeout, &policy, now);
        }
        assert_eq!(recorder.counter("cluster_probe_failures_total{}"), 4);
        assert_eq!(
            recorder.counter("cluster_member_state_changes_total{state=suspicious}"),
            1
        );
        assert_eq!(
            recorder.counter("cluster_member_state_changes_total{state=down}"),
            1
        );
        assert_eq!(recorder.gauge("cluster_members{state=up}"), 2.0);
        assert_eq!(recorder.gauge("cluster_members{state=suspicious}"), 0.0);
        assert_eq!(recorder.gauge("cluster_members{state=down}"), 1.0);

        let info = MemberInfo {
            address: "10.0.0.2:8848".into(),
            ..MemberInfo::default()
        };
        m.on_probe_success("10.0.0.2:8848", &info, 5);
        assert_eq!(
            recorder.counter("cluster_member_state_changes_total{state=up}"),
            1
        );
        assert_eq!(recorder.gauge("cluster_members{state=up}"), 3.0);
        assert_eq!(recorder.gauge("cluster_members{state=down}"), 0.0);
    });
}
