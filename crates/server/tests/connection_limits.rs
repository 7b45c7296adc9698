//! Connection-level limits on the real ports: the request rate of one HTTP connection, and
//! connections per client IP on the HTTP and the SDK gRPC ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc_support;

use std::time::Duration;

use distro_nacos_api::grpc::internal::HealthCheckRequest;
use distro_nacos_api::grpc::message::GrpcMessage;
use distro_nacos_api::grpc::proto::request_client::RequestClient;
use grpc_support::RawClient;
use reqwest::StatusCode;
use tokio::net::TcpStream;
use tonic::transport::Endpoint;

const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";

#[tokio::test]
async fn an_http_connection_over_its_rate_gets_429_and_the_probes_still_answer() {
    let server = grpc_support::start(0, |c| {
        c.server.request_rate_per_connection = 1;
        c.server.request_burst_per_connection = 2;
    })
    .await;
    // One pooled keep-alive connection: every request below shares its bucket.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let url = |path: &str| format!("http://{}{path}", server.http_addr());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(http.get(url(LIST)).send().await.unwrap().status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "a burst of 2 then refusal"
    );
    let refused = http.get(url(LIST)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Tps Flow restricted")
    );
    // Health probes are never rate limited.
    let liveness = http
        .get(url("/nacos/v1/console/health/liveness"))
        .send()
        .await
        .unwrap();
    assert_eq!(liveness.status(), StatusCode::OK);
    // The bucket refills: the same connection is usable again after a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        http.get(url(LIST)).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_second_http_connection_from_one_ip_is_refused_when_the_limit_is_one() {
    let server = grpc_support::start(0, |c| c.server.connections_per_ip_max = 1).await;
    let held = TcpStream::connect(server.http_addr()).await.unwrap();
    // Let the server accept the held connection (it takes the IP's only slot).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}{LIST}", server.http_addr());
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("too many connections")
    );
    // Freeing the slot lets a new connection in.
    drop(held);
    let mut answered = None;
    for _ in 0..50 {
        let fresh = reqwest::Client::new();
        let status = fresh.get(&url).send().await.unwrap().status();
        if status == StatusCode::OK {
            answered = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, Some(StatusCode::OK), "the freed slot is reused");
}

#[tokio::test]
async fn a_second_grpc_connection_from_one_ip_is_closed_when_the_limit_is_one() {
    let server = grpc_support::start(0, |c| c.grpc.connections_per_ip_max = 1).await;
    let mut first = RawClient::open(server.grpc_addr(), true).await;
    let health = HealthCheckRequest::new().to_payload().unwrap();
    let second = Endpoint::from_shared(format!("http://{}", server.grpc_addr()))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect()
        .await;
    let refused = match second {
        Err(_) => true,
        Ok(channel) => RequestClient::new(channel)
            .request(health.clone())
            .await
            .is_err(),
    };
    assert!(
        refused,
        "the second connection from 127.0.0.1 must be closed"
    );
    // The first connection is unaffected.
    assert!(first.status(&HealthCheckRequest::new()).await.is_success());
}
