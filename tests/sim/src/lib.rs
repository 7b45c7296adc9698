//! `distro-sim`: a deterministic simulation of a distro-server cluster over turmoil.
//!
//! [`run_seed`] plans a run from one seed ([`plan`]: three to five nodes, timers scaled
//! down, clock skew emulated by scaling one node's timers, a workload of `ip:port`
//! instances, fault episodes), runs the real [`distro_server::Server`] on every node over
//! turmoil's network ([`net`]), drives the clients ([`workload`]) and an observer that lists
//! every node's registry through the HTTP API ([`checker`]), applies the faults at their
//! times, and judges the [`invariants`] over the record ([`world`]).

pub mod checker;
pub mod http;
pub mod invariants;
pub mod net;
pub mod plan;
pub mod rng;
pub mod workload;
pub mod world;

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use distro_naming::EventDispatch;
use distro_server::{Config, Environment, Server};

use crate::invariants::Violation;
use crate::plan::{Fault, Plan, TIMERS};
use crate::world::World;

/// The cluster secret of simulated nodes.
const SECRET: &str = "simulation-cluster-secret-0123456789";
/// Link latency outside latency faults.
const BASE_LATENCY: Duration = Duration::from_millis(3);

/// What a run gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Broken invariants (empty: the run passed).
    pub violations: Vec<Violation>,
    /// A hash of everything observed and every operation, to compare replays.
    pub fingerprint: u64,
    /// Operations the clients completed.
    pub ops: usize,
    /// Observations of nodes.
    pub observations: usize,
    /// The plan, for the failure report.
    pub plan: Plan,
    /// Fault events as applied.
    pub log: Vec<String>,
    /// Per poll round, what each node held (printed with `DISTRO_SIM_VERBOSE`).
    pub timeline: Vec<String>,
}

impl Outcome {
    /// A report of the failure to print.
    pub fn report(&self) -> String {
        let mut text = format!(
            "seed {} failed (replay: DISTRO_SIM_SEED={} cargo test -p distro-sim replay)\n",
            self.seed, self.seed
        );
        for v in &self.violations {
            text.push_str(&format!("  [{}] {}\n", v.invariant, v.detail));
        }
        text.push_str(&format!(
            "  nodes: {:?}\n",
            self.plan.nodes.iter().map(|n| n.skew).collect::<Vec<_>>()
        ));
        for e in &self.plan.episodes {
            text.push_str(&format!(
                "  fault {:?}..{:?}: {:?}\n",
                e.start, e.end, e.fault
            ));
        }
        for line in &self.log {
            text.push_str(&format!("  {line}\n"));
        }
        if std::env::var_os("DISTRO_SIM_VERBOSE").is_some() {
            for line in &self.timeline {
                text.push_str(&format!("    {line}\n"));
            }
        }
        text
    }
}

/// The configuration of node `k`: static members, the scaled timers times its skew.
pub fn node_config(plan: &Plan, k: usize) -> Config {
    let node = &plan.nodes[k];
    let s = |ms: u64| (ms as f64 * node.skew).round() as u64;
    let mut config = Config::default();
    config.server.bind = "0.0.0.0".to_owned();
    config.server.port = plan::HTTP_PORT;
    config.server.drain_ms = 1_000;
    config.cluster.members = plan.nodes.iter().map(|n| n.http()).collect();
    config.cluster.advertise = Some(node.http());
    config.cluster.secret = Some(SECRET.to_owned());
    config.cluster.probe_interval_ms = s(TIMERS.probe_interval);
    config.cluster.probe_timeout_ms = TIMERS.probe_timeout;
    config.naming.heart_beat_interval_ms = TIMERS.beat_interval;
    config.naming.heart_beat_timeout_ms = s(TIMERS.heart_beat_timeout);
    config.naming.ip_delete_timeout_ms = s(TIMERS.ip_delete);
    config.naming.beat_check_interval_ms = s(TIMERS.beat_check);
    config.distro.verify_interval_ms = s(TIMERS.verify);
    config.distro.sweep_interval_ms = s(TIMERS.sweep);
    config.distro.replica_expiry_ms = s(TIMERS.replica_expiry);
    config.distro.owner_down_grace_ms = s(TIMERS.owner_down_grace);
    config.distro.orphan_grace_ms = s(TIMERS.owner_down_grace);
    config.distro.sync_retry_delay_ms = s(500);
    config.distro.rpc_timeout_ms = 1_000;
    config.distro.load_peer_wait_ms = s(2_000);
    config.distro.load_retry_delay_ms = s(1_000);
    config.distro.load_timeout_ms = 5_000;
    config
}

