//! The HTTP Open API against a real server on 127.0.0.1: every route, the JSON shapes, the
//! error answers, and that bad requests change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use distro_server::{Config, Server};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct TestServer {
    server: Server,
    http: Client,
    base: String,
}

impl TestServer {
    async fn start() -> Self {
        let mut config = Config::default();
        config.server.bind = "127.0.0.1".to_owned();
        config.server.port = 0;
        let server = Server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.http_addr());
        Self {
            server,
            http: Client::new(),
            base,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .request(method, url)
            .query(query)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    async fn json(&self, method: Method, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(method, path, query).await;
        assert_eq!(status, StatusCode::OK, "{path} answered {body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    async fn ok(&self, method: Method, path: &str, query: &[(&str, &str)]) {
        let (status, body) = self.call(method, path, query).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ok"),
            "{path} {query:?}"
        );
    }

    fn counts(&self) -> (usize, usize, usize) {
        let stats = self.server.state().registry.stats();
        (stats.services, stats.instances, stats.clients)
    }
}

/// Drops the fields that change with time so shapes compare exactly.
fn stable(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("lastRefTime");
    }
    value
}

const INSTANCE: &str = "/nacos/v1/ns/instance";
const LIST: &str = "/nacos/v1/ns/instance/list";

#[tokio::test]
async fn v1_register_list_detail_deregister_with_exact_shapes() {
    let s = TestServer::start().await;
    let reg = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
        ("metadata", "k1=v1,k2=v2"),
        ("weight", "2.5"),
    ];
    s.ok(Method::POST, INSTANCE, &reg).await;

    let list = s
        .json(Method::GET, LIST, &[("serviceName", "orders")])
        .await;
    assert!(list["lastRefTime"].as_i64().unwrap() > 1_600_000_000_000);
    let instance = json!({
        "instanceId": "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders",
        "ip": "10.0.0.1", "port": 8080, "weight": 2.5, "healthy": true, "enabled": true,
        "ephemeral": true, "clusterName": "DEFAULT", "serviceName": "DEFAULT_GROUP@@orders",
        "metadata": {"k1": "v1", "k2": "v2"},
        "instanceHeartBeatInterval": 5000, "instanceHeartBeatTimeOut": 15000,
        "ipDeleteTimeout": 30000, "instanceIdGenerator": "simple"
    });
    assert_eq!(
        stable(list),
        json!({
            "name": "DEFAULT_GROUP@@orders", "groupName": "DEFAULT_GROUP", "clusters": "",
            "cacheMillis": 10000, "hosts": [instance], "checksum": "", "allIPs": false,
            "reachProtectionThreshold": false, "valid": true
        })
    );

    let detail = s
        .json(
            Method::GET,
            INSTANCE,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(
        detail,
        json!({
            "service": "DEFAULT_GROUP@@orders", "ip": "10.0.0.1", "port": 8080,
            "clusterName": "DEFAULT", "weight": 2.5, "healthy": true,
            "instanceId": "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders",
            "metadata": {"k1": "v1", "k2": "v2"}
        })
    );

    s.ok(
        Method::DELETE,
        INSTANCE,
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
        ],
    )
    .await;
    let list = s
        .json(Method::GET, LIST, &[("serviceName", "orders")])
        .await;
    assert_eq!(list["hosts"], json!([]));
    let (status, body) = s
        .call(
            Method::GET,
            INSTANCE,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn v1_accepts_form_bodies_and_grouped_names() {
    let s = TestServer::start().await;
    let url = format!("{}{INSTANCE}", s.base);
    let form = [
        ("serviceName", "g1@@pay"),
        ("ip", "10.0.0.2"),
        ("port", "81"),
        ("namespaceId", "dev"),
    ];
    let response = s.http.post(url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list = s
        .json(
            Method::GET,
            LIST,
            &[
                ("serviceName", "pay"),
                ("groupName", "g1"),
                ("namespaceId", "dev"),
            ],
        )
        .await;
    assert_eq!(list["name"], "g1@@pay");
    assert_eq!(list["hosts"][0]["ip"], "10.0.0.2");
    let public = s
        .json(Method::GET, LIST, &[("serviceName", "g1@@pay")])
        .await;
    assert_eq!(public["hosts"], json!([]), "namespaces are isolated");
}

#[tokio::test]
async fn v1_beats_light_unknown_and_full() {
    let s = TestServer::start().await;
    let beat = "/nacos/v1/ns/instance/beat";
    let unknown = s
        .json(
            Method::PUT,
            beat,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(
        unknown,
        json!({"clientBeatInterval": 5000, "code": 20404, "lightBeatEnabled": true})
    );
    assert_eq!(s.counts(), (0, 0, 0), "a light beat registers nothing");

    let body = r#"{"ip":"10.0.0.1","port":8080,"serviceName":"DEFAULT_GROUP@@orders","cluster":"c1","weight":2,"metadata":{"preserved.heart.beat.interval":"3000"}}"#;
    let full = s
        .json(
            Method::PUT,
            beat,
            &[("serviceName", "orders"), ("beat", body)],
        )
        .await;
    assert_eq!(
        full,
        json!({"clientBeatInterval": 3000, "code": 10200, "lightBeatEnabled": true})
    );
    let list = s
        .json(Method::GET, LIST, &[("serviceName", "orders")])
        .await;
    assert_eq!(list["hosts"][0]["clusterName"], "c1");
    assert_eq!(list["hosts"][0]["weight"], 2.0);

    let light = s
        .json(
            Method::PUT,
            beat,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(light["code"], 10200);
    let v2 = s
        .json(
            Method::PUT,
            "/nacos/v2/ns/instance/beat",
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(v2["code"], 10200);
}

#[tokio::test]
async fn v1_update_changes_weight_enabled_and_metadata() {
    let s = TestServer::start().await;
    s.ok(
        Method::POST,
        INSTANCE,
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
            ("metadata", r#"{"a":"1"}"#),
        ],
    )
    .await;
    let update = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
        ("weight", "7"),
        ("metadata", r#"{"b":"2"}"#),
    ];
    s.ok(Method::PUT, INSTANCE, &update).await;
    let detail = s
        .json(
            Method::GET,
            INSTANCE,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(detail["weight"], 7.0);
    assert_eq!(detail["metadata"], json!({"a": "1", "b": "2"}));
    s.ok(
        Method::PATCH,
        INSTANCE,
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "8080"),
            ("enabled", "false"),
        ],
    )
    .await;
    let list = s
        .json(Method::GET, LIST, &[("serviceName", "orders")])
        .await;
    assert_eq!(
        list["hosts"],
        json!([]),
        "disabled instances are not listed"
    );
    let (status, _) = s
        .call(
            Method::PUT,
            INSTANCE,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.9"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = s
        .call(
            Method::PUT,
            INSTANCE,
            &[
                ("serviceName", "nothing"),
                ("ip", "10.0.0.9"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("service not found"), "{body}");
}

#[tokio::test]
async fn v1_list_filters_clusters_health_and_applies_protection() {
    let s = TestServer::start().await;
    let service = "/nacos/v1/ns/service";
    s.ok(
        Method::POST,
        service,
        &[("serviceName", "orders"), ("protectThreshold", "0.5")],
    )
    .await;
    for (ip, cluster) in [("10.0.0.1", "c1"), ("10.0.0.2", "c2")] {
        s.ok(
            Method::POST,
            INSTANCE,
            &[
                ("serviceName", "orders"),
                ("ip", ip),
                ("port", "1"),
                ("clusterName", cluster),
            ],
        )
        .await;
    }
    s.ok(
        Method::POST,
        INSTANCE,
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.3"),
            ("port", "1"),
            ("healthy", "false"),
        ],
    )
    .await;
    let c1 = s
        .json(
            Method::GET,
            LIST,
            &[("serviceName", "orders"), ("clusters", "c1")],
        )
        .await;
    assert_eq!(c1["clusters"], "c1");
    assert_eq!(c1["hosts"].as_array().unwrap().len(), 1);
    let healthy = s
        .json(
            Method::GET,
            LIST,
            &[("serviceName", "orders"), ("healthyOnly", "true")],
        )
        .await;
    assert_eq!(healthy["hosts"].as_array().unwrap().len(), 2);
    // 2 of 3 healthy (0.67) is above the 0.5 threshold: no protection.
    let all = s
        .json(Method::GET, LIST, &[("serviceName", "orders")])
        .await;
    assert_eq!(all["reachProtectionThreshold"], false);
    s.ok(
        Method::PUT,
        service,
        &[("serviceName", "orders"), ("protectThreshold", "0.7")],
    )
    .await;
    let protected = s
        .json(Method::GET, LIST, &[("serviceName", "orders")])
        .await;
    assert_eq!(protected["reachProtectionThreshold"], true);
    assert!(
        protected["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["healthy"] == true)
    );
}

#[tokio::test]
async fn v1_service_crud_and_list() {
    let s = TestServer::start().await;
    let service = "/nacos/v1/ns/service";
    s.ok(
        Method::POST,
        service,
        &[
            ("serviceName", "a"),
            ("metadata", "team=core"),
            ("selector", r#"{"type":"none"}"#),
        ],
    )
    .await;
    s.ok(Method::POST, service, &[("serviceName", "b")]).await;
    let (status, body) = s.call(Method::POST, service, &[("serviceName", "a")]).await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "specified service DEFAULT_GROUP@@a already exists!"
        )
    );
    let detail = s.json(Method::GET, service, &[("serviceName", "a")]).await;
    assert_eq!(
        detail,
        json!({
            "namespaceId": "public", "groupName": "DEFAULT_GROUP", "name": "a",
            "protectThreshold": 0.0, "metadata": {"team": "core"},
            "selector": {"type": "none"}, "clusters": []
        })
    );
    s.ok(
        Method::PUT,
        service,
        &[("serviceName", "a"), ("protectThreshold", "0.3")],
    )
    .await;
    let detail = s.json(Method::GET, service, &[("serviceName", "a")]).await;
    assert!((detail["protectThreshold"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    let page = s
        .json(
            Method::GET,
            "/nacos/v1/ns/service/list",
            &[("pageNo", "1"), ("pageSize", "1")],
        )
        .await;
    assert_eq!(page, json!({"count": 2, "doms": ["a"]}));
    let page = s
        .json(
            Method::GET,
            "/nacos/v1/ns/service/list",
            &[("pageNo", "2"), ("pageSize", "1")],
        )
        .await;
    assert_eq!(page, json!({"count": 2, "doms": ["b"]}));
    s.ok(
        Method::POST,
        INSTANCE,
        &[("serviceName", "a"), ("ip", "10.0.0.1"), ("port", "1")],
    )
    .await;
    let (status, body) = s
        .call(Method::DELETE, service, &[("serviceName", "a")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    s.ok(
        Method::DELETE,
        INSTANCE,
        &[("serviceName", "a"), ("ip", "10.0.0.1"), ("port", "1")],
    )
    .await;
    s.ok(Method::DELETE, service, &[("serviceName", "a")]).await;
    let (status, _) = s.call(Method::GET, service, &[("serviceName", "a")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn v2_instance_and_service_api_use_the_envelope() {
    let s = TestServer::start().await;
    let instance = "/nacos/v2/ns/instance";
    let reg = [
        ("serviceName", "orders"),
        ("groupName", "g"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
    ];
    let answer = s.json(Method::POST, instance, &reg).await;
    assert_eq!(
        answer,
        json!({"code": 0, "message": "success", "data": "ok"})
    );
    let detail = s.json(Method::GET, instance, &reg).await;
    assert_eq!(
        detail["data"],
        json!({
            "serviceName": "g@@orders", "ip": "10.0.0.1", "port": 8080, "clusterName": "DEFAULT",
            "weight": 1.0, "healthy": true, "instanceId": "10.0.0.1#8080#DEFAULT#g@@orders", "metadata": {}
        })
    );
    let updated = [
        ("serviceName", "orders"),
        ("groupName", "g"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
        ("weight", "3"),
    ];
    assert_eq!(s.json(Method::PUT, instance, &updated).await["data"], "ok");
    let list = s
        .json(
            Method::GET,
            "/nacos/v2/ns/instance/list",
            &[("serviceName", "orders"), ("groupName", "g")],
        )
        .await;
    assert_eq!(list["code"], 0);
    assert_eq!(list["data"]["name"], "g@@orders");
    assert_eq!(list["data"]["hosts"][0]["weight"], 3.0);

    let service = s
        .json(
            Method::GET,
            "/nacos/v2/ns/service",
            &[("serviceName", "orders"), ("groupName", "g")],
        )
        .await;
    assert_eq!(
        service["data"],
        json!({
            "namespace": "public", "groupName": "g", "serviceName": "orders", "protectThreshold": 0.0,
            "metadata": {}, "selector": {"type": "none"}, "ephemeral": true,
            "clusterMap": {"DEFAULT": {"clusterName": "DEFAULT", "healthChecker": {"type": "TCP"}, "metadata": {}}}
        })
    );
    assert_eq!(s.json(Method::DELETE, instance, &reg).await["data"], "ok");
    let created = s
        .json(
            Method::POST,
            "/nacos/v2/ns/service",
            &[("serviceName", "inventory"), ("groupName", "g")],
        )
        .await;
    assert_eq!(created["data"], "ok");
    let changed = s
        .json(
            Method::PUT,
            "/nacos/v2/ns/service",
            &[
                ("serviceName", "inventory"),
                ("groupName", "g"),
                ("protectThreshold", "0.2"),
            ],
        )
        .await;
    assert_eq!(changed["data"], "ok");
    let page = s
        .json(
            Method::GET,
            "/nacos/v2/ns/service/list",
            &[("groupName", "g")],
        )
        .await;
    assert_eq!(
        page["data"],
        json!({"count": 2, "services": ["inventory", "orders"]})
    );
    assert_eq!(
        s.json(
            Method::DELETE,
            "/nacos/v2/ns/service",
            &[("serviceName", "inventory"), ("groupName", "g")]
        )
        .await["data"],
        "ok"
    );
    let (status, body) = s
        .call(
            Method::GET,
            "/nacos/v2/ns/service",
            &[("serviceName", "inventory"), ("groupName", "g")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], 21008);
}

#[tokio::test]
async fn health_operator_and_prometheus_endpoints() {
    let s = TestServer::start().await;
    assert_eq!(
        s.call(Method::GET, "/nacos/v1/console/health/liveness", &[])
            .await,
        (StatusCode::OK, "OK".to_owned())
    );
    assert_eq!(
        s.call(Method::GET, "/nacos/v1/console/health/readiness", &[])
            .await,
        (StatusCode::OK, "OK".to_owned())
    );
    assert_eq!(
        s.json(Method::GET, "/nacos/v1/ns/operator/metrics", &[])
            .await,
        json!({"status": "UP"})
    );
    s.ok(
        Method::POST,
        INSTANCE,
        &[("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "1")],
    )
    .await;
    let full = s
        .json(
            Method::GET,
            "/nacos/v1/ns/operator/metrics",
            &[("onlyStatus", "false")],
        )
        .await;
    for key in [
        "serviceCount",
        "instanceCount",
        "responsibleInstanceCount",
        "clientCount",
        "connectionBasedClientCount",
        "ephemeralIpPortClientCount",
        "persistentIpPortClientCount",
        "responsibleClientCount",
    ] {
        assert!(full[key].is_u64(), "{key} missing from {full}");
    }
    assert_eq!(full["ephemeralIpPortClientCount"], 1);
    let (status, text) = s.call(Method::GET, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "naming_instances",
        "naming_services",
        "naming_clients",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}");
    }
}

/// A request that must be refused: method, path, parameters, status, text in the answer.
type BadCase<'a> = (
    Method,
    &'a str,
    Vec<(&'a str, &'a str)>,
    StatusCode,
    &'a str,
);

/// Every class of bad input gets Nacos's status and a readable message, and changes nothing.
#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    s.ok(
        Method::POST,
        INSTANCE,
        &[("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "1")],
    )
    .await;
    let before = s.counts();
    let long_meta = format!("k={}", "v".repeat(1100));
    let cases: Vec<BadCase<'_>> = vec![
        (
            Method::POST,
            INSTANCE,
            vec![("serviceName", "orders"), ("port", "1")],
            StatusCode::BAD_REQUEST,
            "Param 'ip' is required.",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "1.2.3.4 x"),
                ("port", "1"),
            ],
            StatusCode::BAD_REQUEST,
            "Param 'ip' is illegal",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "70000"),
            ],
            StatusCode::BAD_REQUEST,
            "Param 'port' is illegal",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![("serviceName", "orders"), ("ip", "10.0.0.2"), ("port", "x")],
            StatusCode::BAD_REQUEST,
            "Param 'port' is illegal",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("weight", "10001"),
            ],
            StatusCode::BAD_REQUEST,
            "The weights range from 0.0 to 10000.0",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("weight", "-1"),
            ],
            StatusCode::BAD_REQUEST,
            "The weights range",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "bad name"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
            ],
            StatusCode::BAD_REQUEST,
            "Param 'serviceName' is illegal",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![("serviceName", "@@x"), ("ip", "10.0.0.2"), ("port", "1")],
            StatusCode::BAD_REQUEST,
            "groupName@@serviceName",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("namespaceId", "a/b"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
            ],
            StatusCode::BAD_REQUEST,
            "Param 'namespaceId' is illegal",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("clusterName", "a,b"),
            ],
            StatusCode::BAD_REQUEST,
            "Param 'cluster' is illegal",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("metadata", "{oops"),
            ],
            StatusCode::BAD_REQUEST,
            "metadata format incorrect:{oops",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("metadata", &long_meta),
            ],
            StatusCode::BAD_REQUEST,
            "should not exceed 1024",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("metadata", "preserved.heart.beat.timeout=1"),
            ],
            StatusCode::BAD_REQUEST,
            "heart beat interval",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("ephemeral", "false"),
            ],
            StatusCode::BAD_REQUEST,
            "persistent instances are not supported",
        ),
        (
            Method::POST,
            INSTANCE,
            vec![("ip", "10.0.0.2"), ("port", "1")],
            StatusCode::BAD_REQUEST,
            "Param 'serviceName' is required.",
        ),
        (
            Method::PUT,
            "/nacos/v1/ns/instance/beat",
            vec![("serviceName", "orders"), ("beat", "{not json")],
            StatusCode::BAD_REQUEST,
            "Param 'beat' is illegal",
        ),
        (
            Method::PUT,
            "/nacos/v1/ns/instance/beat",
            vec![
                ("serviceName", "orders"),
                ("beat", r#"{"ip":"10.0.0.2","port":99999}"#),
            ],
            StatusCode::BAD_REQUEST,
            "Param 'port' is illegal",
        ),
        (
            Method::POST,
            "/nacos/v1/ns/service",
            vec![("serviceName", "x"), ("protectThreshold", "abc")],
            StatusCode::BAD_REQUEST,
            "protectThreshold",
        ),
        (
            Method::POST,
            "/nacos/v1/ns/service",
            vec![("serviceName", "x"), ("selector", r#"{"type":"cmdb"}"#)],
            StatusCode::BAD_REQUEST,
            "selector",
        ),
        (
            Method::PUT,
            "/nacos/v1/ns/service",
            vec![("serviceName", "orders")],
            StatusCode::BAD_REQUEST,
            "Param 'protectThreshold' is required.",
        ),
        (
            Method::GET,
            "/nacos/v1/ns/service/list",
            vec![("pageNo", "1")],
            StatusCode::BAD_REQUEST,
            "Param 'pageSize' is required.",
        ),
        (
            Method::POST,
            "/nacos/v2/ns/instance",
            vec![("serviceName", "orders"), ("port", "1")],
            StatusCode::BAD_REQUEST,
            r#"{"code":10000,"message":"parameter missing","data":"Required parameter 'ip' type String is not present"}"#,
        ),
        (
            Method::POST,
            "/nacos/v2/ns/instance",
            vec![("serviceName", "orders"), ("ip", "10.0.0.2")],
            StatusCode::BAD_REQUEST,
            "Required parameter 'port' type Integer is not present",
        ),
        (
            Method::POST,
            "/nacos/v2/ns/instance",
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("weight", "20000"),
            ],
            StatusCode::BAD_REQUEST,
            r#""code":21001"#,
        ),
        (
            Method::POST,
            "/nacos/v2/ns/instance",
            vec![("serviceName", "a@@b"), ("ip", "10.0.0.2"), ("port", "1")],
            StatusCode::BAD_REQUEST,
            r#""code":21000"#,
        ),
        (
            Method::POST,
            "/nacos/v2/ns/instance",
            vec![
                ("serviceName", "orders"),
                ("ip", "10.0.0.2"),
                ("port", "1"),
                ("metadata", "x"),
            ],
            StatusCode::BAD_REQUEST,
            r#""code":21002"#,
        ),
    ];
    for (method, path, query, status, needle) in cases {
        let (got_status, body) = s.call(method.clone(), path, &query).await;
        assert_eq!(got_status, status, "{method} {path} {query:?}: {body}");
        assert!(
            body.contains(needle),
            "{method} {path} {query:?}: {body:?} lacks {needle:?}"
        );
        assert_eq!(
            s.counts(),
            before,
            "{method} {path} {query:?} changed the registry"
        );
    }
    let url = format!("{}{INSTANCE}", s.base);
    let huge = format!(
        "serviceName=orders&ip=10.0.0.3&port=1&metadata={}",
        "x".repeat(2 << 20)
    );
    let oversized = s
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(s.counts(), before);
}
