//! One cluster member: its address, health state, reported info and Nacos JSON shape.
//!
//! A [`Member`] is owned by the [`crate::Membership`]; callers see clones. Its state only
//! changes through the failure detector ([`crate::detector`]), which is why the mutators here
//! are crate-private.

use std::collections::BTreeMap;

use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::address::MemberAddress;

/// Health state of a member, as Nacos's `NodeState` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberState {
    /// Answering probes.
    Up,
    /// Missed at least one probe, not yet declared down; still counted as healthy.
    Suspicious,
    /// Declared dead: out of the healthy list until a probe succeeds again.
    Down,
}

impl MemberState {
    /// All states, for iterating (e.g. to zero a gauge per state).
    pub const ALL: [MemberState; 3] = [MemberState::Up, MemberState::Suspicious, MemberState::Down];

    /// Whether a member in this state is in the healthy list (UP or SUSPICIOUS, like Nacos's DistroMapper).
    pub fn is_healthy(self) -> bool {
        matches!(self, MemberState::Up | MemberState::Suspicious)
    }

    /// The Nacos name (`"UP"`, `"SUSPICIOUS"`, `"DOWN"`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Up => "UP",
            MemberState::Suspicious => "SUSPICIOUS",
            MemberState::Down => "DOWN",
        }
    }

    /// The lower-case value used for the `state` metric label.
    pub fn metric_label(self) -> &'static str {
        match self {
            MemberState::Up => "up",
            MemberState::Suspicious => "suspicious",
            MemberState::Down => "down",
        }
    }
}

/// What a node tells a peer about itself in a probe and in the probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    /// The sender's advertised `ip:port` (HTTP port).
    pub address: String,
    /// The sender's software version.
    pub version: String,
    /// Whether the sender has loaded its startup snapshot and serves as a full replica.
    pub ready: bool,
}

/// A state transition of one member, returned so callers can log or count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The member's address.
    pub address: String,
    /// State before.
    pub from: MemberState,
    /// State after.
    pub to: MemberState,
}

/// One member of the cluster, as seen by this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    address: MemberAddress,
    address_text: String,
    state: MemberState,
    version: String,
    ready: bool,
    last_state_change_ms: u64,
    last_refresh_ms: u64,
    fail_count: u32,
    /// Whether the last failed probe was a refused connection (no process listening).
    last_failure_refused: bool,
    extend_info: BTreeMap<String, Value>,
}

impl Member {
    /// A new member in state UP (Nacos starts listed members UP, so every node hashes over
    /// the same list from the start); `now_ms` is the Unix time in milliseconds.
    pub fn new(address: MemberAddress, now_ms: u64) -> Self {
        Self {
            address_text: address.to_string(),
            address,
            state: MemberState::Up,
            version: String::new(),
            ready: false,
            last_state_change_ms: now_ms,
            last_refresh_ms: 0,
            fail_count: 0,
            last_failure_refused: false,
            extend_info: BTreeMap::new(),
        }
    }

    /// The canonical `ip:port` address (HTTP port).
    pub fn address(&self) -> &str {
        &self.address_text
    }

    /// The host part of the address.
    pub fn ip(&self) -> &str {
        self.address.host()
    }

    /// The HTTP port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Current health state.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// Last reported software version (empty until the first successful probe).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Last reported readiness (loaded its startup snapshot).
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Unix time (ms) of the last state change, or of creation.
    pub fn last_state_change_ms(&self) -> u64 {
        self.last_state_change_ms
    }

    /// Unix time (ms) of the last successful probe or report; 0 if none yet.
    pub fn last_refresh_ms(&self) -> u64 {
        self.last_refresh_ms
    }

    /// Consecutive failed probes since the last success (Nacos's `failAccessCnt`).
    pub fn fail_count(&self) -> u32 {
        self.fail_count
    }

    /// Extra key/values shown in `extendInfo`.
    pub fn extend_info(&self) -> &BTreeMap<String, Value> {
        &self.extend_info
    }

    /// This member's info as carried by probes.
    pub fn info(&self) -> MemberInfo {
        MemberInfo {
            address: self.address_text.clone(),
            version: self.version.clone(),
            ready: self.ready,
        }
    }

    /// Whether what APIs show (state, version, readiness, extend info) differs from `other`;
    /// failure counts and refresh times alone do not count.
    pub fn differs_in_view(&self, other: &Member) -> bool {
        self.state != other.state
            || self.version != other.version
            || self.ready != other.ready
            || self.extend_info != other.extend_info
    }

    /// Moves to `to`, recording the time; returns the transition if the state changed.
    pub(crate) fn set_state(&mut self, to: MemberState, now_ms: u64) -> Option<StateChange> {
        if self.state == to {
            return None;
        }
        let from = std::mem::replace(&mut self.state, to);
        self.last_state_change_ms = now_ms;
        Some(StateChange {
            address: self.address_text.clone(),
            from,
            to,
        })
    }

    /// Records a successful contact: resets the failure count and stores the reported info.
    pub(crate) fn refresh(&mut self, info: &MemberInfo, now_ms: u64) {
        self.fail_count = 0;
        self.last_failure_refused = false;
        self.note_info(info, now_ms);
    }

