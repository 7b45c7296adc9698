//! Turning away an HTTP connection over its IP's limit: a plain `429` answer, written
//! before any request is read, then the connection is closed.
//!
//! The client's request bytes are read and thrown away for a moment before closing: closing
//! a socket with unread input resets it, and the client would see "connection reset"
//! instead of the answer. That moment is bounded (time, bytes, and how many refusals may
//! linger at once), so refused connections cannot pile up.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Longest a refused connection is kept to drain its request.
const LINGER: Duration = Duration::from_secs(1);
/// Most request bytes drained from a refused connection.
const DRAIN_BYTES_MAX: usize = 64 * 1024;
/// Most refused connections lingering at once; beyond, they are closed at once.
pub const LINGERING_MAX: usize = 256;

/// The complete HTTP/1.1 answer to a refused connection.
pub fn http_refusal(message: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain;charset=UTF-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{message}",
        message.len()
    )
    .into_bytes()
}

/// Refuses connections for one listener, with a bound on those lingering.
#[derive(Debug, Clone)]
pub struct Refuser {
    lingering: Arc<Semaphore>,
}

impl Default for Refuser {
    fn default() -> Self {
        Self {
            lingering: Arc::new(Semaphore::new(LINGERING_MAX)),
        }
    }
}

impl Refuser {
    /// Answers `io` with a 429 carrying `message` and closes it, in the background.
    pub fn refuse<Io>(&self, io: Io, message: &str)
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(slot) = Arc::clone(&self.lingering).try_acquire_owned() else {
            return; // Too many already: dropping closes it now.
        };
        let answer = http_refusal(message);
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(LINGER, answer_and_drain(io, &answer)).await;
        });
    }
}

async fn answer_and_drain<Io>(mut io: Io, answer: &[u8]) -> std::io::Result<()>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    // Wait for the request before answering: an HTTP client (hyper, reqwest) treats a
    // response that arrives before it sent anything as a protocol error, not as a 429.
    let mut buffer = [0u8; 4096];
    let mut drained = io.read(&mut buffer).await?;
    if drained == 0 {
        return Ok(());
    }
    io.write_all(answer).await?;
    io.shutdown().await?;
    while drained < DRAIN_BYTES_MAX {
        let read = io.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        drained += read;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_complete_http() {
        let answer = String::from_utf8(http_refusal("too many")).unwrap();
        assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        assert!(answer.contains("content-length: 8\r\n"));
        assert!(answer.ends_with("\r\n\r\ntoo many"));
    }
}
