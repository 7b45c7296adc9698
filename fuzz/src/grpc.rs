//! Nacos 2.x request bodies on the SDK port: a real standalone server on loopback, one
//! registered SDK connection (set up on the bi-stream as the Java SDK does), and each input
//! sent as a unary `Payload` with its `metadata.type` and JSON body.
//!
//! Asserts: no panic (the server keeps answering) and every call gets a decodable answer; a
//! rejected request (`resultCode` not 200) leaves the registry unchanged; an accepted
//! `registerInstance` is listed by a `ServiceQueryRequest` for the same target.

use std::collections::HashMap;
use std::time::Duration;

use distro_nacos_api::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
use distro_nacos_api::grpc::proto::request_client::RequestClient;
use distro_nacos_api::grpc::{Metadata, Payload};
use distro_nacos_api::grpc::{encode, payload_type, response_status};
use distro_server::{Config, Server};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::record::text;

/// The corpus target name.
pub const TARGET: &str = "grpc";

/// A server, a registered connection to it, and the runtime both run on.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    serial: std::sync::Mutex<()>,
    server: Server,
    unary: RequestClient<Channel>,
    _stream: mpsc::Sender<Payload>,
    origin: Instant,
}

impl Harness {
    /// Starts a server (maintenance loops slowed so only inputs change the registry) and
    /// sets a connection up.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (server, unary, stream, origin) = runtime.block_on(start());
        Self {
            runtime,
            serial: std::sync::Mutex::new(()),
            server,
            unary,
            _stream: stream,
            origin,
        }
    }

    /// The harness of this process: one server for every run. A server started per run
    /// is never freed (its registry and its event bus's handlers hold each other), which
    /// grew a long run by gigabytes; a node starts one server in its life.
    pub fn shared() -> &'static Self {
        static SHARED: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
        SHARED.get_or_init(Self::new)
    }

    /// The registry dump.
    pub fn dump(&self) -> String {
        self.server.state().registry.debug_dump(self.origin)
    }

    /// One unary call.
    pub fn call(&self, payload: Payload) -> Result<Payload, tonic::Status> {
        let mut unary = self.unary.clone();
        self.runtime
            .block_on(async move { unary.request(payload).await.map(|r| r.into_inner()) })
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

const HOUR_MS: u64 = 3_600_000;

async fn start() -> (
    Server,
    RequestClient<Channel>,
    mpsc::Sender<Payload>,
    Instant,
) {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1".to_owned();
    config.server.port = 0;
    config.naming.beat_check_interval_ms = HOUR_MS;
    config.naming.client_clean_interval_ms = HOUR_MS;
    config.naming.empty_service_clean_interval_ms = HOUR_MS;
    config.grpc.idle_ms = HOUR_MS;
    let origin = Instant::now();
    let server = Server::start(config).await.expect("the server starts");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc_addr()))
        .expect("an endpoint")
        .connect()
        .await
        .expect("connects");
    let mut unary = RequestClient::new(channel.clone());
    let check = json!({"headers": {}, "module": "internal"});
    let answer = unary
        .request(encode("ServerCheckRequest", &check, "127.0.0.1").expect("encodes"))
        .await
        .expect("server check")
        .into_inner();
    let body: Value = serde_json::from_slice(&answer.body.map(|b| b.value).unwrap_or_default())
        .unwrap_or_default();
    let connection_id = body["connectionId"].as_str().unwrap_or_default().to_owned();
    let (stream_tx, stream_rx) = mpsc::channel(64);
    let mut responses = BiRequestStreamClient::new(channel)
        .request_bi_stream(ReceiverStream::new(stream_rx))
        .await
        .expect("bi-stream")
        .into_inner();
    // Answer every server request (pushes, probes) with success, as an SDK does.
    let answers = stream_tx.downgrade();
    tokio::spawn(async move {
        while let Some(Ok(payload)) = responses.next().await {
            let kind = payload_type(&payload).to_owned();
            let Some(request) = kind.strip_suffix("Request") else {
                continue;
            };
            let body: Value = payload
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice(&b.value).ok())
                .unwrap_or_default();
            let answer = json!({"resultCode": 200, "errorCode": 0, "success": true,
                "requestId": body["requestId"]});
            let (Some(answers), Ok(payload)) = (
                answers.upgrade(),
                encode(&format!("{request}Response"), &answer, "127.0.0.1"),
            ) else {
                return;
            };
            let _ = answers.send(payload).await;
        }
    });
    let setup = json!({
        "headers": {}, "module": "internal", "clientVersion": "Nacos-Java-Client:v2.3.0",
        "tenant": "public", "abilityTable": {},
        "labels": {"source": "sdk", "module": "naming", "AppName": "fuzz"}
    });
    stream_tx
        .send(encode("ConnectionSetupRequest", &setup, "127.0.0.1").expect("encodes"))
        .await
        .expect("setup sent");
    let registry = &server.state().registry;
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry
        .client_revision(&distro_naming::ClientId::new(connection_id.as_str()))
        .is_none()
    {
        assert!(Instant::now() < deadline, "the connection never registered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (server, unary, stream_tx, origin)
}

/// One request: its `metadata.type` and JSON body bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Request type.
    pub kind: String,
    /// Body (JSON, unless mutated).
    pub body: Vec<u8>,
}

