//! Cluster endpoints in Nacos's shapes: `/v1/core/cluster/nodes`, `/simple/nodes`, this
//! node (`/self`) and its health, plus the member states added to `/v1/ns/operator/metrics`.
//!
//! Nacos answers these with its `RestResult` envelope: `{"code":200,"message":null,"data":…}`.

use axum::Json;
use axum::extract::State;
use distro_cluster::{MemberState, Membership};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::http::params::Params;
use crate::state::AppState;

/// Nacos's `RestResult` success envelope around `data`.
fn rest_result(data: impl Serialize) -> Json<Value> {
    Json(json!({"code": 200, "message": null, "data": data}))
}

/// `GET /v1/core/cluster/nodes?keyword=`: every member sorted by address, optionally only
/// those whose address starts with `keyword`.
pub async fn nodes(State(state): State<AppState>, params: Params) -> Json<Value> {
    let keyword = params.optional("keyword", "");
    let members: Vec<_> = state
        .membership
        .members()
        .into_iter()
        .filter(|member| member.address().starts_with(keyword))
        .collect();
    rest_result(members)
}

/// `GET /v1/core/cluster/simple/nodes`: addresses of the members currently UP, self included.
pub async fn simple_nodes(State(state): State<AppState>) -> Json<Value> {
    let up: Vec<String> = state
        .membership
        .members()
        .into_iter()
        .filter(|member| member.state() == MemberState::Up)
        .map(|member| member.address().to_owned())
        .collect();
    rest_result(up)
}

/// `GET /v1/core/cluster/self`: this node as a member.
pub async fn self_node(State(state): State<AppState>) -> Json<Value> {
    let membership = &state.membership;
    rest_result(membership.member(membership.self_address()))
}

/// `GET /v1/core/cluster/health`: this node's state name (`"UP"`).
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let membership = &state.membership;
    let self_state = membership
        .member(membership.self_address())
        .map_or(MemberState::Up, |me| me.state());
    rest_result(self_state.as_str())
}

/// Adds the member states to the `/v1/ns/operator/metrics` object: `clusterMembers`
/// (`[{address, state}]` sorted by address), `clusterMemberCount` and
/// `healthyClusterMemberCount` (UP or SUSPICIOUS, what Distro responsibility uses).
pub fn add_member_states(object: &mut Map<String, Value>, membership: &Membership) {
    let members = membership.members();
    let states: Vec<Value> = members
        .iter()
        .map(|member| json!({"address": member.address(), "state": member.state().as_str()}))
        .collect();
    object.insert("clusterMemberCount".into(), json!(members.len()));
    object.insert(
        "healthyClusterMemberCount".into(),
        json!(membership.healthy().len()),
    );
    object.insert("clusterMembers".into(), Value::Array(states));
}
