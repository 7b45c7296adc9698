//! Nacos's gRPC parameter checks (`RemoteParamCheckFilter`): names, addresses, clusters and
//! metadata size, checked before a naming handler runs. A failure is answered with the
//! handler's own response type, `resultCode` 500, `errorCode` 400 and
//! `"Param check invalid:" + detail`.

use distro_nacos_api::Instance;
use distro_nacos_api::constants::DEFAULT_CLUSTER;
use distro_nacos_api::grpc::naming::NamingTarget;
use distro_nacos_api::grpc::{GrpcResponse, ResponseStatus, codes};
use distro_naming::names::ServiceKey;
use distro_naming::{InstanceSpec, ParamError, validate};

/// A handler's response type carrying a parameter-check failure.
pub fn rejected<T: GrpcResponse + Default>(error: &ParamError) -> T {
    let mut response = T::default();
    *response.status_mut() = ResponseStatus::fail(
        codes::INVALID_PARAM,
        format!("{}{error}", codes::PARAM_CHECK_PREFIX),
    );
    response
}

/// Checks namespace and group (blank ones take the defaults).
pub fn check_scope(target: &NamingTarget) -> Result<(), ParamError> {
    let namespace = target.namespace.as_deref().unwrap_or_default().trim();
    if !namespace.is_empty() {
        validate::check_namespace(namespace)?;
    }
    let group = target.group_name.as_deref().unwrap_or_default().trim();
    if !group.is_empty() {
        validate::check_group(group)?;
    }
    Ok(())
}

/// Checks the whole target and returns its service key.
pub fn check_target(target: &NamingTarget) -> Result<ServiceKey, ParamError> {
    check_scope(target)?;
    let name = target.service_name.as_deref().unwrap_or_default();
    validate::check_service_name(name)?;
    Ok(ServiceKey::new(
        target.namespace.as_deref().unwrap_or_default(),
        target.group_name.as_deref().unwrap_or_default(),
        name,
    ))
}

/// Checks every cluster of a comma list (empty entries mean "all").
pub fn check_clusters(clusters: &str) -> Result<(), ParamError> {
    clusters
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .try_for_each(validate::check_cluster)
}

/// Checks an instance's address, cluster and metadata size and turns it into a spec.
/// Weight and beat timeouts are the registry's to check (a handler error, as in Nacos).
pub fn check_instance(
    instance: &Instance,
    metadata_len_max: usize,
) -> Result<InstanceSpec, ParamError> {
    validate::check_ip(&instance.ip)?;
    let port = validate::check_port(instance.port)?;
    let cluster = match instance.cluster_name.as_deref().map(str::trim) {
        Some(cluster) if !cluster.is_empty() => cluster.to_owned(),
        _ => DEFAULT_CLUSTER.to_owned(),
    };
    validate::check_cluster(&cluster)?;
    validate::check_metadata(&instance.metadata, metadata_len_max)?;
    if let Some(id) = &instance.instance_id {
        validate::check_instance_id(id)?;
    }
    Ok(InstanceSpec {
        ip: instance.ip.clone(),
        port,
        cluster,
        weight: instance.weight,
        healthy: instance.healthy,
        enabled: instance.enabled,
        metadata: instance.metadata.clone(),
        instance_id: instance.instance_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use distro_nacos_api::grpc::naming::InstanceResponse;

    use super::*;

    #[test]
    fn failures_use_the_handler_type_and_nacos_wording() {
        let error = check_clusters("ok,bad cluster").unwrap_err();
        let response: InstanceResponse = rejected(&error);
        assert_eq!(response.status.result_code, 500);
        assert_eq!(response.status.error_code, 400);
        assert_eq!(
            response.status.message.as_deref(),
            Some(
                "Param check invalid:Param 'cluster' is illegal, illegal characters should not appear in the param."
            )
        );
    }

    #[test]
    fn targets_take_defaults_and_reject_bad_names() {
        let key = check_target(&NamingTarget::new("", "", "svc")).unwrap();
        assert_eq!(key.grouped_name(), "DEFAULT_GROUP@@svc");
        assert!(check_target(&NamingTarget::new("public", "g", "a@@b")).is_err());
        assert!(check_target(&NamingTarget::new("bad ns", "g", "svc")).is_err());
        assert!(check_target(&NamingTarget::new("public", "g/x", "svc")).is_err());
        assert!(
            check_target(&NamingTarget::default()).is_err(),
            "service name required"
        );
    }

    #[test]
    fn instances_are_checked_and_defaulted() {
        let mut instance = Instance {
            ip: "10.0.0.1".to_owned(),
            port: 80,
            ..Instance::default()
        };
        assert_eq!(check_instance(&instance, 1024).unwrap().cluster, "DEFAULT");
        instance.port = 70_000;
        assert!(check_instance(&instance, 1024).is_err());
        instance.port = 80;
        instance.metadata.insert("k".to_owned(), "v".repeat(2000));
        assert!(check_instance(&instance, 1024).is_err());
    }
}
