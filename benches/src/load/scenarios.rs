//! The single-node scenarios: what each sends, its set-up, and how its summary is built.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use distro_nacos_api::Instance;
use distro_nacos_api::grpc::GrpcMessage;
use distro_nacos_api::grpc::naming::{
    InstanceRequest, NamingTarget, QueryServiceResponse, REGISTER_INSTANCE, ServiceQueryRequest,
    SubscribeServiceRequest, SubscribeServiceResponse,
};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::load::engine::{self, Call, MakeCall, Plan, ip_of, port_of};
use crate::load::grpc::GrpcConn;
use crate::load::http::{Expect, contains, encode};
use crate::load::procfs::{self, ProcSample};
use crate::load::stats::{self, Meter, Recorder, Summary};
use crate::load::{Options, SCENARIO_TIME_MAX, Scenario};

/// Services the beat and memory scenarios spread their instances over.
const BEAT_SERVICES: u64 = 100;
/// Longest a set-up (pre-registration) may take.
const SETUP_TIME_MAX: Duration = Duration::from_secs(300);

fn beat_service(i: u64) -> u64 {
    i % BEAT_SERVICES
}

/// A register call of index `i` into `service`, parameters as a 1.x SDK sends them (form body).
fn register_call(i: u64, service: &str, call: &mut Call) {
    use std::fmt::Write;
    call.method = "POST";
    call.path.push_str("/nacos/v1/ns/instance");
    let mut form = String::with_capacity(256);
    let _ = write!(
        form,
        "namespaceId=public&serviceName=DEFAULT_GROUP%40%40{service}&groupName=DEFAULT_GROUP\
         &clusterName=DEFAULT&ip={}&port={}&weight=1.0&enable=true&healthy=true&ephemeral=true\
         &metadata=%7B%22version%22%3A%221.0%22%7D",
        ip_of(i),
        port_of(i)
    );
    call.form = Some(form.into_bytes());
    call.expect = Expect::Body(b"ok");
}

fn light_beat_call(i: u64, call: &mut Call) {
    use std::fmt::Write;
    call.method = "PUT";
    call.form = None;
    let _ = write!(
        call.path,
        "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40bench.beat.{}&ip={}&port={}",
        beat_service(i),
        ip_of(i),
        port_of(i)
    );
    call.expect = Expect::Contains(b"\"code\":10200");
}

fn full_beat_call(i: u64, call: &mut Call) {
    use std::fmt::Write;
    call.method = "PUT";
    call.form = None;
    let service = format!("DEFAULT_GROUP@@bench.beat.{}", beat_service(i));
    let beat = json!({
        "cluster": "DEFAULT", "ip": ip_of(i), "port": port_of(i), "serviceName": service,
        "weight": 1.0, "metadata": {"version": "1.0"}, "scheduled": false, "period": 5000,
        "stopped": false,
    });
    let _ = write!(
        call.path,
        "/nacos/v1/ns/instance/beat?serviceName={}&beat={}",
        encode(&service),
        encode(&beat.to_string())
    );
    call.expect = Expect::Contains(b"\"code\":10200");
}

fn list_call(service: &str, call: &mut Call) {
    use std::fmt::Write;
    call.method = "GET";
    call.form = None;
    let _ = write!(
        call.path,
        "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40{service}&namespaceId=public\
         &clusters=&healthyOnly=false"
    );
    call.expect = Expect::Contains(b"\"hosts\":[");
}

fn deregister_call(i: u64, call: &mut Call) {
    use std::fmt::Write;
    call.method = "DELETE";
    call.form = None;
    let _ = write!(
        call.path,
        "/nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40bench.dereg.{}\
         &clusterName=DEFAULT&ip={}&port={}&ephemeral=true",
        beat_service(i),
        ip_of(i),
        port_of(i)
    );
    call.expect = Expect::Body(b"ok");
}

