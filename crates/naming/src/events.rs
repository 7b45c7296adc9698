//! The naming event bus: a bounded crossbeam channel drained by one dispatcher thread.
//!
//! Publishers never block: on a full queue the event is dropped and counted, because every
//! consumer (push, replication) also has a periodic path that repairs a missed event.

use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender, TrySendError};
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

/// Bounded event bus with one dispatcher thread per registry.
pub struct EventBus {
    sender: Sender<NamingEvent>,
    handlers: Arc<RwLock<Vec<EventHandler>>>,
}

impl EventBus {
    /// Starts the dispatcher; it stops when the bus is dropped.
    pub fn new(queue_len_max: usize) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(queue_len_max);
        let handlers: Arc<RwLock<Vec<EventHandler>>> = Arc::default();
        let dispatcher_handlers = Arc::clone(&handlers);
        let spawned = thread::Builder::new()
            .name("naming-events".to_owned())
            .spawn(move || dispatch(receiver, dispatcher_handlers));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the naming event dispatcher");
        }
        Self { sender, handlers }
    }

    /// Adds a consumer for every later event.
    pub fn subscribe(&self, handler: EventHandler) {
        self.handlers.write().push(handler);
    }

    /// Queues an event without blocking; a full queue drops it (counted).
    pub fn publish(&self, event: NamingEvent) {
        match self.sender.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("naming_events_dropped_total").increment(1);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn dispatch(receiver: Receiver<NamingEvent>, handlers: Arc<RwLock<Vec<EventHandler>>>) {
    while let Ok(event) = receiver.recv() {
        let current: Vec<EventHandler> = handlers.read().clone();
        for handler in &current {
            handler(&event);
        }
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
}
