//! The server side of the cluster port: the `Cluster` service handlers and the listener loop.
//!
//! [`ClusterService`] implements every RPC of `distro.v1.Cluster`. It holds what the handlers
//! need (today the [`Membership`]); the Distro handlers join it as further fields when their
//! RPCs join the proto. [`router`] wraps it in the secret check and [`serve`] runs the result
//! on a bound listener until shutdown, so adding an RPC touches neither.

use std::sync::Arc;

use distro_cluster::{MemberAddress, MemberInfo, Membership, unix_millis};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

use std::pin::Pin;

use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use crate::auth::ClusterAuth;
use crate::distro::{self, DistroHandlers};
use crate::net::{BoxListener, Incoming, ServerIo};
use crate::proto;
use crate::proto::MemberReport;
use crate::proto::cluster_server::{Cluster, ClusterServer};

/// Longest version string accepted in a report (it is shown by the nodes API).
const VERSION_LEN_MAX: usize = 128;

/// Handlers of the `distro.v1.Cluster` service.
#[derive(Debug, Clone)]
pub struct ClusterService {
    membership: Arc<Membership>,
    distro: DistroHandlers,
}

impl ClusterService {
    /// A service answering for `membership` (this node's member list).
    pub fn new(membership: Arc<Membership>) -> Self {
        Self {
            membership,
            distro: DistroHandlers::default(),
        }
    }

    /// Also answers Distro calls with the engines registered in `distro`.
    pub fn with_distro(mut self, distro: DistroHandlers) -> Self {
        self.distro = distro;
        self
    }
}

/// The stream of snapshot chunks a `Snapshot` call answers with.
pub type SnapshotChunks = Pin<Box<dyn Stream<Item = Result<proto::SnapshotChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn report(
        &self,
        request: Request<MemberReport>,
    ) -> Result<Response<MemberReport>, Status> {
        let info = validate_report(request.into_inner())?;
        // A report from a listed peer refreshes its info, and proves it alive unless our own
        // probes of it are failing (one-way loss; see cluster's detector rules). Nacos's
        // MemberReportHandler marks it UP regardless. An unlisted address changes nothing.
        self.membership.on_report_received(&info, unix_millis());
        Ok(Response::new(to_report(&self.membership.self_info())))
    }

    async fn sync(
        &self,
        request: Request<proto::SyncRequest>,
    ) -> Result<Response<proto::SyncResponse>, Status> {
        let request = request.into_inner();
        let engine = self.distro.get(&request.resource_type)?;
        // Every item is checked before any is applied: a bad batch changes nothing.
        let items = distro::items_from_proto(request.items)?;
        let applied = engine.on_sync(items);
        Ok(Response::new(proto::SyncResponse {
            applied: applied.applied as u32,
            stale: applied.stale as u32,
            refused: applied.refused as u32,
        }))
    }

    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let request = request.into_inner();
        let engine = self.distro.get(&request.resource_type)?;
        let step = distro::verify_from_proto(request)?;
        Ok(Response::new(distro::verify_answer_to_proto(
            engine.on_verify(step),
        )))
    }

    type SnapshotStream = SnapshotChunks;

    async fn snapshot(
        &self,
        request: Request<proto::SnapshotRequest>,
    ) -> Result<Response<SnapshotChunks>, Status> {
        let engine = self.distro.get(&request.into_inner().resource_type)?;
        let chunks = engine.on_snapshot().map_err(distro::error_status)?;
        let stream = ReceiverStream::new(chunks).map(|chunk| {
            chunk
                .map(distro::chunk_to_proto)
                .map_err(distro::error_status)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn query(
        &self,
        request: Request<proto::QueryRequest>,
    ) -> Result<Response<proto::QueryResponse>, Status> {
        let request = request.into_inner();
        let engine = self.distro.get(&request.resource_type)?;
        let item = engine.on_query(&request.key).map(distro::item_to_proto);
        Ok(Response::new(proto::QueryResponse { item }))
    }
}

/// Checks a received report and turns it into member info with a canonical address.
fn validate_report(report: MemberReport) -> Result<MemberInfo, Status> {
    let address = MemberAddress::parse(&report.address, distro_cluster::DEFAULT_PORT)
        .map_err(|error| Status::invalid_argument(format!("report address: {error}")))?;
    if report.version.len() > VERSION_LEN_MAX {
        return Err(Status::invalid_argument(format!(
            "report version is longer than {VERSION_LEN_MAX} bytes"
        )));
    }
    Ok(MemberInfo {
        address: address.to_string(),
        version: report.version,
        ready: report.ready,
    })
}

/// The wire form of member info.
pub(crate) fn to_report(info: &MemberInfo) -> MemberReport {
    MemberReport {
        address: info.address.clone(),
        version: info.version.clone(),
        ready: info.ready,
    }
}

/// Largest message accepted on the cluster port (sync batches and snapshot chunks stay well
/// under it).
pub const MESSAGE_LEN_MAX: usize = 16 * 1024 * 1024;

/// A tonic router serving `service` behind the secret check of `auth`.
pub fn router(service: ClusterService, auth: &ClusterAuth) -> Router {
    let server = ClusterServer::new(service)
        .max_decoding_message_size(MESSAGE_LEN_MAX)
        .max_encoding_message_size(MESSAGE_LEN_MAX);
    let cluster =
        tonic::service::interceptor::InterceptedService::new(server, auth.server_interceptor());
    Server::builder().add_service(cluster)
}

/// Serves `router` on `listener` until `shutdown` is cancelled; in-flight calls finish first.
///
/// The listener comes from a [`crate::net::Network`] bound with `TCP_NODELAY`.
pub fn serve(listener: BoxListener, router: Router, shutdown: CancellationToken) -> JoinHandle<()> {
    let local = listener.local_addr().ok();
    let incoming = Incoming::new(listener)
        .map(move |accepted| accepted.map(|(io, remote)| ServerIo::new(io, remote, local)));
    tokio::spawn(async move {
        let served = router
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await;
        match served {
            Ok(()) => tracing::debug!(?local, "cluster gRPC server stopped"),
            Err(error) => tracing::error!(?local, %error, "cluster gRPC server failed"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_validated_and_canonicalised() {
        let ok = validate_report(MemberReport {
            address: "127.0.0.1".into(),
            version: "1.0".into(),
            ready: true,
        })
        .unwrap();
        assert_eq!(ok.address, "127.0.0.1:8848");
        assert!(ok.ready);

        let bad_address = validate_report(MemberReport {
            address: "not an address".into(),
            ..MemberReport::default()
        })
        .unwrap_err();
        assert_eq!(bad_address.code(), tonic::Code::InvalidArgument);

        let long_version = validate_report(MemberReport {
            address: "127.0.0.1:1".into(),
            version: "v".repeat(VERSION_LEN_MAX + 1),
            ready: false,
        })
        .unwrap_err();
        assert_eq!(long_version.code(), tonic::Code::InvalidArgument);
    }
}
