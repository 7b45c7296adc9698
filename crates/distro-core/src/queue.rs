//! The delay engine: per peer, the set of keys to send and when. A key marked again while it
//! waits keeps its first deadline (repeated changes never postpone a sync) unless the new one
//! is earlier; what is sent is the key's state at send time, so the backlog holds only the
//! newest state of each key by construction.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

/// What happened to a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// Queued (or merged into a pending mark).
    Queued,
    /// The peer's backlog was full: it was dropped and verify will repair the peer.
    Overflowed,
}

/// One peer's pending keys.
#[derive(Debug, Default)]
struct Lane {
    pending: HashMap<String, Instant>,
    earliest: Option<Instant>,
    in_flight: bool,
}

/// Pending keys of every peer.
#[derive(Debug, Default)]
pub struct SyncQueue {
    lanes: HashMap<Arc<str>, Lane>,
    backlog_len_max: usize,
}

impl SyncQueue {
    /// An empty queue bounding each peer's backlog to `backlog_len_max` keys.
    pub fn new(backlog_len_max: usize) -> Self {
        Self {
            lanes: HashMap::new(),
            backlog_len_max: backlog_len_max.max(1),
        }
    }

    /// Queues `key` for `peer`, due at `due`.
    pub fn mark(&mut self, peer: &Arc<str>, key: &str, due: Instant) -> Marked {
        let lane = self.lanes.entry(Arc::clone(peer)).or_default();
        if !lane.pending.contains_key(key) && lane.pending.len() >= self.backlog_len_max {
            lane.pending.clear();
            lane.earliest = None;
            return Marked::Overflowed;
        }
        let deadline = lane.pending.entry(key.to_owned()).or_insert(due);
        *deadline = (*deadline).min(due);
        lane.earliest = Some(lane.earliest.map_or(*deadline, |e| e.min(*deadline)));
        Marked::Queued
    }

    /// How many more keys `peer`'s backlog takes before it overflows.
    pub fn room(&self, peer: &str) -> usize {
        self.backlog_len_max.saturating_sub(self.backlog(peer))
    }

    /// Drops everything pending for `peer` (it is DOWN or gone).
    pub fn drop_peer(&mut self, peer: &str) -> usize {
        self.lanes.get_mut(peer).map_or(0, |lane| {
            lane.earliest = None;
            std::mem::take(&mut lane.pending).len()
        })
    }

    /// Whether nothing is pending or in flight for `peer`.
    pub fn is_idle(&self, peer: &str) -> bool {
        self.lanes
            .get(peer)
            .is_none_or(|lane| lane.pending.is_empty() && !lane.in_flight)
    }

    /// Keys pending for `peer`.
    pub fn backlog(&self, peer: &str) -> usize {
        self.lanes.get(peer).map_or(0, |lane| lane.pending.len())
    }

    /// For every peer with nothing in flight and something due, takes its due keys and
    /// marks it in flight.
    pub fn take_due(&mut self, now: Instant) -> Vec<(Arc<str>, Vec<String>)> {
        let mut batches = Vec::new();
        for (peer, lane) in &mut self.lanes {
            if lane.in_flight || lane.earliest.is_none_or(|e| e > now) {
                continue;
            }
            let due: Vec<String> = lane
                .pending
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for key in &due {
                lane.pending.remove(key);
            }
            lane.earliest = lane.pending.values().min().copied();
            lane.in_flight = true;
            batches.push((Arc::clone(peer), due));
        }
        batches
    }

    /// The batch sent to `peer` finished.
    pub fn finished(&mut self, peer: &str) {
        if let Some(lane) = self.lanes.get_mut(peer) {
            lane.in_flight = false;
        }
    }

    /// The earliest deadline of a peer that can send now.
    pub fn next_due(&self) -> Option<Instant> {
        self.lanes
            .values()
            .filter(|l| !l.in_flight)
            .filter_map(|l| l.earliest)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn repeated_marks_keep_the_first_deadline_and_merge() {
        let t0 = Instant::now();
        let peer: Arc<str> = Arc::from("p");
        let mut queue = SyncQueue::new(10);
        queue.mark(&peer, "c", t0 + Duration::from_millis(1000));
        queue.mark(&peer, "c", t0 + Duration::from_millis(1800));
        assert!(queue.take_due(t0 + Duration::from_millis(999)).is_empty());
        let due = queue.take_due(t0 + Duration::from_millis(1000));
        assert_eq!(
            due,
            vec![(Arc::clone(&peer), vec!["c".to_owned()])],
            "one send, at the first deadline"
        );
        assert_eq!(queue.backlog("p"), 0);
    }

    #[test]
    fn an_earlier_mark_overrides_and_in_flight_peers_wait() {
        let t0 = Instant::now();
        let peer: Arc<str> = Arc::from("p");
        let mut queue = SyncQueue::new(10);
        queue.mark(&peer, "c", t0 + Duration::from_secs(1));
        queue.mark(&peer, "c", t0);
        assert_eq!(queue.take_due(t0).len(), 1);
        queue.mark(&peer, "d", t0);
        assert!(
            queue.take_due(t0).is_empty(),
            "one batch in flight per peer keeps per-key order"
        );
        queue.finished("p");
        assert_eq!(queue.take_due(t0)[0].1, vec!["d".to_owned()]);
    }

    #[test]
    fn a_full_backlog_is_dropped_whole() {
        let t0 = Instant::now();
        let peer: Arc<str> = Arc::from("p");
        let mut queue = SyncQueue::new(2);
        assert_eq!(queue.mark(&peer, "a", t0), Marked::Queued);
        assert_eq!(queue.mark(&peer, "b", t0), Marked::Queued);
        assert_eq!(
            queue.mark(&peer, "a", t0),
            Marked::Queued,
            "re-marking a pending key is free"
        );
        assert_eq!(queue.mark(&peer, "c", t0), Marked::Overflowed);
        assert_eq!(queue.backlog("p"), 0);
        assert_eq!(queue.drop_peer("p"), 0);
    }
}
