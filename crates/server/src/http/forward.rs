//! Forwarding of `ip:port` writes to the node responsible for them (Nacos's DistroFilter):
//! an instance write or beat that lands on another node is proxied to the owner with the
//! same method, parameters and body, and the owner's answer is returned as is.
//!
//! Unlike Nacos, forwarding is asynchronous with a bounded number in flight (a slow peer
//! cannot exhaust the server: Nacos #10148), v2 writes are forwarded too, and the loop guard
//! is the peer's `User-Agent` (`Nacos-Server`), as in Nacos.
//!
//! Requests go out through the node's [`Network`][distro_transport_grpc::net::Network] (TCP in
//! production, the simulated network in the simulation) on a pooled HTTP/1 client.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use distro_core::Distro;
use distro_naming::replication::mapper::DistroMapper;
use distro_transport_grpc::net::{BoxStream, Connector, SharedNetwork, SocketOptions};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;

use crate::http::params::Params;
use crate::state::AppState;

/// `User-Agent` prefix of requests between nodes (the loop guard).
pub const PEER_USER_AGENT: &str = "Nacos-Server distro-server";
/// Timeout of one forwarded request (Nacos: 2 s).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// Most forwarded requests in flight at once.
const FORWARDS_IN_FLIGHT_MAX: usize = 256;

/// The forwarding client: pooled HTTP/1 connections dialed through the node's network.
type ForwardClient = Client<ForwardConnector, Full<Bytes>>;

/// Sends misrouted writes to their owner.
pub struct Forwarder {
    mapper: Arc<DistroMapper>,
    distro: Distro,
    client: ForwardClient,
    budget: Semaphore,
}

impl Forwarder {
    /// A forwarder deciding ownership with `mapper`, dialing owners over `network`.
    pub fn new(mapper: Arc<DistroMapper>, distro: Distro, network: SharedNetwork) -> Self {
        let options = SocketOptions {
            nodelay: true,
            keepalive: None,
        };
        let connector = ForwardConnector(Connector::new(network, options));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self {
            mapper,
            distro,
            client,
            budget: Semaphore::new(FORWARDS_IN_FLIGHT_MAX),
        }
    }
}

/// Middleware on instance writes and beats: handle here when responsible, else forward.
pub async fn route_to_owner(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(forwarder) = state.forwarder.clone() else {
        return next.run(request).await;
    };
    // Reads are answered locally everywhere.
    if request.method() == axum::http::Method::GET {
        return next.run(request).await;
    }
    let limit = state.config.server.body_len_max;
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
        )
            .into_response();
    };
    let params = form_params(parts.uri.query(), &parts.headers, &body);
    let tag = ownership_tag(&params);
    let target = match &tag {
        Some(tag) if !forwarder.mapper.responsible(tag) => forwarder.mapper.target(tag),
        _ => None,
    };
    let Some(target) = target else {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    };
    let from_peer = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains("Nacos-Server"));
    if from_peer {
        let message = format!(
            "receive invalid redirect request from peer, not responsible for {}",
            tag.unwrap_or_default()
        );
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let missing = if parts.uri.path().ends_with("/instance/beat") {
        super::v1_instance::note_passing_beat(&state, &params)
    } else {
        None
    };
    let answer = forward(&forwarder, &target, parts, body).await;
    if let Some(client) = missing
        && answer.status() == StatusCode::OK
    {
        // The owner answered a beat of an instance this node does not hold: this replica
        // missed a change (a sync lost on a flaky link); fetch it now rather than at the
        // next verify round, so a client beating here is listed here.
        let distro = forwarder.distro.clone();
        tokio::spawn(async move { distro.fetch(&target, client.as_str()).await });
    }
    answer
}

/// The query and (form) body parameters of a request.
fn form_params(query: Option<&str>, headers: &axum::http::HeaderMap, body: &Bytes) -> Params {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    Params::parse(query, is_form.then_some(body.as_ref()))
}

/// The `ip:port` a request is about: `ip`/`port` parameters, else the `beat` JSON's.
fn ownership_tag(params: &Params) -> Option<String> {
    if let Some(ip) = params.get("ip").filter(|ip| !ip.trim().is_empty()) {
        let port = params.get("port").unwrap_or("0").trim();
        return Some(format!("{}:{port}", ip.trim()));
    }
    let beat: serde_json::Value = serde_json::from_str(params.get("beat")?).ok()?;
    let ip = beat.get("ip")?.as_str()?;
    let port = beat
        .get("port")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    Some(format!("{ip}:{port}"))
}

async fn forward(
    forwarder: &Forwarder,
    target: &str,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let Ok(_permit) = forwarder.budget.try_acquire() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many forwarded requests in flight, retry later",
        )
            .into_response();
    };
    // Inside the `/nacos` nest the URI lost its prefix; the original one has it.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://{target}{path}");
    let mut request = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(url)
        .header(USER_AGENT, PEER_USER_AGENT);
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        request = request.header(CONTENT_TYPE, content_type.clone());
    }
    let request = match request.body(Full::new(body)) {
        Ok(request) => request,
        Err(error) => return failed(target, &error),
    };
    metrics::counter!("naming_forwarded_requests_total").increment(1);
    // One deadline over connect, request and the whole answer, as the old client's timeout.
    let exchange = async {
        let answer = forwarder
            .client
            .request(request)
            .await
            .map_err(|error| error.to_string())?;
        let (head, body) = answer.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        Ok::<_, String>((head, body))
    };
    match tokio::time::timeout(FORWARD_TIMEOUT, exchange).await {
        Ok(Ok((head, body))) => relay(head, body),
        Ok(Err(error)) => failed(target, &error),
        Err(_) => failed(target, &"timed out"),
    }
}

/// The answer to a request whose forwarding failed.
fn failed(target: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(%target, %error, "forwarding to the responsible node failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Server failed, forwarding to {target}: {error}"),
    )
        .into_response()
}

/// The owner's answer, as is: status, content type and body.
fn relay(head: axum::http::response::Parts, body: Bytes) -> Response {
    let content_type = head
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let mut response = (head.status, body).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// Dials through the network; its streams say what hyper's pool needs to know of them.
#[derive(Clone)]
struct ForwardConnector(Connector);

impl tower::Service<axum::http::Uri> for ForwardConnector {
    type Response = TokioIo<ForwardIo>;
    type Error = io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: axum::http::Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(TokioIo::new(ForwardIo(io.into_inner())))
        })
    }
}

/// A stream to an owner.
struct ForwardIo(BoxStream);

impl Connection for ForwardIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for ForwardIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ForwardIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
