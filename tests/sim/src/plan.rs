//! What a seed decides: cluster size, timers and clock skew, the workload of each simulated
//! instance, and the fault episodes with their times.

use std::time::Duration;

use crate::rng::Rng;

/// Scaled-down timers (ms), so a run of a minute covers many expiry periods.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Client beat period.
    pub beat_interval: u64,
    /// Unhealthy after this without a beat.
    pub heart_beat_timeout: u64,
    /// Removed after this without a beat.
    pub ip_delete: u64,
    /// How often the owner checks beats.
    pub beat_check: u64,
    /// Distro verify period (jittered ±20 %).
    pub verify: u64,
    /// Distro expiry sweep period.
    pub sweep: u64,
    /// Replica expiry without renewal.
    pub replica_expiry: u64,
    /// Grace before replicas of a DOWN owner go (and disowned ones).
    pub owner_down_grace: u64,
    /// Membership probe period.
    pub probe_interval: u64,
    /// One probe's timeout.
    pub probe_timeout: u64,
}

/// The base timers of every node before skew.
pub const TIMERS: Timers = Timers {
    beat_interval: 1_000,
    heart_beat_timeout: 2_500,
    ip_delete: 5_000,
    beat_check: 500,
    verify: 1_000,
    sweep: 500,
    replica_expiry: 8_000,
    owner_down_grace: 4_000,
    probe_interval: 500,
    probe_timeout: 250,
};

/// HTTP port of every node (gRPC +1000, cluster +1001).
pub const HTTP_PORT: u16 = 8848;
/// Services the workload registers into.
pub const SERVICES: [&str; 3] = ["svc-a", "svc-b", "svc-c"];
/// Warm-up before the first fault or death (cluster formed, nodes loaded).
pub const WARMUP: Duration = Duration::from_secs(4);
/// Quiet time after the last heal: convergence and release are checked in it.
pub const SETTLE: Duration = Duration::from_secs(14);

/// One server node.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// Its turmoil host name, an IP address.
    pub ip: String,
    /// Timer scale emulating a clock running fast (<1) or slow (>1): turmoil has one clock
    /// for all hosts, so skew is emulated by scaling the node's timers.
    pub skew: f64,
}

impl NodePlan {
    /// `ip:8848`, its member address.
    pub fn http(&self) -> String {
        format!("{}:{HTTP_PORT}", self.ip)
    }
}

/// One fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Links between the two sides are cut both ways.
    Partition(Vec<usize>, Vec<usize>),
    /// One node cut off from every other node (long enough for self-preservation).
    Isolate(usize),
    /// Messages from the first node to the second are dropped.
    OneWay(usize, usize),
    /// Every link between nodes delays messages up to this long (reordering across them).
    Latency(Duration),
    /// Every link between nodes fails at random with this rate (and repairs).
    Flaky(f64),
    /// The node crashes; it restarts (empty) when the episode ends.
    Crash(usize),
}

/// A fault active over `[start, end)`.
#[derive(Debug, Clone)]
pub struct Episode {
    /// When it starts.
    pub start: Duration,
    /// When it heals.
    pub end: Duration,
    /// What it is.
    pub fault: Fault,
}

/// One simulated `ip:port` instance and its client's behaviour.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    /// Index in the plan.
    pub id: usize,
    /// Its service.
    pub service: &'static str,
    /// Its ip (only a parameter: instances are not hosts).
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// The client host driving it.
    pub client: usize,
    /// When it registers first.
    pub start: Duration,
    /// The node it talks to first (it fails over to the next on errors).
    pub entry: usize,
    /// When its client dies (stops beating, no deregistration).
    pub death: Option<Duration>,
    /// Whether it updates its metadata and deregisters/re-registers now and then.
    pub churn: bool,
}

impl InstancePlan {
    /// `ip:port`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// Everything a run does, from one seed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The seed.
    pub seed: u64,
    /// Server nodes.
    pub nodes: Vec<NodePlan>,
    /// Client hosts (IPs).
    pub clients: Vec<String>,
    /// Instances.
    pub instances: Vec<InstancePlan>,
    /// Fault episodes, in order, not overlapping.
    pub episodes: Vec<Episode>,
    /// Churn (updates, deregistrations, deaths) stops here.
    pub churn_end: Duration,
    /// When the last fault heals (the warm-up end if none).
    pub last_heal: Duration,
    /// End of the run.
    pub end: Duration,
}