    /// Stores the reported info without counting it as a successful contact.
    pub(crate) fn note_info(&mut self, info: &MemberInfo, now_ms: u64) {
        self.last_refresh_ms = now_ms;
        self.version.clone_from(&info.version);
        self.ready = info.ready;
    }

    /// Whether the last failed probe was a refused connection.
    pub(crate) fn last_failure_refused(&self) -> bool {
        self.last_failure_refused
    }

    /// Counts one more consecutive failure (`refused`: the connection was refused) and
    /// returns the new count.
    pub(crate) fn count_failure(&mut self, refused: bool) -> u32 {
        self.last_failure_refused = refused;
        self.fail_count = self.fail_count.saturating_add(1);
        self.fail_count
    }

    /// Sets the version (used for self).
    pub(crate) fn set_version(&mut self, version: &str) {
        version.clone_into(&mut self.version);
    }

    /// Sets readiness (used for self).
    pub(crate) fn set_ready(&mut self, ready: bool) {
        self.ready = ready;
    }

    /// Sets one `extendInfo` entry (used for self).
    pub(crate) fn set_extend_info(&mut self, key: String, value: Value) {
        self.extend_info.insert(key, value);
    }

    /// The `extendInfo` object: custom entries plus version, readiness and times.
    fn extend_info_json(&self) -> BTreeMap<String, Value> {
        let mut map = self.extend_info.clone();
        map.insert("version".into(), json!(self.version));
        map.insert("ready".into(), json!(self.ready));
        // Nacos 2.x servers all report true here (they speak the 2.x cluster protocol).
        map.insert("readyToUpgrade".into(), json!(true));
        map.insert("lastRefreshTime".into(), json!(self.last_refresh_ms));
        map.insert(
            "lastStateChangeTime".into(),
            json!(self.last_state_change_ms),
        );
        map
    }
}

/// Nacos's `Member` JSON as served by `/nacos/v1/core/cluster/nodes`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberJson<'a> {
    ip: &'a str,
    port: u16,
    state: MemberState,
    extend_info: BTreeMap<String, Value>,
    address: &'a str,
    fail_access_cnt: u32,
    abilities: Value,
    grpc_report_enabled: bool,
}

impl Serialize for Member {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MemberJson {
            ip: self.ip(),
            port: self.port(),
            state: self.state,
            extend_info: self.extend_info_json(),
            address: self.address(),
            fail_access_cnt: self.fail_count,
            abilities: json!({
                "remoteAbility": { "supportRemoteConnection": true, "grpcReportEnabled": true }
            }),
            grpc_report_enabled: true,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::DEFAULT_PORT;

    fn member(text: &str) -> Member {
        let address = MemberAddress::parse(text, DEFAULT_PORT).expect("valid test address");
        Member::new(address, 1_000)
    }

    #[test]
    fn json_has_nacos_shape() {
        let mut m = member("10.0.0.1:8848");
        m.refresh(
            &MemberInfo {
                address: "10.0.0.1:8848".into(),
                version: "0.1.0".into(),
                ready: true,
            },
            2_000,
        );
        m.set_extend_info("raftPort".into(), json!("7848"));
        let value = serde_json::to_value(&m).unwrap();
        assert_eq!(value["ip"], "10.0.0.1");
        assert_eq!(value["port"], 8848);
        assert_eq!(value["state"], "UP");
        assert_eq!(value["address"], "10.0.0.1:8848");
        assert_eq!(value["failAccessCnt"], 0);
        assert_eq!(value["grpcReportEnabled"], true);
        assert!(value["abilities"].is_object());
        let ext = &value["extendInfo"];
        assert_eq!(ext["version"], "0.1.0");
        assert_eq!(ext["ready"], true);
        assert_eq!(ext["readyToUpgrade"], true);
        assert_eq!(ext["lastRefreshTime"], 2_000);
        assert_eq!(ext["lastStateChangeTime"], 1_000);
        assert_eq!(ext["raftPort"], "7848");
    }

    #[test]
    fn state_names_serialize_like_nacos() {
        for state in MemberState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert!(MemberState::Suspicious.is_healthy());
        assert!(!MemberState::Down.is_healthy());
    }

    #[test]
    fn set_state_reports_only_real_changes() {
        let mut m = member("10.0.0.1");
        assert_eq!(m.set_state(MemberState::Up, 5), None);
        assert_eq!(m.last_state_change_ms(), 1_000);
        let change = m.set_state(MemberState::Down, 7).unwrap();
        assert_eq!(
            (change.from, change.to),
            (MemberState::Up, MemberState::Down)
        );
        assert_eq!(change.address, "10.0.0.1:8848");
        assert_eq!(m.last_state_change_ms(), 7);
    }

    #[test]
    fn view_difference_ignores_counters() {
        let a = member("10.0.0.1");
        let mut b = a.clone();
        b.count_failure(false);
        assert!(!a.differs_in_view(&b));
        b.set_ready(true);
        assert!(a.differs_in_view(&b));
    }
}
