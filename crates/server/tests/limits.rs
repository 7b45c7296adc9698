//! The registry's limits against abuse, met where a user meets them: a real server on
//! 127.0.0.1 over HTTP (v1 text, v2 envelope) and gRPC (Nacos error responses). Every
//! refusal names the configuration key and leaves the registry as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc_support;

use std::collections::BTreeMap;

use distro_nacos_api::Instance;
use distro_nacos_api::grpc::internal::HealthCheckRequest;
use distro_nacos_api::grpc::naming::{
    BatchInstanceRequest, InstanceRequest, NamingTarget, QueryServiceResponse, REGISTER_INSTANCE,
    ServiceQueryRequest, SubscribeServiceRequest,
};
use distro_nacos_api::grpc::{ResponseStatus, codes};
use distro_server::{Config, Server};
use grpc_support::RawClient;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A server on 127.0.0.1 with an HTTP client.
struct Node {
    server: Server,
    http: reqwest::Client,
    base: String,
}

impl Node {
    async fn start(configure: impl FnOnce(&mut Config)) -> Self {
        let server = grpc_support::start(0, configure).await;
        let base = format!("http://{}", server.http_addr());
        Self {
            server,
            http: reqwest::Client::new(),
            base,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn register(&self, path: &str, service: &str, ip: &str) -> (StatusCode, String) {
        let query = [("serviceName", service), ("ip", ip), ("port", "8080")];
        self.call(Method::POST, path, &query).await
    }

    /// Services, instances, clients.
    fn counts(&self) -> (usize, usize, usize) {
        let stats = self.server.state().registry.stats();
        (stats.services, stats.instances, stats.clients)
    }
}

const V1: &str = "/nacos/v1/ns/instance";
const V2: &str = "/nacos/v2/ns/instance";

fn v2_body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test]
async fn instances_per_service_refused_with_429_in_each_http_form() {
    let node = Node::start(|c| c.naming.service_instances_max = 2).await;
    assert_eq!(
        node.register(V1, "orders", "10.0.0.1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        node.register(V1, "orders", "10.0.0.2").await.0,
        StatusCode::OK
    );
    let before = node.counts();
    assert_eq!(before, (1, 2, 2));

    let (status, text) = node.register(V1, "orders", "10.0.0.3").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        text,
        "too many instances in service DEFAULT_GROUP@@orders: 3 would exceed the limit of 2 \
         (naming.service_instances_max)"
    );
    let (status, text) = node.register(V2, "orders", "10.0.0.3").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let body = v2_body(&text);
    assert_eq!(body["code"], 5031);
    assert_eq!(body["message"], "cluster capacity reach quota");
    assert!(
        body["data"]
            .as_str()
            .unwrap()
            .contains("naming.service_instances_max")
    );
    // A full beat would register: refused the same way.
    let beat = r#"{"ip":"10.0.0.4","port":8080,"serviceName":"DEFAULT_GROUP@@orders"}"#;
    let (status, _) = node
        .call(
            Method::PUT,
            "/nacos/v1/ns/instance/beat",
            &[("serviceName", "orders"), ("beat", beat)],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        node.counts(),
        before,
        "no instance, no empty client left behind"
    );

    // Re-registering one already there replaces it: never refused at the limit.
    assert_eq!(
        node.register(V1, "orders", "10.0.0.2").await.0,
        StatusCode::OK
    );
    // Other services are not affected, and a freed place can be taken.
    assert_eq!(
        node.register(V1, "payments", "10.0.0.3").await.0,
        StatusCode::OK
    );
    let query = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
    ];
    assert_eq!(
        node.call(Method::DELETE, V1, &query).await.0,
        StatusCode::OK
    );
    assert_eq!(
        node.register(V1, "orders", "10.0.0.3").await.0,
        StatusCode::OK
    );
    node.server.stop().await;
}

