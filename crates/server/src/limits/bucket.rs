//! A token bucket: `rate` tokens a second up to `burst`; a request takes one or is refused.
//! Refusal costs nothing but the check, so a flooding connection spends its own time.

use std::time::Instant;

use parking_lot::Mutex;

/// One connection's request budget.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<Level>,
}

#[derive(Debug)]
struct Level {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket refilled at `rate` tokens a second, holding at most `burst` (at least 1).
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            burst,
            state: Mutex::new(Level {
                tokens: burst,
                at: Instant::now(),
            }),
        }
    }

    /// Takes a token now; false when the bucket is empty.
    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Takes a token at `now` (a clock of the caller's choosing, for tests).
    pub fn try_take_at(&self, now: Instant) -> bool {
        let mut level = self.state.lock();
        let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
        level.tokens = (level.tokens + elapsed * self.rate).min(self.burst);
        level.at = level.at.max(now);
        if level.tokens >= 1.0 {
            level.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The refill rate, tokens a second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The bucket size.
    pub fn burst(&self) -> f64 {
        self.burst
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let bucket = TokenBucket::new(10, 5);
        let start = Instant::now();
        let taken = (0..100).filter(|_| bucket.try_take_at(start)).count();
        assert_eq!(taken, 5, "the burst, then nothing at the same instant");
        // 10 tokens a second: one more every 100 ms, never more than the burst.
        assert!(bucket.try_take_at(start + Duration::from_millis(100)));
        assert!(!bucket.try_take_at(start + Duration::from_millis(150)));
        let later = start + Duration::from_secs(60);
        let taken = (0..100).filter(|_| bucket.try_take_at(later)).count();
        assert_eq!(taken, 5);
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let bucket = TokenBucket::new(1_000, 1);
        let start = Instant::now() + Duration::from_secs(1);
        assert!(bucket.try_take_at(start));
        assert!(!bucket.try_take_at(start - Duration::from_millis(500)));
        assert!(!bucket.try_take_at(start));
    }
}
