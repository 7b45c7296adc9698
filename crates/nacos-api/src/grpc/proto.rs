//! The prost messages and tonic stubs generated from `proto/nacos_grpc_service.proto`.
//!
//! The proto has no package, so the gRPC paths are `/Request/request` and
//! `/BiRequestStream/requestBiStream`, exactly as every Nacos SDK calls them.
//! `request_client`/`bi_request_stream_client` are the client stubs (tests, load tool);
//! `request_server`/`bi_request_stream_server` the server traits.

#![allow(
    missing_docs,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    rust_2018_idioms
)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));
