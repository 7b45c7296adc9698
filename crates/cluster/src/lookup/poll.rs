//! The polling loop shared by the file, address-server and DNS lookups.

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::LookupError;
use crate::membership::Membership;
use crate::probe::unix_millis;

/// Shortest poll interval accepted (a zero interval would spin; `tokio::time::interval` rejects it).
const POLL_INTERVAL_MIN: Duration = Duration::from_millis(10);

/// Something that can be asked for the current member list.
pub(crate) trait Source: Send {
    /// A short description for logs (path, URL or name).
    fn origin(&self) -> &str;

    /// Fetches the current list (an error keeps the last one). Must bound its own duration.
    fn fetch(&mut self) -> impl Future<Output = Result<Vec<String>, LookupError>> + Send;
}

/// Remembers the last failure so a repeated one is not logged at warning level each poll.
#[derive(Default)]
struct FailureLog {
    last: Option<String>,
}

impl FailureLog {
    /// Logs a failure: a warning when the reason is new, debug when it repeats.
    fn failed(&mut self, origin: &str, error: &LookupError) {
        let reason = error.to_string();
        if self.last.as_deref() == Some(reason.as_str()) {
            tracing::debug!(origin, error = %reason, "member lookup still failing; keeping the last good member list");
        } else {
            tracing::warn!(origin, error = %reason, "member lookup failed; keeping the last good member list");
            self.last = Some(reason);
        }
    }

    /// Logs recovery after failures.
    fn succeeded(&mut self, origin: &str) {
        if self.last.take().is_some() {
            tracing::info!(origin, "member lookup recovered");
        }
    }
}

/// Fetches from `source` now and then every `interval` (at least 10 ms), applying each new list, until shutdown.
pub(crate) async fn poll<S: Source>(
    mut source: S,
    membership: &Membership,
    interval: Duration,
    shutdown: &CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval.max(POLL_INTERVAL_MIN));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failures = FailureLog::default();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let result = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            result = source.fetch() => result,
        };
        match result {
            Ok(addresses) => {
                failures.succeeded(source.origin());
                membership.apply_addresses(&addresses, unix_millis());
            }
            Err(error) => failures.failed(source.origin(), &error),
        }
    }
    tracing::debug!(origin = source.origin(), "member lookup stopped");
}
