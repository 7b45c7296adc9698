//! Connection-level limits against abuse: connections per client IP and a request rate per
//! connection, for the HTTP port and the SDK gRPC port alike.
//!
//! A listener owns a [`ConnectionPolicy`]; every accepted connection asks it for
//! [`ConnectionLimits`] (refused when its IP already has too many connections open) and
//! carries them for its whole life: the IP slot is released when the last clone is dropped,
//! and every request takes a token from the connection's bucket. HTTP requests find the
//! limits in their extensions ([`http::rate_limit`]); gRPC requests through their transport.
//! The registry's own limits (instances, services, subscriptions) live in `distro_naming`.

pub mod bucket;
pub mod connection;
pub mod gate;
pub mod http;
pub mod listener;
pub mod refusal;

pub use bucket::TokenBucket;
pub use connection::{ConnectionLimits, ConnectionPolicy, RateLimited};
pub use gate::{ConnectionGate, GateFull, IpPermit};
pub use listener::{GatedIo, GatedListener};
