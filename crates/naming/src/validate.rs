//! Parameter checks shared by every front door (Nacos's `ParamCheckRule` limits).
//!
//! Each check returns a [`ParamError`] whose message follows Nacos's wording, so HTTP and gRPC
//! callers see the text they would see from Nacos.

use std::collections::BTreeMap;

use crate::error::ParamError;
use crate::service::ServiceMeta;

/// Longest namespace id accepted.
pub const NAMESPACE_LEN_MAX: usize = 64;
/// Longest group accepted.
pub const GROUP_LEN_MAX: usize = 128;
/// Longest service name accepted.
pub const SERVICE_NAME_LEN_MAX: usize = 512;
/// Longest cluster name accepted.
pub const CLUSTER_LEN_MAX: usize = 64;
/// Longest ip (or host name) accepted.
pub const IP_LEN_MAX: usize = 128;
/// Largest weight accepted.
pub const WEIGHT_MAX: f64 = 10_000.0;
/// Longest caller-chosen instance id, in bytes. Nacos sets none; a generated id
/// (`ip#port#cluster#group@@service`) is at most about 840, and an unbounded one would let
/// one client's record outgrow a cluster message.
pub const INSTANCE_ID_LEN_MAX: usize = 1_024;

fn illegal(param: &str) -> ParamError {
    ParamError::Illegal {
        param: param.to_owned(),
        detail: format!(
            "Param '{param}' is illegal, illegal characters should not appear in the param."
        ),
    }
}

fn too_long(param: &str, max: usize) -> ParamError {
    ParamError::Illegal {
        param: param.to_owned(),
        detail: format!("Param '{param}' is illegal, the param length should not exceed {max}."),
    }
}

/// Namespace ids: at most 64 word characters or `-`.
pub fn check_namespace(namespace: &str) -> Result<(), ParamError> {
    if namespace.len() > NAMESPACE_LEN_MAX {
        return Err(too_long("namespaceId", NAMESPACE_LEN_MAX));
    }
    let legal = namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if legal {
        Ok(())
    } else {
        Err(illegal("namespaceId"))
    }
}

/// Groups: at most 128 of `a-zA-Z0-9-_:.`.
pub fn check_group(group: &str) -> Result<(), ParamError> {
    if group.len() > GROUP_LEN_MAX {
        return Err(too_long("groupName", GROUP_LEN_MAX));
    }
    let legal = group
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
    if legal {
        Ok(())
    } else {
        Err(illegal("groupName"))
    }
}

/// Service names: non-empty, at most 512, not starting with `@`, no `@@`, no whitespace,
/// control or CJK characters.
pub fn check_service_name(name: &str) -> Result<(), ParamError> {
    if name.trim().is_empty() {
        return Err(ParamError::Missing("serviceName".to_owned()));
    }
    if name.len() > SERVICE_NAME_LEN_MAX {
        return Err(too_long("serviceName", SERVICE_NAME_LEN_MAX));
    }
    if name.starts_with('@') || name.contains("@@") || !plain_chars(name) {
        return Err(illegal("serviceName"));
    }
    Ok(())
}

/// Cluster names: at most 64 of `0-9a-zA-Z-_`.
pub fn check_cluster(cluster: &str) -> Result<(), ParamError> {
    if cluster.len() > CLUSTER_LEN_MAX {
        return Err(too_long("cluster", CLUSTER_LEN_MAX));
    }
    let legal = !cluster.is_empty()
        && cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if legal {
        Ok(())
    } else {
        Err(illegal("cluster"))
    }
}

/// Instance addresses: an IPv4 or IPv6 literal, or a host name (letters, digits, `-`, `_`, `.`).
pub fn check_ip(ip: &str) -> Result<(), ParamError> {
    if ip.is_empty() {
        return Err(ParamError::Missing("ip".to_owned()));
    }
    if ip.len() > IP_LEN_MAX {
        return Err(too_long("ip", IP_LEN_MAX));
    }
    let literal = ip
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    let host_name = ip
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if literal || host_name {
        Ok(())
    } else {
        Err(illegal("ip"))
    }
}

/// Ports: 0..=65535 (Nacos accepts 0).
pub fn check_port(port: i64) -> Result<u16, ParamError> {
    u16::try_from(port).map_err(|_| ParamError::Illegal {
        param: "port".to_owned(),
        detail: format!(
            "Param 'port' is illegal, the value should be between 0 and 65535 (current: {port})."
        ),
    })
}

