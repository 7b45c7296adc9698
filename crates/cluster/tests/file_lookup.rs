//! The `cluster.conf` lookup against real files in the temp directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use distro_cluster::{FileLookupConfig, LookupConfig, run_lookup};
use tokio_util::sync::CancellationToken;

use common::{membership, wait_for_healthy};

const POLL: Duration = Duration::from_millis(20);

/// A path in the temp directory no other test (or run) uses; removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "distro-cluster-{tag}-{}-{nanos}-{}.conf",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Self(std::env::temp_dir().join(name))
    }

    /// Replaces the content atomically (write aside, then rename), as a careful operator would.
    fn write(&self, text: &str) {
        let aside = self.0.with_extension("tmp");
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, &self.0).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn config(file: &TempFile) -> LookupConfig {
    LookupConfig::File(FileLookupConfig {
        poll_interval: POLL,
        ..FileLookupConfig::new(file.path())
    })
}

/// Lets the lookup poll a good number of times.
async fn let_it_poll() {
    tokio::time::sleep(POLL * 10).await;
}

#[tokio::test]
async fn reloads_on_change_and_keeps_last_good_list_when_broken() {
    let file = TempFile::new("reload");
    file.write("# three nodes\n127.0.0.1:9001, 127.0.0.1:9002\n127.0.0.1:9003 # me\n");
    let m = membership("127.0.0.1:9003");
    let mut healthy = m.subscribe_healthy();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_lookup(config(&file), m.clone(), shutdown.clone()));

    wait_for_healthy(
        &mut healthy,
        &["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"],
    )
    .await;

    // A change is picked up.
    file.write("127.0.0.1:9003\n127.0.0.1:9004\n");
    wait_for_healthy(&mut healthy, &["127.0.0.1:9003", "127.0.0.1:9004"]).await;

    // Broken (bad port), then empty, then non-UTF-8: the last good list stays.
    file.write("127.0.0.1:9003\n127.0.0.1:90000\n127.0.0.1:9005\n");
    let_it_poll().await;
    file.write("# nobody\n");
    let_it_poll().await;
    std::fs::write(file.path(), [0xff, 0xfe, b'\n']).unwrap();
    let_it_poll().await;
    assert_eq!(m.peers(), vec!["127.0.0.1:9004".to_owned()]);

    // Fixed again: the loop is still alive.
    file.write("127.0.0.1:9003,127.0.0.1:9005");
    wait_for_healthy(&mut healthy, &["127.0.0.1:9003", "127.0.0.1:9005"]).await;

    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn missing_file_keeps_self_then_loads_when_created() {
    let file = TempFile::new("missing");
    let m = membership("127.0.0.1:9101");
    let mut healthy = m.subscribe_healthy();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_lookup(config(&file), m.clone(), shutdown.clone()));

    let_it_poll().await;
    assert_eq!(*m.healthy(), vec!["127.0.0.1:9101".to_owned()]);

    file.write("127.0.0.1:9101\n127.0.0.1:9102\n");
    wait_for_healthy(&mut healthy, &["127.0.0.1:9101", "127.0.0.1:9102"]).await;

    // Deleted: keeps the list.
    std::fs::remove_file(file.path()).unwrap();
    let_it_poll().await;
    assert_eq!(m.peers(), vec!["127.0.0.1:9102".to_owned()]);

    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn default_port_applies_to_addresses_without_one() {
    let file = TempFile::new("port");
    file.write("127.0.0.1\n127.0.0.2\n");
    let m = membership("127.0.0.1:7777");
    let mut healthy = m.subscribe_healthy();
    let shutdown = CancellationToken::new();
    let lookup = LookupConfig::File(FileLookupConfig {
        default_port: 7777,
        poll_interval: POLL,
        ..FileLookupConfig::new(file.path())
    });
    let task = tokio::spawn(run_lookup(lookup, m.clone(), shutdown.clone()));
    wait_for_healthy(&mut healthy, &["127.0.0.1:7777", "127.0.0.2:7777"]).await;
    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
