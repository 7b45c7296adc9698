//! A minimal HTTP/1 client over turmoil TCP: one connection per request, bounded in time.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

/// Longest one request may take (the server's own forward timeout is 2 s).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(2_500);

/// An answer: status and body text.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// Sends `method path_and_query` to `addr` (`ip:port`); `None` on any transport failure or
/// timeout (the caller cannot know whether a write was applied).
pub async fn request(addr: &str, method: &str, path_and_query: &str) -> Option<Answer> {
    tokio::time::timeout(REQUEST_TIMEOUT, exchange(addr, method, path_and_query))
        .await
        .ok()
        .flatten()
}

async fn exchange(addr: &str, method: &str, path_and_query: &str) -> Option<Answer> {
    let stream = turmoil::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", addr)
        .body(Empty::<Bytes>::new())
        .ok()?;
    let answer = sender.send_request(request).await.ok();
    let answer = match answer {
        Some(answer) => answer,
        None => {
            driver.abort();
            return None;
        }
    };
    let status = answer.status().as_u16();
    let body = answer.into_body().collect().await.ok()?.to_bytes();
    driver.abort();
    Some(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
