//! HTTP requests to the Nacos Open API: query strings and form bodies of the v1 and v2
//! instance, beat and service routes, through the real router (`distro_server::http_router`)
//! over an in-memory registry, one `oneshot` call per input.
//!
//! Asserts: no panic and no 5xx; a rejected request (4xx, or a beat answered `20404`) leaves
//! the registry unchanged; an accepted registration can be read back by the same parameters
//! (the detail route answers 200).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use distro_naming::{NamingConfig, Registry};
use distro_server::{AppState, Config};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::record::{paused_runtime, text};

/// The corpus target name.
pub const TARGET: &str = "http";

/// The routes fuzzed.
pub const PATHS: &[&str] = &[
    "/nacos/v1/ns/instance",
    "/nacos/v1/ns/instance/beat",
    "/nacos/v1/ns/instance/list",
    "/nacos/v1/ns/service",
    "/nacos/v1/ns/service/list",
    "/nacos/v2/ns/instance",
    "/nacos/v2/ns/instance/beat",
    "/nacos/v2/ns/instance/list",
    "/nacos/v2/ns/service",
    "/nacos/v2/ns/service/list",
];

/// A standalone node's HTTP routes over a fresh registry, with a paused clock.
pub struct Harness {
    /// The registry behind the routes.
    pub registry: Arc<Registry>,
    router: axum::Router,
    runtime: tokio::runtime::Runtime,
    origin: Instant,
}

impl Harness {
    /// A fresh harness.
    pub fn new() -> Self {
        let runtime = paused_runtime();
        let origin = {
            let _time = runtime.enter();
            Instant::now()
        };
        let config = Config::default();
        let registry = Arc::new(Registry::new(NamingConfig::default()));
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let membership = Arc::new(
            distro_cluster::Membership::new("127.0.0.1:8848", "fuzz", 0).expect("an address"),
        );
        let state = AppState::new(config, Arc::clone(&registry), metrics, membership);
        state.set_ready(true);
        let router = distro_server::http_router(state);
        Self {
            registry,
            router,
            runtime,
            origin,
        }
    }

