//! Smoke test of the load tool: every single-node scenario runs briefly against an
//! in-process server and must produce a parseable summary without errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use distro_bench::load::scenarios::parse_summary;
use distro_bench::load::{self, Options, Scenario};
use distro_server::{Config, Server};

async fn server() -> Server {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1".to_owned();
    config.server.port = 0;
    config.push.delay_ms = 0;
    Server::start(config).await.expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_node_scenario_runs_without_errors() {
    let server = server().await;
    let mut options = Options::for_target(server.http_addr());
    options.grpc_target = Some(server.grpc_addr().to_string());
    options.concurrency = 4;
    options.duration = 0.3;
    options.warmup = 0.0;
    options.changes = 3;
    options.server_pid = Some(std::process::id());
    let cases = [
        (Scenario::Liveness, None),
        (Scenario::Register, None),
        (Scenario::Beat, Some(200)),
        (Scenario::BeatFull, Some(200)),
        (Scenario::List, Some(10)),
        (Scenario::Deregister, Some(200)),
        (Scenario::Memory, Some(200)),
        (Scenario::GrpcRegister, None),
        (Scenario::GrpcQuery, Some(10)),
        (Scenario::PushLatency, None),
    ];
    for (scenario, instances) in cases {
        options.instances = instances;
        let summary = load::run(scenario, &options)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name()));
        let line = summary.to_string();
        assert!(!line.contains('\n'), "one line per summary");
        let parsed = parse_summary(&line).unwrap();
        assert_eq!(parsed["scenario"], scenario.name());
        assert_eq!(parsed["errors"], 0, "{line}");
        assert!(parsed["requests"].as_u64().unwrap() > 0, "{line}");
        for field in ["throughput", "p50_ms", "p99_ms", "max_ms", "server_rss_mb"] {
            assert!(parsed[field].is_number(), "{field} missing: {line}");
        }
    }
    server.stop().await;
}

#[test]
fn only_loopback_targets_are_accepted() {
    assert!(load::loopback("127.0.0.1:8848").is_ok());
    assert!(load::loopback("10.0.0.1:8848").is_err());
    assert!(load::loopback("8.8.8.8:53").is_err());
}
