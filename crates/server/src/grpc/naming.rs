//! Naming request handlers (Nacos `N/remote/rpc/handler/*`): register, deregister, batch
//! register, query, subscribe, list. The caller's connection is its naming client.

use distro_nacos_api::grpc::naming::{
    BATCH_REGISTER_INSTANCE, BatchInstanceRequest, BatchInstanceResponse, DEREGISTER_INSTANCE,
    InstanceRequest, InstanceResponse, PersistentInstanceRequest, QueryServiceResponse,
    REGISTER_INSTANCE, ServiceListRequest, ServiceListResponse, ServiceQueryRequest,
    SubscribeServiceRequest, SubscribeServiceResponse,
};
use distro_nacos_api::grpc::{ResponseStatus, codes};
use distro_naming::names::{normalize_group, normalize_namespace};
use distro_naming::{NamingError, ParamError, Registry, Subscriber};
use tokio::time::Instant;

use crate::grpc::connection::Connection;
use crate::grpc::params;
use crate::grpc::render;
use crate::grpc::reply::{Failure, Reply, finish};

/// `InstanceRequest`: register or deregister the connection's instance of a service.
pub fn instance(registry: &Registry, connection: &Connection, request: &InstanceRequest) -> Reply {
    finish(
        register_or_deregister(registry, connection, request),
        request.header.request_id.as_deref(),
    )
}

fn register_or_deregister(
    registry: &Registry,
    connection: &Connection,
    request: &InstanceRequest,
) -> Result<InstanceResponse, Failure> {
    let key = params::check_target(&request.target)?;
    let instance = request
        .instance
        .as_ref()
        .ok_or_else(|| ParamError::Missing("instance".to_owned()))?;
    let spec = params::check_instance(instance, registry.config().metadata_len_max)?;
    let client = connection.client_id();
    match request.kind.as_str() {
        REGISTER_INSTANCE => registry.register(Instant::now(), &client, &key, spec)?,
        // A connection has at most one entry per service: it goes, whatever address was sent.
        DEREGISTER_INSTANCE => {
            registry.deregister(Instant::now(), &client, &key);
        }
        other => return Err(unsupported(other)),
    }
    Ok(InstanceResponse {
        status: ResponseStatus::ok(),
        kind: Some(request.kind.clone()),
    })
}

/// `BatchInstanceRequest`: replace the connection's instances of a service.
pub fn batch(
    registry: &Registry,
    connection: &Connection,
    request: &BatchInstanceRequest,
) -> Reply {
    finish(
        batch_register(registry, connection, request),
        request.header.request_id.as_deref(),
    )
}

fn batch_register(
    registry: &Registry,
    connection: &Connection,
    request: &BatchInstanceRequest,
) -> Result<BatchInstanceResponse, Failure> {
    let key = params::check_target(&request.target)?;
    if request.kind != BATCH_REGISTER_INSTANCE {
        return Err(unsupported(&request.kind));
    }
    // A batch larger than a client may hold is refused before its instances are checked.
    let batch_max = registry.config().client_instances_max;
    if batch_max > 0 && request.instances.len() > batch_max {
        let exceeded = distro_naming::LimitExceeded {
            limit: distro_naming::Limit::ClientInstances,
            scope: format!("client {}", connection.client_id()),
            wanted: request.instances.len(),
            max: batch_max,
        };
        return Err(NamingError::from(exceeded).into());
    }
    let len_max = registry.config().metadata_len_max;
    let specs = request
        .instances
        .iter()
        .map(|instance| params::check_instance(instance, len_max))
        .collect::<Result<Vec<_>, _>>()?;
    registry.batch_register(Instant::now(), &connection.client_id(), &key, specs)?;
    Ok(BatchInstanceResponse {
        status: ResponseStatus::ok(),
        kind: Some(request.kind.clone()),
    })
}

/// `PersistentInstanceRequest`: refused, this registry keeps ephemeral instances only.
pub fn persistent(request: &PersistentInstanceRequest) -> Reply {
    let outcome: Result<InstanceResponse, Failure> = Err(NamingError::PersistentUnsupported.into());
    finish(outcome, request.header.request_id.as_deref())
}

/// `ServiceQueryRequest`: the selected instances of a service, once.
pub fn query(registry: &Registry, request: &ServiceQueryRequest) -> Reply {
    finish(
        query_service(registry, request),
        request.header.request_id.as_deref(),
    )
}

fn query_service(
    registry: &Registry,
    request: &ServiceQueryRequest,
) -> Result<QueryServiceResponse, Failure> {
    let key = params::check_target(&request.target)?;
    params::check_clusters(&request.cluster)?;
    let view = registry.view(&key);
    let info = render::service_info(
        &view,
        &request.cluster,
        request.healthy_only,
        registry.config().cache_millis,
    );
    Ok(QueryServiceResponse {
        status: ResponseStatus::ok(),
        service_info: Some(info),
    })
}

/// `SubscribeServiceRequest`: (un)subscribe the connection; answers the current view.
pub fn subscribe(
    registry: &Registry,
    connection: &Connection,
    request: &SubscribeServiceRequest,
) -> Reply {
    finish(
        subscribe_service(registry, connection, request),
        request.header.request_id.as_deref(),
    )
}

fn subscribe_service(
    registry: &Registry,
    connection: &Connection,
    request: &SubscribeServiceRequest,
) -> Result<SubscribeServiceResponse, Failure> {
    let key = params::check_target(&request.target)?;
    params::check_clusters(&request.clusters)?;
    let view = registry.view(&key);
    let info = render::service_info(
        &view,
        &request.clusters,
        false,
        registry.config().cache_millis,
    );
    let client = connection.client_id();
    if request.subscribe {
        let subscriber = Subscriber {
            ip: connection.meta.client_ip.clone(),
            agent: connection.meta.version.clone(),
            app: connection.meta.app.clone(),
            clusters: request.clusters.clone(),
        };
        // The first subscription triggers an immediate push to this connection (push engine).
        registry.subscribe(Instant::now(), &client, &key, subscriber)?;
    } else {
        registry.unsubscribe(Instant::now(), &client, &key);
    }
    let status = ResponseStatus {
        message: Some("success".to_owned()),
        ..ResponseStatus::ok()
    };
    Ok(SubscribeServiceResponse {
        status,
        service_info: Some(info),
    })
}

/// `ServiceListRequest`: one page of the service names of a namespace and group.
pub fn list(registry: &Registry, request: &ServiceListRequest) -> Reply {
    finish(
        list_services(registry, request),
        request.header.request_id.as_deref(),
    )
}

fn list_services(
    registry: &Registry,
    request: &ServiceListRequest,
) -> Result<ServiceListResponse, Failure> {
    params::check_scope(&request.target)?;
    let namespace = normalize_namespace(request.target.namespace.as_deref().unwrap_or_default());
    let group = normalize_group(request.target.group_name.as_deref().unwrap_or_default());
    // Nacos pages from 1 and treats page 0 as page 1; negative sizes give an empty page.
    let page_no = usize::try_from(request.page_no).unwrap_or(0);
    let page_size = usize::try_from(request.page_size).unwrap_or(0);
    let (count, service_names) = registry.list_services(namespace, group, page_no, page_size);
    Ok(ServiceListResponse {
        status: ResponseStatus::ok(),
        count: i32::try_from(count).unwrap_or(i32::MAX),
        service_names,
    })
}

fn unsupported(kind: &str) -> Failure {
    Failure::Exception(
        codes::INVALID_PARAM,
        format!("Unsupported request type {kind}"),
    )
}
