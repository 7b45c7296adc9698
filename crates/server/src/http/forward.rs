//! Forwarding of `ip:port` writes to the node responsible for them (Nacos's DistroFilter):
//! an instance write or beat that lands on another node is proxied to the owner with the
//! same method, parameters and body, and the owner's answer is returned as is.
//!
//! Unlike Nacos, forwarding is asynchronous with a bounded number in flight (a slow peer
//! cannot exhaust the server: Nacos #10148), v2 writes are forwarded too, and the loop guard
//! is the peer's `User-Agent` (`Nacos-Server`), as in Nacos.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use distro_naming::replication::mapper::DistroMapper;
use tokio::sync::Semaphore;

use crate::http::params::Params;
use crate::state::AppState;

/// `User-Agent` prefix of requests between nodes (the loop guard).
pub const PEER_USER_AGENT: &str = "Nacos-Server distro-server";
/// Timeout of one forwarded request (Nacos: 2 s).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// Most forwarded requests in flight at once.
const FORWARDS_IN_FLIGHT_MAX: usize = 256;

/// Sends misrouted writes to their owner.
pub struct Forwarder {
    mapper: Arc<DistroMapper>,
    client: reqwest::Client,
    budget: Semaphore,
}

impl Forwarder {
    /// A forwarder deciding ownership with `mapper`.
    pub fn new(mapper: Arc<DistroMapper>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .connect_timeout(FORWARD_TIMEOUT)
            .user_agent(PEER_USER_AGENT)
            .no_proxy()
            .build()?;
        Ok(Self {
            mapper,
            client,
            budget: Semaphore::new(FORWARDS_IN_FLIGHT_MAX),
        })
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
    let tag = ownership_tag(parts.uri.query(), &parts.headers, &body);
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
    forward(&forwarder, &target, parts, body).await
}

/// The `ip:port` a request is about: `ip`/`port` parameters, else the `beat` JSON's.
fn ownership_tag(
    query: Option<&str>,
    headers: &axum::http::HeaderMap,
    body: &Bytes,
) -> Option<String> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params = Params::parse(query, is_form.then_some(body.as_ref()));
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
    let mut request = forwarder
        .client
        .request(parts.method.clone(), url)
        .body(body);
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        request = request.header(CONTENT_TYPE, content_type.clone());
    }
    metrics::counter!("naming_forwarded_requests_total").increment(1);
    match request.send().await {
        Ok(answer) => relay(answer).await,
        Err(error) => {
            tracing::warn!(%target, %error, "forwarding to the responsible node failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Server failed, forwarding to {target}: {error}"),
            )
                .into_response()
        }
    }
}

async fn relay(answer: reqwest::Response) -> Response {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = (status, body).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}
