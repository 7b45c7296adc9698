//! gRPC transport between distro registry nodes: the cluster port (HTTP port + 1001).
//!
//! - [`proto`]: the prost messages and tonic stubs generated from `proto/distro.proto`
//!   (package `distro.v1`, service `Cluster`);
//! - [`auth`]: the shared cluster secret, checked in constant time on every call by a
//!   server interceptor and attached to every call by a client interceptor;
//! - [`server`]: [`ClusterService`], the handlers of the `Cluster` service, and
//!   [`serve`], which runs it on a listener until a shutdown token is cancelled;
//! - [`client`]: [`PeerChannels`], one lazily connected, reused channel per peer, and
//!   [`GrpcProber`], the [`distro_cluster::Prober`] the failure detector uses;
//! - [`net`]: the [`net::Network`] trait nodes bind and dial through (TCP, or a simulation);
//! - [`metrics`][crate::metrics]: `cluster_auth_failures_total`.
//!
//! The service carries member reports (the failure detector's probes) and Distro
//! ([`distro`]: sync, batched verify, streamed snapshot, query) on the same port and the same
//! authenticated channels.

pub mod auth;
pub mod client;
pub mod distro;
pub mod metrics;
pub mod net;
pub mod proto;
pub mod server;

pub use auth::{ClusterAuth, ClusterSecret, SECRET_METADATA_KEY, SecretError, constant_time_eq};
pub use client::{AuthedChannel, ClientConfig, ClusterClient, GrpcProber, PeerChannels};
pub use distro::{DistroHandlers, GrpcTransport};
pub use net::{Network, SharedNetwork, SocketOptions, TokioNetwork};
pub use server::{ClusterService, MESSAGE_LEN_MAX, router, serve};

/// Default distance from a node's HTTP port to its cluster port (Nacos: 1001).
pub const CLUSTER_PORT_OFFSET_DEFAULT: u16 = 1001;
