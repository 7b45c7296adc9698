//! The observer: a host on links no fault touches that lists every service on every running
//! node through the HTTP API every poll period and records what each node holds.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use crate::http;
use crate::plan::{Plan, SERVICES};
use crate::world::{Observation, World};

/// Time between two polls of the cluster.
pub const POLL: Duration = Duration::from_millis(250);

/// Polls until the end of the run.
pub async fn observe(plan: Rc<Plan>, world: Rc<RefCell<World>>) {
    loop {
        let at = turmoil::elapsed();
        if at >= plan.end {
            return;
        }
        for (node, spec) in plan.nodes.iter().enumerate() {
            let handle = world.borrow().handles[node].clone();
            let Some(server) = handle else { continue };
            let read_from = turmoil::elapsed();
            let mut instances = BTreeMap::new();
            let mut complete = true;
            for service in SERVICES {
                let path = format!("/nacos/v1/ns/instance/list?serviceName={service}");
                match http::request(&spec.http(), "GET", &path).await {
                    Some(answer) if answer.status == 200 => parse(&answer.body, &mut instances),
                    _ => complete = false,
                }
            }
            // A node that crashed meanwhile answers nothing; its partial view is not kept.
            if complete && world.borrow().handles[node].is_some() {
                world.borrow_mut().observations.push(Observation {
                    at,
                    read_from,
                    read_to: turmoil::elapsed(),
                    node,
                    loaded: server.distro().is_loaded(),
                    preserving: server.self_preservation(),
                    instances,
                });
            }
        }
        let next = at + POLL;
        let now = turmoil::elapsed();
        if next > now {
            tokio::time::sleep(next - now).await;
        }
    }
}

/// `ip:port` → metadata `v` of every host in a v1 list answer.
fn parse(body: &str, into: &mut BTreeMap<String, u64>) {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return;
    };
    let Some(hosts) = json.get("hosts").and_then(|h| h.as_array()) else {
        return;
    };
    for host in hosts {
        let ip = host.get("ip").and_then(|v| v.as_str()).unwrap_or_default();
        let port = host
            .get("port")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let version = host
            .get("metadata")
            .and_then(|m| m.get("v"))
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        into.insert(format!("{ip}:{port}"), version);
    }
}