/// Runs the simulation of `seed` and judges it.
pub fn run_seed(seed: u64) -> Outcome {
    // Every source of randomness the nodes use is seeded on this thread: the verify jitter
    // (fastrand's thread-local generator), turmoil's latencies and the wall clock.
    fastrand::seed(seed);
    if let Ok(filter) = std::env::var("DISTRO_SIM_LOG") {
        // Debugging a replayed seed: the servers' logs, stamped with simulated time.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_timer(SimTime)
            .with_writer(std::io::stderr)
            .try_init();
    }
    distro_cluster::clock::set_wall_clock(turmoil::since_epoch);
    let plan = Rc::new(Plan::new(seed));
    let world = Rc::new(RefCell::new(World::new(plan.nodes.len())));
    let mut sim = turmoil::Builder::new()
        .simulation_duration(plan.end + Duration::from_secs(30))
        .tick_duration(Duration::from_millis(1))
        .epoch(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .min_message_latency(Duration::ZERO)
        .max_message_latency(BASE_LATENCY)
        .rng_seed(seed)
        .build();
    for k in 0..plan.nodes.len() {
        let host = plan.nodes[k].ip.clone();
        let plan = Rc::clone(&plan);
        let world = Rc::clone(&world);
        sim.host(host.as_str(), move || {
            let plan = Rc::clone(&plan);
            let world = Rc::clone(&world);
            async move {
                let env = Environment {
                    network: Arc::new(net::TurmoilNetwork),
                    event_dispatch: EventDispatch::Task,
                };
                let server = Rc::new(Server::start_with(node_config(&plan, k), env).await?);
                {
                    let mut world = world.borrow_mut();
                    world.handles[k] = Some(Rc::clone(&server));
                    world.starts[k] += 1;
                }
                std::future::pending::<()>().await;
                drop(server);
                Ok(())
            }
        });
    }
    for (c, ip) in plan.clients.iter().enumerate() {
        let plan = Rc::clone(&plan);
        let world = Rc::clone(&world);
        sim.client(ip.as_str(), async move {
            let mut tasks = Vec::new();
            for inst in plan.instances.iter().filter(|i| i.client == c) {
                tasks.push(tokio::task::spawn_local(workload::drive(
                    Rc::clone(&plan),
                    Rc::clone(&world),
                    inst.clone(),
                )));
            }
            for task in tasks {
                let _ = task.await;
            }
            Ok(())
        });
    }
    {
        let plan = Rc::clone(&plan);
        let world = Rc::clone(&world);
        sim.client("192.168.3.1", async move {
            checker::observe(plan, world).await;
            Ok(())
        });
    }
    let mut actions: Vec<(Duration, usize, bool)> = Vec::new();
    for (i, e) in plan.episodes.iter().enumerate() {
        actions.push((e.start, i, true));
        actions.push((e.end, i, false));
    }
    actions.sort_by_key(|a| (a.0, a.2));
    let mut next = 0;
    loop {
        let now = sim.elapsed();
        while next < actions.len() && actions[next].0 <= now {
            let (_, episode, start) = actions[next];
            apply(
                &mut sim,
                &plan,
                &world,
                &plan.episodes[episode].fault,
                start,
            );
            world.borrow_mut().log.push(format!(
                "{now:?}: {} {:?}",
                if start { "start" } else { "heal" },
                plan.episodes[episode].fault
            ));
            next += 1;
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => {
                world
                    .borrow_mut()
                    .log
                    .push(format!("{now:?}: simulation error: {error}"));
                let violations = vec![Violation {
                    invariant: "simulation",
                    detail: format!("the simulation failed at {now:?}: {error}"),
                }];
                return outcome(&plan, &world.borrow(), violations);
            }
        }
    }
    dump_kernels(&mut world.borrow_mut());
    drop(sim);
    let world = world.borrow();
    let violations = invariants::check_all(&plan, &world);
    outcome(&plan, &world, violations)
}

/// Log timestamps in simulated time.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{t:>9.3?}"),
            None => write!(w, "        -"),
        }
    }
}

