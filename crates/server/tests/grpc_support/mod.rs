//! Helpers for the gRPC tests (and the push-latency example): in-process servers, port
//! pairs for SDKs that derive the gRPC port, and a raw Nacos gRPC client built on the
//! generated tonic stubs, so tests control every byte of the envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use distro_nacos_api::grpc::internal::ConnectionSetupRequest;
use distro_nacos_api::grpc::naming::NotifySubscriberRequest;
use distro_nacos_api::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
use distro_nacos_api::grpc::proto::request_client::RequestClient;
use distro_nacos_api::grpc::{
    GrpcMessage, MODULE_INTERNAL, Payload, RequestHeader, ResponseStatus, decode, encode,
    payload_type, response_status,
};
use distro_server::{Config, Server};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// Longest any test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// A test configuration: loopback, the given HTTP port (0 = ephemeral everything).
pub fn config(port: u16) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1".to_owned();
    config.server.port = port;
    config
}

/// An HTTP port P such that P, P + 1000 (SDK gRPC) and P + 1001 (cluster) are free now.
/// SDKs derive the gRPC port from the HTTP port, so SDK tests need a real pair.
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let Ok(http) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = http.local_addr().unwrap().port();
        let Some(grpc_port) = port.checked_add(1001) else {
            continue;
        };
        let grpc = TcpListener::bind(("127.0.0.1", grpc_port - 1));
        let cluster = TcpListener::bind(("127.0.0.1", grpc_port));
        if grpc.is_ok() && cluster.is_ok() {
            return port;
        }
    }
    panic!("no free port pair found");
}

/// Starts a server; `configure` adjusts the test configuration first.
pub async fn start(port: u16, configure: impl FnOnce(&mut Config)) -> Server {
    let mut config = config(port);
    configure(&mut config);
    Server::start(config).await.expect("server starts")
}

/// A channel to the gRPC port.
pub async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The setup message of a naming SDK.
pub fn naming_setup(tenant: &str) -> ConnectionSetupRequest {
    ConnectionSetupRequest {
        header: RequestHeader::module(MODULE_INTERNAL),
        client_version: "raw-test-client:v1".to_owned(),
        tenant: tenant.to_owned(),
        labels: BTreeMap::from([
            ("source".to_owned(), "sdk".to_owned()),
            ("module".to_owned(), "naming".to_owned()),
            ("AppName".to_owned(), "tests".to_owned()),
        ]),
        ability_table: None,
        abilities: None,
    }
}

/// A raw Nacos gRPC client: one channel, one bi-stream.
pub struct RawClient {
    /// The id the server gave the transport.
    pub connection_id: String,
    unary: RequestClient<Channel>,
    stream: Option<mpsc::Sender<Payload>>,
    inbound: mpsc::UnboundedReceiver<Payload>,
    auto_ack: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<()>,
}

impl RawClient {
    /// Connects, checks the server and sets the connection up as a naming SDK would; with
    /// `auto_ack`, server requests (pushes, detections, resets) are answered with success.
    pub async fn open(addr: SocketAddr, auto_ack: bool) -> Self {
        Self::open_with(addr, naming_setup("public"), auto_ack).await
    }

    /// Like [`RawClient::open`] with a chosen setup message.
    pub async fn open_with(
        addr: SocketAddr,
        setup: ConnectionSetupRequest,
        auto_ack: bool,
    ) -> Self {
        let mut client = Self::connect(addr, auto_ack).await;
        client.send_on_stream(setup.to_payload().unwrap()).await;
        client.wait_registered().await;
        client
    }

