//! Revisions: how the states of one key are ordered, across owners and partitions.
//!
//! A revision is `stamp << CHANGE_BITS | changes`. `stamp` is the wall-clock millisecond
//! (Unix time) of the last write the key's client made itself (register, update,
//! deregister), kept above every stamp the key had before; `changes` counts what its owners
//! did since (adoption, health flips, expiry of silent instances).
//!
//! Why not a plain counter: when nodes disagree on who is up, two nodes can own the same
//! transferable key at once and both count its changes. After the heal a counter picks the
//! side that changed it more often, not the side that has the client's newest write (found
//! by the simulation: a node cut off for ten seconds adopted every client, and its copies,
//! older but re-counted, overwrote metadata updates the other nodes had acknowledged). With
//! the stamp first, the newest client write wins; clocks skewed by `d` can misorder only
//! writes less than `d` apart made through different nodes in a split brain.
//!
//! Small revisions (stamp 0, as in tests and records from before stamps) order as plain
//! counters.

use crate::clock;

/// Low bits counting owner-side changes after the last client write.
pub const CHANGE_BITS: u32 = 16;

/// The stamp part: the millisecond of the last client write.
pub fn stamp(revision: u64) -> u64 {
    revision >> CHANGE_BITS
}

/// The revision of a client write at `now_ms` to a key last at `previous`: stamped with
/// `now_ms`, or just above the previous stamp when the clock is behind it.
pub fn written_at(previous: u64, now_ms: u64) -> u64 {
    let stamp = now_ms.max(stamp(previous).saturating_add(1));
    stamp.saturating_mul(1 << CHANGE_BITS)
}

/// The revision of a client write now (see [`written_at`]).
pub fn written(previous: u64) -> u64 {
    written_at(previous, clock::unix_millis())
}

/// The revision of an owner-side change (adoption, health, expiry) to a key at `previous`:
/// the same stamp, one more change. After 65,535 changes without a client write the count
/// carries into the stamp, which only ever moves it a little forward.
pub fn changed(previous: u64) -> u64 {
    previous.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_client_write_outranks_any_number_of_owner_changes() {
        let first = written_at(0, 1_000);
        let mut counted = first;
        for _ in 0..1_000 {
            counted = changed(counted);
        }
        let later = written_at(first, 1_001);
        assert!(later > counted, "the newer write wins");
        assert_eq!(stamp(later), 1_001);
        assert!(changed(first) > first);
    }

    #[test]
    fn stamps_never_go_back_when_the_clock_does() {
        let ahead = written_at(0, 5_000);
        let behind = written_at(ahead, 4_000);
        assert!(behind > ahead);
        assert_eq!(stamp(behind), 5_001);
        let tombstone = changed(changed(ahead));
        assert!(
            written_at(tombstone, 4_000) > tombstone,
            "a re-creation outranks"
        );
    }

    #[test]
    fn small_revisions_order_as_counters() {
        assert_eq!(stamp(7), 0);
        assert_eq!(changed(7), 8);
        assert!(written_at(7, 0) > 7);
    }
}
