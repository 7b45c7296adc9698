//! The clients: one task per simulated instance speaking the v1 HTTP API like a Nacos 1.x
//! client (register, beat every interval, register again on 20404, fail over to the next
//! node on errors), with seeded metadata updates, deregistrations and deaths.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::http;
use crate::plan::{InstancePlan, Plan, TIMERS};
use crate::rng::Rng;
use crate::world::{Op, OpKind, World};

/// Pause after a failed request before retrying on the next node.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Drives instance `inst` until the end of the run.
pub async fn drive(plan: Rc<Plan>, world: Rc<RefCell<World>>, inst: InstancePlan) {
    let mut rng = Rng::new(plan.seed ^ (0x1000 + inst.id as u64).wrapping_mul(0x9e37_79b9));
    tokio::time::sleep(inst.start).await;
    let mut client = Client {
        plan: Rc::clone(&plan),
        world,
        inst,
        entry: 0,
        version: 1,
    };
    client.entry = client.inst.entry;
    let mut registered = false;
    loop {
        let now = turmoil::elapsed();
        if now >= plan.end {
            return;
        }
        if client.inst.death.is_some_and(|death| now >= death) {
            client.record(now, now, OpKind::Die, true);
            return;
        }
        if !registered {
            registered = client.register().await;
            if !registered {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            continue;
        }
        let churning = client.inst.churn && now < plan.churn_end;
        if churning && rng.chance(0.06) {
            // A metadata update: the same register call with the next version.
            client.version += 1;
            registered = client.register().await;
            continue;
        }
        if churning && rng.chance(0.03) {
            while !client.deregister().await {
                if turmoil::elapsed() >= plan.end {
                    return;
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.range(500, 3_000))).await;
            client.version += 1;
            registered = false;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(TIMERS.beat_interval)).await;
        match client.beat().await {
            Some(20404) => registered = false,
            Some(_) => {}
            None => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}

struct Client {
    plan: Rc<Plan>,
    world: Rc<RefCell<World>>,
    inst: InstancePlan,
    entry: usize,
    version: u64,
}

impl Client {
    fn addr(&self) -> String {
        self.plan.nodes[self.entry].http()
    }

    fn params(&self) -> String {
        format!(
            "serviceName={}&ip={}&port={}",
            self.inst.service, self.inst.ip, self.inst.port
        )
    }

    fn fail_over(&mut self) {
        self.entry = (self.entry + 1) % self.plan.nodes.len();
    }

    fn record(&self, sent: Duration, done: Duration, kind: OpKind, acked: bool) {
        self.world.borrow_mut().ops.push(Op {
            inst: self.inst.id,
            sent,
            done,
            entry: self.entry,
            kind,
            acked,
        });
    }

    async fn register(&mut self) -> bool {
        let sent = turmoil::elapsed();
        let path = format!(
            "/nacos/v1/ns/instance?{}&metadata=v%3D{}",
            self.params(),
            self.version
        );
        let answer = http::request(&self.addr(), "POST", &path).await;
        let acked = answer
            .as_ref()
            .is_some_and(|a| a.status == 200 && a.body == "ok");
        self.record(
            sent,
            turmoil::elapsed(),
            OpKind::Register(self.version),
            acked,
        );
        if !acked {
            self.fail_over();
        }
        acked
    }

    async fn deregister(&mut self) -> bool {
        let sent = turmoil::elapsed();
        let path = format!("/nacos/v1/ns/instance?{}", self.params());
        let answer = http::request(&self.addr(), "DELETE", &path).await;
        let acked = answer
            .as_ref()
            .is_some_and(|a| a.status == 200 && a.body == "ok");
        self.record(sent, turmoil::elapsed(), OpKind::Deregister, acked);
        if !acked {
            self.fail_over();
        }
        acked
    }

    /// The beat's code, `None` when unanswered.
    async fn beat(&mut self) -> Option<i64> {
        let sent = turmoil::elapsed();
        let path = format!("/nacos/v1/ns/instance/beat?{}", self.params());
        let answer = http::request(&self.addr(), "PUT", &path).await;
        let code = answer
            .as_ref()
            .filter(|a| a.status == 200)
            .and_then(|a| serde_json::from_str::<serde_json::Value>(&a.body).ok())
            .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
        self.record(
            sent,
            turmoil::elapsed(),
            OpKind::Beat(code),
            code == Some(10200),
        );
        if code.is_none() {
            self.fail_over();
        }
        code
    }
}
