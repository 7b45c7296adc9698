//! The failure detector as a pure state machine: probe results in, state transitions out.
//!
//! Rules (applied to one peer):
//! - a success sets UP, resets the failure count and stores the peer's reported info;
//! - a failure increments the count; the peer becomes SUSPICIOUS, or DOWN once the count
//!   reaches [`FailurePolicy::down_after_failures`] (default 3, so DOWN on the 3rd
//!   consecutive failure; Nacos uses "more than 3", i.e. the 4th);
//! - a DOWN peer stays DOWN on further failures;
//! - a report the peer sent us marks it UP (as in Nacos) unless our own probes of it are
//!   failing with anything but a refused connection: then it only refreshes the peer's info
//!   (version, readiness). A report proves that the peer reaches us, not that we reach it;
//!   under one-way loss (our probes time out) the peer used to flip UP and DOWN every probe
//!   round, and Distro adopted and released its clients each time. After a refused
//!   connection a report means the process is back (a restart), and is taken at once;
//! - "connection refused" ([`ProbeError::ConnectionRefused`]) goes DOWN at once when
//!   [`FailurePolicy::refused_is_down`] is set (the default, as in Nacos): a refused
//!   connection means no process listens on the peer's port (stopped or crashed), which is a
//!   definite answer, unlike a timeout that may only be load or packet loss.
//!
//! Nothing here reads a clock: `now_ms` (Unix milliseconds) is passed in and only recorded.

use crate::member::{Member, MemberInfo, MemberState, StateChange};
use crate::probe::ProbeError;

/// Default number of consecutive failures that make a peer DOWN.
pub const DOWN_AFTER_FAILURES_DEFAULT: u32 = 3;

/// How failures turn into states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Consecutive failures after which a peer is DOWN (values below 1 act as 1).
    pub down_after_failures: u32,
    /// Whether a refused connection makes the peer DOWN immediately.
    pub refused_is_down: bool,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            down_after_failures: DOWN_AFTER_FAILURES_DEFAULT,
            refused_is_down: true,
        }
    }
}

impl FailurePolicy {
    /// The state a peer should be in after a failure, given its count and current state.
    fn state_after_failure(
        &self,
        current: MemberState,
        count: u32,
        error: &ProbeError,
    ) -> MemberState {
        let refused = self.refused_is_down && matches!(error, ProbeError::ConnectionRefused);
        if current == MemberState::Down || refused || count >= self.down_after_failures.max(1) {
            MemberState::Down
        } else {
            MemberState::Suspicious
        }
    }
}

/// Applies a successful probe; returns the transition, if any.
pub fn record_success(member: &mut Member, info: &MemberInfo, now_ms: u64) -> Option<StateChange> {
    member.refresh(info, now_ms);
    member.set_state(MemberState::Up, now_ms)
}

/// Applies a report the peer sent us: a success, unless our own probes of it are failing
/// for another reason than a refused connection; then only its info (see the module rules).
pub fn record_report(member: &mut Member, info: &MemberInfo, now_ms: u64) -> Option<StateChange> {
    if member.fail_count() > 0 && !member.last_failure_refused() {
        member.note_info(info, now_ms);
        return None;
    }
    record_success(member, info, now_ms)
}

