//! The DNS lookup against `localhost` and an invalid name.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use distro_cluster::{DnsLookupConfig, LookupConfig, run_lookup};
use tokio_util::sync::CancellationToken;

use common::membership;

fn config(name: &str) -> LookupConfig {
    LookupConfig::Dns(DnsLookupConfig {
        port: 18848,
        interval: Duration::from_millis(30),
        ..DnsLookupConfig::new(name)
    })
}

#[tokio::test]
async fn localhost_resolves_to_loopback_members() {
    let m = membership("10.0.0.1:18848");
    let mut members = m.subscribe_members();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_lookup(config("localhost"), m.clone(), shutdown.clone()));
    let found = tokio::time::timeout(
        common::WAIT,
        members.wait_for(|list| list.iter().any(|mm| mm.address() == "127.0.0.1:18848")),
    )
    .await;
    assert!(found.is_ok(), "localhost never resolved: {:?}", m.peers());
    for peer in m.peers() {
        assert!(
            peer == "127.0.0.1:18848" || peer == "[::1]:18848",
            "unexpected member {peer}"
        );
    }
    assert!(m.contains("10.0.0.1:18848"), "self stays listed");
    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn unresolvable_name_keeps_last_list() {
    let m = membership("127.0.0.1:18848");
    m.apply_addresses(&["127.0.0.2:18848".to_owned()], 0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_lookup(
        config("no-such-host.invalid"),
        m.clone(),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(m.peers(), vec!["127.0.0.2:18848".to_owned()]);
    shutdown.cancel();
    tokio::time::timeout(common::WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