/// Weights: a finite number in [0, 10000].
pub fn check_weight(weight: f64) -> Result<(), ParamError> {
    if weight.is_finite() && (0.0..=WEIGHT_MAX).contains(&weight) {
        Ok(())
    } else {
        Err(ParamError::Weight)
    }
}

/// Metadata: keys and values together at most `len_max` characters (Nacos counts the
/// characters of every key and value).
pub fn check_metadata(
    metadata: &BTreeMap<String, String>,
    len_max: usize,
) -> Result<(), ParamError> {
    let total: usize = metadata
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    if total > len_max {
        return Err(ParamError::Illegal {
            param: "metadata".to_owned(),
            detail: format!(
                "Param 'Metadata' is illegal, the param length should not exceed {len_max}."
            ),
        });
    }
    Ok(())
}

/// Caller-chosen instance ids (gRPC): at most [`INSTANCE_ID_LEN_MAX`] bytes.
pub fn check_instance_id(id: &str) -> Result<(), ParamError> {
    if id.len() > INSTANCE_ID_LEN_MAX {
        return Err(too_long("instanceId", INSTANCE_ID_LEN_MAX));
    }
    Ok(())
}

/// Service metadata and selector expression: each at most `len_max` characters, as
/// instance metadata (otherwise a body-sized map could be stored in every service).
pub fn check_service_meta(meta: &ServiceMeta, len_max: usize) -> Result<(), ParamError> {
    check_metadata(&meta.metadata, len_max)?;
    let expression = meta.selector.expression.as_deref().unwrap_or_default();
    if expression.chars().count() > len_max {
        return Err(too_long("selector", len_max));
    }
    Ok(())
}

/// No whitespace, control characters or CJK ideographs (Nacos's "illegal characters").
fn plain_chars(text: &str) -> bool {
    text.chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && !is_cjk(c))
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Selector;

    #[test]
    fn names_follow_nacos_rules() {
        assert!(check_namespace("dev-1_x").is_ok());
        assert!(check_namespace("dev ns").is_err());
        assert!(check_namespace(&"n".repeat(65)).is_err());
        assert!(check_group("g:1.x-y_z").is_ok());
        assert!(check_group("g/x").is_err());
        assert!(check_service_name("svc.a-b").is_ok());
        assert!(check_service_name("@svc").is_err());
        assert!(check_service_name("a@@b").is_err());
        assert!(check_service_name("a b").is_err());
        assert!(check_service_name("服务").is_err());
        assert!(check_service_name(&"s".repeat(513)).is_err());
        assert!(check_cluster("c-1_x").is_ok());
        assert!(check_cluster("cluster1,cluster2").is_err());
    }

    #[test]
    fn addresses_ports_and_weights() {
        assert!(check_ip("10.0.0.1").is_ok());
        assert!(check_ip("::1").is_ok());
        assert!(check_ip("svc.default.svc.cluster.local").is_ok());
        assert!(check_ip("").is_err());
        assert!(check_ip("1.2.3.4 ").is_err());
        assert!(check_ip("a;b").is_err());
        assert_eq!(check_port(8080).unwrap(), 8080);
        assert!(check_port(-1).is_err());
        assert!(check_port(65536).is_err());
        assert!(check_weight(0.0).is_ok() && check_weight(10000.0).is_ok());
        assert!(check_weight(-0.1).is_err() && check_weight(10000.1).is_err());
        assert!(check_weight(f64::NAN).is_err());
    }

    #[test]
    fn metadata_length_is_bounded() {
        let mut metadata = BTreeMap::new();
        metadata.insert("k".to_owned(), "v".repeat(1023));
        assert!(check_metadata(&metadata, 1024).is_ok());
        metadata.insert("k2".to_owned(), "v".to_owned());
        assert!(check_metadata(&metadata, 1024).is_err());
    }

    #[test]
    fn service_meta_and_instance_ids_are_bounded() {
        let mut meta = ServiceMeta::default();
        assert!(check_service_meta(&meta, 8).is_ok());
        meta.selector = Selector {
            kind: "label".to_owned(),
            expression: Some("x".repeat(9)),
        };
        assert!(check_service_meta(&meta, 8).is_err());
        meta.selector = Selector::default();
        meta.metadata.insert("key".to_owned(), "value!".to_owned());
        assert!(check_service_meta(&meta, 8).is_err());
        assert!(check_instance_id(&"i".repeat(INSTANCE_ID_LEN_MAX)).is_ok());
        assert!(check_instance_id(&"i".repeat(INSTANCE_ID_LEN_MAX + 1)).is_err());
    }
}