#[tokio::test]
async fn services_per_namespace_and_per_node_refused() {
    let node = Node::start(|c| {
        c.naming.namespace_services_max = 2;
        c.naming.services_max = 3;
    })
    .await;
    let create = |name: &'static str, namespace: &'static str| {
        let node = &node;
        async move {
            node.call(
                Method::POST,
                "/nacos/v1/ns/service",
                &[("serviceName", name), ("namespaceId", namespace)],
            )
            .await
        }
    };
    assert_eq!(create("a", "ns1").await.0, StatusCode::OK);
    assert_eq!(node.register(V1, "b", "10.0.0.1").await.0, StatusCode::OK);
    let query = [
        ("serviceName", "b"),
        ("namespaceId", "ns1"),
        ("ip", "10.0.0.1"),
        ("port", "1"),
    ];
    assert_eq!(node.call(Method::POST, V1, &query).await.0, StatusCode::OK);
    let before = node.counts();
    assert_eq!(before.0, 3, "ns1: a, b; public: b");

    let (status, text) = create("c", "ns1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        text.contains("too many services in namespace ns1"),
        "{text}"
    );
    let query = [
        ("serviceName", "c"),
        ("namespaceId", "ns1"),
        ("ip", "10.0.0.1"),
        ("port", "1"),
    ];
    let (status, text) = node.call(Method::POST, V2, &query).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let body = v2_body(&text);
    assert_eq!(body["code"], 5033);
    assert_eq!(body["message"], "tenant capacity reach quota");
    // The node-wide limit (3) applies in any namespace.
    let (status, text) = create("d", "ns2").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text.contains("naming.services_max"), "{text}");
    assert_eq!(node.counts(), before);
    node.server.stop().await;
}

