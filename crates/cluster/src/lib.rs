//! Cluster membership for the distro registry.
//!
//! - [`Member`] / [`MemberState`]: one node as seen by this node, serialised in Nacos's
//!   `/nacos/v1/core/cluster/nodes` shape;
//! - [`Membership`]: self plus every listed member, with a watch of the sorted healthy list
//!   (UP or SUSPICIOUS, self included) that Distro responsibility follows;
//! - [`detector`]: the failure detector as a pure state machine, and [`run_failure_detector`],
//!   the loop that probes every peer through a [`Prober`] (transport supplied by another crate);
//! - [`lookup`]: where the member list comes from (standalone, static, `cluster.conf`,
//!   address server, DNS), run by [`run_lookup`];
//! - [`clock`]: the wall clock of informational timestamps, replaceable by a simulation;
//! - [`metrics`]: `cluster_members{state}`, `cluster_probe_failures_total`,
//!   `cluster_member_state_changes_total`.

pub mod address;
pub use distro_core::clock;
pub mod detector;
pub mod lookup;
pub mod member;
pub mod membership;
pub mod metrics;
pub mod probe;

pub use address::{AddressError, DEFAULT_PORT, MemberAddress};
pub use detector::FailurePolicy;
pub use lookup::{
    AddressServerConfig, DnsLookupConfig, FileLookupConfig, LookupConfig, LookupError, run_lookup,
};
pub use member::{Member, MemberInfo, MemberState, StateChange};
pub use membership::{AddressChange, HealthyMembers, MemberSnapshots, Membership};
pub use probe::{DetectorConfig, ProbeError, Prober, run_failure_detector, unix_millis};
