//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use distro_cluster::{HealthyMembers, Membership};

/// Bound on any wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// Owned strings from literals.
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A membership whose self is `self_address`.
pub fn membership(self_address: &str) -> Arc<Membership> {
    Arc::new(Membership::new(self_address, "test", 0).unwrap())
}

/// Waits (bounded by [`WAIT`]) until the healthy list equals `expected`.
pub async fn wait_for_healthy(rx: &mut HealthyMembers, expected: &[&str]) {
    let expected = strings(expected);
    let wait = async { rx.wait_for(|list| **list == expected).await.map(|_| ()) };
    let result = tokio::time::timeout(WAIT, wait).await;
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => panic!("membership dropped while waiting for {expected:?}"),
        Err(_) => panic!("healthy list is {:?}, wanted {expected:?}", **rx.borrow()),
    }
}
