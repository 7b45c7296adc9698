//! The per-connection request rate on the HTTP port: an axum middleware taking one token per
//! request from the connection's [`ConnectionLimits`] (found in the request's extensions;
//! a request without them passes). A refusal is Nacos's: status 429 with the reason as
//! text, or inside the `{code, message, data}` envelope on `/nacos/v2/`. Health checks and
//! `/metrics` are never refused, so probes keep answering under a flood.

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use distro_nacos_api::ApiResult;

use crate::limits::connection::{ConnectionLimits, RateLimited};

/// The v2 `code` of a rate refusal: Nacos has no v2 code for it, so the HTTP status it
/// answers with.
pub const V2_TOO_MANY_REQUESTS: i32 = 429;

/// Paths never rate limited.
fn exempt(path: &str) -> bool {
    path.starts_with("/nacos/v1/console/health/") || path == "/metrics"
}

/// Middleware: refuses a request over its connection's rate.
pub async fn rate_limit(request: Request, next: Next) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Some(limits) = ConnectionLimits::from_extensions(request.extensions()) else {
        return next.run(request).await;
    };
    match limits.check_rate() {
        Ok(()) => next.run(request).await,
        Err(refused) => refusal(request.uri().path(), &refused),
    }
}

/// The answer to a refused request, in the form of the API it addressed.
pub fn refusal(path: &str, refused: &RateLimited) -> Response {
    let message = refused.to_string();
    if path.starts_with("/nacos/v2/") {
        let body = ApiResult {
            code: V2_TOO_MANY_REQUESTS,
            message: "too many requests".to_owned(),
            data: message,
        };
        return (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    }
    (StatusCode::TOO_MANY_REQUESTS, message).into_response()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::limits::{ConnectionPolicy, GatedListener};

    /// A server on 127.0.0.1 wired as the real HTTP port is meant to be: the gated listener,
    /// connect info, and the middleware.
    async fn serve(policy: ConnectionPolicy) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/nacos/v1/ns/instance/list", get(|| async { "hosts" }))
            .route("/nacos/v2/ns/instance/list", get(|| async { "hosts" }))
            .route("/nacos/v1/console/health/liveness", get(|| async { "OK" }))
            .layer(axum::middleware::from_fn(rate_limit));
        let gated = GatedListener::new(listener, policy);
        tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<ConnectionLimits>();
            let _ = axum::serve(gated, service).await;
        });
        addr
    }

    async fn get_text(client: &reqwest::Client, url: &str) -> (u16, String) {
        let response = client.get(url).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn a_fast_connection_gets_429_in_each_form_and_stays_usable() {
        let addr = serve(ConnectionPolicy::new(0, 2, 3, "http")).await;
        // One pooled connection: every request below shares its bucket.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let v1 = format!("http://{addr}/nacos/v1/ns/instance/list");
        let v2 = format!("http://{addr}/nacos/v2/ns/instance/list");
        for _ in 0..3 {
            assert_eq!(get_text(&client, &v1).await, (200, "hosts".to_owned()));
        }
        let (status, text) = get_text(&client, &v1).await;
        assert_eq!(status, 429);
        assert!(
            text.starts_with("Tps Flow restricted:connection from 127.0.0.1"),
            "{text}"
        );
        let (status, text) = get_text(&client, &v2).await;
        assert_eq!(status, 429);
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["code"], 429);
        assert_eq!(body["message"], "too many requests");
        assert!(
            body["data"]
                .as_str()
                .unwrap()
                .starts_with("Tps Flow restricted:")
        );
        // Probes are never refused.
        let liveness = format!("http://{addr}/nacos/v1/console/health/liveness");
        assert_eq!(get_text(&client, &liveness).await.0, 200);
        // The same connection is served again once tokens come back (2 a second).
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(get_text(&client, &v1).await.0, 200);
    }

    #[tokio::test]
    async fn connections_over_the_ip_limit_get_429_and_a_freed_slot_is_reused() {
        let addr = serve(ConnectionPolicy::new(2, 0, 0, "http")).await;
        let request = b"GET /nacos/v1/ns/instance/list HTTP/1.1\r\nhost: x\r\n\r\n";
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            let mut buffer = [0u8; 512];
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
            open.push(stream);
        }
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(request).await.unwrap();
        let mut answer = String::new();
        third.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 429 Too Many Requests"),
            "{answer}"
        );
        assert!(answer.ends_with("too many connections from 127.0.0.1: at most 2 at once"));
        // Closing one frees its slot (the server notices the close, then admits anew).
        drop(open.pop());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let client = reqwest::Client::new();
            let url = format!("http://{addr}/nacos/v1/ns/instance/list");
            if get_text(&client, &url).await.0 == 200 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "slot never freed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
