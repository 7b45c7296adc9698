//! `BiRequestStream/requestBiStream`: the connection's own stream.
//!
//! The client's first message, `ConnectionSetupRequest`, registers the connection (and its
//! naming client); an ability table is answered with `SetupAckRequest`. Later messages are
//! the client's answers to server requests (pushes, detections, resets), matched by request
//! id. The server writes through a bounded queue; the stream ends when the client ends it,
//! the transport dies, the connection is removed or the node stops, and its end removes the
//! connection at once.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use distro_nacos_api::grpc::internal::{ConnectionSetupRequest, SetupAckRequest};
use distro_nacos_api::grpc::message::{body_bytes, parse_body};
use distro_nacos_api::grpc::proto::bi_request_stream_server;
use distro_nacos_api::grpc::{
    GrpcMessage, MODULE_INTERNAL, Payload, RequestHeader, ResponseStatus, payload_type,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::{Response, Status, Streaming};

use crate::grpc::GrpcContext;
use crate::grpc::connection::{Connection, ConnectionMeta};
use crate::grpc::push;
use crate::grpc::transport::TransportInfo;

/// Server abilities announced in `SetupAckRequest` (no persistent instances over gRPC).
const SERVER_ABILITIES: &[(&str, bool)] = &[("supportPersistentInstanceByGrpc", false)];

/// The bi-stream service.
pub struct BiStreamService {
    ctx: GrpcContext,
}

impl BiStreamService {
    /// A service registering connections into `ctx`.
    pub fn new(ctx: GrpcContext) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl bi_request_stream_server::BiRequestStream for BiStreamService {
    type requestBiStreamStream = OutboundStream;

    async fn request_bi_stream(
        &self,
        request: tonic::Request<Streaming<Payload>>,
    ) -> Result<Response<OutboundStream>, Status> {
        let Some(transport) = request.extensions().get::<TransportInfo>().cloned() else {
            return Err(Status::internal("transport without connection id"));
        };
        let (outbound, rx) = mpsc::channel(self.ctx.state.config.grpc.stream_queue_len_max.max(1));
        let closed = self.ctx.connections.stream_token();
        transport.setup.stream_opened();
        let reader = StreamReader {
            ctx: self.ctx.clone(),
            transport,
            outbound,
            closed: closed.clone(),
            connection: None,
            settled: false,
        };
        tokio::spawn(reader.run(request.into_inner()));
        Ok(Response::new(OutboundStream {
            rx,
            closed: Box::pin(closed.cancelled_owned()),
        }))
    }
}

/// What the server writes on one stream; ends when its token is cancelled.
pub struct OutboundStream {
    rx: mpsc::Receiver<Payload>,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Stream for OutboundStream {
    type Item = Result<Payload, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        self.rx.poll_recv(cx).map(|message| message.map(Ok))
    }
}

/// Reads one stream until it ends, then removes its connection.
struct StreamReader {
    ctx: GrpcContext,
    transport: TransportInfo,
    outbound: mpsc::Sender<Payload>,
    closed: CancellationToken,
    connection: Option<Arc<Connection>>,
    /// Whether the first message was handled (see `Connections::get_or_await_setup`).
    settled: bool,
}

impl StreamReader {
    async fn run(mut self, mut inbound: Streaming<Payload>) {
        loop {
            let message = tokio::select! {
                () = self.closed.cancelled() => break,
                message = inbound.message() => message,
            };
            match message {
                Ok(Some(payload)) => {
                    self.on_message(&payload);
                    self.settle();
                }
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(connection = %self.transport.id, %status, "stream failed");
                    break;
                }
            }
        }
        self.settle();
        if let Some(connection) = self.connection.take() {
            self.ctx.connections.unregister(&connection, "stream ended");
        }
        self.closed.cancel();
    }

    fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            self.transport.setup.stream_settled();
        }
    }

    fn on_message(&mut self, payload: &Payload) {
        let kind = payload_type(payload);
        if let Some(connection) = &self.connection {
            connection.touch();
        }
        if kind == ConnectionSetupRequest::TYPE {
            self.on_setup(payload);
        } else if kind.ends_with("Response") {
            self.on_answer(payload);
        } else {
            tracing::debug!(connection = %self.transport.id, kind, "ignoring stream message");
        }
    }

    /// Registers the connection (again, idempotently, if the client repeats the setup).
    fn on_setup(&mut self, payload: &Payload) {
        if self.connection.is_some() {
            return;
        }
        let setup = match body_bytes(payload)
            .and_then(|b| parse_body::<ConnectionSetupRequest>(ConnectionSetupRequest::TYPE, b))
        {
            Ok(setup) => setup,
            Err(error) => {
                tracing::warn!(connection = %self.transport.id, %error, "bad ConnectionSetupRequest");
                return;
            }
        };
        // An SDK connecting to a node that is not ready is turned away; it tries another.
        if !self.ctx.state.is_ready() && setup.labels.get("source").is_none_or(|s| s == "sdk") {
            self.closed.cancel();
            return;
        }
        let client_ip = payload
            .metadata
            .as_ref()
            .map(|m| m.client_ip.trim())
            .filter(|ip| !ip.is_empty())
            .map_or_else(|| self.transport.remote.ip().to_string(), str::to_owned);
        // Nacos creates a naming client only for `module=naming`; a client that says nothing
        // gets one too, so SDKs that omit the label still work.
        let naming = setup.labels.get("module").is_none_or(|m| m == "naming");
        let meta = ConnectionMeta {
            client_ip,
            remote: self.transport.remote,
            version: setup.client_version.clone(),
            tenant: setup.tenant.clone(),
            app: setup
                .labels
                .get("AppName")
                .cloned()
                .unwrap_or_else(|| "-".to_owned()),
            labels: setup.labels.clone(),
        };
        let connection = Arc::new(Connection::new(
            Arc::clone(&self.transport.id),
            meta,
            self.outbound.clone(),
            self.closed.clone(),
            self.ctx.state.config.push.queue_len_max,
        ));
        self.ctx
            .connections
            .register(Arc::clone(&connection), naming);
        push::spawn_worker(Arc::clone(&connection), &self.ctx);
        if setup.ability_table.is_some() {
            connection.send(&SetupAckRequest {
                header: RequestHeader::module(MODULE_INTERNAL),
                ability_table: Some(server_abilities()),
            });
        }
        tracing::debug!(connection = %connection.id, version = %connection.meta.version, "connection registered");
        self.connection = Some(connection);
    }

    /// Completes the server request a client answer belongs to.
    fn on_answer(&self, payload: &Payload) {
        let Some(connection) = &self.connection else {
            return;
        };
        match body_bytes(payload)
            .and_then(|b| parse_body::<ResponseStatus>(payload_type(payload), b))
        {
            Ok(status) => {
                connection.complete(status);
            }
            Err(error) => tracing::debug!(connection = %connection.id, %error, "unreadable answer"),
        }
    }
}

fn server_abilities() -> BTreeMap<String, bool> {
    SERVER_ABILITIES
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect()
}