#[tokio::test]
async fn metadata_limit_covers_updates_and_service_metadata() {
    let node = Node::start(|c| c.naming.metadata_len_max = 16).await;
    let query = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "1"),
        ("metadata", "k=1234567"),
    ];
    assert_eq!(node.call(Method::POST, V1, &query).await.0, StatusCode::OK);
    // Adding keys one update at a time must not grow metadata past the limit.
    let update = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "1"),
        ("metadata", "k2=1234567"),
    ];
    let (status, text) = node.call(Method::PUT, V1, &update).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text,
        "Param 'Metadata' is illegal, the param length should not exceed 16."
    );
    let detail = [("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "1")];
    let (_, text) = node.call(Method::GET, V1, &detail).await;
    assert_eq!(
        v2_body(&text)["metadata"],
        serde_json::json!({"k": "1234567"})
    );
    let (status, text) = node.call(Method::PUT, V2, &update).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v2_body(&text)["code"], 20002);
    // Service metadata and selector expressions are bounded the same way.
    let service = [
        ("serviceName", "big"),
        ("metadata", "key=01234567890123456"),
    ];
    let (status, _) = node
        .call(Method::POST, "/nacos/v1/ns/service", &service)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let selector = r#"{"type":"label","expression":"CONSUMER.label.a = PROVIDER.label.a"}"#;
    let service = [("serviceName", "big"), ("selector", selector)];
    let (status, _) = node
        .call(Method::POST, "/nacos/v2/ns/service", &service)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(node.counts(), (1, 1, 1));
    node.server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_on_service_and_v2_routes_too() {
    let node = Node::start(|c| c.server.body_len_max = 1024).await;
    for path in [
        "/nacos/v1/ns/service",
        "/nacos/v2/ns/service",
        V2,
        "/nacos/v1/ns/instance/list",
    ] {
        let body = format!(
            "serviceName=s&ip=10.0.0.1&port=1&metadata={}",
            "x".repeat(2048)
        );
        let response = node
            .http
            .post(format!("{}{path}", node.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        // The list route only takes GET: refused before any body is read.
        let expected = if path.ends_with("/list") {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::PAYLOAD_TOO_LARGE
        };
        assert_eq!(status, expected, "{path}");
    }
    assert_eq!(node.counts(), (0, 0, 0));
    node.server.stop().await;
}

fn instance(ip: &str, port: i64) -> Instance {
    Instance {
        ip: ip.to_owned(),
        port,
        ..Instance::default()
    }
}

fn target(service: &str) -> NamingTarget {
    NamingTarget::new("public", "DEFAULT_GROUP", service)
}

fn assert_over_threshold(status: &ResponseStatus, key: &str) {
    assert_eq!(
        (status.result_code, status.error_code),
        (codes::OVER_THRESHOLD, codes::OVER_THRESHOLD),
        "{status:?}"
    );
    let message = status.message.as_deref().unwrap_or_default();
    assert!(message.contains(key), "{message}");
}

async fn hosts(client: &mut RawClient, service: &str) -> usize {
    let query = ServiceQueryRequest::new(target(service), "", false);
    let answer: QueryServiceResponse = client.ask(&query).await;
    answer.service_info.unwrap().hosts.len()
}

#[tokio::test]
async fn grpc_client_and_batch_limits_answer_503_and_keep_the_connection() {
    let node = Node::start(|c| {
        c.naming.client_instances_max = 3;
        c.naming.client_subscriptions_max = 1;
    })
    .await;
    let mut client = RawClient::open(node.server.grpc_addr(), true).await;
    let four = (1..=4)
        .map(|i| instance(&format!("10.0.1.{i}"), 80))
        .collect();
    let status = client
        .status(&BatchInstanceRequest::new(target("batch"), four))
        .await;
    assert_over_threshold(&status, "naming.client_instances_max");
    assert_eq!(hosts(&mut client, "batch").await, 0);

    let three = (1..=3)
        .map(|i| instance(&format!("10.0.1.{i}"), 80))
        .collect();
    assert!(
        client
            .status(&BatchInstanceRequest::new(target("batch"), three))
            .await
            .is_success()
    );
    // A fourth instance in another service passes the client's total.
    let one = InstanceRequest::new(REGISTER_INSTANCE, target("other"), instance("10.0.2.1", 80));
    let status = client.status(&one).await;
    assert_over_threshold(&status, "too many instances in client");
    assert_eq!(hosts(&mut client, "other").await, 0);
    assert_eq!(hosts(&mut client, "batch").await, 3);

    // Subscriptions are bounded per client too.
    let first = SubscribeServiceRequest::new(target("batch"), "", true);
    assert!(client.status(&first).await.is_success());
    assert!(
        client.status(&first).await.is_success(),
        "again: not a new one"
    );
    let second = SubscribeServiceRequest::new(target("other"), "", true);
    assert_over_threshold(
        &client.status(&second).await,
        "naming.client_subscriptions_max",
    );

    // The connection keeps working after every refusal.
    assert!(client.status(&HealthCheckRequest::new()).await.is_success());
    assert_eq!(node.counts().1, 3);
    node.server.stop().await;
}

#[tokio::test]
async fn grpc_metadata_and_instance_ids_are_bounded_in_batches_too() {
    let node = Node::start(|c| c.naming.metadata_len_max = 16).await;
    let mut client = RawClient::open(node.server.grpc_addr(), true).await;
    let mut big = instance("10.0.0.2", 80);
    big.metadata = BTreeMap::from([("k".to_owned(), "v".repeat(16))]);
    let batch = BatchInstanceRequest::new(target("svc"), vec![instance("10.0.0.1", 80), big]);
    let status = client.status(&batch).await;
    assert_eq!(
        (status.result_code, status.error_code),
        (500, 400),
        "{status:?}"
    );
    assert_eq!(
        status.message.as_deref(),
        Some(
            "Param check invalid:Param 'Metadata' is illegal, the param length should not exceed 16."
        )
    );
    let mut long_id = instance("10.0.0.3", 80);
    long_id.instance_id = Some("i".repeat(1025));
    let status = client
        .status(&InstanceRequest::new(
            REGISTER_INSTANCE,
            target("svc"),
            long_id,
        ))
        .await;
    assert_eq!(
        (status.result_code, status.error_code),
        (500, 400),
        "{status:?}"
    );
    assert_eq!(hosts(&mut client, "svc").await, 0);
    assert_eq!(node.counts(), (0, 0, 1), "only the connection's client");
    node.server.stop().await;
}

#[tokio::test]
async fn grpc_instances_per_service_count_every_connection() {
    let node = Node::start(|c| c.naming.service_instances_max = 2).await;
    let mut a = RawClient::open(node.server.grpc_addr(), true).await;
    let mut b = RawClient::open(node.server.grpc_addr(), true).await;
    let two = vec![instance("10.0.0.1", 80), instance("10.0.0.2", 80)];
    assert!(
        a.status(&BatchInstanceRequest::new(target("svc"), two))
            .await
            .is_success()
    );
    let one = InstanceRequest::new(REGISTER_INSTANCE, target("svc"), instance("10.0.0.3", 80));
    assert_over_threshold(&b.status(&one).await, "naming.service_instances_max");
    // A shrinking batch is always allowed, and frees room for others.
    let smaller = vec![instance("10.0.0.1", 80)];
    assert!(
        a.status(&BatchInstanceRequest::new(target("svc"), smaller))
            .await
            .is_success()
    );
    assert!(b.status(&one).await.is_success());
    assert_eq!(hosts(&mut a, "svc").await, 2);
    node.server.stop().await;
}
