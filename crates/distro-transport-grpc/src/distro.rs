//! Distro over the cluster port: the [`GrpcTransport`] the kernel sends through, the
//! [`DistroHandlers`] the server answers with, and the conversions between the kernel's
//! messages and their protobuf form.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use distro_core::{
    BoxFuture, Distro, Lease, SnapshotChunk, SnapshotStream, SyncItem, Transport, TransportError,
    VerifyRequest, VerifyResponse,
};
use parking_lot::RwLock;
use prost::Message;
use tokio::sync::mpsc;
use tonic::{Code, Status};

use crate::client::PeerChannels;
use crate::proto;
use crate::proto::verify_request::Step;
use crate::proto::verify_response::Answer;

/// Longest key accepted from a peer.
const KEY_LEN_MAX: usize = 1024;
/// Longest owner address accepted from a peer.
const OWNER_LEN_MAX: usize = 256;
/// Chunks buffered per snapshot stream being received.
const SNAPSHOT_CHUNKS_BUFFERED: usize = 2;
/// Metric: bytes of verify messages sent.
const VERIFY_BYTES_TOTAL: &str = distro_core::metrics::VERIFY_BYTES_TOTAL;

/// The Distro engines of this node by resource type, for the server side. Filled once the
/// engines exist; calls before that are answered `UNAVAILABLE`.
#[derive(Clone, Default)]
pub struct DistroHandlers {
    engines: Arc<RwLock<HashMap<String, Distro>>>,
}

impl fmt::Debug for DistroHandlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<String> = self.engines.read().keys().cloned().collect();
        f.debug_struct("DistroHandlers")
            .field("types", &types)
            .finish()
    }
}

impl DistroHandlers {
    /// Serves `engine` for its resource type.
    pub fn register(&self, engine: Distro) {
        self.engines
            .write()
            .insert(engine.resource_type().to_owned(), engine);
    }

    /// The engine of a resource type.
    pub fn get(&self, resource_type: &str) -> Result<Distro, Status> {
        self.engines
            .read()
            .get(resource_type)
            .cloned()
            .ok_or_else(|| {
                Status::unavailable(format!("no Distro engine for {resource_type:?} (yet)"))
            })
    }
}

/// The kernel's [`Transport`] over the peers' cluster ports.
#[derive(Debug, Clone)]
pub struct GrpcTransport {
    channels: Arc<PeerChannels>,
}

impl GrpcTransport {
    /// A transport over `channels` (shared with the failure detector).
    pub fn new(channels: Arc<PeerChannels>) -> Self {
        Self { channels }
    }

    fn client(&self, peer: &str) -> Result<crate::ClusterClient, TransportError> {
        self.channels
            .client(peer)
            .map_err(|e| TransportError::Refused(e.to_string()))
    }
}

impl Transport for GrpcTransport {
    fn sync<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
        items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let request = proto::SyncRequest {
                resource_type: resource_type.to_owned(),
                items: items.into_iter().map(item_to_proto).collect(),
            };
            self.client(peer)?
                .sync(request)
                .await
                .map_err(status_error)?;
            Ok(())
        })
    }

    fn verify<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
        request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>> {
        Box::pin(async move {
            let request = verify_to_proto(resource_type, request);
            metrics::counter!(VERIFY_BYTES_TOTAL).increment(request.encoded_len() as u64);
            let answer = self
                .client(peer)?
                .verify(request)
                .await
                .map_err(status_error)?;
            verify_answer_from_proto(answer.into_inner())
                .map_err(|e| TransportError::Refused(e.message().to_owned()))
        })
    }

    fn snapshot<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>> {
        Box::pin(async move {
            let request = proto::SnapshotRequest {
                resource_type: resource_type.to_owned(),
            };
            let mut stream = self
                .client(peer)?
                .snapshot(request)
                .await
                .map_err(status_error)?
                .into_inner();
            let (sender, receiver) = mpsc::channel(SNAPSHOT_CHUNKS_BUFFERED);
            tokio::spawn(async move {
                loop {
                    let next = match stream.message().await {
                        Ok(Some(chunk)) => chunk_from_proto(chunk)
                            .map_err(|e| TransportError::Refused(e.message().to_owned())),
                        Ok(None) => return,
                        Err(status) => Err(status_error(status)),
                    };
                    let failed = next.is_err();
                    if sender.send(next).await.is_err() || failed {
                        return;
                    }
                }
            });
            Ok(receiver)
        })
    }

    fn query<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>> {
        Box::pin(async move {
            let request = proto::QueryRequest {
                resource_type: resource_type.to_owned(),
                key: key.to_owned(),
            };
            let answer = self
                .client(peer)?
                .query(request)
                .await
                .map_err(status_error)?
                .into_inner();
            answer
                .item
                .map(item_from_proto)
                .transpose()
                .map_err(|e| TransportError::Refused(e.message().to_owned()))
        })
    }
}

