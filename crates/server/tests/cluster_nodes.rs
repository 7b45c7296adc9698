//! Cluster membership with real `distro-server` processes on 127.0.0.1: nodes find each
//! other, a killed node is DOWN on the others within 5 s and UP again after a restart, a
//! wrong secret is refused, and a cluster without a secret refuses to start unless insecure.
//!
//! The processes are started by the `distro-tests` harness; Cargo builds the binary for
//! these tests and tells its path through `CARGO_BIN_EXE_distro-server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use distro_cluster::{MemberInfo, ProbeError, Prober};
use distro_tests::{
    Http, Node, NodeSpec, WAIT, free_http_port, member_list, member_states, metric_sum,
    metric_value, sees_all_up_and_contacted, wait_until,
};
use distro_transport_grpc::{ClientConfig, ClusterAuth, ClusterSecret, GrpcProber, PeerChannels};

const BIN: &str = env!("CARGO_BIN_EXE_distro-server");
const SECRET: &str = "the-test-cluster-secret";
/// The promise of the issue: a dead peer is DOWN on the others within this.
const DETECTION_BOUND: Duration = Duration::from_secs(5);

/// Specs of `n` nodes listing each other, with `secret` in the environment.
fn cluster_specs(n: usize, secret: &str) -> Vec<NodeSpec> {
    let ports: Vec<u16> = (0..n).map(|_| free_http_port()).collect();
    ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            NodeSpec::new(BIN, &format!("node{}", i + 1), port)
                .members(&ports)
                .env("DISTRO_CLUSTER__SECRET", secret)
        })
        .collect()
}

async fn start_all(specs: Vec<NodeSpec>, http: &Http) -> Vec<Node> {
    let mut nodes = Vec::new();
    for spec in specs {
        nodes.push(Node::spawn(spec).unwrap());
    }
    for node in &mut nodes {
        node.wait_ready(http).await.unwrap();
    }
    nodes
}

/// The states `observer` reports, or an empty map if it does not answer.
async fn states(http: &Http, observer: &Node) -> BTreeMap<String, String> {
    member_states(http, observer).await.unwrap_or_default()
}

/// Waits until every node sees every node UP, having heard from each.
async fn wait_all_up(http: &Http, nodes: &[Node]) {
    let addresses: Vec<String> = nodes.iter().map(Node::address).collect();
    for observer in nodes {
        let result = wait_until("all members UP and heard from", WAIT, || {
            sees_all_up_and_contacted(http, observer, &addresses)
        })
        .await;
        if let Err(error) = result {
            panic!(
                "{}: {error}; it sees {:?}\n{}",
                observer.name(),
                member_list(http, observer).await.unwrap_or_default(),
                observer.log()
            );
        }
    }
}

