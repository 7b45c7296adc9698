//! One registered SDK connection: who it is, its bi-stream, its requests awaiting an answer,
//! its liveness and its push queue.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use distro_nacos_api::grpc::{GrpcMessage, Payload, RequestHeader, ResponseStatus};
use distro_naming::{ClientId, PushQueue};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the client said about itself in `ConnectionSetupRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionMeta {
    /// The client's own IP (`Payload.metadata.clientIp`), or the peer IP if it gave none.
    pub client_ip: String,
    /// The peer socket address.
    pub remote: SocketAddr,
    /// SDK name and version.
    pub version: String,
    /// Namespace the client works in.
    pub tenant: String,
    /// Label `AppName`, or `-`.
    pub app: String,
    /// All labels.
    pub labels: BTreeMap<String, String>,
}

/// Why a server-to-client request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// No answer in time.
    Timeout,
    /// The stream is gone.
    Closed,
}

/// Ids of server-to-client requests, unique in the process (Nacos uses a global counter).
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// A registered connection. Cheap to share; closing it ends its stream and push queue.
pub struct Connection {
    /// The connection id (also its naming client id).
    pub id: Arc<str>,
    /// Client description.
    pub meta: ConnectionMeta,
    /// Pushes waiting for this connection.
    pub pushes: PushQueue,
    outbound: mpsc::Sender<Payload>,
    pending: Mutex<HashMap<String, oneshot::Sender<ResponseStatus>>>,
    last_active: Mutex<Instant>,
    probing: AtomicBool,
    closed: CancellationToken,
}

impl Connection {
    /// A connection writing to `outbound`, ended by `closed`.
    pub fn new(
        id: Arc<str>,
        meta: ConnectionMeta,
        outbound: mpsc::Sender<Payload>,
        closed: CancellationToken,
        push_queue_len_max: usize,
    ) -> Self {
        Self {
            id,
            meta,
            pushes: PushQueue::new(push_queue_len_max),
            outbound,
            pending: Mutex::default(),
            last_active: Mutex::new(Instant::now()),
            probing: AtomicBool::new(false),
            closed,
        }
    }

    /// The naming client this connection owns.
    pub fn client_id(&self) -> ClientId {
        ClientId::new(Arc::clone(&self.id))
    }

    /// Records that the client just said something.
    pub fn touch(&self) {
        *self.last_active.lock() = Instant::now();
    }

    /// When the client last said something.
    pub fn last_active(&self) -> Instant {
        *self.last_active.lock()
    }

    /// Marks a liveness probe as running; false if one already is.
    pub fn start_probe(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    /// Marks the liveness probe as finished.
    pub fn end_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// Sends a request without waiting for its answer (answers to unknown ids are ignored).
    pub fn send<T: GrpcMessage>(&self, message: &T) {
        match message.to_payload() {
            Ok(payload) => {
                if self.outbound.try_send(payload).is_err() {
                    tracing::debug!(connection = %self.id, kind = T::TYPE, "stream full or closed");
                }
            }
            Err(error) => tracing::warn!(%error, kind = T::TYPE, "cannot encode a server request"),
        }
    }

    /// Sends a request built around a fresh request id and waits up to `timeout` for the
    /// client's answer on the stream.
    pub async fn request<T: GrpcMessage>(
        &self,
        module: &str,
        build: impl FnOnce(RequestHeader) -> T,
        timeout: Duration,
    ) -> Result<ResponseStatus, RequestError> {
        let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed).to_string();
        let payload = build(RequestHeader::with_id(module, id.clone()))
            .to_payload()
            .map_err(|_| RequestError::Closed)?;
        let (answer_tx, answer_rx) = oneshot::channel();
        self.pending.lock().insert(id.clone(), answer_tx);
        let outcome = tokio::time::timeout(timeout, async {
            self.outbound
                .send(payload)
                .await
                .map_err(|_| RequestError::Closed)?;
            answer_rx.await.map_err(|_| RequestError::Closed)
        })
        .await;
        self.pending.lock().remove(&id);
        outcome.unwrap_or(Err(RequestError::Timeout))
    }

    /// Completes the request an answer on the stream belongs to; false if none waits.
    pub fn complete(&self, status: ResponseStatus) -> bool {
        let Some(id) = status.request_id.as_deref() else {
            return false;
        };
        let Some(waiter) = self.pending.lock().remove(id) else {
            return false;
        };
        waiter.send(status).is_ok()
    }

    /// Ends the stream, the push queue and every request waiting for an answer.
    pub fn close(&self) {
        self.closed.cancel();
        self.pushes.close();
        self.pending.lock().clear();
    }
}