/// Applies a failed probe; returns the transition, if any.
pub fn record_failure(
    member: &mut Member,
    error: &ProbeError,
    policy: &FailurePolicy,
    now_ms: u64,
) -> Option<StateChange> {
    let count = member.count_failure(matches!(error, ProbeError::ConnectionRefused));
    let to = policy.state_after_failure(member.state(), count, error);
    member.set_state(to, now_ms)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::address::{DEFAULT_PORT, MemberAddress};

    fn peer() -> Member {
        let address = MemberAddress::parse("10.0.0.2", DEFAULT_PORT).expect("valid test address");
        Member::new(address, 0)
    }

    fn timeout() -> ProbeError {
        ProbeError::Timeout(Duration::from_millis(500))
    }

    fn info(ready: bool) -> MemberInfo {
        MemberInfo {
            address: "10.0.0.2:8848".into(),
            version: "9.9.9".into(),
            ready,
        }
    }

    #[test]
    fn suspicious_on_first_failure_down_on_third() {
        let policy = FailurePolicy::default();
        let mut m = peer();
        let first = record_failure(&mut m, &timeout(), &policy, 1).unwrap();
        assert_eq!(
            (first.from, first.to),
            (MemberState::Up, MemberState::Suspicious)
        );
        assert_eq!(record_failure(&mut m, &timeout(), &policy, 2), None);
        assert_eq!(m.state(), MemberState::Suspicious);
        let third = record_failure(&mut m, &timeout(), &policy, 3).unwrap();
        assert_eq!(
            (third.from, third.to),
            (MemberState::Suspicious, MemberState::Down)
        );
        assert_eq!(m.fail_count(), 3);
        assert_eq!(m.last_state_change_ms(), 3);
        // Further failures: no more events, still DOWN.
        for now in 4..10 {
            assert_eq!(record_failure(&mut m, &timeout(), &policy, now), None);
        }
        assert_eq!(m.state(), MemberState::Down);
    }

    #[test]
    fn one_success_brings_up_and_resets() {
        let policy = FailurePolicy::default();
        let mut m = peer();
        for now in 0..5 {
            record_failure(&mut m, &timeout(), &policy, now);
        }
        let up = record_success(&mut m, &info(true), 10).unwrap();
        assert_eq!((up.from, up.to), (MemberState::Down, MemberState::Up));
        assert_eq!(m.fail_count(), 0);
        assert_eq!(m.last_refresh_ms(), 10);
        assert_eq!((m.version(), m.ready()), ("9.9.9", true));
        // Repeated success: no event, info still refreshed.
        assert_eq!(record_success(&mut m, &info(false), 11), None);
        assert!(!m.ready());
        // The count starts again from zero: one failure is only SUSPICIOUS.
        let again = record_failure(&mut m, &timeout(), &policy, 12).unwrap();
        assert_eq!(again.to, MemberState::Suspicious);
    }

    #[test]
    fn connection_refused_is_down_at_once_when_configured() {
        let mut m = peer();
        let change = record_failure(
            &mut m,
            &ProbeError::ConnectionRefused,
            &FailurePolicy::default(),
            1,
        );
        assert_eq!(change.map(|c| c.to), Some(MemberState::Down));
        // A later timeout does not bring it back to SUSPICIOUS.
        assert_eq!(
            record_failure(&mut m, &timeout(), &FailurePolicy::default(), 2),
            None
        );
        assert_eq!(m.state(), MemberState::Down);

        let lenient = FailurePolicy {
            refused_is_down: false,
            ..FailurePolicy::default()
        };
        let mut m = peer();
        let change = record_failure(&mut m, &ProbeError::ConnectionRefused, &lenient, 1);
        assert_eq!(change.map(|c| c.to), Some(MemberState::Suspicious));
    }

    #[test]
    fn threshold_is_configurable() {
        let one = FailurePolicy {
            down_after_failures: 1,
            refused_is_down: false,
        };
        let mut m = peer();
        assert_eq!(
            record_failure(&mut m, &timeout(), &one, 1).map(|c| c.to),
            Some(MemberState::Down)
        );

        let zero = FailurePolicy {
            down_after_failures: 0,
            refused_is_down: false,
        };
        let mut m = peer();
        assert_eq!(
            record_failure(&mut m, &timeout(), &zero, 1).map(|c| c.to),
            Some(MemberState::Down)
        );

        let five = FailurePolicy {
            down_after_failures: 5,
            refused_is_down: false,
        };
        let mut m = peer();
        for now in 0..4 {
            record_failure(&mut m, &timeout(), &five, now);
        }
        assert_eq!(m.state(), MemberState::Suspicious);
        record_failure(&mut m, &timeout(), &five, 5);
        assert_eq!(m.state(), MemberState::Down);
    }
}
