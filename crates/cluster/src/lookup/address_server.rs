//! The address-server lookup: `GET http://host:port/nacos/serverlist`, polled.
//!
//! The body has the `cluster.conf` format. Each request is bounded by a timeout and a body
//! size limit; a failed request, a non-2xx status, or a bad or empty body keeps the last
//! good list. Plain HTTP only (as Nacos's address server); proxies from the environment are
//! ignored so a cluster never depends on a proxy by accident.

use std::time::Duration;

use super::poll::Source;
use super::{LookupError, parse_non_empty};
use crate::address::DEFAULT_PORT;

/// Default time between two requests (Nacos: 5000 ms).
pub const ADDRESS_SERVER_POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// Default time one request may take.
pub const ADDRESS_SERVER_TIMEOUT_DEFAULT: Duration = Duration::from_secs(3);
/// Default port of the address server (Nacos: 8080).
pub const ADDRESS_SERVER_PORT_DEFAULT: u16 = 8080;
/// Default path on the address server.
pub const ADDRESS_SERVER_PATH_DEFAULT: &str = "/nacos/serverlist";
/// Largest body accepted.
const BODY_SIZE_MAX_BYTES: u64 = 1024 * 1024;

/// Settings of the address-server lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressServerConfig {
    /// Full URL, e.g. `http://jmenv.example:8080/nacos/serverlist`.
    pub url: String,
    /// Port for addresses without one.
    pub default_port: u16,
    /// Time between two requests.
    pub poll_interval: Duration,
    /// Time one request may take.
    pub timeout: Duration,
}

impl AddressServerConfig {
    /// Settings for `url` with the default port (8848), interval (5 s) and timeout (3 s).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            default_port: DEFAULT_PORT,
            poll_interval: ADDRESS_SERVER_POLL_INTERVAL_DEFAULT,
            timeout: ADDRESS_SERVER_TIMEOUT_DEFAULT,
        }
    }

    /// Settings for `http://{domain}:{port}/nacos/serverlist`, Nacos's address-server URL.
    pub fn for_domain(domain: &str, port: u16) -> Self {
        Self::new(format!(
            "http://{domain}:{port}{ADDRESS_SERVER_PATH_DEFAULT}"
        ))
    }
}

/// Requests the list on each fetch.
pub(crate) struct AddressServerSource {
    config: AddressServerConfig,
    client: reqwest::Client,
}

impl AddressServerSource {
    /// A source with its own HTTP client (timeout applied per request).
    pub(crate) fn new(config: AddressServerConfig) -> Result<Self, LookupError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .no_proxy()
            .build()
            .map_err(|error| LookupError::Http {
                url: config.url.clone(),
                reason: format!("cannot build HTTP client: {error}"),
            })?;
        Ok(Self { config, client })
    }

    /// A request error as a lookup error.
    fn http_error(&self, error: &reqwest::Error) -> LookupError {
        if error.is_timeout() {
            return LookupError::Timeout {
                origin: self.config.url.clone(),
                timeout: self.config.timeout,
            };
        }
        LookupError::Http {
            url: self.config.url.clone(),
            reason: error_chain(error),
        }
    }

    /// Reads the body, stopping at the size limit.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, LookupError> {
        let too_large = || LookupError::TooLarge {
            origin: self.config.url.clone(),
            limit_bytes: BODY_SIZE_MAX_BYTES,
        };
        if response
            .content_length()
            .is_some_and(|len| len > BODY_SIZE_MAX_BYTES)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.http_error(&e))? {
            if (body.len() + chunk.len()) as u64 > BODY_SIZE_MAX_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl Source for AddressServerSource {
    fn origin(&self) -> &str {
        &self.config.url
    }

    async fn fetch(&mut self) -> Result<Vec<String>, LookupError> {
        let url = &self.config.url;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.http_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(LookupError::Status {
                url: url.clone(),
                status: status.as_u16(),
            });
        }
        let body = self.read_body(response).await?;
        let text = String::from_utf8(body).map_err(|_| LookupError::NotUtf8(url.clone()))?;
        parse_non_empty(&text, self.config.default_port, url)
    }
}

/// An error with its sources, `: `-separated (reqwest's own message is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Serves `response` (raw HTTP) to every connection; returns the URL.
    async fn serve(response: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/nacos/serverlist",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0_u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(response).await;
                let _ = stream.shutdown().await;
            }
        });
        url
    }

    async fn fetch(url: String) -> Result<Vec<String>, LookupError> {
        let config = AddressServerConfig {
            timeout: Duration::from_millis(500),
            ..AddressServerConfig::new(url)
        };
        AddressServerSource::new(config)
            .expect("client")
            .fetch()
            .await
    }

    #[tokio::test]
    async fn body_is_parsed() {
        let url =
            serve(b"HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\n10.0.0.1\n10.0.0.2:80\n").await;
        assert_eq!(
            fetch(url).await.unwrap(),
            vec!["10.0.0.1:8848", "10.0.0.2:80"]
        );
    }

    #[tokio::test]
    async fn body_without_length_is_read_to_end() {
        let url = serve(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n10.0.0.3").await;
        assert_eq!(fetch(url).await.unwrap(), vec!["10.0.0.3:8848"]);
    }

    #[tokio::test]
    async fn failures_have_their_reason() {
        let status = fetch(serve(b"HTTP/1.1 500 Boom\r\nContent-Length: 0\r\n\r\n").await).await;
        assert!(
            matches!(status, Err(LookupError::Status { status: 500, .. })),
            "{status:?}"
        );
        let closed = fetch(serve(b"").await).await;
        assert!(
            matches!(closed, Err(LookupError::Http { .. })),
            "{closed:?}"
        );
        let huge = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n").await;
        let large = fetch(huge).await;
        assert!(
            matches!(large, Err(LookupError::TooLarge { .. })),
            "{large:?}"
        );
        let empty = fetch(serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await).await;
        assert!(matches!(empty, Err(LookupError::Empty(_))), "{empty:?}");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/nacos/serverlist",
            listener.local_addr().expect("addr")
        );
        let hold = tokio::spawn(async move {
            let accepted = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(accepted);
        });
        let result = fetch(url).await;
        assert!(
            matches!(result, Err(LookupError::Timeout { .. })),
            "{result:?}"
        );
        hold.abort();
    }

    #[test]
    fn for_domain_builds_the_nacos_url() {
        let config = AddressServerConfig::for_domain("jmenv.example", ADDRESS_SERVER_PORT_DEFAULT);
        assert_eq!(config.url, "http://jmenv.example:8080/nacos/serverlist");
    }
}