/// Waits until `observer` reports `target` in `state`; returns the time it took.
async fn wait_state(
    http: &Http,
    observer: &Node,
    target: &str,
    state: &str,
    within: Duration,
) -> Duration {
    let what = format!("{} to see {target} {state}", observer.name());
    let result = wait_until(&what, within, || async {
        states(http, observer).await.get(target).map(String::as_str) == Some(state)
    })
    .await;
    match result {
        Ok(took) => took,
        Err(error) => panic!(
            "{error}; it sees {:?}\n{}",
            states(http, observer).await,
            observer.log()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_see_each_other_then_a_killed_one_is_down_within_5s_and_up_after_restart() {
    let http = Http::new().unwrap();
    let mut nodes = start_all(cluster_specs(3, SECRET), &http).await;
    wait_all_up(&http, &nodes).await;
    // Readiness (startup snapshot loaded) reaches peers with the next probe answers.
    wait_until("every member reported ready", WAIT, || async {
        let body = http
            .get_json(&nodes[0].url("/nacos/v1/core/cluster/nodes"))
            .await;
        body.is_ok_and(|b| {
            b["data"]
                .as_array()
                .is_some_and(|m| m.iter().all(|m| m["extendInfo"]["ready"] == true))
        })
    })
    .await
    .unwrap();

    // The Nacos shapes of the cluster endpoints.
    let first = nodes[0].url("");
    let first_address = nodes[0].address();
    let body = http
        .get_json(&format!("{first}/nacos/v1/core/cluster/nodes"))
        .await
        .unwrap();
    assert_eq!(
        (body["code"].as_i64(), body["message"].is_null()),
        (Some(200), true)
    );
    let addresses: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    let mut sorted = addresses.clone();
    sorted.sort_unstable();
    assert_eq!(addresses, sorted, "members are sorted by address");
    for member in body["data"].as_array().unwrap() {
        for field in [
            "ip",
            "port",
            "state",
            "extendInfo",
            "failAccessCnt",
            "abilities",
        ] {
            assert!(!member[field].is_null(), "member lacks {field}: {member}");
        }
        // Peers' versions and readiness arrived with their probe answers.
        assert_eq!(member["extendInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(member["extendInfo"]["ready"], true, "{member}");
    }
    let keyword = nodes[1].address();
    let filtered = http
        .get_json(&format!(
            "{first}/nacos/v1/core/cluster/nodes?keyword={keyword}"
        ))
        .await
        .unwrap();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["data"][0]["address"], keyword.as_str());
    let me = http
        .get_json(&format!("{first}/nacos/v1/core/cluster/self"))
        .await
        .unwrap();
    assert_eq!(me["data"]["address"], first_address.as_str());
    let health = http
        .get_json(&format!("{first}/nacos/v1/core/cluster/health"))
        .await
        .unwrap();
    assert_eq!(health["data"], "UP");
    let simple = http
        .get_json(&format!("{first}/nacos/v1/core/cluster/simple/nodes"))
        .await
        .unwrap();
    assert_eq!(simple["data"].as_array().unwrap().len(), 3);
    let ops = http
        .get_json(&format!(
            "{first}/nacos/v1/ns/operator/metrics?onlyStatus=false"
        ))
        .await
        .unwrap();
    assert_eq!(ops["status"], "UP");
    assert!(
        ops["serviceCount"].is_number(),
        "existing fields stay: {ops}"
    );
    assert_eq!(ops["clusterMemberCount"], 3);
    assert_eq!(ops["healthyClusterMemberCount"], 3);
    assert_eq!(ops["clusterMembers"][0]["state"], "UP");
    let metrics = http.get_text(&format!("{first}/metrics")).await.unwrap();
    assert_eq!(
        metric_value(&metrics, r#"cluster_members{state="up"}"#),
        Some(3.0),
        "{metrics}"
    );

    // Kill node 2: both others see it DOWN within the bound.
    let victim = nodes[1].address();
    nodes[1].kill();
    for observer in [&nodes[0], &nodes[2]] {
        let took = wait_state(&http, observer, &victim, "DOWN", DETECTION_BOUND).await;
        println!("{} saw {victim} DOWN after {took:?}", observer.name());
    }
    let metrics = http.get_text(&format!("{first}/metrics")).await.unwrap();
    assert_eq!(
        metric_value(&metrics, r#"cluster_members{state="down"}"#),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metric_sum(&metrics, "cluster_probe_failures_total") >= 1.0,
        "{metrics}"
    );
    assert!(
        metric_value(
            &metrics,
            r#"cluster_member_state_changes_total{state="down"}"#
        ) >= Some(1.0),
        "{metrics}"
    );
    let ops = http
        .get_json(&format!(
            "{first}/nacos/v1/ns/operator/metrics?onlyStatus=false"
        ))
        .await
        .unwrap();
    assert_eq!(ops["healthyClusterMemberCount"], 2);

    // Restart it on the same ports: everyone sees everyone UP again.
    nodes[1].restart(&http).await.unwrap();
    wait_all_up(&http, &nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_secret_is_refused() {
    let http = Http::new().unwrap();
    let mut specs = cluster_specs(3, SECRET);
    // Fast probes so DOWN comes quickly; the outsider has its own idea of the secret.
    for spec in &mut specs {
        spec.env
            .push(("DISTRO_CLUSTER__PROBE_INTERVAL_MS".into(), "250".into()));
        spec.env
            .push(("DISTRO_CLUSTER__PROBE_TIMEOUT_MS".into(), "200".into()));
    }
    let outsider_spec = specs
        .pop()
        .unwrap()
        .env("DISTRO_CLUSTER__SECRET", "not-the-secret");
    let insiders = start_all(specs, &http).await;
    let outsider = Node::start(outsider_spec, &http).await.unwrap();
    let outsider_address = outsider.address();

    // The outsider's probes are refused: it marks both insiders DOWN…
    for insider in &insiders {
        wait_state(&http, &outsider, &insider.address(), "DOWN", WAIT).await;
    }
    // …and the insiders, whose probes it refuses, mark it DOWN, while they keep hearing from
    // each other (healthy: UP, or SUSPICIOUS if a fast probe timed out on a loaded machine).
    let insider_addresses: Vec<String> = insiders.iter().map(Node::address).collect();
    for insider in &insiders {
        wait_state(&http, insider, &outsider_address, "DOWN", WAIT).await;
        let members = member_list(&http, insider).await.unwrap();
        for member in &members {
            let address = member["address"].as_str().unwrap().to_owned();
            if insider_addresses.contains(&address) && address != insider.address() {
                assert_ne!(member["state"], "DOWN", "{members:?}");
                assert!(
                    member["extendInfo"]["lastRefreshTime"].as_u64() > Some(0),
                    "{member}"
                );
            }
        }
    }
    // It never sees them UP again (watched for 2 s, eight probe rounds).
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < watch_until {
        let seen = states(&http, &outsider).await;
        for insider in &insiders {
            assert_eq!(
                seen.get(&insider.address()).map(String::as_str),
                Some("DOWN"),
                "{seen:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        outsider.log().contains("refused our cluster secret"),
        "the outsider says why:\n{}",
        outsider.log()
    );
    // Every insider counted the refused calls.
    for insider in &insiders {
        let metrics = http.get_text(&insider.url("/metrics")).await.unwrap();
        let refused = metric_sum(&metrics, "cluster_auth_failures_total");
        assert!(refused >= 1.0, "{}: {metrics}", insider.name());
    }

    // A direct call with the wrong secret is answered UNAUTHENTICATED.
    let wrong = ClusterAuth::Secret(ClusterSecret::new("not-the-secret").unwrap());
    let prober = GrpcProber::new(Arc::new(PeerChannels::new(ClientConfig::default(), &wrong)));
    let me = MemberInfo {
        address: outsider_address.clone(),
        ..MemberInfo::default()
    };
    let error = prober.probe(&insiders[0].address(), &me).await.unwrap_err();
    assert!(
        matches!(&error, ProbeError::Rejected(reason) if reason.starts_with("unauthenticated")),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_a_secret_refuse_to_start_unless_insecure() {
    let http = Http::new().unwrap();
    let ports = [free_http_port(), free_http_port()];
    let spec = |name: &str, port: u16| {
        NodeSpec::new(BIN, name, port)
            .members(&ports)
            .env("DISTRO_CLUSTER__SECRET", "")
    };

    // No secret (an empty one is no secret either): refuses, and says what to do.
    let mut refused = Node::spawn(spec("nosecret", ports[0])).unwrap();
    let status = refused.wait_exit(WAIT).await.unwrap();
    let log = refused.log();
    assert!(
        matches!(status, Some(s) if !s.success()),
        "{status:?}\n{log}"
    );
    assert!(log.contains("no cluster.secret"), "{log}");
    assert!(log.contains("cluster.insecure = true"), "{log}");
    drop(refused);

    // Explicitly insecure: both start and see each other UP.
    let insecure: Vec<Node> = {
        let mut nodes = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            let node_spec = NodeSpec::new(BIN, &format!("insecure{i}"), port)
                .members(&ports)
                .env("DISTRO_CLUSTER__INSECURE", "true");
            nodes.push(Node::start(node_spec, &http).await.unwrap());
        }
        nodes
    };
    wait_all_up(&http, &insecure).await;
    assert!(
        insecure[0].log().contains("cluster.insecure = true"),
        "a warning is logged"
    );
}
