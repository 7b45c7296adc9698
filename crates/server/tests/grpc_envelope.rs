//! The Nacos gRPC envelope against a real server on 127.0.0.1, with a raw tonic client:
//! handshake, error codes (300/301/302/400/502/-401), pushes and their acknowledgements,
//! connection lifetime (stream end, idle detection, shutdown reset). After every error the
//! server must keep serving on the same connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc_support;

use std::collections::BTreeMap;
use std::time::Duration;

use distro_nacos_api::Instance;
use distro_nacos_api::grpc::internal::{
    ConnectResetRequest, HealthCheckRequest, ServerCheckResponse, SetupAckRequest,
};
use distro_nacos_api::grpc::naming::{
    BatchInstanceRequest, DEREGISTER_INSTANCE, InstanceRequest, InstanceResponse, NamingTarget,
    QueryServiceResponse, REGISTER_INSTANCE, ServiceListRequest, ServiceListResponse,
    ServiceQueryRequest, SubscribeServiceRequest, SubscribeServiceResponse,
};
use distro_nacos_api::grpc::{GrpcMessage, ResponseStatus, codes, decode, encode, payload_type};
use grpc_support::{RawClient, WAIT, naming_setup, start};
use serde_json::json;

fn instance(ip: &str, port: i64) -> Instance {
    Instance {
        ip: ip.to_owned(),
        port,
        ..Instance::default()
    }
}

fn register(service: &str, instance: Instance) -> InstanceRequest {
    InstanceRequest::new(
        REGISTER_INSTANCE,
        NamingTarget::new("public", "DEFAULT_GROUP", service),
        instance,
    )
}

fn query(service: &str) -> ServiceQueryRequest {
    ServiceQueryRequest::new(
        NamingTarget::new("public", "DEFAULT_GROUP", service),
        "",
        false,
    )
}

async fn host_count(client: &mut RawClient, service: &str) -> usize {
    let answer: QueryServiceResponse = client.ask(&query(service)).await;
    answer.service_info.unwrap().hosts.len()
}

