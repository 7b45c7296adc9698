//! A lean Nacos 2.x gRPC client for the load tool: server check, the bi-stream with its
//! connection setup, unary requests, and server pushes answered and handed over.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use distro_nacos_api::grpc::internal::{ConnectionSetupRequest, HealthCheckRequest};
use distro_nacos_api::grpc::naming::NotifySubscriberRequest;
use distro_nacos_api::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
use distro_nacos_api::grpc::proto::request_client::RequestClient;
use distro_nacos_api::grpc::{
    GrpcMessage, MODULE_INTERNAL, Payload, RequestHeader, decode, encode, payload_type,
    response_status,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// Longest the connection setup may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Pushes kept waiting for the reader of a connection.
const PUSH_QUEUE_LEN_MAX: usize = 1024;

/// One SDK-like connection: a channel for unary calls plus the set-up bi-stream.
pub struct GrpcConn {
    unary: RequestClient<Channel>,
    pushes: mpsc::Receiver<NotifySubscriberRequest>,
    _stream: mpsc::Sender<Payload>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for GrpcConn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl GrpcConn {
    /// Connects to the SDK port, checks the server and sets the connection up.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        tokio::time::timeout(SETUP_TIMEOUT, Self::open_inner(addr))
            .await
            .context("gRPC connection setup timed out")?
    }

    async fn open_inner(addr: SocketAddr) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let mut unary = RequestClient::new(channel.clone());
        let check = encode(
            "ServerCheckRequest",
            &serde_json::json!({"headers":{},"module":"internal"}),
            "127.0.0.1",
        )?;
        let answer = unary.request(check).await?.into_inner();
        if !response_status(&answer)?.is_success() {
            bail!("server check refused");
        }
        let (stream_tx, stream_rx) = mpsc::channel(64);
        let mut bi = BiRequestStreamClient::new(channel);
        let inbound = bi
            .request_bi_stream(ReceiverStream::new(stream_rx))
            .await?
            .into_inner();
        let (push_tx, pushes) = mpsc::channel(PUSH_QUEUE_LEN_MAX);
        let reader = tokio::spawn(read_stream(inbound, stream_tx.downgrade(), push_tx));
        let setup = ConnectionSetupRequest {
            header: RequestHeader::module(MODULE_INTERNAL),
            client_version: "distro-load:v1".to_owned(),
            tenant: "public".to_owned(),
            labels: BTreeMap::from([
                ("source".to_owned(), "sdk".to_owned()),
                ("module".to_owned(), "naming".to_owned()),
                ("AppName".to_owned(), "distro-load".to_owned()),
            ]),
            ability_table: None,
            abilities: None,
        };
        stream_tx
            .send(setup.to_payload()?)
            .await
            .context("stream closed")?;
        let mut conn = Self {
            unary,
            pushes,
            _stream: stream_tx,
            reader,
        };
        // The connection is usable once the server registered it.
        for _ in 0..500 {
            let answer = conn.call(HealthCheckRequest::new().to_payload()?).await?;
            if response_status(&answer)?.is_success() {
                return Ok(conn);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("the server never registered the connection")
    }

    /// One unary call.
    pub async fn call(&mut self, payload: Payload) -> anyhow::Result<Payload> {
        Ok(self.unary.request(payload).await?.into_inner())
    }

    /// A unary call whose answer must be the response type `R`.
    pub async fn ask<T: GrpcMessage, R: GrpcMessage>(&mut self, request: &T) -> anyhow::Result<R> {
        let answer = self.call(request.to_payload()?).await?;
        Ok(decode::<R>(&answer)?)
    }

    /// The next push, if one comes within `within`.
    pub async fn next_push(&mut self, within: Duration) -> Option<NotifySubscriberRequest> {
        tokio::time::timeout(within, self.pushes.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Answers every server request with success; pushes are also handed to `pushes`.
async fn read_stream(
    mut inbound: tonic::Streaming<Payload>,
    stream: mpsc::WeakSender<Payload>,
    pushes: mpsc::Sender<NotifySubscriberRequest>,
) {
    while let Some(Ok(payload)) = inbound.next().await {
        let kind = payload_type(&payload).to_owned();
        if !kind.ends_with("Request") {
            continue;
        }
        let request_id = payload
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.value).ok())
            .map(|v| v["requestId"].clone())
            .unwrap_or_default();
        let answer = serde_json::json!({"resultCode":200,"errorCode":0,"requestId":request_id,"success":true});
        let answer_type = format!("{}Response", kind.trim_end_matches("Request"));
        if let (Some(stream), Ok(answer)) =
            (stream.upgrade(), encode(&answer_type, &answer, "127.0.0.1"))
        {
            let _ = stream.send(answer).await;
        }
        if kind == NotifySubscriberRequest::TYPE
            && let Ok(push) = decode::<NotifySubscriberRequest>(&payload)
        {
            // A full queue drops the push: the reader is not keeping up, latency is moot.
            let _ = pushes.try_send(push);
        }
    }
}
