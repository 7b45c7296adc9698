//! The cluster secret: every cluster call carries it, every cluster server checks it.
//!
//! The secret travels in the `x-distro-cluster-secret` metadata entry (use TLS or a private
//! network if the wire itself must be hidden: this authenticates peers, it does not encrypt).
//! The server compares it in constant time, so the time an answer takes tells a caller
//! nothing about how much of a guess was right. A missing or wrong secret is answered with
//! `UNAUTHENTICATED` before any handler runs, and counted in
//! [`crate::metrics::AUTH_FAILURES_TOTAL`].

use std::fmt;
use std::sync::Arc;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::metrics;

/// The metadata key carrying the cluster secret.
pub const SECRET_METADATA_KEY: &str = "x-distro-cluster-secret";

/// Longest secret accepted (it is sent with every call).
const SECRET_LEN_MAX: usize = 1024;

/// Why a text cannot be a cluster secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret is empty.
    #[error("the cluster secret is empty")]
    Empty,
    /// The secret is longer than the limit.
    #[error("the cluster secret is longer than {SECRET_LEN_MAX} characters")]
    TooLong,
    /// The secret holds a character that is not visible ASCII (space, control, non-ASCII).
    #[error(
        "the cluster secret may only hold visible ASCII characters (no spaces, no line breaks)"
    )]
    NotVisibleAscii,
}

/// A validated cluster secret; its `Debug` output never shows the value.
#[derive(Clone)]
pub struct ClusterSecret {
    value: Arc<str>,
}

impl ClusterSecret {
    /// Validates `text`: 1 to 1024 visible ASCII characters, so it fits gRPC metadata as is
    /// (a trailing newline from a secret file is a mistake to report, not to send).
    pub fn new(text: &str) -> Result<Self, SecretError> {
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        if text.len() > SECRET_LEN_MAX {
            return Err(SecretError::TooLong);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::NotVisibleAscii);
        }
        Ok(Self { value: text.into() })
    }

    /// Whether `presented` equals the secret, compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(self.value.as_bytes(), presented)
    }

    /// The metadata value sent with every call.
    fn metadata_value(&self) -> Option<MetadataValue<Ascii>> {
        // Cannot fail for a validated secret (visible ASCII only); `None` would only mean
        // the call goes out without a secret and is refused by the peer.
        MetadataValue::try_from(&*self.value).ok()
    }
}

impl PartialEq for ClusterSecret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.value.as_bytes())
    }
}

impl Eq for ClusterSecret {}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// Compares `expected` with `presented` in time that depends only on `expected.len()`.
///
/// Every byte of `expected` is visited whatever `presented` holds, and differences are
/// accumulated with OR instead of returning at the first one, so neither the position of the
/// first wrong byte nor the length of the guess shows in the timing.
pub fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    // Length difference as a non-zero value if the lengths differ (folded to 8 bits).
    let len_diff = expected.len() ^ presented.len();
    let mut diff = len_diff.to_le_bytes().iter().fold(0_u8, |acc, b| acc | b);
    for (index, byte) in expected.iter().enumerate() {
        let other = presented.get(index).copied().unwrap_or(0);
        diff |= byte ^ other;
    }
    // Keeps the optimiser from turning the loop back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// How a node authenticates its cluster calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterAuth {
    /// Every call carries this secret; calls without it are refused.
    Secret(ClusterSecret),
    /// No secret is sent or checked (only when configured explicitly as insecure).
    Insecure,
}

impl ClusterAuth {
    /// The server-side check for this mode.
    pub fn server_interceptor(&self) -> RequireSecret {
        RequireSecret { auth: self.clone() }
    }

    /// The client-side decoration for this mode.
    pub fn client_interceptor(&self) -> AttachSecret {
        let value = match self {
            ClusterAuth::Secret(secret) => secret.metadata_value(),
            ClusterAuth::Insecure => None,
        };
        AttachSecret { value }
    }
}

/// Server interceptor: refuses calls whose secret is missing or wrong.
#[derive(Clone, Debug)]
pub struct RequireSecret {
    auth: ClusterAuth,
}