impl Input {
    /// The corpus file form: the type, a newline, the body.
    pub fn to_file(&self) -> Vec<u8> {
        let mut out = self.kind.as_bytes().to_vec();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads the file form.
    pub fn from_file(file: &[u8]) -> Self {
        let (kind, body) = match file.iter().position(|b| *b == b'\n') {
            Some(i) => (&file[..i], file[i + 1..].to_vec()),
            None => (file, Vec::new()),
        };
        Self {
            kind: String::from_utf8_lossy(kind).into_owned(),
            body,
        }
    }

    fn payload(&self) -> Payload {
        Payload {
            metadata: Some(Metadata {
                r#type: self.kind.clone(),
                client_ip: "127.0.0.1".to_owned(),
                headers: HashMap::new(),
            }),
            body: Some(prost_types_any(self.body.clone())),
        }
    }
}

fn prost_types_any(value: Vec<u8>) -> prost_types::Any {
    prost_types::Any {
        type_url: String::new(),
        value,
    }
}

/// Sends one request with every assertion of the module.
pub fn check(harness: &Harness, input: Input) -> Result<(), TestCaseError> {
    // Tests of one binary run in parallel: one input at a time, or dumps would mix them.
    let _one = harness
        .serial
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = harness.dump();
    let answer = harness
        .call(input.payload())
        .map_err(|s| TestCaseError::fail(format!("the call failed: {s:?}")))?;
    let after = harness.dump();
    let status = response_status(&answer)
        .map_err(|e| TestCaseError::fail(format!("undecodable answer: {e}")))?;
    if status.result_code != 200 {
        prop_assert_eq!(
            &before,
            &after,
            "a rejected request changed the registry: {:?}",
            status
        );
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&input.body).unwrap_or_default();
    if input.kind == "InstanceRequest" && body["type"] == "registerInstance" {
        let query = json!({
            "headers": {}, "module": "naming", "namespace": body["namespace"],
            "serviceName": body["serviceName"], "groupName": body["groupName"],
            "cluster": "", "healthyOnly": false, "udpPort": 0
        });
        let query = Input {
            kind: "ServiceQueryRequest".to_owned(),
            body: serde_json::to_vec(&query).unwrap_or_default(),
        };
        let answer = harness
            .call(query.payload())
            .map_err(|s| TestCaseError::fail(format!("the query failed: {s:?}")))?;
        let listed: Value = answer
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice(&b.value).ok())
            .unwrap_or_default();
        let hosts = listed["serviceInfo"]["hosts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let instance = &body["instance"];
        // An absent port is 0, as in Nacos (the SDK always sends one).
        let port = instance["port"].as_f64().unwrap_or(0.0);
        prop_assert!(
            hosts
                .iter()
                .any(|h| h["ip"] == instance["ip"] && h["port"].as_f64() == Some(port)),
            "an accepted registration is not listed: {}",
            listed
        );
    }
    Ok(())
}

const TYPES: &[&str] = &[
    "InstanceRequest",
    "BatchInstanceRequest",
    "ServiceQueryRequest",
    "SubscribeServiceRequest",
    "ServiceListRequest",
    "PersistentInstanceRequest",
    "HealthCheckRequest",
    "ServerCheckRequest",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![Just(0i64), Just(-1), Just(65_536), Just(8080), any::<i64>()]
            .prop_map(Value::from),
        prop_oneof![
            Just(1.0f64),
            Just(-1.0),
            Just(10_000.5),
            Just(1e300),
            any::<f64>()
        ]
        .prop_map(Value::from),
        text(&["", "x", "10.0.0.1", "DEFAULT", "public", "@@", "a b"]).prop_map(Value::from),
    ]
}

fn instance() -> impl Strategy<Value = Value> {
    (
        text(&["10.0.0.1", "10.0.0.2", "::1", "", "a;b"]).prop_map(Value::from),
        prop_oneof![4 => Just(json!(8080)), 1 => scalar()],
        prop_oneof![4 => Just(json!(1.0)), 1 => scalar()],
        text(&["DEFAULT", "c1", "", "a,b"]).prop_map(Value::from),
        prop_oneof![
            3 => Just(json!({})),
            1 => Just(json!({"preserved.heart.beat.timeout": "x"})),
            1 => Just(json!({"k": 1})),
            1 => proptest::collection::btree_map("[a-z.]{0,30}", "\\PC{0,40}", 0..4)
                .prop_map(|m| json!(m)),
        ],
        prop_oneof![3 => Just(Value::Null), 1 => scalar()],
    )
        .prop_map(|(ip, port, weight, cluster, metadata, instance_id)| {
            json!({"ip": ip, "port": port, "weight": weight, "healthy": true, "enabled": true,
                   "ephemeral": true, "clusterName": cluster, "metadata": metadata,
                   "instanceId": instance_id})
        })
}