/// Polls until the service shows `count` hosts; false if it does not within `within`.
async fn hosts_become(
    client: &mut RawClient,
    service: &str,
    count: usize,
    within: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if host_count(client, service).await == count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn assert_code(status: &ResponseStatus, result_code: i32, error_code: i32) {
    assert_eq!(
        (status.result_code, status.error_code),
        (result_code, error_code),
        "{status:?}"
    );
}

#[tokio::test]
async fn server_check_answers_the_transport_id_before_any_setup() {
    let server = start(0, |_| {}).await;
    let client = RawClient::connect(server.grpc_addr(), true).await;
    let parts: Vec<&str> = client.connection_id.split('_').collect();
    assert_eq!(parts.len(), 3, "{}", client.connection_id);
    assert!(parts[0].parse::<u64>().is_ok());
    assert_eq!(parts[1], "127.0.0.1");
    assert!(parts[2].parse::<u16>().is_ok());
    let mut client = client;
    let check: ServerCheckResponse = client
        .ask(&distro_nacos_api::grpc::internal::ServerCheckRequest::new())
        .await;
    assert!(check.status.is_success() && check.support_ability_negotiation);
    assert_eq!(
        check.connection_id.as_deref(),
        Some(client.connection_id.as_str()),
        "same transport, same id"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_node_that_is_not_ready_answers_300_and_turns_sdk_streams_away() {
    let server = start(0, |_| {}).await;
    let mut ready = RawClient::open(server.grpc_addr(), true).await;
    server.state().set_ready(false);
    let mut client = RawClient::connect(server.grpc_addr(), true).await;
    assert!(client.connection_id.is_empty(), "no id while starting");
    for status in [
        client
            .status(&distro_nacos_api::grpc::internal::ServerCheckRequest::new())
            .await,
        ready.status(&HealthCheckRequest::new()).await,
    ] {
        assert_code(&status, 500, codes::INVALID_SERVER_STATUS);
        assert_eq!(
            status.message.as_deref(),
            Some("Server is starting,please try later.")
        );
    }
    client
        .send_on_stream(naming_setup("public").to_payload().unwrap())
        .await;
    assert!(
        client.next_from_server(WAIT).await.is_none(),
        "the SDK stream is closed"
    );
    server.state().set_ready(true);
    assert!(ready.status(&HealthCheckRequest::new()).await.is_success());
    server.stop().await;
}

#[tokio::test]
async fn requests_before_connection_setup_are_unregistered_301() {
    let server = start(0, |_| {}).await;
    let mut client = RawClient::connect(server.grpc_addr(), true).await;
    let status = client.status(&HealthCheckRequest::new()).await;
    assert_code(&status, 500, codes::UN_REGISTER);
    assert_eq!(
        status.message.as_deref(),
        Some("Connection is unregistered.")
    );
    let status = client
        .status(&register("early", instance("10.0.0.1", 80)))
        .await;
    assert_code(&status, 500, codes::UN_REGISTER);
    client
        .send_on_stream(naming_setup("public").to_payload().unwrap())
        .await;
    client.wait_registered().await;
    assert!(
        client
            .status(&register("early", instance("10.0.0.1", 80)))
            .await
            .is_success()
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_types_get_no_handler_302_and_the_server_keeps_serving() {
    let server = start(0, |_| {}).await;
    for registered in [false, true] {
        let mut client = if registered {
            RawClient::open(server.grpc_addr(), true).await
        } else {
            RawClient::connect(server.grpc_addr(), true).await
        };
        for kind in [
            "ConfigQueryRequest",
            "NoSuchRequest",
            "",
            "ConnectionSetupRequest",
        ] {
            let answer = client
                .call(encode(kind, &json!({"headers":{}}), "127.0.0.1").unwrap())
                .await;
            assert_eq!(payload_type(&answer), "ErrorResponse");
            let status = distro_nacos_api::grpc::response_status(&answer).unwrap();
            assert_code(&status, 500, codes::NO_HANDLER);
            assert_eq!(status.message.as_deref(), Some("RequestHandler Not Found"));
        }
        if registered {
            assert!(client.status(&HealthCheckRequest::new()).await.is_success());
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_gets_bad_gateway_and_the_server_keeps_serving() {
    let server = start(0, |_| {}).await;
    let mut client = RawClient::open(server.grpc_addr(), true).await;
    for body in [
        &b"{not json"[..],
        b"",
        b"[1,2]",
        b"{\"instance\":{\"port\":\"eighty\"}}",
    ] {
        let mut payload = register("svc", instance("10.0.0.1", 80))
            .to_payload()
            .unwrap();
        payload.body.as_mut().unwrap().value = body.to_vec();
        let answer = client.call(payload).await;
        assert_eq!(payload_type(&answer), "ErrorResponse");
        assert_code(
            &distro_nacos_api::grpc::response_status(&answer).unwrap(),
            500,
            codes::BAD_GATEWAY,
        );
    }
    let mut no_body = register("svc", instance("10.0.0.1", 80))
        .to_payload()
        .unwrap();
    no_body.body = None;
    let answer = client.call(no_body).await;
    assert_code(
        &distro_nacos_api::grpc::response_status(&answer).unwrap(),
        500,
        codes::BAD_GATEWAY,
    );
    assert!(
        client
            .status(&register("svc", instance("10.0.0.1", 80)))
            .await
            .is_success()
    );
    assert_eq!(host_count(&mut client, "svc").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn oversized_metadata_and_illegal_names_fail_the_param_check_with_400() {
    let server = start(0, |_| {}).await;
    let mut client = RawClient::open(server.grpc_addr(), true).await;
    let mut big = instance("10.0.0.1", 80);
    big.metadata = BTreeMap::from([("k".to_owned(), "v".repeat(2_000))]);
    let mut bad_cluster = instance("10.0.0.1", 80);
    bad_cluster.cluster_name = Some("bad cluster".to_owned());
    let target = |ns: &str, group: &str, name: &str| NamingTarget::new(ns, group, name);
    let cases = [
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "DEFAULT_GROUP", "svc"),
                big,
            ),
            "Param 'Metadata' is illegal, the param length should not exceed 1024.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "DEFAULT_GROUP", "svc"),
                bad_cluster,
            ),
            "Param 'cluster' is illegal, illegal characters should not appear in the param.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "DEFAULT_GROUP", "bad name"),
                instance("10.0.0.1", 80),
            ),
            "Param 'serviceName' is illegal, illegal characters should not appear in the param.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "DEFAULT_GROUP", "a@@b"),
                instance("10.0.0.1", 80),
            ),
            "Param 'serviceName' is illegal, illegal characters should not appear in the param.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "g/x", "svc"),
                instance("10.0.0.1", 80),
            ),
            "Param 'groupName' is illegal, illegal characters should not appear in the param.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("bad ns", "DEFAULT_GROUP", "svc"),
                instance("10.0.0.1", 80),
            ),
            "Param 'namespaceId' is illegal, illegal characters should not appear in the param.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "DEFAULT_GROUP", "svc"),
                instance("a;b", 80),
            ),
            "Param 'ip' is illegal, illegal characters should not appear in the param.",
        ),
        (
            InstanceRequest::new(
                REGISTER_INSTANCE,
                target("public", "DEFAULT_GROUP", "svc"),
                instance("10.0.0.1", 70_000),
            ),
            "Param 'port' is illegal, the value should be between 0 and 65535 (current: 70000).",
        ),
    ];
    for (request, detail) in cases {
        let answer: InstanceResponse = client.ask(&request).await;
        assert_code(&answer.status, 500, codes::INVALID_PARAM);
        assert_eq!(
            answer.status.message,
            Some(format!("Param check invalid:{detail}"))
        );
    }
    let bad_query = ServiceQueryRequest::new(
        target("public", "DEFAULT_GROUP", "svc"),
        "ok,bad cluster",
        false,
    );
    let answer: QueryServiceResponse = client.ask(&bad_query).await;
    assert_code(&answer.status, 500, codes::INVALID_PARAM);
    let bad_list = ServiceListRequest::new("public", "g/x", 1, 10);
    let answer: ServiceListResponse = client.ask(&bad_list).await;
    assert_code(&answer.status, 500, codes::INVALID_PARAM);
    assert_eq!(
        host_count(&mut client, "svc").await,
        0,
        "nothing was registered"
    );
    assert!(
        client
            .status(&register("svc", instance("10.0.0.1", 80)))
            .await
            .is_success()
    );
    server.stop().await;
}

#[tokio::test]
async fn handler_failures_are_error_responses_with_the_exception_code() {
    let server = start(0, |_| {}).await;
    let mut client = RawClient::open(server.grpc_addr(), true).await;
    let mut heavy = instance("10.0.0.1", 80);
    heavy.weight = 20_000.0;
    let status = client.status(&register("svc", heavy)).await;
    assert_code(&status, codes::INVALID_PARAM, codes::INVALID_PARAM);
    let mut odd = register("svc", instance("10.0.0.1", 80));
    odd.kind = "upsertInstance".to_owned();
    let status = client.status(&odd).await;
    assert_code(&status, codes::INVALID_PARAM, codes::INVALID_PARAM);
    assert_eq!(
        status.message.as_deref(),
        Some("Unsupported request type upsertInstance")
    );
    let persistent = encode(
        "PersistentInstanceRequest",
        &register("svc", instance("10.0.0.1", 80)),
        "",
    )
    .unwrap();
    let answer = client.call(persistent).await;
    assert_eq!(payload_type(&answer), "ErrorResponse");
    assert!(
        client
            .status(&register("svc", instance("10.0.0.1", 80)))
            .await
            .is_success()
    );
    server.stop().await;
}

#[tokio::test]
async fn register_query_batch_list_and_deregister() {
    let server = start(0, |_| {}).await;
    let mut client = RawClient::open(server.grpc_addr(), true).await;
    let answer: InstanceResponse = client.ask(&register("svc", instance("10.0.0.1", 80))).await;
    assert_eq!(answer.kind.as_deref(), Some(REGISTER_INSTANCE));
    let info = client
        .ask::<_, QueryServiceResponse>(&query("svc"))
        .await
        .service_info
        .unwrap();
    assert_eq!(
        (info.name.as_str(), info.group_name.as_str()),
        ("svc", "DEFAULT_GROUP"),
        "no group in gRPC names"
    );
    assert_eq!(
        info.hosts[0].instance_id.as_deref(),
        Some("10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@svc")
    );
    assert_eq!(
        info.hosts[0].service_name.as_deref(),
        Some("DEFAULT_GROUP@@svc")
    );
    // One entry per service per connection: a second registration replaces the first.
    client
        .ask::<_, InstanceResponse>(&register("svc", instance("10.0.0.2", 80)))
        .await;
    assert_eq!(host_count(&mut client, "svc").await, 1);
    let batch = BatchInstanceRequest::new(
        NamingTarget::new("public", "DEFAULT_GROUP", "batch"),
        vec![
            instance("10.0.1.1", 1),
            instance("10.0.1.2", 2),
            instance("10.0.1.3", 3),
        ],
    );
    assert!(client.status(&batch).await.is_success());
    assert_eq!(host_count(&mut client, "batch").await, 3);
    let list: ServiceListResponse = client
        .ask(&ServiceListRequest::new("public", "DEFAULT_GROUP", 1, 10))
        .await;
    assert_eq!(list.count, 2);
    assert_eq!(list.service_names, vec!["batch", "svc"]);
    let deregister = InstanceRequest::new(
        DEREGISTER_INSTANCE,
        NamingTarget::new("public", "DEFAULT_GROUP", "svc"),
        instance("9.9.9.9", 1),
    );
    let answer: InstanceResponse = client.ask(&deregister).await;
    assert_eq!(answer.kind.as_deref(), Some(DEREGISTER_INSTANCE));
    assert_eq!(
        host_count(&mut client, "svc").await,
        0,
        "the connection's entry goes, whatever address"
    );
    server.stop().await;
}

#[tokio::test]
async fn ability_tables_are_answered_with_setup_ack() {
    let server = start(0, |_| {}).await;
    let mut setup = naming_setup("public");
    setup.ability_table = Some(BTreeMap::from([(
        "supportPersistentInstanceByGrpc".to_owned(),
        true,
    )]));
    let mut client = RawClient::open_with(server.grpc_addr(), setup, true).await;
    let ack = client
        .next_from_server(WAIT)
        .await
        .expect("SetupAckRequest");
    assert_eq!(payload_type(&ack), SetupAckRequest::TYPE);
    let ack: SetupAckRequest = decode(&ack).unwrap();
    assert!(ack.ability_table.is_some());
    server.stop().await;
}

#[tokio::test]
async fn subscribers_get_the_view_at_once_then_every_change() {
    let server = start(0, |c| c.push.delay_ms = 100).await;
    let mut watcher = RawClient::open(server.grpc_addr(), true).await;
    let mut publisher = RawClient::open(server.grpc_addr(), true).await;
    let target = NamingTarget::new("public", "DEFAULT_GROUP", "watched");
    let subscribed: SubscribeServiceResponse = watcher
        .ask(&SubscribeServiceRequest::new(
            target.clone(),
            "DEFAULT",
            true,
        ))
        .await;
    assert_eq!(subscribed.status.message.as_deref(), Some("success"));
    let info = subscribed.service_info.unwrap();
    assert_eq!(
        (info.name.as_str(), info.clusters.as_str()),
        ("watched", "DEFAULT")
    );
    let first = watcher
        .next_push(WAIT)
        .await
        .expect("first subscription pushes at once");
    assert!(first.service_info.unwrap().hosts.is_empty());
    publisher
        .ask::<_, InstanceResponse>(&register("watched", instance("10.0.0.7", 7)))
        .await;
    let pushed = watcher
        .next_push(WAIT)
        .await
        .expect("push after a change")
        .service_info
        .unwrap();
    assert_eq!(
        pushed.name, "watched",
        "pushes name the service without group"
    );
    assert_eq!(
        pushed.clusters, "DEFAULT",
        "pushes echo the subscriber's clusters"
    );
    assert_eq!(pushed.hosts.len(), 1);
    assert_eq!(pushed.hosts[0].ip, "10.0.0.7");
    watcher
        .ask::<_, SubscribeServiceResponse>(&SubscribeServiceRequest::new(target, "DEFAULT", false))
        .await;
    publisher
        .ask::<_, InstanceResponse>(&register("watched", instance("10.0.0.8", 8)))
        .await;
    assert!(
        watcher
            .next_push(Duration::from_millis(600))
            .await
            .is_none(),
        "unsubscribed"
    );
    server.stop().await;
}

#[tokio::test]
async fn unacknowledged_pushes_are_retried_with_the_current_view() {
    let server = start(0, |c| {
        c.push.delay_ms = 0;
        c.push.timeout_ms = 200;
        c.push.retry_delay_ms = 100;
    })
    .await;
    let mut watcher = RawClient::open(server.grpc_addr(), false).await;
    let mut publisher = RawClient::open(server.grpc_addr(), true).await;
    let target = NamingTarget::new("public", "DEFAULT_GROUP", "retried");
    watcher
        .ask::<_, SubscribeServiceResponse>(&SubscribeServiceRequest::new(target, "", true))
        .await;
    assert!(watcher.next_push(WAIT).await.is_some());
    publisher
        .ask::<_, InstanceResponse>(&register("retried", instance("10.0.0.9", 9)))
        .await;
    let again = watcher
        .next_push(WAIT)
        .await
        .expect("retried after the timeout");
    assert_eq!(
        again.service_info.unwrap().hosts.len(),
        1,
        "the retry carries the current view"
    );
    watcher.set_auto_ack(true);
    assert!(
        watcher.next_push(WAIT).await.is_some(),
        "still retried until acknowledged"
    );
    // Unacknowledged pushes come back every timeout + retry delay (300 ms); acknowledged
    // ones stop: after at most a retry already scheduled, the stream goes quiet.
    let mut late = 0;
    while watcher
        .next_push(Duration::from_millis(700))
        .await
        .is_some()
    {
        late += 1;
        assert!(late <= 2, "pushes keep coming after acknowledgement");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_connection_that_goes_away_takes_its_instances_at_once() {
    let server = start(0, |_| {}).await;
    let mut observer = RawClient::open(server.grpc_addr(), true).await;
    for end_gracefully in [true, false] {
        let mut owner = RawClient::open(server.grpc_addr(), true).await;
        owner
            .ask::<_, InstanceResponse>(&register("owned", instance("10.0.0.3", 3)))
            .await;
        assert_eq!(host_count(&mut observer, "owned").await, 1);
        if end_gracefully {
            owner.end_stream().await;
        } else {
            owner.kill();
        }
        let gone = hosts_become(&mut observer, "owned", 0, Duration::from_secs(3)).await;
        assert!(
            gone,
            "instances of a closed connection vanish (graceful: {end_gracefully})"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_that_ignore_detection_are_removed() {
    let server = start(0, |c| {
        c.grpc.idle_ms = 300;
        c.grpc.detection_interval_ms = 100;
        c.grpc.detection_timeout_ms = 300;
    })
    .await;
    let mut silent = RawClient::open(server.grpc_addr(), false).await;
    silent
        .ask::<_, InstanceResponse>(&register("idle", instance("10.0.0.4", 4)))
        .await;
    let mut answering = RawClient::open(server.grpc_addr(), true).await;
    answering
        .ask::<_, InstanceResponse>(&register("idle", instance("10.0.0.5", 5)))
        .await;
    let detection = silent
        .next_from_server(WAIT)
        .await
        .expect("a ClientDetectionRequest");
    assert_eq!(payload_type(&detection), "ClientDetectionRequest");
    let removed = hosts_become(&mut answering, "idle", 1, WAIT).await;
    assert!(
        removed,
        "the silent connection is ejected, the answering one stays"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        host_count(&mut answering, "idle").await,
        1,
        "answering keeps it alive"
    );
    let status = silent.status(&HealthCheckRequest::new()).await;
    assert_code(&status, 500, codes::UN_REGISTER);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_asks_clients_to_reconnect_elsewhere() {
    let server = start(0, |c| c.grpc.reset_grace_ms = 300).await;
    let mut client = RawClient::open(server.grpc_addr(), true).await;
    let stopping = tokio::spawn(server.stop());
    let reset = client
        .next_from_server(WAIT)
        .await
        .expect("ConnectResetRequest");
    assert_eq!(payload_type(&reset), ConnectResetRequest::TYPE);
    let reset: ConnectResetRequest = decode(&reset).unwrap();
    assert_eq!(
        reset.connection_id.as_deref(),
        Some(client.connection_id.as_str())
    );
    assert!(
        client.next_from_server(WAIT).await.is_none(),
        "the stream ends"
    );
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stop finishes")
        .unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_server_keeps_serving() {
    let server = start(0, |c| c.grpc.message_len_max = 64 * 1024).await;
    let mut client = RawClient::open(server.grpc_addr(), true).await;
    let mut huge = instance("10.0.0.1", 80);
    huge.metadata = BTreeMap::from([("k".to_owned(), "v".repeat(100 * 1024))]);
    let refused = grpc_support::channel(server.grpc_addr()).await;
    let mut raw = distro_nacos_api::grpc::proto::request_client::RequestClient::new(refused);
    let error = raw
        .request(register("svc", huge).to_payload().unwrap())
        .await
        .unwrap_err();
    // tonic refuses a message over the decoding limit with OUT_OF_RANGE.
    assert_eq!(error.code(), tonic::Code::OutOfRange);
    assert!(client.status(&HealthCheckRequest::new()).await.is_success());
    server.stop().await;
}
