//! The deploy files (`deploy/`) are checked here, since no container engine, Kubernetes or
//! Prometheus runs on the development machines: every YAML and JSON file parses, the sample
//! TOML configuration loads with [`Config::load`] (which refuses unknown keys), and every
//! metric named by the alert rules and the Grafana dashboard is exported by a live
//! `/metrics` of a two-node in-process cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use distro_server::{Config, Server};
use figment::Figment;
use serde_json::Value as Json;

/// Names the rules or the dashboard may use although the test cluster cannot export them,
/// with the reason. Each must still appear literally in the server's sources.
const NOT_EMITTED_HERE: &[(&str, &str)] = &[
    (
        "up",
        "Prometheus's own per-target series, not an exported metric",
    ),
    (
        "naming_push_total",
        "counted only when a push reaches a Nacos SDK subscriber over gRPC",
    ),
    (
        "naming_push_latency_seconds_bucket",
        "recorded only when a push reaches a Nacos SDK subscriber over gRPC",
    ),
    (
        "naming_grpc_connections",
        "set only when a Nacos SDK gRPC connection opens or closes",
    ),
    (
        "distro_repaired_clients_total",
        "counted only when a verify round finds a stale replica to repair",
    ),
];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn deploy_files(extensions: &[&str]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files_under(&deploy_dir(), &mut all);
    all.retain(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
    });
    all.sort();
    all
}

/// Every document of a (possibly multi-document) YAML file.
fn yaml_documents(path: &Path) -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
        .collect()
}

#[test]
fn every_yaml_and_json_file_parses() {
    let yaml = deploy_files(&["yaml", "yml"]);
    assert!(yaml.len() >= 8, "too few YAML files: {yaml:?}");
    for path in &yaml {
        let documents = yaml_documents(path);
        assert!(!documents.is_empty(), "{} is empty", path.display());
        for document in &documents {
            assert!(document.is_mapping(), "{}: not a mapping", path.display());
        }
    }
    let json = deploy_files(&["json"]);
    assert!(!json.is_empty());
    for path in &json {
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str::<Json>(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    }
}

#[test]
fn kubernetes_objects_are_the_expected_ones() {
    let mut kinds = BTreeSet::new();
    for path in deploy_files(&["yaml"]) {
        if !path.to_string_lossy().contains("kubernetes") {
            continue;
        }
        for document in yaml_documents(&path) {
            assert!(document["apiVersion"].is_string(), "{}", path.display());
            kinds.insert(document["kind"].as_str().unwrap().to_owned());
        }
    }
    let wanted = ["PodDisruptionBudget", "Secret", "Service", "StatefulSet"];
    assert_eq!(kinds, wanted.iter().map(|k| k.to_string()).collect());
}

#[test]
fn sample_toml_configuration_loads() {
    let path = deploy_dir().join("systemd/distro.toml");
    let config = Config::load(Some(&path), Figment::new()).expect("the sample config loads");
    assert_eq!(config.server.port, 8848);
    assert_eq!(config.server.drain_ms, 10_000);
    assert_eq!(config.cluster.members.len(), 3);
    assert_eq!(config.distro.orphan_grace_ms, 30_000);
}

/// PromQL keywords that look like identifiers.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "on",
    "without",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    // aggregations, which may be followed by `by (...)` before their parenthesis
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// The metric names a PromQL expression reads: identifiers that are not functions,
/// keywords, labels (inside `{}` or a `by (...)` list), ranges or numbers.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_group => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                skip_group = false;
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let is_call = chars.get(next) == Some(&'(');
                if KEYWORDS.contains(&word.as_str()) {
                    skip_group = matches!(
                        word.as_str(),
                        "by" | "on" | "without" | "ignoring" | "group_left" | "group_right"
                    );
                } else if !is_call {
                    names.push(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[$__rate_interval]))) > 0.05 * b unless on (instance) c_count > 0"#,
    );
    assert_eq!(names, ["a_bucket", "b", "c_count"]);
}

/// Every `expr` of the alert rules and the dashboard.
fn referenced_expressions() -> Vec<String> {
    let mut exprs = Vec::new();
    let alerts = yaml_documents(&deploy_dir().join("prometheus/alerts.yml"));
    for group in alerts[0]["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_owned());
        }
    }
    let dashboard: Json = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/dashboard.json")).unwrap(),
    )
    .unwrap();
    fn walk(value: &Json, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", Json::String(expr)) => out.push(expr.clone()),
                        _ => walk(value, out),
                    }
                }
            }
            Json::Array(list) => list.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    exprs
}

fn config(port: u16, members: &[u16]) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1".into();
    config.server.port = port;
    config.cluster.members = members.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    config.cluster.secret = Some("deploy-files-test".into());
    config.distro.load_peer_wait_ms = 1_000;
    config.distro.verify_interval_ms = 200;
    config.distro.sweep_interval_ms = 200;
    config
}

fn source_mentions(name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    let mut files = Vec::new();
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        &mut files,
    );
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.to_string_lossy().contains("/tests/"))
        .any(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains(&format!("\"{base}\""))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_and_dashboard_use_exported_metrics() {
    let wanted: BTreeSet<String> = referenced_expressions()
        .iter()
        .flat_map(|e| metric_names(e))
        .collect();
    assert!(wanted.len() >= 10, "too few metric names: {wanted:?}");
    for (name, why) in NOT_EMITTED_HERE {
        assert!(
            *name == "up" || source_mentions(name),
            "whitelisted {name} ({why}) is not in the sources"
        );
    }

    let (a, b) = (
        distro_tests::free_http_port(),
        distro_tests::free_http_port(),
    );
    // One after the other, so that b loads its snapshot from a ready a (the snapshot load
    // metrics exist only after a load; started together, both may start empty).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let node_a = Server::start(config(a, &[a, b])).await.unwrap();
    while !node_a.state().is_ready() {
        assert!(tokio::time::Instant::now() < deadline, "node a not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let node_b = Server::start(config(b, &[a, b])).await.unwrap();
    while !node_b.state().is_ready() {
        assert!(tokio::time::Instant::now() < deadline, "node b not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::new();
    let url_a = format!("http://{}", node_a.http_addr());
    let url_b = format!("http://{}", node_b.http_addr());
    // Traffic: a registration (synced to the peer), a list, the operator metrics (gauges).
    for port in [8080, 8081] {
        let response = http
            .post(format!(
                "{url_a}/nacos/v1/ns/instance?serviceName=deploy&ip=10.0.0.1&port={port}"
            ))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    let missing = loop {
        for url in [&url_a, &url_b] {
            let _ = http
                .get(format!(
                    "{url}/nacos/v1/ns/instance/list?serviceName=deploy"
                ))
                .send()
                .await;
            let _ = http
                .get(format!("{url}/nacos/v1/ns/operator/metrics"))
                .send()
                .await;
        }
        // Both nodes' pages: b's snapshot load is recorded by b.
        let mut text = String::new();
        for url in [&url_a, &url_b] {
            let page = http.get(format!("{url}/metrics")).send().await.unwrap();
            text.push_str(&page.text().await.unwrap());
        }
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|name| NOT_EMITTED_HERE.iter().all(|(n, _)| n != name))
            .filter(|name| {
                !text.lines().any(|line| {
                    line.strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                })
            })
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    node_b.stop().await;
    node_a.stop().await;
    assert!(
        missing.is_empty(),
        "metrics referenced by deploy/ but not exported: {missing:?}"
    );
}
