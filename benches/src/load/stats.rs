//! Latency histograms, the per-second progress line and the JSON summary of a scenario.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::load::procfs::ProcSample;

/// Highest latency a histogram tracks, in microseconds (longer ones are clamped).
const LATENCY_MAX_US: u64 = 60_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts: this cannot fail.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// Counters shared by all workers of a scenario, read by the progress line.
#[derive(Debug, Default)]
pub struct Meter {
    /// Requests answered as expected.
    pub completed: AtomicU64,
    /// Requests that failed (transport error, timeout, unexpected answer).
    pub errors: AtomicU64,
}

/// What one worker measured inside the measurement window.
pub struct Recorder {
    /// Latencies of successful requests (µs).
    pub latencies: Histogram<u64>,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    meter: Arc<Meter>,
    window_start: Instant,
}

impl Recorder {
    /// A recorder counting only requests started at or after `window_start`.
    pub fn new(meter: Arc<Meter>, window_start: Instant) -> Self {
        Self {
            latencies: histogram(),
            ok: 0,
            errors: 0,
            meter,
            window_start,
        }
    }

    /// Records one request that started at `started` and ended now.
    pub fn record(&mut self, started: Instant, ok: bool) {
        if ok {
            self.meter.completed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.meter.errors.fetch_add(1, Ordering::Relaxed);
        }
        if started < self.window_start {
            return;
        }
        if ok {
            let us = started
                .elapsed()
                .as_micros()
                .min(u128::from(LATENCY_MAX_US)) as u64;
            self.latencies.saturating_record(us.max(1));
            self.ok += 1;
        } else {
            self.errors += 1;
        }
    }

    /// Adds another worker's figures to these.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latencies.add(&other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
    }
}

/// Prints one progress line per second to stderr until `stop` is set; bounded by `limit`.
pub fn spawn_progress(
    scenario: String,
    meter: Arc<Meter>,
    limit: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut last = 0u64;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        while started.elapsed() < limit {
            ticker.tick().await;
            let done = meter.completed.load(Ordering::Relaxed);
            let errors = meter.errors.load(Ordering::Relaxed);
            eprintln!(
                "[{scenario}] {:>4.0}s {:>8} req/s  total {done}  errors {errors}",
                started.elapsed().as_secs_f64(),
                done - last
            );
            last = done;
        }
    })
}

/// The machine-readable result of one scenario (printed as one JSON line).
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Connections used.
    pub concurrency: usize,
    /// Measured window.
    pub elapsed: Duration,
    /// What the workers recorded, merged.
    pub recorded: Recorder,
    /// Server `/proc` samples at the start and the end of the window, if a pid was given.
    pub server: Option<(ProcSample, ProcSample)>,
    /// Scenario-specific fields (instances, RSS points, …).
    pub extra: Map<String, Value>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

impl Summary {
    /// The summary as a JSON object.
    pub fn to_json(&self) -> Value {
        let h = &self.recorded.latencies;
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let requests = self.recorded.ok + self.recorded.errors;
        let mut out = json!({
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "duration_s": round(secs, 3),
            "requests": requests,
            "errors": self.recorded.errors,
            "throughput": round(self.recorded.ok as f64 / secs, 1),
            "p50_ms": ms(h.value_at_quantile(0.50)),
            "p90_ms": ms(h.value_at_quantile(0.90)),
            "p99_ms": ms(h.value_at_quantile(0.99)),
            "max_ms": ms(h.max()),
        });
        if let (Some((start, end)), Some(map)) = (&self.server, out.as_object_mut()) {
            let cpu = (end.cpu_seconds - start.cpu_seconds).max(0.0);
            map.insert("server_cpu_s".into(), json!(round(cpu, 3)));
            map.insert("server_cores".into(), json!(round(cpu / secs, 3)));
            if requests > 0 {
                map.insert(
                    "server_cpu_s_per_10k".into(),
                    json!(round(cpu * 10_000.0 / requests as f64, 4)),
                );
            }
            map.insert("server_rss_mb".into(), json!(round(end.rss_mb(), 1)));
        }
        if let Some(map) = out.as_object_mut() {
            for (k, v) in &self.extra {
                map.insert(k.clone(), v.clone());
            }
        }
        out
    }
}