    /// Connects and checks the server, without setting the connection up.
    pub async fn connect(addr: SocketAddr, auto_ack: bool) -> Self {
        let channel = channel(addr).await;
        let mut unary = RequestClient::new(channel.clone());
        let check = unary
            .request(
                encode(
                    "ServerCheckRequest",
                    &serde_json::json!({"headers":{},"module":"internal"}),
                    "127.0.0.1",
                )
                .unwrap(),
            )
            .await
            .unwrap()
            .into_inner();
        let connection_id = serde_json::from_slice::<serde_json::Value>(&check.body.unwrap().value)
            .unwrap()["connectionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (stream_tx, stream_rx) = mpsc::channel(64);
        let mut bi = BiRequestStreamClient::new(channel);
        let responses = bi
            .request_bi_stream(ReceiverStream::new(stream_rx))
            .await
            .unwrap()
            .into_inner();
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        let auto_ack = Arc::new(AtomicBool::new(auto_ack));
        // The reader answers through a weak sender, so dropping ours ends the request stream.
        let reader = tokio::spawn(read_stream(
            responses,
            stream_tx.downgrade(),
            inbound_tx,
            Arc::clone(&auto_ack),
        ));
        Self {
            connection_id,
            unary,
            stream: Some(stream_tx),
            inbound,
            auto_ack,
            reader,
        }
    }

    /// Polls with health checks until the connection is registered.
    pub async fn wait_registered(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = self
                .status(&distro_nacos_api::grpc::internal::HealthCheckRequest::new())
                .await;
            if status.is_success() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never registered: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Turns automatic answers to server requests on or off.
    pub fn set_auto_ack(&self, on: bool) {
        self.auto_ack.store(on, Ordering::Release);
    }

    /// Sends a payload on the bi-stream.
    pub async fn send_on_stream(&self, payload: Payload) {
        self.stream.as_ref().unwrap().send(payload).await.unwrap();
    }

    /// One unary call.
    pub async fn call(&mut self, payload: Payload) -> Payload {
        self.unary
            .request(payload)
            .await
            .expect("unary call")
            .into_inner()
    }

    /// A unary call of a typed request; the codes of the answer, whatever its type.
    pub async fn status<T: GrpcMessage>(&mut self, request: &T) -> ResponseStatus {
        let answer = self.call(request.to_payload().unwrap()).await;
        response_status(&answer).unwrap()
    }

    /// A unary call answered with the given response type (panics otherwise).
    pub async fn ask<T: GrpcMessage, R: GrpcMessage>(&mut self, request: &T) -> R {
        let answer = self.call(request.to_payload().unwrap()).await;
        decode::<R>(&answer).unwrap_or_else(|e| panic!("{} answered: {e}", T::TYPE))
    }

    /// The next server request on the stream, if one comes within `within`.
    pub async fn next_from_server(&mut self, within: Duration) -> Option<Payload> {
        tokio::time::timeout(within, self.inbound.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next push (other server requests are skipped), if one comes within `within`.
    pub async fn next_push(&mut self, within: Duration) -> Option<NotifySubscriberRequest> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let payload = self.next_from_server(left).await?;
            if payload_type(&payload) == NotifySubscriberRequest::TYPE {
                return Some(decode(&payload).unwrap());
            }
        }
    }

    /// Ends the stream (client half-close) and waits for the server to end its side.
    pub async fn end_stream(&mut self) {
        self.stream = None;
        let _ = tokio::time::timeout(WAIT, &mut self.reader).await;
    }

    /// Drops everything at once: stream, reader and channel.
    pub fn kill(self) {
        self.reader.abort();
    }
}

/// Forwards server messages to `inbound`, answering requests when `auto_ack` is on.
async fn read_stream(
    mut responses: tonic::Streaming<Payload>,
    stream: mpsc::WeakSender<Payload>,
    inbound: mpsc::UnboundedSender<Payload>,
    auto_ack: Arc<AtomicBool>,
) {
    while let Some(Ok(payload)) = responses.next().await {
        let kind = payload_type(&payload).to_owned();
        if auto_ack.load(Ordering::Acquire) && kind.ends_with("Request") {
            let request_id =
                serde_json::from_slice::<serde_json::Value>(&payload.body.as_ref().unwrap().value)
                    .unwrap()["requestId"]
                    .clone();
            let answer = serde_json::json!({"resultCode":200,"errorCode":0,"requestId":request_id,"success":true});
            let answer_type = format!("{}Response", kind.trim_end_matches("Request"));
            if let Some(stream) = stream.upgrade() {
                let _ = stream
                    .send(encode(&answer_type, &answer, "127.0.0.1").unwrap())
                    .await;
            }
        }
        if inbound.send(payload).is_err() {
            return;
        }
    }
}

/// Polls `probe` every 20 ms until it is true; false if it never is within `within`.
pub async fn eventually<F, Fut>(within: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if probe().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
