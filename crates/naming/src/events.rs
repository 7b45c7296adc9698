//! The naming event bus: a bounded queue drained by one dispatcher, a thread or a tokio task.
//!
//! The thread's queue is a linked list of small blocks with the bound checked on publish:
//! a preallocated ring of the bound (65,536 events) kept 5 MB resident for a queue that is
//! nearly always empty.
//!
//! Publishers never block: on a full queue the event is dropped and counted, because every
//! consumer (push, replication) also has a periodic path that repairs a missed event.
//!
//! Production keeps the dispatcher thread ([`EventDispatch::Thread`]): it never competes with
//! request handling for the runtime's workers, and throughput is what it always was. A
//! deterministic simulation uses [`EventDispatch::Task`]: a thread would run in real time
//! beside simulated time (and outside the runtime, where `tokio::time::Instant::now()` is
//! real time), so event order against the simulated network would change from run to run.

use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::RwLock;

use crate::client::ClientId;
use crate::names::ServiceKey;

/// Something that happened in the registry.
#[derive(Debug, Clone, PartialEq)]
pub enum NamingEvent {
    /// The instance list of a service changed.
    ServiceChanged(ServiceKey),
    /// A client's published instances changed (its revision moved).
    ClientChanged(ClientId),
    /// A client was removed with everything it published.
    ClientRemoved(ClientId),
    /// A client subscribed to a service for the first time.
    ServiceSubscribed {
        /// The service.
        service: ServiceKey,
        /// The subscribing client.
        client: ClientId,
    },
}

/// A consumer of events, called on the dispatcher thread; it must not block for long.
pub type EventHandler = Arc<dyn Fn(&NamingEvent) + Send + Sync>;

/// Where events are dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventDispatch {
    /// On a dedicated thread (production).
    #[default]
    Thread,
    /// On a task of the current tokio runtime (simulations: everything in simulated time).
    /// Without a runtime at construction the thread is used.
    Task,
}

/// The publishing end of the queue.
enum Queue {
    Thread {
        sender: Sender<NamingEvent>,
        capacity: usize,
    },
    Task(tokio::sync::mpsc::Sender<NamingEvent>),
}

/// Bounded event bus with one dispatcher per registry.
pub struct EventBus {
    queue: Queue,
    handlers: Arc<RwLock<Vec<EventHandler>>>,
}

impl EventBus {
    /// Starts the dispatcher thread; it stops when the bus is dropped.
    pub fn new(queue_len_max: usize) -> Self {
        Self::with_dispatch(queue_len_max, EventDispatch::Thread)
    }

    /// Starts the dispatcher where `dispatch` says; it stops when the bus is dropped.
    pub fn with_dispatch(queue_len_max: usize, dispatch: EventDispatch) -> Self {
        let handlers: Arc<RwLock<Vec<EventHandler>>> = Arc::default();
        let dispatcher_handlers = Arc::clone(&handlers);
        let runtime = tokio::runtime::Handle::try_current().ok();
        if let (EventDispatch::Task, Some(runtime)) = (dispatch, runtime) {
            // tokio's bounded channel needs a capacity of at least one.
            let (sender, mut receiver) = tokio::sync::mpsc::channel(queue_len_max.max(1));
            runtime.spawn(async move {
                while let Some(event) = receiver.recv().await {
                    deliver(&event, &dispatcher_handlers);
                }
            });
            return Self {
                queue: Queue::Task(sender),
                handlers,
            };
        }
        let (sender, receiver) = crossbeam_channel::unbounded();
        let spawned = thread::Builder::new()
            .name("naming-events".to_owned())
            .spawn(move || dispatch_thread(receiver, dispatcher_handlers));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the naming event dispatcher");
        }
        Self {
            queue: Queue::Thread {
                sender,
                capacity: queue_len_max,
            },
            handlers,
        }
    }

    /// Adds a consumer for every later event.
    pub fn subscribe(&self, handler: EventHandler) {
        self.handlers.write().push(handler);
    }

    /// Queues an event without blocking; a full queue drops it (counted).
    pub fn publish(&self, event: NamingEvent) {
        let full = match &self.queue {
            // The length is read and the event sent without a lock: concurrent publishers can
            // overshoot the bound by a few events, which is all the bound has to prevent.
            Queue::Thread { sender, capacity } => {
                sender.len() >= *capacity || sender.try_send(event).is_err()
            }
            Queue::Task(sender) => matches!(
                sender.try_send(event),
                Err(tokio::sync::mpsc::error::TrySendError::Full(_))
            ),
        };
        if full {
            metrics::counter!("naming_events_dropped_total").increment(1);
        }
    }
}

