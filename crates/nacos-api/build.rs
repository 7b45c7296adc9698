//! Compiles `proto/nacos_grpc_service.proto` (the Nacos 2.x client envelope) with protox, a
//! pure-Rust protobuf compiler, so no system `protoc` is needed; tonic-prost-build then
//! generates the prost messages and both the client and the server stubs.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir.join("../../proto");
    let proto = proto_dir.join("nacos_grpc_service.proto");
    // Only the proto (and this script) can change the generated code.
    println!("cargo:rerun-if-changed={}", proto.display());
    println!("cargo:rerun-if-changed=build.rs");
    let descriptors = protox::compile([&proto], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
