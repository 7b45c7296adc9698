//! The ephemeral naming registry of the distro server.
//!
//! Clients own instances: an `ip:port` client (HTTP callers, kept alive by beats) or a gRPC
//! connection client (alive as long as its connection). The [`Registry`] holds clients, the
//! service index and subscriptions in memory, renders per-service views into a cache, checks
//! beats, removes idle clients and empty services, and announces every change on an
//! [`EventBus`] for push and replication.
//!
//! Layout: [`names`] and [`validate`] define and check identities; `instance`, `client` and
//! `service` are the records; `state` changes them and reports what changed; `registry`
//! wraps the state with its lock, cache and events; `health`, `catalog` and `maintenance`
//! add beats, the service API and the periodic loops; `push` merges changes per service and
//! hands due pushes to the server's connections; `replication` ties clients to the Distro
//! kernel (records, responsibility, the plugin and the event bridge).

mod catalog;
mod client;
mod config;
mod dump;
mod error;
mod events;
mod health;
mod instance;
mod intern;
mod maintenance;
pub mod names;
mod push;
mod quota;
mod registry;
pub mod replication;
mod service;
pub mod service_map;
mod state;
pub mod validate;
mod view;

pub use catalog::{InstancePatch, ServiceDetail};
pub use client::{Client, ClientId, ClientKind, Published, Subscriber};
pub use config::NamingConfig;
pub use error::{NamingError, ParamError};
pub use events::{EventBus, EventDispatch, EventHandler, NamingEvent};
pub use health::{BeatCheckReport, BeatOutcome};
pub use instance::{BeatTimeouts, InstanceRecord, InstanceSpec, generate_instance_id};
pub use maintenance::{Responsibility, owns_everything, spawn_maintenance};
pub use names::{ServiceKey, ServiceName};
pub use push::{Push, PushConfig, PushEngine, PushQueue, PushSink};
pub use quota::{Limit, LimitExceeded};
pub use registry::{Registry, RegistryStats, RevisionFloor};
pub use service::{Selector, ServiceMeta};
pub use view::{RenderedSelection, Selection, ServiceView};
