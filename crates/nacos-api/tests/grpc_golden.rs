//! Golden shapes: the gRPC messages serialise to (and read from) exactly the JSON of
//! `reference/nacos-behaviour.md` sections 6.3-6.5.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use distro_nacos_api::grpc::internal::{
    ConnectResetRequest, ConnectionSetupRequest, ErrorResponse, HealthCheckRequest,
    ServerCheckRequest, ServerCheckResponse, SetupAckRequest,
};
use distro_nacos_api::grpc::naming::{
    BatchInstanceRequest, InstanceRequest, InstanceResponse, NamingTarget, NotifySubscriberRequest,
    QueryServiceResponse, REGISTER_INSTANCE, ServiceListResponse, SubscribeServiceRequest,
    SubscribeServiceResponse,
};
use distro_nacos_api::grpc::{
    ClientRequest, GrpcMessage, RequestHeader, ResponseStatus, codes, decode, response_status,
};
use distro_nacos_api::{Instance, ServiceInfo};
use serde_json::{Value, json};

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn instance() -> Instance {
    Instance {
        instance_id: Some("10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@svc".to_owned()),
        ip: "10.0.0.1".to_owned(),
        port: 8080,
        cluster_name: Some("DEFAULT".to_owned()),
        service_name: Some("DEFAULT_GROUP@@svc".to_owned()),
        metadata: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        ..Instance::default()
    }
}

fn instance_json() -> Value {
    json!({"instanceId":"10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@svc",
        "ip":"10.0.0.1","port":8080,"weight":1.0,"healthy":true,"enabled":true,
        "ephemeral":true,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@svc",
        "metadata":{"k":"v"},
        "instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,
        "ipDeleteTimeout":30000,"instanceIdGenerator":"simple"})
}

fn service_info() -> ServiceInfo {
    ServiceInfo {
        name: "svc".to_owned(),
        group_name: "DEFAULT_GROUP".to_owned(),
        clusters: String::new(),
        cache_millis: 10_000,
        hosts: vec![instance()],
        last_ref_time: 1_712_345_678_901,
        checksum: String::new(),
        all_ips: false,
        reach_protection_threshold: false,
        valid: true,
    }
}

fn service_info_json() -> Value {
    json!({"name":"svc","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,
        "hosts":[instance_json()],"lastRefTime":1712345678901_i64,"checksum":"",
        "allIPs":false,"reachProtectionThreshold":false,"valid":true})
}

#[test]
fn handshake_requests_match_the_java_sdk() {
    assert_eq!(
        to_json(&ServerCheckRequest::new()),
        json!({"headers":{},"module":"internal"})
    );
    assert_eq!(
        to_json(&HealthCheckRequest::new()),
        json!({"headers":{},"module":"internal"})
    );
    let setup: ConnectionSetupRequest = serde_json::from_value(json!({
        "clientVersion":"Nacos-Java-Client:v2.5.1","tenant":"dev",
        "labels":{"source":"sdk","module":"naming","AppName":"shop"},
        "abilityTable":{"supportPersistentInstanceByGrpc":true},
        "headers":{},"module":"internal"}))
    .unwrap();
    assert_eq!(setup.client_version, "Nacos-Java-Client:v2.5.1");
    assert_eq!(setup.tenant, "dev");
    assert_eq!(setup.labels["AppName"], "shop");
    assert!(setup.ability_table.unwrap()["supportPersistentInstanceByGrpc"]);
}

#[test]
fn server_check_response_carries_the_connection_id() {
    let response = ServerCheckResponse {
        status: ResponseStatus::ok(),
        connection_id: Some("1712345678901_127.0.0.1_50000".to_owned()),
        support_ability_negotiation: true,
    };
    assert_eq!(
        to_json(&response),
        json!({"resultCode":200,"errorCode":0,"connectionId":"1712345678901_127.0.0.1_50000",
            "supportAbilityNegotiation":true,"success":true})
    );
}

#[test]
fn server_to_client_requests() {
    let ack = SetupAckRequest {
        header: RequestHeader::module("internal"),
        ability_table: Some(BTreeMap::from([("x".to_owned(), false)])),
    };
    assert_eq!(
        to_json(&ack),
        json!({"abilityTable":{"x":false},"module":"internal","headers":{}})
    );
    let reset = ConnectResetRequest {
        header: RequestHeader::with_id("internal", "9"),
        server_ip: None,
        server_port: None,
        connection_id: Some("c1".to_owned()),
    };
    assert_eq!(
        to_json(&reset),
        json!({"connectionId":"c1","module":"internal","requestId":"9","headers":{}})
    );
    let notify = NotifySubscriberRequest {
        header: RequestHeader::with_id("naming", "42"),
        target: NamingTarget::default(),
        service_info: Some(service_info()),
    };
    assert_eq!(
        to_json(&notify),
        json!({"serviceInfo":service_info_json(),"module":"naming","requestId":"42","headers":{}})
    );
}