fn body() -> impl Strategy<Value = Value> {
    (
        text(&["public", "", "dev", "dev ns"]),
        text(&["orders", "users", "", "@@x", "a b", "g@@s"]),
        text(&["DEFAULT_GROUP", "", "g/x"]),
        text(&[
            "registerInstance",
            "deregisterInstance",
            "batchRegisterInstance",
            "x",
        ]),
        proptest::collection::vec(instance(), 0..3),
        any::<bool>(),
        prop_oneof![Just(json!(1)), Just(json!(0)), Just(json!(-1)), scalar()],
    )
        .prop_map(
            |(namespace, service, group, kind, instances, subscribe, page)| {
                json!({
                    "headers": {"app": "fuzz"}, "requestId": "1", "module": "naming",
                    "namespace": namespace, "serviceName": service, "groupName": group,
                    "type": kind, "instance": instances.first(), "instances": instances,
                    "subscribe": subscribe, "clusters": "", "cluster": "", "healthyOnly": false,
                    "udpPort": 0, "pageNo": page, "pageSize": 10, "selector": null
                })
            },
        )
}

/// Requests of every handled type with Nacos-shaped bodies, some fields dropped.
pub fn structured() -> impl Strategy<Value = Input> {
    (
        prop_oneof![9 => proptest::sample::select(TYPES).prop_map(str::to_owned), 1 => any::<String>()],
        body(),
        proptest::collection::vec(0usize..16, 0..3),
    )
        .prop_map(|(kind, mut body, drop)| {
            if let Some(fields) = body.as_object_mut() {
                let keys: Vec<String> = fields.keys().cloned().collect();
                for i in drop {
                    fields.remove(&keys[i % keys.len()]);
                }
            }
            Input {
                kind,
                body: serde_json::to_vec(&body).unwrap_or_default(),
            }
        })
}

/// Corpus requests with byte-level edits.
pub fn mutated() -> impl Strategy<Value = Input> {
    crate::corpus::mutated(TARGET).prop_map(|file| Input::from_file(&file))
}

/// The corpus: bodies as the Nacos Java SDK 2.x serialises them.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let instance = json!({
        "instanceId": null, "ip": "10.0.0.1", "port": 8080, "weight": 1.0, "healthy": true,
        "enabled": true, "ephemeral": true, "clusterName": "DEFAULT", "serviceName": "orders",
        "metadata": {"version": "1"}, "instanceHeartBeatInterval": 5000,
        "instanceHeartBeatTimeOut": 15000, "ipDeleteTimeout": 30000,
        "instanceIdGenerator": "simple"
    });
    let headers = json!({"accessToken": "", "app": "unknown"});
    let cases = [
        (
            "register",
            "InstanceRequest",
            json!({"headers": headers, "requestId": "12", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP", "module": "naming", "type": "registerInstance", "instance": instance}),
        ),
        (
            "deregister",
            "InstanceRequest",
            json!({"headers": headers, "requestId": "13", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP", "module": "naming", "type": "deregisterInstance", "instance": instance}),
        ),
        (
            "batch",
            "BatchInstanceRequest",
            json!({"headers": headers, "requestId": "14", "namespace": "dev", "serviceName": "payments", "groupName": "g", "module": "naming", "type": "batchRegisterInstance", "instances": [instance, {"ip": "10.0.0.2", "port": 8081, "weight": 2.0, "clusterName": "c1", "metadata": {}}]}),
        ),
        (
            "persistent",
            "PersistentInstanceRequest",
            json!({"headers": headers, "requestId": "15", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP", "module": "naming", "type": "registerInstance", "instance": instance}),
        ),
        (
            "query",
            "ServiceQueryRequest",
            json!({"headers": headers, "requestId": "16", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP", "module": "naming", "cluster": "DEFAULT", "healthyOnly": false, "udpPort": 0}),
        ),
        (
            "subscribe",
            "SubscribeServiceRequest",
            json!({"headers": headers, "requestId": "17", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP", "module": "naming", "subscribe": true, "clusters": ""}),
        ),
        (
            "unsubscribe",
            "SubscribeServiceRequest",
            json!({"headers": headers, "requestId": "18", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP", "module": "naming", "subscribe": false, "clusters": ""}),
        ),
        (
            "list",
            "ServiceListRequest",
            json!({"headers": headers, "requestId": "19", "namespace": "public", "serviceName": "", "groupName": "DEFAULT_GROUP", "module": "naming", "pageNo": 1, "pageSize": 100, "selector": null}),
        ),
        (
            "health",
            "HealthCheckRequest",
            json!({"headers": {}, "requestId": "20", "module": "internal"}),
        ),
        (
            "server-check",
            "ServerCheckRequest",
            json!({"headers": {}, "requestId": "21", "module": "internal"}),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, kind, body)| {
            let input = Input {
                kind: kind.to_owned(),
                body: serde_json::to_vec(&body).unwrap_or_default(),
            };
            (format!("{name}.txt"), input.to_file())
        })
        .collect()
}