/// Registers `n` instances (index `i` into `service(i)`) as fast as the connections allow.
pub async fn preregister(
    options: &Options,
    n: u64,
    service: impl Fn(u64) -> String + Send + Sync + 'static,
) -> anyhow::Result<Duration> {
    if n == 0 {
        return Ok(Duration::ZERO);
    }
    let started = Instant::now();
    let meter = Arc::new(Meter::default());
    let plan = Plan {
        addr: options.http_addr()?,
        client: options.client,
        concurrency: options.concurrency.max(1),
        window_start: started + SCENARIO_TIME_MAX,
        deadline: started + SETUP_TIME_MAX,
        limit: Some(n),
        meter: Arc::clone(&meter),
    };
    let make: Arc<MakeCall> = Arc::new(move |i, call| register_call(i, &service(i), call));
    engine::run(plan, make).await?;
    let errors = meter.errors.load(std::sync::atomic::Ordering::Relaxed);
    if errors > 0 {
        bail!("{errors} of {n} set-up registrations failed");
    }
    Ok(started.elapsed())
}

fn sample(pid: Option<u32>) -> Option<ProcSample> {
    pid.and_then(procfs::sample)
}

/// Samples the server at `at` (or now, if past).
fn sample_at(pid: Option<u32>, at: Instant) -> tokio::task::JoinHandle<Option<ProcSample>> {
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        sample(pid)
    })
}

/// The HTTP scenarios: liveness, register, beat, beat-full, list, deregister and memory.
pub async fn http(scenario: Scenario, options: &Options) -> anyhow::Result<Summary> {
    let n = options.instances_for(scenario);
    let pid = options.server_pid;
    let mut extra = Map::new();
    extra.insert("instances".into(), json!(n));
    extra.insert(
        "client".into(),
        json!(format!("{:?}", options.client).to_lowercase()),
    );
    let idle = sample(pid);
    let setup = match scenario {
        Scenario::Beat | Scenario::BeatFull | Scenario::Memory => {
            preregister(options, n, |i| format!("bench.beat.{}", beat_service(i))).await?
        }
        Scenario::Deregister => {
            preregister(options, n, |i| format!("bench.dereg.{}", beat_service(i))).await?
        }
        Scenario::List => {
            let service = format!("bench.list.{n}");
            preregister(options, n, move |_| service.clone()).await?
        }
        _ => Duration::ZERO,
    };
    extra.insert("setup_s".into(), json!(setup.as_secs_f64()));
    if scenario == Scenario::List {
        check_list(options, n).await?;
    }
    let mut registered = None;
    if scenario == Scenario::Memory {
        // Let the allocator and the background loops settle before reading.
        tokio::time::sleep(Duration::from_secs(2)).await;
        registered = sample(pid);
    }
    let make: Arc<MakeCall> = match scenario {
        Scenario::Liveness => Arc::new(|_, call| {
            call.method = "GET";
            call.form = None;
            call.path.push_str("/nacos/v1/console/health/liveness");
            call.expect = Expect::Ok;
        }),
        Scenario::Register => Arc::new(|i, call| register_call(i, "bench.register", call)),
        Scenario::Beat | Scenario::Memory => {
            Arc::new(move |i, call| light_beat_call(i % n.max(1), call))
        }
        Scenario::BeatFull => Arc::new(move |i, call| full_beat_call(i % n.max(1), call)),
        Scenario::List => {
            let service = format!("bench.list.{n}");
            Arc::new(move |_, call| list_call(&service, call))
        }
        Scenario::Deregister => Arc::new(deregister_call),
        _ => bail!("{} is not an HTTP scenario", scenario.name()),
    };
    let warmup = if scenario == Scenario::Deregister {
        Duration::ZERO
    } else {
        options.warmup()
    };
    let limit = (scenario == Scenario::Deregister).then_some(n);
    let meter = Arc::new(Meter::default());
    let progress = stats::spawn_progress(
        scenario.name().to_owned(),
        Arc::clone(&meter),
        warmup + options.duration(),
    );
    let window_start = Instant::now() + warmup;
    let plan = Plan {
        addr: options.http_addr()?,
        client: options.client,
        concurrency: options.concurrency.max(1),
        window_start,
        deadline: window_start + options.duration(),
        limit,
        meter,
    };
    let start_sample = sample_at(pid, window_start);
    let rss_max = (scenario == Scenario::Memory).then(|| spawn_rss_max(pid, plan.deadline));
    let outcome = engine::run(plan, make).await?;
    let end_sample = sample(pid);
    progress.abort();
    let start_sample = start_sample.await.ok().flatten();
    if let Some(rss_max) = rss_max {
        let max_kib = rss_max.await.unwrap_or(0);
        let kib = |s: Option<ProcSample>| s.map(|s| s.rss_kib);
        let mb = |kib: Option<u64>| kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
        extra.insert("rss_idle_mb".into(), json!(mb(kib(idle))));
        extra.insert("rss_registered_mb".into(), json!(mb(kib(registered))));
        extra.insert("rss_after_beats_mb".into(), json!(mb(kib(end_sample))));
        extra.insert("rss_max_under_beats_mb".into(), json!(mb(Some(max_kib))));
        if let (Some(idle), Some(registered)) = (kib(idle), kib(registered)) {
            let per = (registered.saturating_sub(idle) * 1024) as f64 / n.max(1) as f64;
            extra.insert("bytes_per_instance".into(), json!(per.round()));
        }
    }
    Ok(Summary {
        scenario: scenario.name().to_owned(),
        concurrency: options.concurrency,
        elapsed: outcome.finished.saturating_duration_since(window_start),
        recorded: outcome.recorded,
        server: start_sample.zip(end_sample),
        extra,
    })
}

