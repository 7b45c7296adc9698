//! Nacos wire models: the JSON shapes Nacos clients send and expect, with no logic.
//!
//! Every type here mirrors a Java class of Nacos 2.x (`com.alibaba.nacos.api.*`): field names
//! are the Jackson names (camelCase), `null` fields are omitted and unknown fields are ignored
//! on read, so that unmodified SDKs and HTTP callers interoperate with the distro server.

pub mod beat;
pub mod constants;
pub mod grpc;
pub mod instance;
mod nulls;
pub mod result;
pub mod service_info;

pub use beat::BeatInfo;
pub use instance::Instance;
pub use result::{ApiResult, ErrorCode};
pub use service_info::ServiceInfo;
