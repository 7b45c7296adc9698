//! The DNS lookup: a name (e.g. a Kubernetes headless service) re-resolved periodically.
//!
//! Every resolved IP becomes `ip:port` (`[ip]:port` for IPv6) with the configured port, so
//! each node's advertised address must be its own IP and that port. A failed or empty
//! resolution keeps the last good list.

use std::collections::BTreeSet;
use std::time::Duration;

use super::LookupError;
use super::poll::Source;
use crate::address::{DEFAULT_PORT, MemberAddress};

/// Default time between two resolutions.
pub const DNS_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// Default time one resolution may take.
pub const DNS_TIMEOUT_DEFAULT: Duration = Duration::from_secs(3);

/// Settings of the DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsLookupConfig {
    /// The name to resolve.
    pub name: String,
    /// The HTTP port of every member.
    pub port: u16,
    /// Time between two resolutions.
    pub interval: Duration,
    /// Time one resolution may take.
    pub timeout: Duration,
}

impl DnsLookupConfig {
    /// Settings for `name` with port 8848 and the default interval (5 s) and timeout (3 s).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            port: DEFAULT_PORT,
            interval: DNS_INTERVAL_DEFAULT,
            timeout: DNS_TIMEOUT_DEFAULT,
        }
    }
}

/// Resolves the name on each fetch.
pub(crate) struct DnsSource {
    config: DnsLookupConfig,
}

impl DnsSource {
    /// A source for the configured name.
    pub(crate) fn new(config: DnsLookupConfig) -> Self {
        Self { config }
    }

    /// Resolves once, without a timeout.
    async fn resolve(&self) -> Result<Vec<String>, LookupError> {
        let name = self.config.name.as_str();
        let resolved = tokio::net::lookup_host((name, self.config.port))
            .await
            .map_err(|source| LookupError::Dns {
                name: name.to_owned(),
                source,
            })?;
        let addresses: BTreeSet<String> = resolved
            .map(|addr| MemberAddress::from_socket_addr(addr).to_string())
            .collect();
        if addresses.is_empty() {
            return Err(LookupError::Empty(name.to_owned()));
        }
        Ok(addresses.into_iter().collect())
    }
}

impl Source for DnsSource {
    fn origin(&self) -> &str {
        &self.config.name
    }

    async fn fetch(&mut self) -> Result<Vec<String>, LookupError> {
        let timeout = self.config.timeout;
        tokio::time::timeout(timeout, self.resolve())
            .await
            .unwrap_or_else(|_| {
                Err(LookupError::Timeout {
                    origin: self.config.name.clone(),
                    timeout,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str) -> DnsSource {
        DnsSource::new(DnsLookupConfig {
            port: 9000,
            ..DnsLookupConfig::new(name)
        })
    }

    #[tokio::test]
    async fn localhost_gives_loopback_addresses_with_the_port() {
        let list = source("localhost").fetch().await.unwrap();
        assert!(list.contains(&"127.0.0.1:9000".to_owned()), "{list:?}");
        assert!(
            list.iter()
                .all(|a| a == "127.0.0.1:9000" || a == "[::1]:9000"),
            "{list:?}"
        );
    }

    #[tokio::test]
    async fn invalid_name_is_an_error() {
        let error = source("no-such-host.invalid").fetch().await.unwrap_err();
        assert!(
            matches!(error, LookupError::Dns { .. } | LookupError::Timeout { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("no-such-host.invalid"),
            "{error}"
        );
    }
}
