//! `Request/request`: the unary front door. Checks run in Nacos's order: server starting
//! (300), `ServerCheckRequest` (answered before any registration), unknown type (302),
//! unregistered connection (301), unparsable body (502), then the handler.

use std::sync::Arc;
use std::time::Instant as StdInstant;

use distro_nacos_api::grpc::internal::{HealthCheckResponse, ServerCheckResponse};
use distro_nacos_api::grpc::message::body_bytes;
use distro_nacos_api::grpc::proto::request_server;
use distro_nacos_api::grpc::{ClientRequest, Payload, ResponseStatus, codes, payload_type};
use tonic::{Response, Status};

use crate::grpc::GrpcContext;
use crate::grpc::connection::Connection;
use crate::grpc::naming;
use crate::grpc::reply::Reply;
use crate::grpc::transport::TransportInfo;
use crate::limits::ConnectionLimits;

/// The unary service.
pub struct UnaryService {
    ctx: GrpcContext,
}

impl UnaryService {
    /// A service answering from `ctx`.
    pub fn new(ctx: GrpcContext) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl request_server::Request for UnaryService {
    async fn request(&self, request: tonic::Request<Payload>) -> Result<Response<Payload>, Status> {
        let started = StdInstant::now();
        let transport = request.extensions().get::<TransportInfo>().cloned();
        let limits = connection_limits(&request);
        let payload = request.into_inner();
        let kind = payload_type(&payload);
        let reply = match over_rate(limits.as_ref(), kind) {
            Some(refused) => refused,
            None => dispatch(&self.ctx, transport.as_ref(), kind, &payload).await,
        };
        let kind_label = if ClientRequest::is_handled(kind) {
            kind.to_owned()
        } else {
            "other".to_owned()
        };
        metrics::counter!("naming_grpc_requests_total", "type" => kind_label.clone(), "result" => reply.result_label())
            .increment(1);
        metrics::histogram!("naming_grpc_request_duration_seconds", "type" => kind_label)
            .record(started.elapsed().as_secs_f64());
        Ok(Response::new(reply.payload))
    }
}

/// The connection's limits, when the transport carries them.
fn connection_limits(request: &tonic::Request<Payload>) -> Option<ConnectionLimits> {
    request
        .extensions()
        .get::<TransportInfo>()
        .map(|transport| transport.limits.clone())
}

/// Takes one request from the connection's rate budget; the refusal when it is spent.
/// Handshake and health checks are never refused: an SDK whose health check fails drops the
/// connection and reconnects, which is more load, not less. The connection stays usable.
fn over_rate(limits: Option<&ConnectionLimits>, kind: &str) -> Option<Reply> {
    if matches!(kind, "ServerCheckRequest" | "HealthCheckRequest") {
        return None;
    }
    let refused = limits?.check_rate().err()?;
    // Nacos's TPS refusal: errorCode 503 (OVER_THRESHOLD), "Tps Flow restricted:…".
    Some(Reply::error(
        codes::OVER_THRESHOLD,
        refused.to_string(),
        None,
    ))
}

/// Answers one unary payload; never fails (every problem is an error response).
async fn dispatch(
    ctx: &GrpcContext,
    transport: Option<&TransportInfo>,
    kind: &str,
    payload: &Payload,
) -> Reply {
    if !ctx.state.is_ready() {
        let message = codes::MSG_SERVER_STARTING;
        return Reply::error(codes::INVALID_SERVER_STATUS, message, None);
    }
    if kind == "ServerCheckRequest" {
        return server_check(transport);
    }
    if !ClientRequest::is_handled(kind) {
        return Reply::error(codes::NO_HANDLER, codes::MSG_NO_HANDLER, None);
    }
    let Some(connection) = registered(ctx, transport).await else {
        return Reply::error(codes::UN_REGISTER, codes::MSG_UNREGISTERED, None);
    };
    match parse(kind, payload) {
        Ok(request) => {
            connection.touch();
            handle(ctx, &connection, transport, &request)
        }
        Err((code, message)) => Reply::error(code, message, None),
    }
}

/// The connection registered on the caller's transport, waiting for a setup in flight.
async fn registered(
    ctx: &GrpcContext,
    transport: Option<&TransportInfo>,
) -> Option<Arc<Connection>> {
    let transport = transport?;
    transport
        .setup
        .wait_for(|| ctx.connections.get(&transport.id))
        .await
}

/// The request in the body; an unreadable body is `BAD_GATEWAY`, as in Nacos (the error
/// is the code and message to answer with).
fn parse(kind: &str, payload: &Payload) -> Result<ClientRequest, (i32, String)> {
    let parsed = match body_bytes(payload) {
        Ok(body) => ClientRequest::decode(kind, body),
        Err(error) => Some(Err(error)),
    };
    match parsed {
        Some(Ok(request)) => Ok(request),
        Some(Err(error)) => Err((codes::BAD_GATEWAY, error.to_string())),
        None => Err((codes::NO_HANDLER, codes::MSG_NO_HANDLER.to_owned())),
    }
}

/// Runs the handler of a parsed request from a registered connection.
fn handle(
    ctx: &GrpcContext,
    connection: &Connection,
    transport: Option<&TransportInfo>,
    request: &ClientRequest,
) -> Reply {
    let registry = &ctx.state.registry;
    match request {
        ClientRequest::ServerCheck(_) => server_check(transport),
        ClientRequest::HealthCheck(r) => {
            let response = HealthCheckResponse {
                status: ResponseStatus::ok(),
            };
            Reply::new(response, r.header.request_id.as_deref())
        }
        ClientRequest::Instance(r) => naming::instance(registry, connection, r),
        ClientRequest::PersistentInstance(r) => naming::persistent(r),
        ClientRequest::BatchInstance(r) => naming::batch(registry, connection, r),
        ClientRequest::ServiceQuery(r) => naming::query(registry, r),
        ClientRequest::SubscribeService(r) => naming::subscribe(registry, connection, r),
        ClientRequest::ServiceList(r) => naming::list(registry, r),
    }
}

/// The transport's connection id; this server answers ability tables with `SetupAckRequest`.
fn server_check(transport: Option<&TransportInfo>) -> Reply {
    let response = ServerCheckResponse {
        status: ResponseStatus::ok(),
        connection_id: transport.map(|t| t.id.to_string()),
        support_ability_negotiation: true,
    };
    Reply::new(response, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::ConnectionPolicy;

    #[test]
    fn requests_over_the_rate_get_nacos_tps_refusal_but_health_checks_pass() {
        let limits = ConnectionPolicy::new(0, 1, 1, "grpc")
            .admit("127.0.0.1".parse().unwrap())
            .unwrap();
        assert!(over_rate(Some(&limits), "InstanceRequest").is_none());
        let refused = over_rate(Some(&limits), "InstanceRequest").expect("over the rate");
        assert_eq!(
            (refused.result_code, refused.error_code),
            (codes::FAIL, codes::OVER_THRESHOLD)
        );
        let body: serde_json::Value =
            serde_json::from_slice(body_bytes(&refused.payload).unwrap()).unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Tps Flow restricted:connection from 127.0.0.1")
        );
        assert_eq!(payload_type(&refused.payload), "ErrorResponse");
        for exempt in ["HealthCheckRequest", "ServerCheckRequest"] {
            assert!(over_rate(Some(&limits), exempt).is_none());
        }
        assert!(
            over_rate(None, "InstanceRequest").is_none(),
            "unwired: no limit"
        );
    }
}
