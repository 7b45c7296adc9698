//! Fuzz checks of every input a distro node takes from the network.
//!
//! One module per target, each with a `check_*` function that feeds one input to the real
//! code and asserts the invariants (no panic; a rejected input leaves the registry and the
//! Distro kernel exactly as they were; an accepted one leaves them consistent):
//! - [`http`]: query strings and form bodies of the v1/v2 instance, beat and service routes;
//! - [`grpc`]: Nacos 2.x JSON bodies on the SDK port (a real server over loopback);
//! - [`record`]: CBOR client records, decoded and applied as a peer's sync would be;
//! - [`distro`]: protobuf Distro messages (sync, verify, query, snapshot) into the kernel.
//!
//! [`driver`] runs a proptest strategy for a time budget; [`corpus`] holds the seed inputs
//! (`fuzz/corpus/<target>/`) and the byte-level mutations applied to them. The proptest
//! targets are in `fuzz/tests/`; `fuzz/run.sh` runs them all for longer.

pub mod corpus;
pub mod distro;
pub mod driver;
pub mod grpc;
pub mod http;
pub mod record;