impl Plan {
    /// The plan of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let node_count = rng.range(3, 5) as usize;
        let skewed = rng
            .chance(0.5)
            .then(|| rng.below(node_count as u64) as usize);
        let skews = [0.8, 0.9, 1.1, 1.25];
        let skew = *rng.pick(&skews).unwrap_or(&1.0);
        let nodes = (0..node_count)
            .map(|k| NodePlan {
                ip: format!("192.168.1.{}", k + 1),
                skew: if skewed == Some(k) { skew } else { 1.0 },
            })
            .collect();
        let clients = vec!["192.168.2.1".to_owned(), "192.168.2.2".to_owned()];
        let episodes = episodes(&mut rng, node_count);
        let last_heal = episodes.last().map_or(WARMUP, |e| e.end);
        let churn_end = last_heal.saturating_sub(Duration::from_secs(1)).max(WARMUP);
        let instance_count = rng.range(6, 12) as usize;
        let instances = (0..instance_count)
            .map(|id| {
                let dies = rng.chance(0.25) && churn_end > WARMUP + Duration::from_secs(2);
                let death = dies.then(|| {
                    let span = (churn_end - WARMUP).as_millis() as u64;
                    WARMUP + Duration::from_millis(rng.range(1_000, span.max(1_000)))
                });
                InstancePlan {
                    id,
                    service: SERVICES[id % SERVICES.len()],
                    ip: format!("10.9.{}.{}", id / 200, id % 200 + 1),
                    port: 8000 + id as u16,
                    client: id % 2,
                    start: Duration::from_millis(rng.range(500, 3_000)),
                    entry: rng.below(node_count as u64) as usize,
                    death,
                    churn: rng.chance(0.5),
                }
            })
            .collect();
        Self {
            seed,
            nodes,
            clients,
            instances,
            episodes,
            churn_end,
            last_heal,
            end: last_heal + SETTLE,
        }
    }

    /// The largest skew (the slowest node's timers bound every deadline).
    pub fn max_skew(&self) -> f64 {
        self.nodes.iter().map(|n| n.skew).fold(1.0, f64::max)
    }

    /// `ms` scaled by the slowest node's skew.
    pub fn slow(&self, ms: u64) -> Duration {
        Duration::from_millis((ms as f64 * self.max_skew()).ceil() as u64)
    }

    /// Whether any fault is active at some time in `[from, to]`.
    pub fn faulty_between(&self, from: Duration, to: Duration) -> bool {
        self.episodes.iter().any(|e| e.start <= to && e.end >= from)
    }
}

/// One to three fault episodes one after another, with gaps.
fn episodes(rng: &mut Rng, nodes: usize) -> Vec<Episode> {
    let count = rng.range(1, 3);
    let mut at = WARMUP + Duration::from_millis(rng.range(500, 2_000));
    let mut out = Vec::new();
    for _ in 0..count {
        let fault = match rng.below(6) {
            0 => {
                // Any shape: a random non-empty proper subset against the rest.
                let mut a = Vec::new();
                let mut b = Vec::new();
                let mask = rng.range(1, (1 << nodes) - 2);
                for k in 0..nodes {
                    if mask & (1 << k) != 0 {
                        a.push(k)
                    } else {
                        b.push(k)
                    }
                }
                Fault::Partition(a, b)
            }
            1 => Fault::Isolate(rng.below(nodes as u64) as usize),
            2 => {
                let from = rng.below(nodes as u64) as usize;
                let to = (from + 1 + rng.below(nodes as u64 - 1) as usize) % nodes;
                Fault::OneWay(from, to)
            }
            3 => Fault::Latency(Duration::from_millis(rng.range(50, 400))),
            4 => Fault::Flaky(0.01 * rng.range(1, 10) as f64),
            _ => Fault::Crash(rng.below(nodes as u64) as usize),
        };
        let length = match fault {
            // Long enough for the owner-down grace to pass on the isolated node.
            Fault::Isolate(_) => Duration::from_millis(rng.range(9_000, 11_000)),
            _ => Duration::from_millis(rng.range(2_000, 9_000)),
        };
        out.push(Episode {
            start: at,
            end: at + length,
            fault,
        });
        at += length + Duration::from_millis(rng.range(1_000, 4_000));
    }
    out
}
