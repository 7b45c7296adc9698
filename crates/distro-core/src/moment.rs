//! `Moment`: a `tokio::time::Instant` in 8 bytes, for times kept per client or per key.
//!
//! An `Instant` takes 16 bytes (seconds and nanoseconds), and an `Option<Instant>` as many.
//! A registry of 100k clients keeps several per client and one per key of the replication
//! index, so they are stored as nanoseconds from a process-wide origin instead: exact (the
//! round trip gives back the same `Instant`), ordered like the instants, and 8 bytes with or
//! without an `Option` around them. The range is ±292 years around the origin.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// The instant every moment counts from: the first one taken in the process. Runtimes with
/// a paused clock (tests, simulations) may hand out instants before it, hence signed offsets.
fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// Flips the sign bit: signed order becomes unsigned order, and only `i64::MIN` (never
/// produced: offsets are clamped above it) maps to zero, which leaves `Option` a niche.
const SIGN: u64 = 1 << 63;

/// An instant stored in 8 bytes; convert with `From`/`Into` both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(NonZeroU64);

impl Moment {
    /// The moment of `instant`.
    pub fn of(instant: Instant) -> Self {
        let instant = instant.into_std();
        let origin = origin();
        let offset = match instant.checked_duration_since(origin) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => i64::try_from((origin - instant).as_nanos())
                .map_or(i64::MIN + 1, |before| -before)
                .max(i64::MIN + 1),
        };
        let biased = (offset as u64) ^ SIGN;
        Self(NonZeroU64::new(biased).unwrap_or(NonZeroU64::MIN))
    }

    /// The instant this moment stands for.
    pub fn instant(self) -> Instant {
        let offset = (self.0.get() ^ SIGN) as i64;
        let magnitude = Duration::from_nanos(offset.unsigned_abs());
        let instant = if offset >= 0 {
            origin() + magnitude
        } else {
            origin() - magnitude
        };
        Instant::from_std(instant)
    }
}

impl From<Instant> for Moment {
    fn from(instant: Instant) -> Self {
        Self::of(instant)
    }
}

impl From<Moment> for Instant {
    fn from(moment: Moment) -> Self {
        moment.instant()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_order_around_the_origin() {
        let base = Instant::from_std(origin());
        let times = [
            base - Duration::from_secs(10),
            base - Duration::from_nanos(1),
            base,
            base + Duration::from_nanos(1),
            base + Duration::from_secs(3 * 86_400),
        ];
        for pair in times.windows(2) {
            assert!(Moment::of(pair[0]) < Moment::of(pair[1]));
        }
        for t in times {
            assert_eq!(Moment::of(t).instant(), t);
        }
        assert_eq!(size_of::<Option<Moment>>(), 8);
    }
}
