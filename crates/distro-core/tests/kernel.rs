//! The kernel against an in-memory transport on tokio's paused clock: merging, retries,
//! bounded backlogs, verify by digest, expiry, self-preservation and snapshot load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use distro_core::{DistroConfig, Lease, RoundResult};
use support::*;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

const NAMES: [&str; 3] = ["a:1", "b:1", "c:1"];

async fn settle() {
    sleep(Duration::from_millis(200)).await;
}

#[tokio::test(start_paused = true)]
async fn changes_merge_into_one_sync_per_peer_with_the_newest_state() {
    let shutdown = CancellationToken::new();
    let (net, nodes) = cluster(&NAMES, test_config(), &shutdown);
    wait_loaded(&nodes).await;
    net.reset_counts();
    let a = &nodes[0];
    a.put("c1", 1, "v1");
    a.put("c1", 2, "v2");
    a.put("c1", 3, "v3");
    settle().await;
    assert_eq!(
        net.sent_between("a:1", "b:1", "sync"),
        1,
        "three changes in the window, one sync"
    );
    assert_eq!(nodes[1].value("c1"), Some((3, "v3".to_owned())));
    assert_eq!(nodes[2].value("c1"), Some((3, "v3".to_owned())));
    a.delete("c1", 4);
    a.put("c2", 1, "x");
    a.delete("c2", 2);
    settle().await;
    assert_eq!(nodes[1].value("c1"), None);
    assert_eq!(
        nodes[1].value("c2"),
        None,
        "change then delete in one window sends only the delete"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn failed_syncs_are_retried_until_the_link_heals() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    net.partition("a:1", "b:1");
    nodes[0].put("c1", 1, "v1");
    settle().await;
    assert_eq!(nodes[2].value("c1"), Some((1, "v1".to_owned())));
    assert_eq!(nodes[1].value("c1"), None);
    assert_eq!(
        nodes[0].engine.backlog("b:1"),
        1,
        "the failed key waits for its retry"
    );
    net.heal();
    sleep(Duration::from_millis(3100)).await;
    assert_eq!(nodes[1].value("c1"), Some((1, "v1".to_owned())));
    assert_eq!(nodes[0].engine.backlog("b:1"), 0);
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_down_peer_loses_its_backlog_and_verify_repairs_it_later() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        peer_backlog_len_max: 5,
        ..test_config()
    };
    let (net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    net.partition("a:1", "b:1");
    for i in 0..20 {
        nodes[0].put(&format!("c{i}"), 1, "v");
    }
    settle().await;
    assert!(
        nodes[0].engine.backlog("b:1") <= 5,
        "the backlog is bounded"
    );
    set_states(&nodes[0], &NAMES, &["b:1"]);
    assert_eq!(
        nodes[0].engine.backlog("b:1"),
        0,
        "a DOWN peer keeps no backlog"
    );
    nodes[0].put("late", 1, "v");
    assert_eq!(
        nodes[0].engine.backlog("b:1"),
        0,
        "a DOWN peer gets no new tasks"
    );
    net.heal();
    set_all_up(&nodes[0], &NAMES);
    assert!(nodes[1].keys().is_empty());
    // Each round repairs at most a backlog's worth: 21 keys take five rounds, then match.
    let mut rounds = Vec::new();
    for _ in 0..6 {
        rounds.push(nodes[0].engine.verify_peer(&"b:1".into()).await.unwrap());
        settle().await;
    }
    use RoundResult::{Match, Repair};
    assert_eq!(
        rounds,
        vec![Repair(5), Repair(5), Repair(5), Repair(5), Repair(1), Match]
    );
    assert_eq!(nodes[1].keys().len(), 21);
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn verify_sends_one_message_per_peer_whatever_the_key_count() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    for i in 0..1000 {
        nodes[0].put(&format!("client-{i}"), 1, "v");
    }
    settle().await;
    net.reset_counts();
    nodes[0].engine.verify_round().await;
    assert_eq!(net.sent_between("a:1", "b:1", "verify"), 1);
    assert_eq!(net.sent_between("a:1", "c:1", "verify"), 1);
    assert_eq!(net.sent("sync"), 0, "in sync: nothing to repair");
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn drill_down_repairs_exactly_the_differing_keys() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    let lost = ["client-7", "client-300", "client-999"];
    net.dropped_keys
        .lock()
        .extend(lost.iter().map(|k| (*k).to_owned()));
    for i in 0..1000 {
        nodes[0].put(&format!("client-{i}"), 1, "v");
    }
    settle().await;
    assert_eq!(nodes[1].keys().len(), 997);
    net.dropped_keys.lock().clear();
    net.reset_counts();
    let result = nodes[0].engine.verify_peer(&"b:1".into()).await.unwrap();
    assert_eq!(result, RoundResult::Repair(3));
    assert_eq!(
        net.sent_between("a:1", "b:1", "verify"),
        3,
        "root, buckets, entries"
    );
    settle().await;
    let mut resent: Vec<String> = net
        .synced_items
        .lock()
        .iter()
        .map(|(_, _, i)| i.key.clone())
        .collect();
    resent.sort();
    let mut expected: Vec<String> = lost.iter().map(|k| (*k).to_owned()).collect();
    expected.sort();
    assert_eq!(resent, expected, "exactly the lost keys were sent again");
    assert_eq!(nodes[1].keys().len(), 1000);
    assert_eq!(
        nodes[0].engine.verify_peer(&"b:1".into()).await.unwrap(),
        RoundResult::Match
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn stale_and_duplicate_syncs_never_overwrite_newer_data() {
    let shutdown = CancellationToken::new();
    let (_net, nodes) = cluster(&NAMES, test_config(), &shutdown);
    wait_loaded(&nodes).await;
    nodes[0].put("c1", 5, "new");
    settle().await;
    let old = distro_core::SyncItem {
        key: "c1".into(),
        owner: "a:1".into(),
        revision: 3,
        lease: Lease::OwnerBound,
        payload: Some("old".into()),
    };
    let applied = nodes[1].engine.on_sync(vec![old.clone(), old]);
    assert_eq!(applied.stale, 2);
    assert_eq!(nodes[1].value("c1"), Some((5, "new".to_owned())));
    // A key owned here is never overwritten by a remote copy, whatever its revision.
    nodes[1].put("mine", 1, "local");
    let foreign = distro_core::SyncItem {
        key: "mine".into(),
        owner: "c:1".into(),
        revision: 99,
        lease: Lease::OwnerBound,
        payload: Some("remote".into()),
    };
    assert_eq!(nodes[1].engine.on_sync(vec![foreign]).refused, 1);
    assert_eq!(nodes[1].value("mine"), Some((1, "local".to_owned())));
    // An undecodable record changes nothing.
    let poison = distro_core::SyncItem {
        key: "p".into(),
        owner: "a:1".into(),
        revision: 1,
        lease: Lease::OwnerBound,
        payload: Some("poison".into()),
    };
    assert_eq!(nodes[1].engine.on_sync(vec![poison]).refused, 1);
    assert_eq!(nodes[1].value("p"), None);
    // A sync speaks for its sender: one claiming the receiver, or nobody, as owner is refused.
    for owner in ["b:1", ""] {
        let claim = distro_core::SyncItem {
            key: "claimed".into(),
            owner: owner.into(),
            revision: 1,
            lease: Lease::Transferable,
            payload: Some("x".into()),
        };
        assert_eq!(nodes[1].engine.on_sync(vec![claim]).refused, 1);
        assert_eq!(nodes[1].value("claimed"), None);
    }
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn replicas_of_a_down_owner_go_after_the_grace_transferable_ones_stay() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (_net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    nodes[0].put("conn", 1, "v");
    nodes[0].put_lease("ip", 1, "v", Lease::Transferable);
    settle().await;
    let b = &nodes[1];
    set_states(b, &NAMES, &["a:1"]);
    let t = Instant::now();
    assert_eq!(b.engine.sweep(t + Duration::from_secs(29)).removed, 0);
    let report = b.engine.sweep(t + Duration::from_secs(31));
    assert_eq!(report.removed, 1);
    assert_eq!(
        b.keys(),
        vec!["ip".to_owned()],
        "ip:port clients wait for their new owner"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn an_isolated_node_preserves_replicas_of_owners_it_cannot_see() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (_net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    nodes[0].put("a-client", 1, "v");
    nodes[2].put("c-client", 1, "v");
    settle().await;
    let b = &nodes[1];
    set_states(b, &NAMES, &["a:1", "c:1"]);
    let report = b.engine.sweep(Instant::now() + Duration::from_secs(60));
    assert_eq!((report.removed, report.preserved), (0, 2));
    assert!(b.engine.is_preserving());
    set_all_up(b, &NAMES);
    let report = b.engine.sweep(Instant::now() + Duration::from_secs(61));
    assert_eq!(report.removed, 0);
    assert!(
        !b.engine.is_preserving(),
        "released once the owners are back"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn unrenewed_replicas_expire_unless_too_many_would_go_at_once() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (_net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    for i in 0..3 {
        nodes[0].put(&format!("a{i}"), 1, "v");
    }
    for i in 0..7 {
        nodes[2].put(&format!("c{i}"), 1, "v");
    }
    settle().await;
    let b = &nodes[1];
    let later = Instant::now() + Duration::from_secs(181);
    // c verified recently, a did not: 3 of 10 replicas expire (under the 50 % bound).
    nodes[2].engine.verify_peer(&"b:1".into()).await.unwrap();
    tokio::time::advance(Duration::from_secs(170)).await;
    nodes[2].engine.verify_peer(&"b:1".into()).await.unwrap();
    let report = b.engine.sweep(later);
    assert_eq!(report.removed, 3);
    // Now nobody renews: 7 of 7 would go at once, which looks like a partition.
    let report = b.engine.sweep(later + Duration::from_secs(200));
    assert_eq!((report.removed, report.preserved), (0, 7));
    assert!(b.engine.is_preserving());
    nodes[2].engine.verify_peer(&"b:1".into()).await.unwrap();
    let report = b.engine.sweep(Instant::now());
    assert_eq!(report.preserved, 0);
    assert!(!b.engine.is_preserving());
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn keys_the_owner_no_longer_holds_are_orphaned_then_removed() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        verify_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let (net, nodes) = cluster(&NAMES, config, &shutdown);
    wait_loaded(&nodes).await;
    nodes[0].put("gone", 1, "v");
    settle().await;
    net.dropped_keys.lock().insert("gone".into());
    nodes[0].delete("gone", 2);
    settle().await;
    assert!(nodes[1].value("gone").is_some(), "the delete was lost");
    nodes[0].engine.verify_peer(&"b:1".into()).await.unwrap();
    assert!(
        nodes[1].value("gone").is_some(),
        "absence alone deletes nothing at once"
    );
    let b = &nodes[1].engine;
    assert_eq!(
        b.sweep(Instant::now() + Duration::from_secs(29)).removed,
        0,
        "within the grace"
    );
    assert_eq!(b.sweep(Instant::now() + Duration::from_secs(31)).removed, 1);
    assert_eq!(nodes[1].value("gone"), None);
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_starting_node_loads_a_snapshot_before_it_is_loaded() {
    let shutdown = CancellationToken::new();
    let config = DistroConfig {
        snapshot_chunk_bytes: 64,
        ..test_config()
    };
    let names = ["a:1", "b:1"];
    let (net, nodes) = cluster(&names, config.clone(), &shutdown);
    wait_loaded(&nodes).await;
    for i in 0..50 {
        nodes[0].put(&format!("a{i}"), 1, "value");
    }
    nodes[1].put("b0", 1, "value");
    nodes[0].delete("a49", 2);
    settle().await;

    let late = node("c:1", &net, config);
    let all = ["a:1", "b:1", "c:1"];
    set_all_up(&late, &all);
    assert!(!late.engine.is_loaded());
    late.engine.start(false, shutdown.clone());
    wait_loaded(std::slice::from_ref(&late)).await;
    assert_eq!(late.keys().len(), 50, "49 of a's keys and b's one");
    assert_eq!(
        late.engine.revision_floor("a49"),
        Some(2),
        "tombstones travel with snapshots"
    );
    assert_eq!(
        net.sent_between("c:1", "a:1", "snapshot"),
        1,
        "the first UP peer served it"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_node_alone_starts_empty_after_the_wait() {
    let shutdown = CancellationToken::new();
    let net = std::sync::Arc::new(Net::default());
    let lonely = node("a:1", &net, test_config());
    set_all_up(&lonely, &["a:1", "b:1"]);
    lonely.engine.start(false, shutdown.clone());
    sleep(Duration::from_secs(5)).await;
    assert!(!lonely.engine.is_loaded(), "waits for peers first");
    sleep(Duration::from_secs(6)).await;
    assert!(lonely.engine.is_loaded());
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_cluster_starting_together_is_bootstrapped_by_its_lowest_address() {
    let shutdown = CancellationToken::new();
    let (_net, nodes) = cluster(&NAMES, test_config(), &shutdown);
    // Without the rule every node would wait the full 10 s for a loaded peer.
    sleep(Duration::from_secs(3)).await;
    assert!(
        nodes.iter().all(|n| n.engine.is_loaded()),
        "loaded well before the 10 s wait"
    );
    shutdown.cancel();
}
