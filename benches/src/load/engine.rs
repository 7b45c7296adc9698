//! Drives keep-alive HTTP connections: every worker owns one connection and sends one request
//! at a time, taking a fresh index from a shared counter for each, until the deadline (or
//! until the indices run out).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::load::http::{ClientKind, Conn, Expect};
use crate::load::stats::{Meter, Recorder};

/// One request: method, path with query, optional form body, expectation.
pub struct Call {
    /// HTTP method.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// Url-encoded form body.
    pub form: Option<Vec<u8>>,
    /// How the answer is judged.
    pub expect: Expect,
}

/// Builds the request for index `i` into `call` (whose buffers are reused).
pub type MakeCall = dyn Fn(u64, &mut Call) + Send + Sync;

/// Where and how long a run goes.
#[derive(Clone)]
pub struct Plan {
    /// Server.
    pub addr: SocketAddr,
    /// Client implementation.
    pub client: ClientKind,
    /// Connections.
    pub concurrency: usize,
    /// Requests started before this are not recorded.
    pub window_start: Instant,
    /// No request starts after this.
    pub deadline: Instant,
    /// Indices `0..limit` only (then the workers stop); `None` = until the deadline.
    pub limit: Option<u64>,
    /// Shared counters for the progress line.
    pub meter: Arc<Meter>,
}

/// The merged figures of a run and when its last worker stopped.
pub struct Outcome {
    /// Merged recorders.
    pub recorded: Recorder,
    /// When the last worker finished.
    pub finished: Instant,
}

/// Runs `make` on `plan.concurrency` connections.
pub async fn run(plan: Plan, make: Arc<MakeCall>) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::with_capacity(plan.concurrency);
    for _ in 0..plan.concurrency {
        let conn = Conn::open(plan.client, plan.addr).await?;
        workers.push(tokio::spawn(worker(
            plan.clone(),
            conn,
            Arc::clone(&next),
            Arc::clone(&make),
        )));
    }
    let mut recorded = Recorder::new(Arc::clone(&plan.meter), plan.window_start);
    let mut finished = plan.window_start;
    for handle in workers {
        let (recorder, done) = handle.await?;
        recorded.merge(&recorder);
        finished = finished.max(done);
    }
    Ok(Outcome { recorded, finished })
}

async fn worker(
    plan: Plan,
    mut conn: Conn,
    next: Arc<AtomicU64>,
    make: Arc<MakeCall>,
) -> (Recorder, Instant) {
    let mut recorder = Recorder::new(Arc::clone(&plan.meter), plan.window_start);
    let mut call = Call {
        method: "GET",
        path: String::with_capacity(256),
        form: None,
        expect: Expect::Ok,
    };
    loop {
        let started = Instant::now();
        if started >= plan.deadline {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if plan.limit.is_some_and(|limit| i >= limit) {
            break;
        }
        call.path.clear();
        make(i, &mut call);
        let answer = conn
            .call(call.method, &call.path, call.form.as_deref(), call.expect)
            .await;
        match answer {
            Ok(ok) => recorder.record(started, ok),
            Err(_) => {
                recorder.record(started, false);
                // Reopen; a server that is gone costs one attempt per 100 ms until the deadline.
                match Conn::open(plan.client, plan.addr).await {
                    Ok(fresh) => conn = fresh,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
    (recorder, Instant::now())
}

/// The dotted address of index `i`: 10.x.y.z, unique for the first 2^24 indices.
pub fn ip_of(i: u64) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// The port of index `i`: 8080 + (i / 2^24), so ip:port stays unique beyond 2^24 indices.
pub fn port_of(i: u64) -> u64 {
    8080 + (i >> 24)
}
