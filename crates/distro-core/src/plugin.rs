//! What a resource type plugs into the kernel (its storage and processor) and what a
//! transport provides (calls to peers).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::message::{SnapshotChunk, SyncItem, VerifyRequest, VerifyResponse};

/// A boxed future, so transports can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Chunks of a snapshot as they arrive.
pub type SnapshotStream = mpsc::Receiver<Result<SnapshotChunk, TransportError>>;

/// Reads the current state of the keys of one resource type.
pub trait DataStorage: Send + Sync + 'static {
    /// The current record of a key with the revision it carries, if the key is held.
    fn payload(&self, key: &str) -> Option<(u64, Bytes)>;
}

/// Applies records received from peers. Called with the kernel's lock held: it must not call
/// back into the kernel (events it triggers should be handled asynchronously).
pub trait DataProcessor: Send + Sync + 'static {
    /// Replaces the key's record with `payload` at `revision`, owned by `owner`.
    fn apply(
        &self,
        key: &str,
        owner: &str,
        revision: u64,
        payload: &[u8],
    ) -> Result<(), ApplyError>;
    /// Removes the key's record, deleted at `revision`. An error refuses the deletion (the
    /// plugin has evidence against it) and changes nothing.
    fn remove(&self, key: &str, revision: u64) -> Result<(), ApplyError>;
}

/// A record could not be applied (undecodable or invalid); nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot apply record: {0}")]
pub struct ApplyError(pub String);

/// Calls to peers.
pub trait Transport: Send + Sync + 'static {
    /// Sends a batch of key states to `peer`.
    fn sync<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
        items: Vec<SyncItem>,
    ) -> BoxFuture<'a, Result<(), TransportError>>;
    /// Sends one verify message to `peer`.
    fn verify<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
        request: VerifyRequest,
    ) -> BoxFuture<'a, Result<VerifyResponse, TransportError>>;
    /// Opens a snapshot stream from `peer`.
    fn snapshot<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
    ) -> BoxFuture<'a, Result<SnapshotStream, TransportError>>;
    /// Fetches one key from `peer`.
    fn query<'a>(
        &'a self,
        peer: &'a str,
        resource_type: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<SyncItem>, TransportError>>;
}

/// A call to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The peer could not be reached or did not answer in time.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer answered that it has not loaded its own data yet.
    #[error("peer not ready")]
    NotReady,
    /// The peer refused the call (authentication, unknown type, bad message).
    #[error("peer refused: {0}")]
    Refused(String),
}