/// The kernel's view of a failed call.
fn status_error(status: Status) -> TransportError {
    match status.code() {
        Code::Unavailable if status.message().contains("not ready") => TransportError::NotReady,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            TransportError::Unreachable(status.message().to_owned())
        }
        _ => TransportError::Refused(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// The answer to a kernel error on the server side.
pub fn error_status(error: TransportError) -> Status {
    match error {
        TransportError::NotReady => {
            Status::unavailable("not ready: this node has not loaded its data")
        }
        TransportError::Unreachable(message) => Status::unavailable(message),
        TransportError::Refused(message) => Status::failed_precondition(message),
    }
}

/// An item in its wire form.
pub fn item_to_proto(item: SyncItem) -> proto::SyncItem {
    let lease = match item.lease {
        Lease::OwnerBound => proto::Lease::OwnerBound,
        Lease::Transferable => proto::Lease::Transferable,
    };
    proto::SyncItem {
        key: item.key,
        owner: item.owner,
        revision: item.revision,
        lease: lease as i32,
        payload: item.payload.map(|p| p.to_vec()),
    }
}

/// An item from its wire form, checked.
pub fn item_from_proto(item: proto::SyncItem) -> Result<SyncItem, Status> {
    if item.key.is_empty() || item.key.len() > KEY_LEN_MAX {
        return Err(Status::invalid_argument(
            "sync item key is empty or too long",
        ));
    }
    if item.owner.len() > OWNER_LEN_MAX {
        return Err(Status::invalid_argument("sync item owner is too long"));
    }
    let lease = match proto::Lease::try_from(item.lease) {
        Ok(proto::Lease::OwnerBound) => Lease::OwnerBound,
        Ok(proto::Lease::Transferable) => Lease::Transferable,
        Err(_) => return Err(Status::invalid_argument("unknown lease")),
    };
    Ok(SyncItem {
        key: item.key,
        owner: item.owner,
        revision: item.revision,
        lease,
        payload: item.payload.map(bytes::Bytes::from),
    })
}

/// Items of a sync request, all checked before any is applied.
pub fn items_from_proto(items: Vec<proto::SyncItem>) -> Result<Vec<SyncItem>, Status> {
    items.into_iter().map(item_from_proto).collect()
}

fn chunk_from_proto(chunk: proto::SnapshotChunk) -> Result<SnapshotChunk, Status> {
    Ok(SnapshotChunk {
        items: items_from_proto(chunk.items)?,
    })
}

/// A snapshot chunk in its wire form.
pub fn chunk_to_proto(chunk: SnapshotChunk) -> proto::SnapshotChunk {
    proto::SnapshotChunk {
        items: chunk.items.into_iter().map(item_to_proto).collect(),
    }
}

/// A verify step in its wire form.
pub fn verify_to_proto(resource_type: &str, request: VerifyRequest) -> proto::VerifyRequest {
    let step = match request {
        VerifyRequest::Root { owner, root, count } => {
            Step::Root(proto::RootDigest { owner, root, count })
        }
        VerifyRequest::Buckets { owner, sums } => {
            Step::Buckets(proto::BucketDigests { owner, sums })
        }
        VerifyRequest::Entries {
            owner,
            buckets,
            entries,
        } => Step::Entries(proto::BucketEntries {
            owner,
            buckets,
            entries: entries
                .into_iter()
                .map(|(key, revision)| proto::KeyRevision { key, revision })
                .collect(),
        }),
    };
    proto::VerifyRequest {
        resource_type: resource_type.to_owned(),
        step: Some(step),
    }
}

/// A verify step from its wire form, checked.
pub fn verify_from_proto(request: proto::VerifyRequest) -> Result<VerifyRequest, Status> {
    let check_owner = |owner: &str| {
        if owner.is_empty() || owner.len() > OWNER_LEN_MAX {
            Err(Status::invalid_argument(
                "verify owner is empty or too long",
            ))
        } else {
            Ok(())
        }
    };
    match request.step {
        None => Err(Status::invalid_argument("verify request without a step")),
        Some(Step::Root(root)) => {
            check_owner(&root.owner)?;
            Ok(VerifyRequest::Root {
                owner: root.owner,
                root: root.root,
                count: root.count,
            })
        }
        Some(Step::Buckets(buckets)) => {
            check_owner(&buckets.owner)?;
            Ok(VerifyRequest::Buckets {
                owner: buckets.owner,
                sums: buckets.sums,
            })
        }
        Some(Step::Entries(entries)) => {
            check_owner(&entries.owner)?;
            if entries
                .entries
                .iter()
                .any(|e| e.key.is_empty() || e.key.len() > KEY_LEN_MAX)
            {
                return Err(Status::invalid_argument(
                    "verify entry key is empty or too long",
                ));
            }
            Ok(VerifyRequest::Entries {
                owner: entries.owner,
                buckets: entries.buckets,
                entries: entries
                    .entries
                    .into_iter()
                    .map(|e| (e.key, e.revision))
                    .collect(),
            })
        }
    }
}

/// A verify answer in its wire form.
pub fn verify_answer_to_proto(answer: VerifyResponse) -> proto::VerifyResponse {
    let answer = match answer {
        VerifyResponse::Match => Answer::Match(proto::Empty {}),
        VerifyResponse::NeedBuckets => Answer::NeedBuckets(proto::Empty {}),
        VerifyResponse::NeedEntries(buckets) => Answer::NeedEntries(proto::BucketList { buckets }),
        VerifyResponse::Want(keys) => Answer::Want(proto::KeyList { keys }),
    };
    proto::VerifyResponse {
        answer: Some(answer),
    }
}

fn verify_answer_from_proto(answer: proto::VerifyResponse) -> Result<VerifyResponse, Status> {
    match answer.answer {
        None => Err(Status::invalid_argument("verify answer without content")),
        Some(Answer::Match(_)) => Ok(VerifyResponse::Match),
        Some(Answer::NeedBuckets(_)) => Ok(VerifyResponse::NeedBuckets),
        Some(Answer::NeedEntries(list)) => Ok(VerifyResponse::NeedEntries(list.buckets)),
        Some(Answer::Want(list)) => Ok(VerifyResponse::Want(list.keys)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_bad_ones_are_refused() {
        let item = SyncItem {
            key: "k".into(),
            owner: "10.0.0.1:8848".into(),
            revision: 9,
            lease: Lease::Transferable,
            payload: Some(bytes::Bytes::from_static(b"record")),
        };
        assert_eq!(item_from_proto(item_to_proto(item.clone())).unwrap(), item);
        let deletion = SyncItem {
            payload: None,
            ..item
        };
        assert_eq!(
            item_from_proto(item_to_proto(deletion.clone())).unwrap(),
            deletion
        );
        let bad_lease = proto::SyncItem {
            key: "k".into(),
            lease: 7,
            ..Default::default()
        };
        assert_eq!(
            item_from_proto(bad_lease).unwrap_err().code(),
            Code::InvalidArgument
        );
        let no_key = proto::SyncItem::default();
        assert_eq!(
            item_from_proto(no_key).unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn verify_steps_round_trip() {
        for request in [
            VerifyRequest::Root {
                owner: "a:1".into(),
                root: u64::MAX,
                count: 3,
            },
            VerifyRequest::Buckets {
                owner: "a:1".into(),
                sums: vec![1, 2, 3],
            },
            VerifyRequest::Entries {
                owner: "a:1".into(),
                buckets: vec![4],
                entries: vec![("k".into(), 2)],
            },
        ] {
            assert_eq!(
                verify_from_proto(verify_to_proto("t", request.clone())).unwrap(),
                request
            );
        }
        for answer in [
            VerifyResponse::Match,
            VerifyResponse::NeedBuckets,
            VerifyResponse::NeedEntries(vec![1]),
            VerifyResponse::Want(vec!["k".into()]),
        ] {
            assert_eq!(
                verify_answer_from_proto(verify_answer_to_proto(answer.clone())).unwrap(),
                answer
            );
        }
        let empty = proto::VerifyRequest::default();
        assert_eq!(
            verify_from_proto(empty).unwrap_err().code(),
            Code::InvalidArgument
        );
    }
}
