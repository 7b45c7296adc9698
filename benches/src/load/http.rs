//! HTTP/1.1 keep-alive connections for the load tool, in two flavours: a minimal hand-written
//! client (one request in flight, `Content-Length` or chunked bodies) and hyper 1's
//! connection-level client. The minimal one is the default: it costs the generator about half
//! of what hyper does per request, so the generator is not what limits the measurement.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a single request may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response body accepted (a list of thousands of instances fits).
const BODY_LEN_MAX: usize = 64 << 20;

/// Which client implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// The minimal hand-written HTTP/1.1 client.
    Raw,
    /// hyper 1's `client::conn::http1`.
    Hyper,
}

/// How an answer is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Status 200 and exactly this body.
    Body(&'static [u8]),
    /// Status 200 and a body containing this.
    Contains(&'static [u8]),
    /// Status 200.
    Ok,
}

impl Expect {
    /// Whether `status` and `body` are what was expected.
    pub fn check(self, status: u16, body: &[u8]) -> bool {
        status == 200
            && match self {
                Self::Body(b) => body == b,
                Self::Contains(needle) => contains(body, needle),
                Self::Ok => true,
            }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// One keep-alive connection.
pub enum Conn {
    /// Minimal client.
    Raw(RawConn),
    /// hyper client.
    Hyper(SendRequest<Full<Bytes>>),
}

impl Conn {
    /// Opens a connection of the given kind to `addr`.
    pub async fn open(kind: ClientKind, addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(match kind {
            ClientKind::Raw => Self::Raw(RawConn::new(stream, addr)),
            ClientKind::Hyper => {
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(io::Error::other)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Self::Hyper(sender)
            }
        })
    }

    /// Sends `method path` and returns the status and the body (for checks and polling).
    pub async fn fetch(&mut self, method: &str, path: &str) -> io::Result<(u16, Bytes)> {
        let fut = async {
            match self {
                Self::Raw(raw) => {
                    let (status, start, end) = raw.exchange(method, path, None).await?;
                    Ok((status, Bytes::copy_from_slice(&raw.buf[start..end])))
                }
                Self::Hyper(sender) => hyper_fetch(sender, method, path, None).await,
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request timed out"))?
    }

    /// Sends `method path` (with an optional form body) and judges the answer; errors are
    /// transport failures and timeouts (the connection should then be reopened).
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[u8]>,
        expect: Expect,
    ) -> io::Result<bool> {
        let fut = async {
            match self {
                Self::Raw(raw) => raw.call(method, path, form, expect).await,
                Self::Hyper(sender) => {
                    let (status, body) = hyper_fetch(sender, method, path, form).await?;
                    Ok(expect.check(status, &body))
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request timed out"))?
    }
}

async fn hyper_fetch(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    form: Option<&[u8]>,
) -> io::Result<(u16, Bytes)> {
    sender.ready().await.map_err(io::Error::other)?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "127.0.0.1");
    if form.is_some() {
        request = request.header(
            hyper::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    }
    let body = Full::new(Bytes::copy_from_slice(form.unwrap_or_default()));
    let request = request.body(body).map_err(io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    Ok((status, body))
}

/// The minimal HTTP/1.1 client: writes a request, reads exactly one response.
pub struct RawConn {
    stream: TcpStream,
    host: String,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl RawConn {
    fn new(stream: TcpStream, addr: SocketAddr) -> Self {
        Self {
            stream,
            host: addr.to_string(),
            request: Vec::with_capacity(512),
            buf: Vec::with_capacity(16 << 10),
        }
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[u8]>,
        expect: Expect,
    ) -> io::Result<bool> {
        let (status, start, end) = self.exchange(method, path, form).await?;
        Ok(expect.check(status, &self.buf[start..end]))
    }

    /// Writes one request and reads its response: status and the body's range in `buf`.
    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[u8]>,
    ) -> io::Result<(u16, usize, usize)> {
        use std::io::Write;
        self.request.clear();
        write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
            self.host
        )?;
        match form {
            Some(body) => {
                write!(
                    self.request,
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                self.request.extend_from_slice(body);
            }
            None => self.request.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
        }
        self.stream.write_all(&self.request).await?;
        self.read_response().await
    }

    /// Reads one response into `buf`: status and the body's range.
    async fn read_response(&mut self) -> io::Result<(u16, usize, usize)> {
        self.buf.clear();
        let mut scanned: usize = 0;
        let header_end = loop {
            self.fill().await?;
            let from = scanned.saturating_sub(3);
            if let Some(at) = find(&self.buf[from..], b"\r\n\r\n") {
                break from + at + 4;
            }
            scanned = self.buf.len();
            if scanned > 64 << 10 {
                return Err(bad("response headers too long"));
            }
        };
        let head = std::str::from_utf8(&self.buf[..header_end])
            .map_err(|_| bad("response headers are not text"))?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status"))?;
        let mut length = None;
        let mut chunked = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            }
        }
        if chunked {
            return self.read_chunked(status, header_end).await;
        }
        let length = length.unwrap_or(0);
        if length > BODY_LEN_MAX {
            return Err(bad("response body too large"));
        }
        while self.buf.len() < header_end + length {
            self.fill().await?;
        }
        Ok((status, header_end, header_end + length))
    }

    /// Reads a chunked body and compacts it in place after the headers.
    async fn read_chunked(&mut self, status: u16, start: usize) -> io::Result<(u16, usize, usize)> {
        let mut read_at = start;
        let mut write_at = start;
        loop {
            let line_end = loop {
                if let Some(at) = find(&self.buf[read_at..], b"\r\n") {
                    break read_at + at;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.buf[read_at..line_end])
                .map_err(|_| bad("bad chunk size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if write_at - start + size > BODY_LEN_MAX {
                return Err(bad("response body too large"));
            }
            let data_start = line_end + 2;
            while self.buf.len() < data_start + size + 2 {
                self.fill().await?;
            }
            if size == 0 {
                return Ok((status, start, write_at));
            }
            self.buf
                .copy_within(data_start..data_start + size, write_at);
            write_at += size;
            read_at = data_start + size + 2;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(self.buf.capacity().max(4096));
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Percent-encodes a query or form value (unreserved characters are kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        assert!(Expect::Body(b"ok").check(200, b"ok"));
        assert!(!Expect::Body(b"ok").check(500, b"ok"));
        assert!(Expect::Contains(b"\"code\":10200").check(200, br#"{"code":10200}"#));
        assert!(!Expect::Contains(b"\"code\":10200").check(200, br#"{"code":20404}"#));
        assert_eq!(encode("a b{\"x\"}"), "a%20b%7B%22x%22%7D");
    }
}
