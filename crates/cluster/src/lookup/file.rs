//! The `cluster.conf` lookup: a member-list file re-read every poll interval.
//!
//! The file is read and parsed on every poll (default every 1000 ms) rather than only when
//! its modification time moves: the file is small, and mtime alone misses a rewrite of the
//! same length within the file system's timestamp resolution (one second on some). An
//! unchanged list is a no-op in [`crate::Membership::apply_addresses`]. A missing, unreadable,
//! oversized, non-UTF-8, unparseable or empty file keeps the last good list.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::poll::Source;
use super::{LookupError, parse_non_empty};
use crate::address::DEFAULT_PORT;

/// Default time between two reads of the file.
pub const FILE_POLL_INTERVAL_DEFAULT: Duration = Duration::from_millis(1000);
/// Largest file accepted.
const FILE_SIZE_MAX_BYTES: u64 = 1024 * 1024;
/// Longest a read may take (a hung network file system must not stall the loop forever).
const FILE_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the `cluster.conf` lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLookupConfig {
    /// Path of the file.
    pub path: PathBuf,
    /// Port for addresses without one.
    pub default_port: u16,
    /// Time between two reads.
    pub poll_interval: Duration,
}

impl FileLookupConfig {
    /// Settings for `path` with the default port (8848) and poll interval (1000 ms).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            default_port: DEFAULT_PORT,
            poll_interval: FILE_POLL_INTERVAL_DEFAULT,
        }
    }
}

/// Reads the file on each fetch.
pub(crate) struct FileSource {
    config: FileLookupConfig,
    origin: String,
}

impl FileSource {
    /// A source for the configured file.
    pub(crate) fn new(config: FileLookupConfig) -> Self {
        let origin = config.path.display().to_string();
        Self { config, origin }
    }

    /// Reads at most the size limit (plus one byte to detect an overflow).
    async fn read(&self) -> Result<Vec<u8>, LookupError> {
        let io_error = |source| LookupError::Io {
            path: self.config.path.clone(),
            source,
        };
        let file = tokio::fs::File::open(&self.config.path)
            .await
            .map_err(io_error)?;
        let mut bytes = Vec::new();
        file.take(FILE_SIZE_MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(io_error)?;
        if bytes.len() as u64 > FILE_SIZE_MAX_BYTES {
            return Err(LookupError::TooLarge {
                origin: self.origin.clone(),
                limit_bytes: FILE_SIZE_MAX_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Reads and parses the file.
    async fn load(&self) -> Result<Vec<String>, LookupError> {
        let bytes = self.read().await?;
        let text =
            String::from_utf8(bytes).map_err(|_| LookupError::NotUtf8(self.origin.clone()))?;
        parse_non_empty(&text, self.config.default_port, &self.origin)
    }
}

impl Source for FileSource {
    fn origin(&self) -> &str {
        &self.origin
    }

    async fn fetch(&mut self) -> Result<Vec<String>, LookupError> {
        tokio::time::timeout(FILE_READ_TIMEOUT, self.load())
            .await
            .unwrap_or_else(|_| {
                Err(LookupError::Timeout {
                    origin: self.origin.clone(),
                    timeout: FILE_READ_TIMEOUT,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unique path in the temp directory, removed on drop.
    struct Temp(PathBuf);

    impl Temp {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let name = format!(
                "distro-cluster-unit-{tag}-{}-{nanos}.conf",
                std::process::id()
            );
            Self(std::env::temp_dir().join(name))
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    async fn fetch_bytes(tag: &str, bytes: Option<&[u8]>) -> Result<Vec<String>, LookupError> {
        let temp = Temp::new(tag);
        if let Some(bytes) = bytes {
            std::fs::write(&temp.0, bytes).expect("write temp file");
        }
        FileSource::new(FileLookupConfig::new(&temp.0))
            .fetch()
            .await
    }

    #[tokio::test]
    async fn good_file_is_parsed() {
        let list = fetch_bytes("good", Some(b"10.0.0.2\n10.0.0.1:1 # x\n"))
            .await
            .unwrap();
        assert_eq!(list, vec!["10.0.0.1:1", "10.0.0.2:8848"]);
    }

    #[tokio::test]
    async fn each_failure_has_its_reason() {
        let missing = fetch_bytes("missing", None).await.unwrap_err();
        assert!(matches!(missing, LookupError::Io { .. }), "{missing}");
        let bad = fetch_bytes("bad", Some(b"10.0.0.1\n10.0.0.2:x\n"))
            .await
            .unwrap_err();
        assert!(
            matches!(&bad, LookupError::Parse { source, .. } if source.line == 2),
            "{bad}"
        );
        let empty = fetch_bytes("empty", Some(b"# nothing\n"))
            .await
            .unwrap_err();
        assert!(matches!(empty, LookupError::Empty(_)), "{empty}");
        let binary = fetch_bytes("binary", Some(&[0xff, 0x00]))
            .await
            .unwrap_err();
        assert!(matches!(binary, LookupError::NotUtf8(_)), "{binary}");
        let huge = vec![b'#'; usize::try_from(FILE_SIZE_MAX_BYTES).unwrap_or(usize::MAX) + 1];
        let large = fetch_bytes("large", Some(&huge)).await.unwrap_err();
        assert!(matches!(large, LookupError::TooLarge { .. }), "{large}");
    }
}
