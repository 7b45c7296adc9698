//! The setup gate of one transport: unary calls that race the connection's setup wait for
//! it (briefly) instead of getting 301.
//!
//! Some SDKs (the Rust one) open the bi-stream, send `ConnectionSetupRequest` and fire
//! their first unary call at once; the server handles the two HTTP/2 streams concurrently,
//! so the unary call can arrive before the setup is registered. Nacos answers 301 and the
//! SDK backs off; waiting a few hundred milliseconds here avoids the needless error and
//! delay, while a transport that never sets up still gets its 301.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a call on a transport that has not opened a stream yet waits for one.
const FIRST_STREAM_WAIT: Duration = Duration::from_millis(200);
/// How long a call waits for the setup of a stream already open on its transport.
const SETUP_WAIT: Duration = Duration::from_millis(500);

/// Setup progress of one transport's bi-streams.
#[derive(Debug, Default)]
pub struct SetupGate {
    /// Streams whose first message has not been handled yet.
    pending: AtomicUsize,
    /// Whether a stream was ever opened on the transport.
    streamed: AtomicBool,
    changed: Notify,
}

impl SetupGate {
    /// A stream opened; its first message is on the way.
    pub fn stream_opened(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.streamed.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// A stream handled its first message (registered or not) or ended.
    pub fn stream_settled(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.changed.notify_waiters();
    }

    /// `lookup()` (the registered connection), waiting while a setup may still come.
    pub async fn wait_for<T>(&self, lookup: impl Fn() -> Option<T>) -> Option<T> {
        let started = Instant::now();
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Enabled before the checks, so a change between them still wakes us.
            notified.as_mut().enable();
            if let Some(found) = lookup() {
                return Some(found);
            }
            let limit = if self.pending.load(Ordering::Acquire) > 0 {
                SETUP_WAIT
            } else if !self.streamed.load(Ordering::Acquire) {
                FIRST_STREAM_WAIT
            } else {
                return None;
            };
            let left = limit.checked_sub(started.elapsed())?;
            if tokio::time::timeout(left, notified).await.is_err() {
                return lookup();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_racing_the_setup_waits_for_it() {
        let gate = Arc::new(SetupGate::default());
        let registered = Arc::new(AtomicBool::new(false));
        gate.stream_opened();
        let waiter = {
            let (gate, registered) = (Arc::clone(&gate), Arc::clone(&registered));
            tokio::spawn(async move {
                gate.wait_for(|| registered.load(Ordering::Acquire).then_some(()))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        registered.store(true, Ordering::Release);
        gate.stream_settled();
        assert_eq!(waiter.await.unwrap(), Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_transport_that_never_sets_up_gets_nothing_in_bounded_time() {
        let gate = SetupGate::default();
        let started = Instant::now();
        assert_eq!(gate.wait_for(|| None::<()>).await, None);
        assert_eq!(started.elapsed(), FIRST_STREAM_WAIT);
        gate.stream_opened();
        gate.stream_settled();
        let started = Instant::now();
        assert_eq!(gate.wait_for(|| None::<()>).await, None);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a settled stream without setup: at once"
        );
    }
}
