//! The prost messages and tonic stubs generated from `proto/distro.proto` (package `distro.v1`).
//!
//! `cluster_client::ClusterClient` is the client stub, `cluster_server::{Cluster, ClusterServer}`
//! the server trait and its tower service.

#![allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]

tonic::include_proto!("distro.v1");
