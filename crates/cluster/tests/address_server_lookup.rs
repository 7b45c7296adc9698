//! The address-server lookup against a tiny HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use distro_cluster::{AddressServerConfig, LookupConfig, run_lookup};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use common::{membership, wait_for_healthy};

const POLL: Duration = Duration::from_millis(30);

/// What the fake address server answers.
#[derive(Clone, Debug)]
enum Reply {
    Ok(String),
    Status(u16),
    Close,
    Hang,
}

/// A fake address server: answers every request with the current [`Reply`].
struct FakeServer {
    url: String,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<AtomicU32>,
}

impl FakeServer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/nacos/serverlist", listener.local_addr().unwrap());
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(AtomicU32::new(0));
        let (r, n) = (reply.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, r.clone(), n.clone()));
            }
        });
        Self {
            url,
            reply,
            requests,
        }
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock() = reply;
    }

    fn requests(&self) -> u32 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `more` further requests were answered.
    async fn wait_requests(&self, more: u32) {
        let target = self.requests() + more;
        tokio::time::timeout(common::WAIT, async {
            while self.requests() < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }
}

/// Reads one request head (bounded) and writes the reply.
async fn answer(mut stream: TcpStream, reply: Arc<Mutex<Reply>>, requests: Arc<AtomicU32>) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    assert!(head.starts_with(b"GET /nacos/serverlist HTTP/1.1\r\n"));
    let reply = reply.lock().clone();
    let response = match reply {
        Reply::Ok(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Reply::Status(code) => {
            format!("HTTP/1.1 {code} Oops\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!")
        }
        Reply::Close => String::new(),
        Reply::Hang => {
            requests.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    requests.fetch_add(1, Ordering::SeqCst);
}

fn config(server: &FakeServer) -> LookupConfig {
    LookupConfig::AddressServer(AddressServerConfig {
        poll_interval: POLL,
        timeout: Duration::from_millis(300),
        ..AddressServerConfig::new(server.url.clone())
    })
}

#[tokio::test]
async fn polls_and_keeps_last_good_list_on_failures() {
    let server = FakeServer::start(Reply::Ok("127.0.0.1:8848\n127.0.0.2:8848\n".into())).await;
    let m = membership("127.0.0.1:8848");
    let mut healthy = m.subscribe_healthy();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_lookup(config(&server), m.clone(), shutdown.clone()));
    wait_for_healthy(&mut healthy, &["127.0.0.1:8848", "127.0.0.2:8848"]).await;

    // A new list (comments, commas, default port) is picked up.
    server.set(Reply::Ok("# list\n127.0.0.1, 127.0.0.3:8848\n".into()));
    wait_for_healthy(&mut healthy, &["127.0.0.1:8848", "127.0.0.3:8848"]).await;

    // 500, closed connection, bad body, empty body, hung server: the list stays.
    for failure in [
        Reply::Status(500),
        Reply::Close,
        Reply::Ok("127.0.0.4:8848\nnot an address!\n".into()),
        Reply::Ok(String::new()),
        Reply::Hang,
    ] {
        server.set(failure.clone());
        server.wait_requests(2).await;
        assert_eq!(
            m.peers(),
            vec!["127.0.0.3:8848".to_owned()],
            "after {failure:?}"
        );
    }

    // Back to normal.
    server.set(Reply::Ok("127.0.0.1:8848,127.0.0.5:8848".into()));
    wait_for_healthy(&mut healthy, &["127.0.0.1:8848", "127.0.0.5:8848"]).await;

    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn unreachable_server_keeps_initial_list() {
    // Bind then drop: the port refuses connections.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/nacos/serverlist", listener.local_addr().unwrap());
    drop(listener);
    let m = membership("127.0.0.1:8848");
    m.apply_addresses(&["127.0.0.9:8848".to_owned()], 0);
    let shutdown = CancellationToken::new();
    let lookup = LookupConfig::AddressServer(AddressServerConfig {
        poll_interval: POLL,
        timeout: Duration::from_millis(300),
        ..AddressServerConfig::new(url)
    });
    let task = tokio::spawn(run_lookup(lookup, m.clone(), shutdown.clone()));
    tokio::time::sleep(POLL * 10).await;
    assert_eq!(m.peers(), vec!["127.0.0.9:8848".to_owned()]);
    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