/// With `DISTRO_SIM_DUMP=text`, every node's kernel entries whose line contains `text` at
/// the end of the run, into the log (for debugging a replayed seed).
fn dump_kernels(world: &mut World) {
    let Ok(filter) = std::env::var("DISTRO_SIM_DUMP") else {
        return;
    };
    let origin = tokio::time::Instant::now();
    let mut lines = Vec::new();
    for (k, handle) in world.handles.iter().enumerate() {
        let Some(server) = handle else { continue };
        let registry = server.state().registry.debug_dump(origin);
        for line in server
            .distro()
            .debug_dump(origin)
            .lines()
            .chain(registry.lines())
        {
            if line.contains(filter.as_str()) {
                lines.push(format!("end: n{k} {line}"));
            }
        }
    }
    world.log.extend(lines);
}

fn outcome(plan: &Plan, world: &World, violations: Vec<Violation>) -> Outcome {
    let mut hasher = DefaultHasher::new();
    for op in &world.ops {
        (
            op.inst,
            op.sent,
            op.done,
            op.entry,
            format!("{:?}", op.kind),
            op.acked,
        )
            .hash(&mut hasher);
    }
    for obs in &world.observations {
        (obs.at, obs.node, obs.loaded, obs.preserving, &obs.instances).hash(&mut hasher);
    }
    Outcome {
        seed: plan.seed,
        violations,
        fingerprint: hasher.finish(),
        ops: world.ops.len(),
        observations: world.observations.len(),
        plan: plan.clone(),
        log: world.log.clone(),
        timeline: timeline(world),
    }
}

/// One line per poll round: node, loaded/preserving flags, instances with versions.
fn timeline(world: &World) -> Vec<String> {
    invariants::rounds(world)
        .into_iter()
        .map(|(at, group)| {
            let nodes: Vec<String> = group
                .iter()
                .map(|o| {
                    let flags = format!(
                        "{}{}",
                        if o.loaded { "" } else { "!loaded " },
                        if o.preserving { "PRESERVING " } else { "" }
                    );
                    let list: Vec<String> = o
                        .instances
                        .iter()
                        .map(|(k, v)| format!("{}@{v}", k.rsplit(':').next().unwrap_or(k)))
                        .collect();
                    format!("n{} {flags}[{}]", o.node, list.join(" "))
                })
                .collect();
            format!("{at:?} {}", nodes.join(" | "))
        })
        .collect()
}

/// Starts (`start`) or heals a fault.
fn apply(
    sim: &mut turmoil::Sim<'_>,
    plan: &Plan,
    world: &Rc<RefCell<World>>,
    fault: &Fault,
    start: bool,
) {
    let ip = |k: usize| plan.nodes[k].ip.as_str();
    let all: Vec<usize> = (0..plan.nodes.len()).collect();
    let pairs = |a: &[usize], b: &[usize]| -> Vec<(usize, usize)> {
        a.iter()
            .flat_map(|&x| b.iter().map(move |&y| (x, y)))
            .filter(|(x, y)| x != y)
            .collect()
    };
    match fault {
        Fault::Partition(a, b) => {
            for (x, y) in pairs(a, b) {
                if start {
                    sim.partition(ip(x), ip(y))
                } else {
                    sim.repair(ip(x), ip(y))
                }
            }
        }
        Fault::Isolate(k) => {
            for (x, y) in pairs(&[*k], &all) {
                if start {
                    sim.partition(ip(x), ip(y))
                } else {
                    sim.repair(ip(x), ip(y))
                }
            }
        }
        Fault::OneWay(from, to) => {
            if start {
                sim.partition_oneway(ip(*from), ip(*to));
            } else {
                sim.repair_oneway(ip(*from), ip(*to));
            }
        }
        Fault::Latency(max) => {
            for (x, y) in pairs(&all, &all).into_iter().filter(|(x, y)| x < y) {
                let value = if start { *max } else { BASE_LATENCY };
                sim.set_link_max_message_latency(ip(x), ip(y), value);
            }
        }
        Fault::Flaky(rate) => {
            for (x, y) in pairs(&all, &all).into_iter().filter(|(x, y)| x < y) {
                sim.set_link_fail_rate(ip(x), ip(y), if start { *rate } else { 0.0 });
            }
        }
        Fault::Crash(k) => {
            if start {
                sim.crash(ip(*k));
                world.borrow_mut().handles[*k] = None;
            } else {
                sim.bounce(ip(*k));
            }
        }
    }
}
