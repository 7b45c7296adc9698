//! Reading services, instances, metadata and selectors out of request parameters.

use std::collections::BTreeMap;

use distro_nacos_api::constants::{DEFAULT_CLUSTER, DEFAULT_GROUP};
use distro_naming::names::{normalize_group, normalize_namespace, split_grouped_name};
use distro_naming::validate::{check_group, check_namespace, check_port, check_service_name};
use distro_naming::{
    InstancePatch, InstanceSpec, NamingError, ParamError, Selector, ServiceKey, ServiceMeta,
};

use crate::http::params::Params;

/// How a request names its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStyle {
    /// v1: `serviceName` may be `group@@name`; `groupName` applies otherwise.
    V1,
    /// v2: `groupName` and a bare `serviceName`.
    V2,
}

/// The service a request addresses, validated.
pub fn service_key(params: &Params, style: NameStyle) -> Result<ServiceKey, ParamError> {
    let raw = params.required("serviceName")?;
    let group_param = params.optional("groupName", DEFAULT_GROUP);
    let (group, name) = match style {
        NameStyle::V1 => split_grouped_name(raw, group_param).ok_or_else(|| ParamError::Illegal {
            param: "serviceName".to_owned(),
            detail: format!(
                "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName' (current: {raw})"
            ),
        })?,
        NameStyle::V2 => (normalize_group(group_param), raw),
    };
    let namespace = normalize_namespace(params.optional("namespaceId", ""));
    check_namespace(namespace)?;
    check_group(group)?;
    check_service_name(name)?;
    Ok(ServiceKey::new(namespace, group, name))
}

/// `ip` and `port`, both required.
pub fn address(params: &Params) -> Result<(String, u16), ParamError> {
    let ip = params.required("ip")?.trim().to_owned();
    distro_naming::validate::check_ip(&ip)?;
    let port = check_port(params.required_number::<i64>("port")?)?;
    Ok((ip, port))
}

/// The cluster named by `clusterName` (or its alias `cluster`), `DEFAULT` when absent.
pub fn cluster(params: &Params) -> Result<String, ParamError> {
    let cluster = match params.first(&["clusterName", "cluster"]).map(str::trim) {
        None | Some("") => DEFAULT_CLUSTER,
        Some(c) => c,
    };
    distro_naming::validate::check_cluster(cluster)?;
    Ok(cluster.to_owned())
}

/// A registration: address, cluster, weight, flags and metadata, with Nacos's defaults.
/// `ephemeral=false` is refused: persistent instances are not served here.
pub fn instance_spec(params: &Params) -> Result<InstanceSpec, NamingError> {
    if !params.boolean(&["ephemeral"], true) {
        return Err(NamingError::PersistentUnsupported);
    }
    let (ip, port) = address(params)?;
    let mut spec = InstanceSpec::new(ip, port);
    spec.cluster = cluster(params)?;
    spec.weight = params.number("weight", 1.0)?;
    spec.enabled = params.boolean(&["enabled", "enable"], true);
    spec.healthy = params.boolean(&["healthy"], true);
    spec.metadata = metadata(params.get("metadata"))?;
    Ok(spec)
}

/// The changes of an instance update: only the parameters given.
pub fn instance_patch(params: &Params) -> Result<InstancePatch, ParamError> {
    let weight = match params.get("weight") {
        Some(_) => Some(params.number("weight", 1.0)?),
        None => None,
    };
    let enabled = params
        .first(&["enabled", "enable"])
        .map(|_| params.boolean(&["enabled", "enable"], true));
    Ok(InstancePatch {
        weight,
        enabled,
        metadata: metadata(params.get("metadata"))?,
    })
}

/// Metadata as Nacos reads it: a JSON object (scalar values become strings), else a
/// `k1=v1,k2=v2` list; anything else is an error naming the input.
pub fn metadata(text: Option<&str>) -> Result<BTreeMap<String, String>, ParamError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) {
        return object
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                serde_json::Value::Number(n) => Ok((k, n.to_string())),
                serde_json::Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(ParamError::Metadata(text.to_owned())),
            })
            .collect();
    }
    text.split(',')
        .map(|pair| match pair.split('=').collect::<Vec<_>>()[..] {
            [k, v] => Ok((k.to_owned(), v.to_owned())),
            _ => Err(ParamError::Metadata(text.to_owned())),
        })
        .collect()
}

/// Service metadata from `protectThreshold`, `metadata` and `selector`.
pub fn service_meta(params: &Params) -> Result<ServiceMeta, ParamError> {
    let protect_threshold: f32 = params.number("protectThreshold", 0.0)?;
    if !protect_threshold.is_finite() {
        return Err(ParamError::Illegal {
            param: "protectThreshold".to_owned(),
            detail: "Param 'protectThreshold' is illegal, it should be a finite number.".to_owned(),
        });
    }
    Ok(ServiceMeta {
        protect_threshold,
        metadata: metadata(params.get("metadata"))?,
        selector: selector(params.get("selector"))?,
    })
}

/// A selector: `{"type":"none"}` (the default) or `{"type":"label","expression":"..."}`.
pub fn selector(text: Option<&str>) -> Result<Selector, ParamError> {
    let none = Selector {
        kind: "none".to_owned(),
        expression: None,
    };
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(none);
    };
    let illegal = || ParamError::Illegal {
        param: "selector".to_owned(),
        detail: format!("Param 'selector' is illegal, unknown or malformed selector: {text}"),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| illegal())?;
    match value.get("type").and_then(|t| t.as_str()) {
        Some("none") => Ok(none),
        Some("label") => Ok(Selector {
            kind: "label".to_owned(),
            expression: value
                .get("expression")
                .and_then(|e| e.as_str())
                .map(str::to_owned),
        }),
        _ => Err(illegal()),
    }
}

/// The selector as Nacos writes it.
pub fn selector_json(selector: &Selector) -> serde_json::Value {
    match &selector.expression {
        Some(expression) => serde_json::json!({"type": selector.kind, "expression": expression}),
        None => serde_json::json!({"type": selector.kind}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_accepts_json_and_pairs() {
        let json = metadata(Some(r#"{"a":"1","b":2,"c":true}"#)).unwrap();
        assert_eq!(json.get("b").map(String::as_str), Some("2"));
        assert_eq!(json.len(), 3);
        let pairs = metadata(Some("k1=v1,k2=v2")).unwrap();
        assert_eq!(pairs.get("k2").map(String::as_str), Some("v2"));
        assert!(metadata(Some("{not json")).is_err());
        assert!(metadata(Some("a=b=c")).is_err());
        assert!(metadata(Some(r#"{"a":{"nested":1}}"#)).is_err());
        assert!(metadata(None).unwrap().is_empty());
    }

    #[test]
    fn v1_names_take_group_from_grouped_name() {
        let params = Params::from_pairs([("serviceName", "g1@@svc"), ("groupName", "ignored")]);
        let key = service_key(&params, NameStyle::V1).unwrap();
        assert_eq!((&*key.group, &*key.name), ("g1", "svc"));
        let params = Params::from_pairs([("serviceName", "svc"), ("groupName", "g2")]);
        assert_eq!(&*service_key(&params, NameStyle::V1).unwrap().group, "g2");
        let params = Params::from_pairs([("serviceName", "a@@b"), ("groupName", "g2")]);
        assert!(service_key(&params, NameStyle::V2).is_err());
    }
}