fn dispatch_thread(receiver: Receiver<NamingEvent>, handlers: Arc<RwLock<Vec<EventHandler>>>) {
    while let Ok(event) = receiver.recv() {
        deliver(&event, &handlers);
    }
}

/// Calls every handler subscribed so far with `event`.
fn deliver(event: &NamingEvent, handlers: &RwLock<Vec<EventHandler>>) {
    let current: Vec<EventHandler> = handlers.read().clone();
    for handler in &current {
        handler(event);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn handlers_receive_events_in_order() {
        let bus = EventBus::new(16);
        let (tx, rx) = crossbeam_channel::unbounded();
        bus.subscribe(Arc::new(move |event: &NamingEvent| {
            let _ = tx.send(event.clone());
        }));
        let a = ClientId::new("a");
        let b = ClientId::new("b");
        bus.publish(NamingEvent::ClientChanged(a.clone()));
        bus.publish(NamingEvent::ClientRemoved(b.clone()));
        let timeout = Duration::from_secs(5);
        assert_eq!(
            rx.recv_timeout(timeout).unwrap(),
            NamingEvent::ClientChanged(a)
        );
        assert_eq!(
            rx.recv_timeout(timeout).unwrap(),
            NamingEvent::ClientRemoved(b)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn task_dispatch_runs_on_the_runtime_in_order() {
        let bus = EventBus::with_dispatch(16, EventDispatch::Task);
        assert!(matches!(bus.queue, Queue::Task(_)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        bus.subscribe(Arc::new(move |event: &NamingEvent| {
            let _ = tx.send(event.clone());
        }));
        let a = ClientId::new("a");
        bus.publish(NamingEvent::ClientChanged(a.clone()));
        bus.publish(NamingEvent::ClientRemoved(a.clone()));
        assert_eq!(rx.recv().await, Some(NamingEvent::ClientChanged(a.clone())));
        assert_eq!(rx.recv().await, Some(NamingEvent::ClientRemoved(a)));
    }

    #[test]
    fn task_dispatch_without_a_runtime_uses_the_thread() {
        let bus = EventBus::with_dispatch(16, EventDispatch::Task);
        assert!(matches!(bus.queue, Queue::Thread { .. }));
    }

    #[test]
    fn a_full_thread_queue_drops_what_does_not_fit() {
        let bus = EventBus::new(2);
        let (entered_tx, entered_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
        bus.subscribe(Arc::new(move |event: &NamingEvent| {
            let _ = entered_tx.send(());
            let _ = gate_rx.recv_timeout(Duration::from_secs(5));
            let _ = seen_tx.send(event.clone());
        }));
        let timeout = Duration::from_secs(5);
        let event = |n: u32| NamingEvent::ClientChanged(ClientId::new(n.to_string()));
        bus.publish(event(1));
        // The dispatcher holds event 1 in the handler: 2 and 3 fill the queue, 4 and 5 drop.
        entered_rx.recv_timeout(timeout).unwrap();
        for n in 2..=5 {
            bus.publish(event(n));
        }
        for _ in 0..5 {
            let _ = gate_tx.send(());
        }
        let seen: Vec<_> = (0..3)
            .map(|_| seen_rx.recv_timeout(timeout).unwrap())
            .collect();
        assert_eq!(seen, [event(1), event(2), event(3)]);
        assert!(seen_rx.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
