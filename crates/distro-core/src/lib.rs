//! Distro, Nacos's AP replication protocol, as a transport-agnostic kernel.
//!
//! This crate will hold the protocol engine (issue "Distro: replicate ephemeral clients"):
//! keys and data per resource type, the delay engine that merges changes per key, the
//! execute engine with per-key ordered lanes and bounded per-peer backlogs, verify by
//! digest, replica expiry with self-preservation, and the startup snapshot load. It knows
//! keys, bytes and members, never instances; transports and storages plug in through
//! traits. Nothing is implemented yet: the crate exists so the workspace has its final shape.
