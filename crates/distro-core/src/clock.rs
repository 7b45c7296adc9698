//! The wall clock (Unix time) the nodes report, replaceable by a deterministic simulation.
//!
//! Timers and timeouts use `tokio::time` (which a simulation controls); wall-clock values
//! read this: revision stamps (see [`crate::revision`]) and informational times
//! (`lastRefreshTime`, `lastRefTime`, connection ids). A
//! simulation installs a source answering its simulated time; outside a simulation the
//! source answers `None` and the system clock is used.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A replacement wall clock: time since the Unix epoch, or `None` to use the system clock.
pub type WallClock = fn() -> Option<Duration>;

static SOURCE: OnceLock<WallClock> = OnceLock::new();

/// Installs `source` for the whole process (once; later calls are ignored and answer false).
pub fn set_wall_clock(source: WallClock) -> bool {
    SOURCE.set(source).is_ok()
}

/// Time since the Unix epoch (zero if the system clock is before 1970).
pub fn since_epoch() -> Duration {
    if let Some(now) = SOURCE.get().and_then(|source| source()) {
        return now;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Current Unix time in milliseconds.
pub fn unix_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}
