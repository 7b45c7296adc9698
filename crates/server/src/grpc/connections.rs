//! The registered connections of this node, by connection id.
//!
//! A connection is registered by its `ConnectionSetupRequest` and leaves when its stream
//! ends, its transport closes or it fails a liveness probe; leaving removes its naming
//! client (instances and subscriptions) at once. The table is also the [`PushSink`]: a push
//! goes to the subscriber connection's coalescing queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use distro_nacos_api::grpc::MODULE_INTERNAL;
use distro_nacos_api::grpc::internal::ConnectResetRequest;
use distro_naming::{Push, PushSink, Registry};
use parking_lot::RwLock;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::grpc::connection::Connection;

/// Registered connections.
pub struct Connections {
    map: RwLock<HashMap<Arc<str>, Arc<Connection>>>,
    registry: Arc<Registry>,
    streams: CancellationToken,
}

impl Connections {
    /// An empty table whose connections own clients in `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            map: RwLock::default(),
            registry,
            streams: CancellationToken::new(),
        }
    }

    /// A token for a new stream: cancelled when the connection closes or the node stops.
    pub fn stream_token(&self) -> CancellationToken {
        self.streams.child_token()
    }

    /// The registered connection with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Connection>> {
        self.map.read().get(id).cloned()
    }

    /// Every registered connection.
    pub fn all(&self) -> Vec<Arc<Connection>> {
        self.map.read().values().cloned().collect()
    }

    /// Registers a connection; `naming` creates its naming client. A connection already
    /// registered under the id (a new stream on the same transport) is replaced and closed,
    /// keeping its naming client: the newest stream is the one that can take pushes.
    pub fn register(&self, connection: Arc<Connection>, naming: bool) {
        if naming {
            self.registry
                .connect(Instant::now(), connection.client_id());
        }
        let replaced = {
            let mut map = self.map.write();
            let replaced = map.insert(Arc::clone(&connection.id), connection);
            metrics::gauge!("naming_grpc_connections").set(map.len() as f64);
            replaced
        };
        if let Some(old) = replaced {
            old.close();
        }
    }

    /// Removes `connection` (if it is still the one registered under its id) with its naming
    /// client, and closes it. Returns whether it was registered.
    pub fn unregister(&self, connection: &Arc<Connection>, reason: &str) -> bool {
        let removed = {
            let mut map = self.map.write();
            let current = map
                .get(&connection.id)
                .is_some_and(|c| Arc::ptr_eq(c, connection));
            if current {
                map.remove(&connection.id);
                metrics::gauge!("naming_grpc_connections").set(map.len() as f64);
            }
            current
        };
        connection.close();
        if removed {
            self.registry
                .disconnect(Instant::now(), &connection.client_id());
            tracing::info!(connection = %connection.id, reason, "connection removed");
        }
        removed
    }

    /// The transport of `id` is gone: removes whatever connection it carried.
    pub fn transport_closed(&self, id: &str) {
        if let Some(connection) = self.get(id) {
            self.unregister(&connection, "transport closed");
        }
    }

    /// Connections silent since before `cutoff`.
    pub fn idle_since(&self, cutoff: Instant) -> Vec<Arc<Connection>> {
        self.map
            .read()
            .values()
            .filter(|c| c.last_active() < cutoff)
            .cloned()
            .collect()
    }

    /// Asks every client to reconnect elsewhere (`ConnectResetRequest`) and waits up to
    /// `grace` for their answers, so the resets are written before the streams close.
    pub async fn reset_all(&self, grace: Duration) {
        let mut resets = JoinSet::new();
        for connection in self.all() {
            resets.spawn(async move {
                let id = connection.id.to_string();
                let build = |header| ConnectResetRequest {
                    header,
                    server_ip: None,
                    server_port: None,
                    connection_id: Some(id),
                };
                let _ = connection.request(MODULE_INTERNAL, build, grace).await;
            });
        }
        while resets.join_next().await.is_some() {}
    }

    /// Closes every stream (node shutdown); their readers then unregister them.
    pub fn close_all(&self) {
        self.streams.cancel();
        for connection in self.all() {
            connection.close();
        }
    }
}

impl PushSink for Connections {
    fn offer(&self, push: Push) -> Result<(), Box<Push>> {
        match self.get(push.client.as_str()) {
            Some(connection) => connection.pushes.offer(push),
            // The subscriber left: nothing to push (Nacos counts this as a success).
            None => Ok(()),
        }
    }
}
