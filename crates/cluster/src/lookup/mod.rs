//! Member lookups: where the member list comes from, selected by configuration.
//!
//! [`run_lookup`] runs the chosen [`LookupConfig`] and feeds [`Membership::apply_addresses`]:
//! - [`LookupConfig::Standalone`]: self only, applied once;
//! - [`LookupConfig::Static`]: a fixed list, applied once;
//! - [`LookupConfig::File`]: `cluster.conf`, re-read every poll interval;
//! - [`LookupConfig::AddressServer`]: an HTTP `serverlist` endpoint, polled;
//! - [`LookupConfig::Dns`]: a name (e.g. a Kubernetes headless service) re-resolved.
//!
//! The polling lookups never give up: every attempt is bounded by a timeout, a failed
//! attempt keeps the last good list and logs why (a warning when the reason changes, debug
//! when it repeats), and the loop ends when the shutdown token is cancelled. A source that
//! yields an empty list is treated as failed: shrinking to self alone is never what a
//! transient glitch (a truncated file, an empty answer) should do.

pub mod address_server;
pub mod dns;
pub mod file;
pub mod parse;
mod poll;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use self::address_server::AddressServerConfig;
pub use self::dns::DnsLookupConfig;
pub use self::file::FileLookupConfig;
pub use self::parse::{ParseError, parse_member_list};
use crate::address::DEFAULT_PORT;
use crate::membership::Membership;
use crate::probe::unix_millis;

/// Which lookup supplies the member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupConfig {
    /// No peers: the member list is self alone.
    Standalone,
    /// A fixed list; each entry may itself hold comma-separated `ip[:port]` items.
    Static {
        /// The addresses, e.g. `["a:8848,b:8848"]` or `["a:8848", "b"]`.
        members: Vec<String>,
        /// Port for entries without one.
        default_port: u16,
    },
    /// A `cluster.conf` file, reloaded when it changes.
    File(FileLookupConfig),
    /// An address server polled over HTTP.
    AddressServer(AddressServerConfig),
    /// A DNS name re-resolved periodically.
    Dns(DnsLookupConfig),
}

impl LookupConfig {
    /// A static list with the default port 8848.
    pub fn static_list(members: impl IntoIterator<Item = impl Into<String>>) -> Self {
        LookupConfig::Static {
            members: members.into_iter().map(Into::into).collect(),
            default_port: DEFAULT_PORT,
        }
    }
}

/// Why a lookup attempt produced no list.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The text holds an invalid address.
    #[error("invalid member list from {origin}: {source}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What is wrong.
        #[source]
        source: ParseError,
    },
    /// The source lists no member at all.
    #[error("{0} lists no members")]
    Empty(String),
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is larger than allowed.
    #[error("{origin} is larger than {limit_bytes} bytes")]
    TooLarge {
        /// Where the text came from.
        origin: String,
        /// The limit.
        limit_bytes: u64,
    },
    /// The text is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(String),
    /// The HTTP request failed (connection, protocol or timeout).
    #[error("request to {url} failed: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP server answered with a non-success status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Name resolution failed.
    #[error("cannot resolve {name}: {source}")]
    Dns {
        /// The name.
        name: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The attempt took longer than its timeout.
    #[error("{origin} did not answer within {timeout:?}")]
    Timeout {
        /// What was asked.
        origin: String,
        /// The timeout.
        timeout: Duration,
    },
}

/// Runs the configured lookup, feeding `membership`, until `shutdown` is cancelled.
///
/// Standalone and static lookups apply their list once and return at once; a static list
/// with an invalid or no address returns an error (a configuration mistake to report at
/// start-up). Polling lookups (file, address server, DNS) run until shutdown and only
/// return an error if they cannot be set up.
pub async fn run_lookup(
    config: LookupConfig,
    membership: Arc<Membership>,
    shutdown: CancellationToken,
) -> Result<(), LookupError> {
    match config {
        LookupConfig::Standalone => {
            membership.apply_addresses(&[membership.self_address().to_owned()], unix_millis());
            Ok(())
        }
        LookupConfig::Static {
            members,
            default_port,
        } => apply_static(&membership, &members, default_port),
        LookupConfig::File(config) => {
            let interval = config.poll_interval;
            let source = file::FileSource::new(config);
            poll::poll(source, &membership, interval, &shutdown).await;
            Ok(())
        }
        LookupConfig::AddressServer(config) => {
            let interval = config.poll_interval;
            let source = address_server::AddressServerSource::new(config)?;
            poll::poll(source, &membership, interval, &shutdown).await;
            Ok(())
        }
        LookupConfig::Dns(config) => {
            let interval = config.interval;
            poll::poll(
                dns::DnsSource::new(config),
                &membership,
                interval,
                &shutdown,
            )
            .await;
            Ok(())
        }
    }
}

/// Parses and applies a static list.
fn apply_static(
    membership: &Membership,
    members: &[String],
    default_port: u16,
) -> Result<(), LookupError> {
    let origin = "the static member list";
    let addresses = parse_member_list(&members.join(","), default_port).map_err(|source| {
        LookupError::Parse {
            origin: origin.to_owned(),
            source,
        }
    })?;
    if addresses.is_empty() {
        return Err(LookupError::Empty(origin.to_owned()));
    }
    membership.apply_addresses(&addresses, unix_millis());
    Ok(())
}

/// Parses fetched text, treating an empty list as an error.
fn parse_non_empty(
    text: &str,
    default_port: u16,
    origin: &str,
) -> Result<Vec<String>, LookupError> {
    let addresses = parse_member_list(text, default_port).map_err(|source| LookupError::Parse {
        origin: origin.to_owned(),
        source,
    })?;
    if addresses.is_empty() {
        return Err(LookupError::Empty(origin.to_owned()));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership() -> Arc<Membership> {
        Arc::new(Membership::new("127.0.0.1:8848", "test", 0).expect("valid self address"))
    }

    #[tokio::test]
    async fn standalone_is_self_only() {
        let m = membership();
        m.apply_addresses(&["127.0.0.1:1".to_owned()], 0);
        run_lookup(
            LookupConfig::Standalone,
            m.clone(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(*m.healthy(), vec!["127.0.0.1:8848".to_owned()]);
    }

    #[tokio::test]
    async fn static_list_applies_once() {
        let m = membership();
        let config = LookupConfig::static_list(["127.0.0.1:8849,127.0.0.1:8850", "127.0.0.1"]);
        run_lookup(config, m.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(
            m.peers(),
            vec!["127.0.0.1:8849".to_owned(), "127.0.0.1:8850".to_owned()]
        );
    }

    #[tokio::test]
    async fn static_list_errors_are_reported() {
        let m = membership();
        let bad = LookupConfig::static_list(["127.0.0.1:x"]);
        let error = run_lookup(bad, m.clone(), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(error, LookupError::Parse { .. }), "{error}");
        let empty = LookupConfig::static_list([" , "]);
        let error = run_lookup(empty, m.clone(), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(error, LookupError::Empty(_)), "{error}");
        assert!(m.peers().is_empty());
    }
}
