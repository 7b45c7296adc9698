//! Member addresses: parsing `ip[:port]` text into one canonical `host:port` form.
//!
//! Every address that enters the member list goes through [`MemberAddress::parse`], so the
//! same node written two ways (`10.0.0.1` and `10.0.0.1:8848`, `Host-A:80` and `host-a:80`)
//! becomes one string, and string order is the order Distro hashes over.
//! IPv6 addresses are written `[addr]:port`; bare IPv6 without brackets is accepted and
//! gets the default port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Nacos's default HTTP port, used when an address has none.
pub const DEFAULT_PORT: u16 = 8848;

/// Longest host name accepted (RFC 1035 limit for a full name).
const HOST_NAME_LEN_MAX: usize = 253;

/// Longest label (part between dots) of a host name.
const HOST_LABEL_LEN_MAX: usize = 63;

/// Why a piece of text is not a member address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The text is empty or only whitespace.
    #[error("empty address")]
    Empty,
    /// The host part is neither an IP address nor a valid host name.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// The port part is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
}

/// A validated member address: host (IP or lower-case host name) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberAddress {
    host: String,
    port: u16,
    is_ipv6: bool,
}

impl MemberAddress {
    /// Parses `ip[:port]`, `host[:port]` or `[ipv6][:port]`, using `default_port` when none is given.
    pub fn parse(text: &str, default_port: u16) -> Result<Self, AddressError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        if let Some(rest) = text.strip_prefix('[') {
            return parse_bracketed_ipv6(rest, default_port);
        }
        if text.matches(':').count() > 1 {
            let ip = parse_ipv6(text)?;
            return Ok(Self::from_ip(IpAddr::V6(ip), default_port));
        }
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (text, default_port),
        };
        let host = validate_host(host)?;
        Ok(Self {
            host,
            port,
            is_ipv6: false,
        })
    }

    /// Builds the address of a resolved socket address (for DNS lookups).
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        Self::from_ip(addr.ip(), addr.port())
    }

    /// Builds an address from an IP and a port.
    pub fn from_ip(ip: IpAddr, port: u16) -> Self {
        Self {
            host: ip.to_string(),
            port,
            is_ipv6: ip.is_ipv6(),
        }
    }

    /// The host: an IP address (IPv6 without brackets) or a lower-case host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for MemberAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ipv6 {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses what follows `[` in `[ipv6]` or `[ipv6]:port`.
fn parse_bracketed_ipv6(rest: &str, default_port: u16) -> Result<MemberAddress, AddressError> {
    let (ip_text, after) = rest
        .split_once(']')
        .ok_or_else(|| AddressError::InvalidHost(format!("[{rest}")))?;
    let ip = parse_ipv6(ip_text)?;
    let port = match after {
        "" => default_port,
        _ => match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None => return Err(AddressError::InvalidPort(after.to_owned())),
        },
    };
    Ok(MemberAddress::from_ip(IpAddr::V6(ip), port))
}

/// Parses an IPv6 address without brackets.
fn parse_ipv6(text: &str) -> Result<Ipv6Addr, AddressError> {
    text.parse()
        .map_err(|_| AddressError::InvalidHost(text.to_owned()))
}

/// Parses a decimal port in 1..=65535 (digits only: no sign, no spaces).
fn parse_port(text: &str) -> Result<u16, AddressError> {
    let invalid = || AddressError::InvalidPort(text.to_owned());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid()),
        Ok(port) => Ok(port),
    }
}

/// Accepts an IPv4 address or a DNS host name; returns it in canonical (lower-case) form.
fn validate_host(host: &str) -> Result<String, AddressError> {
    let invalid = || AddressError::InvalidHost(host.to_owned());
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(ip.to_string());
    }
    // Dotted digits that are not an IPv4 address (`10.0.0.300`) are a typo, not a host name.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    if host.is_empty() || host.len() > HOST_NAME_LEN_MAX || !host.split('.').all(is_host_label) {
        return Err(invalid());
    }
    Ok(host.to_ascii_lowercase())
}

/// One dot-separated label of a host name: letters, digits, `-` and `_`, not starting or ending with `-`.
fn is_host_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= HOST_LABEL_LEN_MAX
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> Result<String, AddressError> {
        MemberAddress::parse(text, DEFAULT_PORT).map(|a| a.to_string())
    }

    #[test]
    fn ipv4_with_and_without_port() {
        assert_eq!(canonical("10.0.0.1:80").unwrap(), "10.0.0.1:80");
        assert_eq!(canonical("  10.0.0.1 ").unwrap(), "10.0.0.1:8848");
        let parsed = MemberAddress::parse("10.0.0.1", 9000).unwrap();
        assert_eq!((parsed.host(), parsed.port()), ("10.0.0.1", 9000));
    }

    #[test]
    fn host_names_are_lower_cased() {
        assert_eq!(
            canonical("Nacos-0.Nacos-Headless.default.svc:8848").unwrap(),
            "nacos-0.nacos-headless.default.svc:8848"
        );
        assert_eq!(canonical("localhost").unwrap(), "localhost:8848");
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(canonical("[::1]:9000").unwrap(), "[::1]:9000");
        assert_eq!(canonical("[::1]").unwrap(), "[::1]:8848");
        assert_eq!(canonical("fe80::1").unwrap(), "[fe80::1]:8848");
        let v6 = MemberAddress::parse("[::1]:1", 2).unwrap();
        assert_eq!((v6.host(), v6.port()), ("::1", 1));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(canonical(""), Err(AddressError::Empty));
        assert_eq!(canonical("   "), Err(AddressError::Empty));
        for bad_port in [
            "a:", "a:0", "a:65536", "a:+80", "a:8 8", "a:x", "[::1]x", "[::1]:",
        ] {
            assert!(
                matches!(canonical(bad_port), Err(AddressError::InvalidPort(_))),
                "{bad_port}"
            );
        }
        for bad_host in [
            ":80",
            "10.0.0.300",
            "1.2.3",
            "a b:80",
            "-a:80",
            "a..b",
            "[::1",
            "[zz]:1",
            "1:2:3:zz",
            "héllo",
            "a/b:1",
        ] {
            assert!(
                matches!(canonical(bad_host), Err(AddressError::InvalidHost(_))),
                "{bad_host}"
            );
        }
    }

    #[test]
    fn from_socket_addr_formats_both_families() {
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:2".parse().unwrap();
        assert_eq!(
            MemberAddress::from_socket_addr(v4).to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(MemberAddress::from_socket_addr(v6).to_string(), "[::1]:2");
    }
}
