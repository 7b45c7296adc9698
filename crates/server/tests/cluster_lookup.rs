//! The server picks its member lookup from configuration: two in-process servers share a
//! `cluster.conf` file (`cluster.conf_file`), find each other through it, and follow its
//! changes (a member added, a member removed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use distro_cluster::MemberState;
use distro_server::{Config, Server};
use distro_tests::{WAIT, free_http_port, wait_until};

fn config(port: u16, conf_file: &Path) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1".to_owned();
    config.server.port = port;
    config.cluster.conf_file = Some(conf_file.to_owned());
    config.cluster.conf_file_poll_interval_ms = 50;
    config.cluster.probe_interval_ms = 100;
    config.cluster.probe_timeout_ms = 80;
    config.cluster.secret = Some("lookup-test-secret".to_owned());
    config
}

/// The state `server` holds for `address`, if listed.
fn state_of(server: &Server, address: &str) -> Option<MemberState> {
    server.state().membership.member(address).map(|m| m.state())
}

async fn wait_state(server: &Server, address: &str, state: Option<MemberState>) {
    let what = format!("{address} to be {state:?}");
    let result = wait_until(&what, WAIT, || async { state_of(server, address) == state }).await;
    if let Err(error) = result {
        panic!("{error}: members {:?}", server.state().membership.members());
    }
}

/// Waits until `server` has heard from `address` (a probe answered or a report received).
async fn wait_contact(server: &Server, address: &str) {
    let what = format!("contact with {address}");
    let heard = || async {
        let member = server.state().membership.member(address);
        member.is_some_and(|m| m.last_refresh_ms() > 0 && !m.version().is_empty())
    };
    if let Err(error) = wait_until(&what, WAIT, heard).await {
        panic!("{error}: members {:?}", server.state().membership.members());
    }
}

fn write(path: &Path, ports: &[u16]) {
    let mut text = String::from("# written by the test\n");
    for port in ports {
        text.push_str(&format!("127.0.0.1:{port}\n"));
    }
    // Write then rename, so a poll never reads half a file.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_follow_a_shared_cluster_conf_file() {
    let dir = std::env::temp_dir().join(format!("distro-lookup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("cluster.conf");
    let (a, b, c) = (free_http_port(), free_http_port(), free_http_port());
    let (addr_a, addr_b, addr_c) = (
        format!("127.0.0.1:{a}"),
        format!("127.0.0.1:{b}"),
        format!("127.0.0.1:{c}"),
    );

    // A alone in the file.
    write(&conf, &[a]);
    let server_a = Server::start(config(a, &conf)).await.unwrap();
    assert_eq!(server_a.state().membership.self_address(), addr_a);
    assert!(server_a.state().membership.peers().is_empty());

    // B joins the file and starts: they find each other and exchange reports (a listed
    // member starts UP, so the proof of contact is the version it reported).
    write(&conf, &[a, b]);
    let server_b = Server::start(config(b, &conf)).await.unwrap();
    wait_contact(&server_a, &addr_b).await;
    wait_contact(&server_b, &addr_a).await;
    assert_eq!(state_of(&server_a, &addr_b), Some(MemberState::Up));

    // C is listed but never started: both pick it up and mark it DOWN (refused).
    write(&conf, &[a, b, c]);
    wait_state(&server_a, &addr_c, Some(MemberState::Down)).await;
    wait_state(&server_b, &addr_c, Some(MemberState::Down)).await;

    // B leaves the file: A drops it; B keeps itself (a node never drops self).
    write(&conf, &[a, c]);
    wait_state(&server_a, &addr_b, None).await;
    wait_state(&server_b, &addr_b, Some(MemberState::Up)).await;

    // A broken file keeps the last good list.
    std::fs::write(&conf, "127.0.0.1:notaport\n").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server_a.state().membership.contains(&addr_c));

    server_b.stop().await;
    server_a.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
