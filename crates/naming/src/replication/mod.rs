//! Replication of naming clients through the Distro kernel: the record format, the
//! responsibility mapper, the plugin the kernel calls, and the bridge from registry events.

pub mod bridge;
pub mod mapper;
pub mod plugin;
pub mod record;
mod replica;