impl Interceptor for RequireSecret {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let ClusterAuth::Secret(secret) = &self.auth else {
            return Ok(request);
        };
        let verdict = match request.metadata().get(SECRET_METADATA_KEY) {
            None => Err("missing"),
            Some(presented) if secret.matches(presented.as_bytes()) => Ok(()),
            Some(_) => Err("wrong"),
        };
        match verdict {
            Ok(()) => Ok(request),
            Err(reason) => {
                metrics::record_auth_failure(reason);
                // Debug only: a stranger hammering the port must not flood the logs; the
                // metric is the signal to alert on.
                tracing::debug!(remote = ?request.remote_addr(), reason, "cluster call refused: bad cluster secret");
                Err(Status::unauthenticated(format!(
                    "{reason} cluster secret ({SECRET_METADATA_KEY})"
                )))
            }
        }
    }
}

/// Client interceptor: attaches the secret to every call (nothing when insecure).
#[derive(Clone, Debug)]
pub struct AttachSecret {
    value: Option<MetadataValue<Ascii>>,
}

impl Interceptor for AttachSecret {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.value {
            request
                .metadata_mut()
                .insert(SECRET_METADATA_KEY, value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    fn secret(text: &str) -> ClusterSecret {
        ClusterSecret::new(text).unwrap()
    }

    fn request_with(value: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = value {
            request
                .metadata_mut()
                .insert(SECRET_METADATA_KEY, value.parse().unwrap());
        }
        request
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret\0"));
        assert!(!constant_time_eq(b"s3cret", b""));
        assert!(!constant_time_eq(b"", b"x"));
        // Lengths that differ by a multiple of 256 still differ.
        assert!(!constant_time_eq(&[0; 256], b""));
        assert!(!constant_time_eq(b"a", &[b'a'; 257]));
    }

    #[test]
    fn secrets_are_validated_and_redacted() {
        assert_eq!(ClusterSecret::new(""), Err(SecretError::Empty));
        assert_eq!(
            ClusterSecret::new("two words"),
            Err(SecretError::NotVisibleAscii)
        );
        assert_eq!(
            ClusterSecret::new("line\n"),
            Err(SecretError::NotVisibleAscii)
        );
        assert_eq!(ClusterSecret::new("é"), Err(SecretError::NotVisibleAscii));
        assert_eq!(
            ClusterSecret::new(&"x".repeat(1025)),
            Err(SecretError::TooLong)
        );
        let s = secret("hunter2!");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", ClusterAuth::Secret(s)).contains("hunter2"));
    }

    #[test]
    fn server_accepts_only_the_right_secret_and_counts_refusals() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let mut check = ClusterAuth::Secret(secret("right")).server_interceptor();
        ::metrics::with_local_recorder(&recorder, || {
            assert!(check.call(request_with(Some("right"))).is_ok());
            let wrong = check.call(request_with(Some("wrong"))).unwrap_err();
            assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
            let missing = check.call(request_with(None)).unwrap_err();
            assert_eq!(missing.code(), tonic::Code::Unauthenticated);
            assert!(check.call(request_with(Some("righ"))).is_err());
        });
        let text = handle.render();
        assert!(
            text.contains(r#"cluster_auth_failures_total{reason="wrong"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cluster_auth_failures_total{reason="missing"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn insecure_server_checks_nothing() {
        let mut check = ClusterAuth::Insecure.server_interceptor();
        assert!(check.call(request_with(None)).is_ok());
        assert!(check.call(request_with(Some("anything"))).is_ok());
    }

    #[test]
    fn client_attaches_the_secret_only_when_configured() {
        let mut attach = ClusterAuth::Secret(secret("right")).client_interceptor();
        let request = attach.call(Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get(SECRET_METADATA_KEY).unwrap(),
            "right"
        );
        let mut none = ClusterAuth::Insecure.client_interceptor();
        let request = none.call(Request::new(())).unwrap();
        assert!(request.metadata().get(SECRET_METADATA_KEY).is_none());
    }
}
