//! Push to subscribers: changes merged per service, then handed to each subscriber's sink.
//!
//! [`PushEngine`] turns registry events into pending pushes keyed by service ([`plan`]):
//! a change waits the push delay (500 ms by default) so a burst of changes yields one push,
//! while a first subscription is pushed at once to that subscriber only. When a push is due,
//! the engine renders nothing itself: it hands the service's current view to a
//! [`PushSink`] (the server's connection layer), which queues it per subscriber in a
//! [`PushQueue`] that keeps only the newest view per service, sends it and, on failure,
//! asks for a retry with [`Push::retry_later`].

mod config;
mod engine;
mod plan;
mod queue;

pub use config::PushConfig;
pub use engine::{Push, PushEngine, PushSink};
pub use queue::PushQueue;
