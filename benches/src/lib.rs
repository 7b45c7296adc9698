//! Benchmarks of the distro registry: criterion micro-benchmarks of the hot paths
//! (`benches/hot_paths.rs`) and the load tool `distro-load` ([`load`]), which drives a
//! running server (or cluster) on 127.0.0.1 over HTTP/1.1 and the Nacos gRPC protocol.

pub mod load;
