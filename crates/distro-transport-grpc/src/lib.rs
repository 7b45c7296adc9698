//! gRPC transport between distro registry nodes (the cluster port, HTTP port + 1001).
//!
//! This crate will carry Distro sync, batched verify, streamed snapshots, queries and member
//! reports over tonic, authenticated by the cluster secret (issues "Cluster membership" and
//! "Distro"). Nothing is implemented yet: the crate exists so the workspace has its final shape.
