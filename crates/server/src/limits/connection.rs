//! The limits one listener applies ([`ConnectionPolicy`]) and the handle one accepted
//! connection carries ([`ConnectionLimits`]): its IP slot and its request bucket.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::Extensions;

use crate::limits::bucket::TokenBucket;
use crate::limits::gate::{ConnectionGate, GateFull, IpPermit};

/// The connection limits of one listener (the HTTP port or the SDK gRPC port).
#[derive(Debug, Clone)]
pub struct ConnectionPolicy {
    gate: ConnectionGate,
    rate: u32,
    burst: u32,
    port: &'static str,
}

impl ConnectionPolicy {
    /// At most `connections_per_ip` open connections per client IP (0 = any), each sending
    /// at most `rate` requests a second after a burst of `burst` (rate 0 = any). `port`
    /// names the listener in metrics (`http`, `grpc`).
    pub fn new(connections_per_ip: usize, rate: u32, burst: u32, port: &'static str) -> Self {
        Self {
            gate: ConnectionGate::new(connections_per_ip),
            rate,
            burst,
            port,
        }
    }

    /// The HTTP port's policy from `server.*`.
    pub fn http(config: &crate::config::ServerConfig) -> Self {
        Self::new(
            config.connections_per_ip_max,
            config.request_rate_per_connection,
            config.request_burst_per_connection,
            "http",
        )
    }

    /// The SDK gRPC port's policy from `grpc.*`.
    pub fn grpc(config: &crate::config::GrpcConfig) -> Self {
        Self::new(
            config.connections_per_ip_max,
            config.request_rate_per_connection,
            config.request_burst_per_connection,
            "grpc",
        )
    }

    /// The limits of a connection just accepted from `ip`, or the refusal when `ip` has too
    /// many open. Keep the result as long as the connection lives.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionLimits, GateFull> {
        let permit = self.gate.try_acquire(ip).inspect_err(|_| {
            metrics::counter!("limit_refusals_total", "limit" => "connections_per_ip_max", "port" => self.port)
                .increment(1);
        })?;
        let bucket = (self.rate > 0).then(|| TokenBucket::new(self.rate, self.burst));
        Ok(ConnectionLimits(Arc::new(Inner {
            ip,
            port: self.port,
            bucket,
            _permit: permit,
        })))
    }

    /// The per-IP table (tests and metrics).
    pub fn gate(&self) -> &ConnectionGate {
        &self.gate
    }
}

/// What one connection carries: cheap to clone (every request of the connection holds one);
/// the IP slot is released when the last clone goes.
#[derive(Debug, Clone)]
pub struct ConnectionLimits(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    ip: IpAddr,
    port: &'static str,
    bucket: Option<TokenBucket>,
    _permit: Option<IpPermit>,
}

/// A request over its connection's rate. Worded as Nacos words its TPS refusals.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimited {
    /// The client's address.
    pub ip: IpAddr,
    /// Requests a second allowed.
    pub rate: f64,
    /// Burst allowed.
    pub burst: f64,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tps Flow restricted:connection from {} is over {} requests per second (burst {})",
            self.ip, self.rate, self.burst
        )
    }
}

impl ConnectionLimits {
    /// Takes one request from the connection's budget.
    pub fn check_rate(&self) -> Result<(), RateLimited> {
        let Some(bucket) = &self.0.bucket else {
            return Ok(());
        };
        if bucket.try_take() {
            return Ok(());
        }
        metrics::counter!("limit_refusals_total", "limit" => "request_rate_per_connection", "port" => self.0.port)
            .increment(1);
        Err(RateLimited {
            ip: self.0.ip,
            rate: bucket.rate(),
            burst: bucket.burst(),
        })
    }

    /// The client's address.
    pub fn ip(&self) -> IpAddr {
        self.0.ip
    }

    /// The limits a request carries: inserted as they are, or as axum's `ConnectInfo` (what
    /// `into_make_service_with_connect_info::<ConnectionLimits>` inserts).
    pub fn from_extensions(extensions: &Extensions) -> Option<Self> {
        extensions.get::<Self>().cloned().or_else(|| {
            extensions
                .get::<ConnectInfo<Self>>()
                .map(|info| info.0.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_holds_its_slot_until_its_last_clone_goes() {
        let policy = ConnectionPolicy::new(1, 0, 0, "test");
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        let limits = policy.admit(ip).unwrap();
        let copy = limits.clone();
        assert!(policy.admit(ip).is_err());
        drop(limits);
        assert!(policy.admit(ip).is_err(), "a request still holds a clone");
        drop(copy);
        assert!(policy.admit(ip).is_ok());
    }

    #[test]
    fn rate_refusals_say_why_and_rate_zero_is_unlimited() {
        let ip: IpAddr = "10.1.1.2".parse().unwrap();
        let limited = ConnectionPolicy::new(0, 1, 2, "test").admit(ip).unwrap();
        assert!(limited.check_rate().is_ok() && limited.check_rate().is_ok());
        let refused = limited.check_rate().unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Tps Flow restricted:connection from 10.1.1.2 is over 1 requests per second (burst 2)"
        );
        let free = ConnectionPolicy::new(0, 0, 0, "test").admit(ip).unwrap();
        assert!((0..100_000).all(|_| free.check_rate().is_ok()));
    }

    #[test]
    fn found_in_extensions_either_way() {
        let limits = ConnectionPolicy::new(0, 0, 0, "test")
            .admit("::1".parse().unwrap())
            .unwrap();
        let mut plain = Extensions::new();
        plain.insert(limits.clone());
        assert!(ConnectionLimits::from_extensions(&plain).is_some());
        let mut wrapped = Extensions::new();
        wrapped.insert(ConnectInfo(limits));
        assert!(ConnectionLimits::from_extensions(&wrapped).is_some());
        assert!(ConnectionLimits::from_extensions(&Extensions::new()).is_none());
    }
}