    /// Sends one request; the status and body.
    pub fn call(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            (status, body)
        })
    }

    /// The registry dump.
    pub fn dump(&self) -> String {
        self.registry.debug_dump(self.origin)
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Method (any token).
    pub method: String,
    /// Path (one of [`PATHS`], unless mutated).
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    /// Whether the body is sent as `application/x-www-form-urlencoded`.
    pub form: bool,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Input {
    /// The corpus file form: `METHOD PATH?QUERY`, `form` or `none`, then the body.
    pub fn to_file(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {}?{}\n{}\n",
            self.method,
            self.path,
            self.query,
            if self.form { "form" } else { "none" }
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads the file form leniently (mutated files still make a request).
    pub fn from_file(file: &[u8]) -> Self {
        let mut lines = file.splitn(3, |b| *b == b'\n');
        let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let form = lines.next().unwrap_or_default() == b"form";
        let body = lines.next().unwrap_or_default().to_vec();
        let (method, target) = first.split_once(' ').unwrap_or(("GET", first.as_str()));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            form,
            body,
        }
    }

    /// The HTTP request, or `None` when it cannot be one (hyper would refuse it first).
    pub fn request(&self, method: &str) -> Option<Request<Body>> {
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let mut builder = Request::builder().method(method).uri(uri);
        if self.form {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
        }
        builder.body(Body::from(self.body.clone())).ok()
    }
}

/// Sends one request with every assertion of the module.
pub fn check(harness: &Harness, input: Input) -> Result<(), TestCaseError> {
    let Some(request) = input.request(&input.method) else {
        return Ok(());
    };
    let before = harness.dump();
    let (status, body) = harness.call(request);
    let after = harness.dump();
    let text = String::from_utf8_lossy(&body);
    prop_assert!(
        !status.is_server_error(),
        "{} {} answered {}: {}",
        input.method,
        input.path,
        status,
        text
    );
    let unknown_beat = input.path.ends_with("/beat") && text.contains("\"code\":20404");
    if status.is_client_error() || unknown_beat {
        prop_assert_eq!(
            &before,
            &after,
            "a rejected request changed the registry ({}: {})",
            status,
            text
        );
        return Ok(());
    }
    let registration = input.method == "POST" && input.path.ends_with("/ns/instance");
    if registration && status.is_success() {
        // The same parameters find it.
        let detail = input.request("GET").expect("the request was valid");
        let (status, body) = harness.call(detail);
        prop_assert_eq!(
            status,
            StatusCode::OK,
            "an accepted registration is not found: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

fn pick(values: &[&'static str]) -> impl Strategy<Value = String> + use<> {
    proptest::sample::select(values.to_vec()).prop_map(str::to_owned)
}

fn value_of(name: &str) -> BoxedStrategy<String> {
    let pool: &[&'static str] = match name {
        "serviceName" => &[
            "orders",
            "DEFAULT_GROUP@@orders",
            "g@@s",
            "@@s",
            "a@@b@@c",
            "",
            "a b",
            "服务",
        ],
        "groupName" => &["DEFAULT_GROUP", "g", "", "g/x", " "],
        "namespaceId" => &["public", "", "dev", "dev ns"],
        "ip" => &[
            "10.0.0.1", "10.0.0.2", "::1", "[::1]", "", "a;b", "1.2.3.4 ",
        ],
        "port" => &["8080", "80", "0", "65535", "65536", "-1", "", "8e3", " 80 "],
        "clusterName" | "cluster" => &["DEFAULT", "c1", "", "a,b"],
        "weight" => &[
            "1", "0", "10000", "10000.1", "-1", "NaN", "inf", "1e400", "",
        ],
        "enabled" | "healthy" | "ephemeral" | "healthyOnly" => &["true", "false", "TRUE", "x", ""],
        "metadata" => &[
            "{\"k\":\"v\"}",
            "k=v",
            "{\"preserved.heart.beat.timeout\":\"1\"}",
            "{\"preserved.heart.beat.interval\":\"x\"}",
            "{}",
            "[1]",
            "{\"k\":1}",
            "",
        ],
        "beat" => &[
            "{\"ip\":\"10.0.0.1\",\"port\":8080,\"serviceName\":\"DEFAULT_GROUP@@orders\",\"cluster\":\"DEFAULT\",\"weight\":1.0,\"metadata\":{}}",
            "{\"ip\":\"10.0.0.2\",\"port\":70000}",
            "{\"port\":8080,\"weight\":-5}",
            "{\"ephemeral\":false}",
            "{}",
            "not json",
            "",
        ],
        "protectThreshold" => &["0.5", "0", "1", "-1", "2", "NaN", ""],
        "selector" => &[
            "{\"type\":\"none\"}",
            "{\"type\":\"label\",\"expression\":\"a=b\"}",
            "{\"type\":\"x\"}",
            "x",
        ],
        "pageNo" | "pageSize" => &["1", "0", "-1", "100000", "x"],
        _ => &["", "x", "1"],
    };
    text(pool).boxed()
}

const NAMES: &[&str] = &[
    "serviceName",
    "groupName",
    "namespaceId",
    "ip",
    "port",
    "clusterName",
    "cluster",
    "weight",
    "enabled",
    "healthy",
    "ephemeral",
    "metadata",
    "beat",
    "protectThreshold",
    "selector",
    "pageNo",
    "pageSize",
    "clusters",
    "healthyOnly",
];

fn param() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        9 => proptest::sample::select(NAMES).prop_flat_map(|name| {
            value_of(name).prop_map(move |value| (name.to_owned(), value))
        }),
        1 => (any::<String>(), any::<String>()),
    ]
}

fn encode(params: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

/// Well-formed requests with parameters from Nacos's vocabulary, in the query, the form
/// body or both.
pub fn structured() -> impl Strategy<Value = Input> {
    (
        prop_oneof![
            9 => pick(&["GET", "POST", "PUT", "DELETE", "PATCH"]),
            1 => pick(&["HEAD", "OPTIONS", "BREW"]),
        ],
        pick(PATHS),
        // Registrations are the interesting state: most requests name the same service.
        (
            prop_oneof![3 => Just(true), 1 => Just(false)],
            proptest::collection::vec(param(), 0..8),
            proptest::collection::vec(param(), 0..4),
            any::<bool>(),
        ),
    )
        .prop_map(|(method, path, (base, extra_query, extra_body, form))| {
            let mut query = if base {
                vec![
                    ("serviceName".to_owned(), "orders".to_owned()),
                    ("ip".to_owned(), "10.0.0.1".to_owned()),
                    ("port".to_owned(), "8080".to_owned()),
                ]
            } else {
                Vec::new()
            };
            // Later duplicates are ignored (first wins): put the fuzzed ones first.
            let mut fuzzed = extra_query;
            fuzzed.append(&mut query);
            Input {
                method,
                path,
                query: encode(&fuzzed),
                form,
                body: encode(&extra_body).into_bytes(),
            }
        })
}

/// Corpus requests with byte-level edits.
pub fn mutated() -> impl Strategy<Value = Input> {
    crate::corpus::mutated(TARGET).prop_map(|file| Input::from_file(&file))
}

/// The corpus: what the Nacos Java and Go SDKs and `curl` users send.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let input = |method: &str, path: &str, query: &str, body: &str| Input {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        form: !body.is_empty(),
        body: body.as_bytes().to_vec(),
    };
    let beat = "%7B%22cluster%22%3A%22DEFAULT%22%2C%22ip%22%3A%2210.0.0.1%22%2C%22metadata%22%3A%7B%7D%2C%22port%22%3A8080%2C%22scheduled%22%3Atrue%2C%22serviceName%22%3A%22DEFAULT_GROUP%40%40orders%22%2C%22weight%22%3A1.0%7D";
    let cases = [
        (
            "v1-register-java-sdk",
            input(
                "POST",
                "/nacos/v1/ns/instance",
                "",
                "groupName=DEFAULT_GROUP&metadata=%7B%22version%22%3A%221%22%7D&namespaceId=public&port=8080&enable=true&healthy=true&clusterName=DEFAULT&ip=10.0.0.1&weight=1.0&ephemeral=true&serviceName=DEFAULT_GROUP%40%40orders&app=DEFAULT",
            ),
        ),
        (
            "v1-register-curl",
            input(
                "POST",
                "/nacos/v1/ns/instance",
                "serviceName=orders&ip=10.0.0.1&port=8080&metadata=version%3D1",
                "",
            ),
        ),
        (
            "v1-deregister",
            input(
                "DELETE",
                "/nacos/v1/ns/instance",
                "serviceName=orders&ip=10.0.0.1&port=8080&clusterName=DEFAULT&ephemeral=true",
                "",
            ),
        ),
        (
            "v1-update",
            input(
                "PUT",
                "/nacos/v1/ns/instance",
                "serviceName=orders&ip=10.0.0.1&port=8080&weight=2&enabled=false&metadata=%7B%22k%22%3A%22v%22%7D",
                "",
            ),
        ),
        (
            "v1-detail",
            input(
                "GET",
                "/nacos/v1/ns/instance",
                "serviceName=orders&ip=10.0.0.1&port=8080&cluster=DEFAULT",
                "",
            ),
        ),
        (
            "v1-list",
            input(
                "GET",
                "/nacos/v1/ns/instance/list",
                "serviceName=DEFAULT_GROUP%40%40orders&namespaceId=public&clusters=DEFAULT&healthyOnly=false&udpPort=0&clientIP=10.0.0.9&app=unknown",
                "",
            ),
        ),
        (
            "v1-beat-full",
            input(
                "PUT",
                "/nacos/v1/ns/instance/beat",
                &format!("serviceName=DEFAULT_GROUP%40%40orders&namespaceId=public&beat={beat}"),
                "",
            ),
        ),
        (
            "v1-beat-light",
            input(
                "PUT",
                "/nacos/v1/ns/instance/beat",
                "serviceName=orders&ip=10.0.0.1&port=8080&clusterName=DEFAULT",
                "",
            ),
        ),
        (
            "v1-service-create",
            input(
                "POST",
                "/nacos/v1/ns/service",
                "",
                "serviceName=users&groupName=DEFAULT_GROUP&namespaceId=public&protectThreshold=0.5&metadata=k%3Dv&selector=%7B%22type%22%3A%22none%22%7D",
            ),
        ),
        (
            "v1-service-update",
            input(
                "PUT",
                "/nacos/v1/ns/service",
                "serviceName=users&protectThreshold=0.8&metadata=a%3D1%2Cb%3D2",
                "",
            ),
        ),
        (
            "v1-service-detail",
            input("GET", "/nacos/v1/ns/service", "serviceName=users", ""),
        ),
        (
            "v1-service-delete",
            input(
                "DELETE",
                "/nacos/v1/ns/service",
                "serviceName=users&groupName=DEFAULT_GROUP",
                "",
            ),
        ),
        (
            "v1-service-list",
            input(
                "GET",
                "/nacos/v1/ns/service/list",
                "pageNo=1&pageSize=10&groupName=DEFAULT_GROUP&namespaceId=public",
                "",
            ),
        ),
        (
            "v2-register",
            input(
                "POST",
                "/nacos/v2/ns/instance",
                "",
                "serviceName=orders&groupName=DEFAULT_GROUP&ip=10.0.0.2&port=9090&clusterName=c1&weight=0.5&metadata=%7B%22zone%22%3A%22a%22%7D&ephemeral=true",
            ),
        ),
        (
            "v2-deregister",
            input(
                "DELETE",
                "/nacos/v2/ns/instance",
                "serviceName=orders&ip=10.0.0.2&port=9090&clusterName=c1",
                "",
            ),
        ),
        (
            "v2-update",
            input(
                "PUT",
                "/nacos/v2/ns/instance",
                "",
                "serviceName=orders&ip=10.0.0.2&port=9090&clusterName=c1&weight=3&enabled=true",
            ),
        ),
        (
            "v2-detail",
            input(
                "GET",
                "/nacos/v2/ns/instance",
                "serviceName=orders&ip=10.0.0.2&port=9090&clusterName=c1",
                "",
            ),
        ),
        (
            "v2-list",
            input(
                "GET",
                "/nacos/v2/ns/instance/list",
                "serviceName=orders&groupName=DEFAULT_GROUP&clusterName=c1&healthyOnly=true",
                "",
            ),
        ),
        (
            "v2-beat",
            input(
                "PUT",
                "/nacos/v2/ns/instance/beat",
                "",
                &format!(
                    "serviceName=orders&groupName=DEFAULT_GROUP&ip=10.0.0.2&port=9090&beat={beat}"
                ),
            ),
        ),
        (
            "v2-service-create",
            input(
                "POST",
                "/nacos/v2/ns/service",
                "",
                "serviceName=users&groupName=DEFAULT_GROUP&namespaceId=public&protectThreshold=0.1&metadata=%7B%22k%22%3A%22v%22%7D&selector=%7B%22type%22%3A%22label%22%2C%22expression%22%3A%22a%3Db%22%7D",
            ),
        ),
        (
            "v2-service-detail",
            input(
                "GET",
                "/nacos/v2/ns/service",
                "serviceName=users&groupName=DEFAULT_GROUP",
                "",
            ),
        ),
        (
            "v2-service-delete",
            input("DELETE", "/nacos/v2/ns/service", "serviceName=users", ""),
        ),
        (
            "v2-service-list",
            input(
                "GET",
                "/nacos/v2/ns/service/list",
                "pageNo=1&pageSize=20&namespaceId=public&groupName=DEFAULT_GROUP",
                "",
            ),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, input)| (format!("{name}.txt"), input.to_file()))
        .collect()
}

/// Feeds a sequence of inputs to a fresh harness (so a failure shrinks to the few inputs
/// that cause it, whatever ran before).
pub fn check_sequence(_: &(), inputs: Vec<Input>) -> Result<(), TestCaseError> {
    let harness = Harness::new();
    for input in inputs {
        check(&harness, input)?;
    }
    Ok(())
}

/// Sequences of structured and mutated inputs.
pub fn sequences(mutated_only: bool) -> BoxedStrategy<Vec<Input>> {
    crate::driver::sequences(structured().boxed(), mutated().boxed(), mutated_only)
}