/// The highest RSS seen once a second until `until`.
fn spawn_rss_max(pid: Option<u32>, until: Instant) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut max = 0;
        while Instant::now() < until {
            if let Some(s) = sample(pid) {
                max = max.max(s.rss_kib);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        max
    })
}

/// Checks once that the list answers all `n` instances.
async fn check_list(options: &Options, n: u64) -> anyhow::Result<()> {
    let mut conn = crate::load::http::Conn::open(options.client, options.http_addr()?).await?;
    let mut call = Call {
        method: "GET",
        path: String::new(),
        form: None,
        expect: Expect::Ok,
    };
    list_call(&format!("bench.list.{n}"), &mut call);
    let (status, body) = conn.fetch("GET", &call.path).await?;
    let hosts = count(&body, b"\"instanceId\"");
    if status != 200 || hosts as u64 != n {
        bail!("the list of the set-up service answered {status} with {hosts} of {n} instances");
    }
    Ok(())
}

/// Occurrences of `needle` in `haystack`.
pub fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// The gRPC scenarios: grpc-register and grpc-query.
pub async fn grpc(scenario: Scenario, options: &Options) -> anyhow::Result<Summary> {
    let n = options.instances_for(scenario);
    let addr = options.grpc_addr()?;
    let pid = options.server_pid;
    let mut extra = Map::new();
    extra.insert("instances".into(), json!(n));
    let service = format!("bench.gquery.{n}");
    if scenario == Scenario::GrpcQuery {
        let name = service.clone();
        preregister(options, n, move |_| name.clone()).await?;
    }
    let mut conns = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency.max(1) {
        conns.push(GrpcConn::open(addr).await?);
    }
    if scenario == Scenario::GrpcQuery {
        let query = ServiceQueryRequest::new(
            NamingTarget::new("public", "DEFAULT_GROUP", &service),
            "",
            false,
        );
        let answer: QueryServiceResponse = conns[0].ask(&query).await?;
        let hosts = answer.service_info.map_or(0, |i| i.hosts.len());
        if hosts as u64 != n {
            bail!("gRPC query answered {hosts} instances, {n} registered");
        }
    }
    let warmup = options.warmup();
    let meter = Arc::new(Meter::default());
    let progress = stats::spawn_progress(
        scenario.name().to_owned(),
        Arc::clone(&meter),
        warmup + options.duration(),
    );
    let window_start = Instant::now() + warmup;
    let deadline = window_start + options.duration();
    let start_sample = sample_at(pid, window_start);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for (w, mut conn) in conns.into_iter().enumerate() {
        let meter = Arc::clone(&meter);
        let next = Arc::clone(&next);
        let service = service.clone();
        workers.push(tokio::spawn(async move {
            let mut recorder = Recorder::new(meter, window_start);
            let query = ServiceQueryRequest::new(
                NamingTarget::new("public", "DEFAULT_GROUP", &service),
                "",
                false,
            )
            .to_payload();
            let target = NamingTarget::new("public", "DEFAULT_GROUP", &format!("bench.grpc.{w}"));
            loop {
                let started = Instant::now();
                if started >= deadline {
                    break;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let payload = match scenario {
                    Scenario::GrpcQuery => query.as_ref().ok().cloned(),
                    _ => {
                        let instance = Instance {
                            ip: ip_of(i),
                            port: port_of(i) as i64,
                            ..Instance::default()
                        };
                        InstanceRequest::new(REGISTER_INSTANCE, target.clone(), instance)
                            .to_payload()
                            .ok()
                    }
                };
                let Some(payload) = payload else {
                    recorder.record(started, false);
                    continue;
                };
                let answer = tokio::time::timeout(
                    crate::load::http::REQUEST_TIMEOUT,
                    conn.call(payload),
                )
                .await;
                let ok = matches!(&answer, Ok(Ok(p)) if p.body.as_ref().is_some_and(|b| contains(&b.value, b"\"resultCode\":200")));
                recorder.record(started, ok);
            }
            (recorder, Instant::now())
        }));
    }
    let mut recorded = Recorder::new(Arc::clone(&meter), window_start);
    let mut finished = window_start;
    for worker in workers {
        let (recorder, done) = worker.await?;
        recorded.merge(&recorder);
        finished = finished.max(done);
    }
    let end_sample = sample(pid);
    progress.abort();
    Ok(Summary {
        scenario: scenario.name().to_owned(),
        concurrency: options.concurrency,
        elapsed: finished.saturating_duration_since(window_start),
        recorded,
        server: start_sample.await.ok().flatten().zip(end_sample),
        extra,
    })
}

/// Push latency: one connection subscribes, another re-registers its instance with a new
/// `seq` in the metadata; the time until the push carrying that `seq` arrives, per change.
pub async fn push_latency(options: &Options) -> anyhow::Result<Summary> {
    let addr = options.grpc_addr()?;
    let mut watcher = GrpcConn::open(addr).await?;
    let mut publisher = GrpcConn::open(addr).await?;
    let target = NamingTarget::new("public", "DEFAULT_GROUP", "bench.push");
    let _: SubscribeServiceResponse = watcher
        .ask(&SubscribeServiceRequest::new(target.clone(), "", true))
        .await?;
    // The first push (the empty or current view) may or may not come; drain it.
    let _ = watcher.next_push(Duration::from_millis(1500)).await;
    let meter = Arc::new(Meter::default());
    let started_all = Instant::now();
    let mut recorder = Recorder::new(Arc::clone(&meter), started_all);
    let start_sample = sample(options.server_pid);
    let changes = options.changes.clamp(1, 10_000);
    for seq in 0..changes {
        let instance = Instance {
            ip: "10.255.0.1".to_owned(),
            port: 80,
            metadata: [("seq".to_owned(), seq.to_string())].into(),
            ..Instance::default()
        };
        let started = Instant::now();
        let answer = publisher
            .call(InstanceRequest::new(REGISTER_INSTANCE, target.clone(), instance).to_payload()?)
            .await?;
        if !answer
            .body
            .as_ref()
            .is_some_and(|b| contains(&b.value, b"\"resultCode\":200"))
        {
            recorder.record(started, false);
            continue;
        }
        let want = seq.to_string();
        let mut seen = false;
        // At most 5 s per change, so a lost push costs a bounded wait.
        let give_up = started + Duration::from_secs(5);
        while Instant::now() < give_up {
            let left = give_up.saturating_duration_since(Instant::now());
            let Some(push) = watcher.next_push(left).await else {
                break;
            };
            let hosts = push.service_info.map(|i| i.hosts).unwrap_or_default();
            if hosts.iter().any(|h| h.metadata.get("seq") == Some(&want)) {
                seen = true;
                break;
            }
        }
        recorder.record(started, seen);
    }
    let mut extra = Map::new();
    extra.insert("changes".into(), json!(changes));
    Ok(Summary {
        scenario: Scenario::PushLatency.name().to_owned(),
        concurrency: 1,
        elapsed: started_all.elapsed(),
        recorded: recorder,
        server: start_sample.zip(sample(options.server_pid)),
        extra,
    })
}

/// Parses a summary line (for tests and scripts): the JSON object, or an error.
pub fn parse_summary(line: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(line).context("summary is not JSON")?;
    if !value.is_object() || value.get("scenario").is_none() {
        bail!("summary has no scenario");
    }
    Ok(value)
}