#[test]
fn naming_responses() {
    let registered = InstanceResponse {
        status: ResponseStatus::ok(),
        kind: Some(REGISTER_INSTANCE.to_owned()),
    };
    assert_eq!(
        to_json(&registered),
        json!({"type":"registerInstance","resultCode":200,"errorCode":0,"success":true})
    );
    let subscribed = SubscribeServiceResponse {
        status: ResponseStatus {
            message: Some("success".to_owned()),
            ..ResponseStatus::ok()
        },
        service_info: Some(service_info()),
    };
    assert_eq!(
        to_json(&subscribed),
        json!({"resultCode":200,"errorCode":0,"message":"success","success":true,
            "serviceInfo":service_info_json()})
    );
    let queried = QueryServiceResponse {
        status: ResponseStatus::ok(),
        service_info: Some(service_info()),
    };
    assert_eq!(to_json(&queried)["serviceInfo"], service_info_json());
    let listed = ServiceListResponse {
        status: ResponseStatus::ok(),
        count: 2,
        service_names: vec!["a".to_owned(), "b".to_owned()],
    };
    assert_eq!(
        to_json(&listed),
        json!({"resultCode":200,"errorCode":0,"success":true,"count":2,"serviceNames":["a","b"]})
    );
}

#[test]
fn error_responses_follow_error_response_build() {
    assert_eq!(
        to_json(&ErrorResponse::fail(
            codes::UN_REGISTER,
            codes::MSG_UNREGISTERED
        )),
        json!({"resultCode":500,"errorCode":301,"message":"Connection is unregistered.",
            "success":false})
    );
    assert_eq!(
        to_json(&ErrorResponse::exception(codes::CLIENT_DISCONNECT, "gone")),
        json!({"resultCode":-401,"errorCode":-401,"message":"gone","success":false})
    );
}

#[test]
fn sdk_requests_read_with_nulls_and_unknown_fields() {
    let body = json!({"headers":{},"requestId":"1","namespace":"public","serviceName":"svc",
        "groupName":"DEFAULT_GROUP","module":"naming","type":"registerInstance",
        "instance":{"instanceId":null,"ip":"10.0.0.1","port":8080,"weight":1.0,"healthy":true,
            "enabled":true,"ephemeral":true,"clusterName":null,"serviceName":null,
            "metadata":null,"somethingNew":1}});
    let bytes = serde_json::to_vec(&body).unwrap();
    let Some(Ok(ClientRequest::Instance(request))) =
        ClientRequest::decode("InstanceRequest", &bytes)
    else {
        panic!("not an instance request");
    };
    assert_eq!(request.kind, "registerInstance");
    assert_eq!(
        request.target,
        NamingTarget::new("public", "DEFAULT_GROUP", "svc")
    );
    let sent = request.instance.unwrap();
    assert!(sent.metadata.is_empty() && sent.cluster_name.is_none());
    let batch: BatchInstanceRequest = serde_json::from_value(json!({
        "type":"batchRegisterInstance","instances":[instance_json()],"serviceName":"svc"}))
    .unwrap();
    assert_eq!(batch.instances, vec![instance()]);
    let subscribe: SubscribeServiceRequest =
        serde_json::from_value(json!({"subscribe":true,"clusters":null})).unwrap();
    assert!(subscribe.subscribe && subscribe.clusters.is_empty());
}

#[test]
fn payload_round_trip_and_mismatch() {
    let payload = InstanceRequest::new(
        REGISTER_INSTANCE,
        NamingTarget::new("public", "DEFAULT_GROUP", "svc"),
        instance(),
    )
    .to_payload()
    .unwrap();
    assert_eq!(payload.metadata.as_ref().unwrap().r#type, "InstanceRequest");
    assert!(
        payload.body.as_ref().unwrap().type_url.is_empty(),
        "Java leaves type_url empty"
    );
    let back: InstanceRequest = decode(&payload).unwrap();
    assert_eq!(back.instance, Some(instance()));
    let error = ErrorResponse::fail(codes::NO_HANDLER, codes::MSG_NO_HANDLER)
        .to_payload()
        .unwrap();
    assert_eq!(response_status(&error).unwrap().error_code, 302);
    assert!(decode::<InstanceResponse>(&error).is_err());
}
