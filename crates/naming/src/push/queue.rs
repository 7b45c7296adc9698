//! One subscriber's push queue: bounded, in arrival order, newest view per service.
//!
//! A slow subscriber never makes the queue grow with changes: a second push of a service
//! that is still waiting replaces the first in place (the subscriber only needs the newest
//! view), so the queue holds at most one entry per service and at most `capacity` entries.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::names::ServiceKey;
use crate::push::engine::Push;

#[derive(Default)]
struct State {
    order: VecDeque<ServiceKey>,
    items: HashMap<ServiceKey, Push>,
    closed: bool,
}

/// A coalescing queue of pushes for one subscriber, drained by one task.
pub struct PushQueue {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

impl PushQueue {
    /// An empty queue holding at most `capacity` services.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues a push, replacing a waiting push of the same service. Gives the push back
    /// when the queue is full or closed.
    pub fn offer(&self, push: Push) -> Result<(), Box<Push>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Box::new(push));
        }
        if let Some(waiting) = state.items.get_mut(&push.service) {
            *waiting = push;
            return Ok(());
        }
        if state.items.len() >= self.capacity {
            return Err(Box::new(push));
        }
        state.order.push_back(push.service.clone());
        state.items.insert(push.service.clone(), push);
        drop(state);
        // `notify_one` stores a permit when the drainer is not waiting yet, so no wake-up
        // is lost between its emptiness check and its wait.
        self.ready.notify_one();
        Ok(())
    }

    /// The oldest waiting push; waits for one. `None` once the queue is closed.
    pub async fn next(&self) -> Option<Push> {
        loop {
            {
                let mut state = self.state.lock();
                if state.closed {
                    return None;
                }
                while let Some(service) = state.order.pop_front() {
                    if let Some(push) = state.items.remove(&service) {
                        return Some(push);
                    }
                }
            }
            self.ready.notified().await;
        }
    }

    /// Drops everything waiting and ends [`PushQueue::next`].
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.order.clear();
        state.items.clear();
        drop(state);
        self.ready.notify_one();
    }

    /// Number of services waiting.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn keeps_order_and_only_the_newest_push_per_service() {
        let queue = PushQueue::new(2);
        queue.offer(Push::for_test("a", "old")).unwrap();
        queue.offer(Push::for_test("b", "x")).unwrap();
        queue.offer(Push::for_test("a", "new")).unwrap();
        assert_eq!(queue.len(), 2, "a replaced in place");
        assert!(queue.offer(Push::for_test("c", "x")).is_err(), "bounded");
        let first = queue.next().await.unwrap();
        assert_eq!((&*first.service.name, first.client.as_str()), ("a", "new"));
        assert_eq!(&*queue.next().await.unwrap().service.name, "b");
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn wakes_a_waiting_drainer_and_ends_on_close() {
        let queue = Arc::new(PushQueue::new(8));
        let drainer = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.next().await.map(|p| p.service.name.to_string()) })
        };
        tokio::task::yield_now().await;
        queue.offer(Push::for_test("late", "x")).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), drainer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.as_deref(), Some("late"));
        queue.close();
        assert!(queue.next().await.is_none());
        assert!(queue.offer(Push::for_test("x", "x")).is_err());
    }
}
