//! Naming request handlers (Nacos `N/remote/rpc/handler/*`): register, deregister, batch
//! register, query, subscribe, list. The caller's connection is its naming client.
//!
//! Query and subscribe answers carry a service view; when the view caches the selection
//! asked for, its JSON is spliced into the answer rather than serialised per request.

use std::sync::Arc;

use distro_nacos_api::ServiceInfo;
use distro_nacos_api::grpc::naming::{
    BATCH_REGISTER_INSTANCE, BatchInstanceRequest, BatchInstanceResponse, DEREGISTER_INSTANCE,
    InstanceRequest, InstanceResponse, PersistentInstanceRequest, QueryServiceResponse,
    REGISTER_INSTANCE, ServiceListRequest, ServiceListResponse, ServiceQueryRequest,
    SubscribeServiceRequest, SubscribeServiceResponse,
};
use distro_nacos_api::grpc::{GrpcResponse, ResponseStatus, codes};
use distro_naming::names::{normalize_group, normalize_namespace};
use distro_naming::{NamingError, ParamError, Registry, ServiceView, Subscriber};
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
    let request_id = request.header.request_id.as_deref();
    match query_view(registry, request) {
        Ok(view) => view_reply(
            ResponseStatus::ok(),
            &view,
            (&request.cluster, request.healthy_only),
            registry.config().cache_millis,
            request_id,
            |status, info| QueryServiceResponse {
                status,
                service_info: Some(info),
            },
        ),
        Err(failure) => finish(Err::<QueryServiceResponse, _>(failure), request_id),
    }
}

fn query_view(
    registry: &Registry,
    request: &ServiceQueryRequest,
) -> Result<Arc<ServiceView>, Failure> {
    let key = params::check_target(&request.target)?;
    params::check_clusters(&request.cluster)?;
    Ok(registry.view(&key))
}

/// `SubscribeServiceRequest`: (un)subscribe the connection; answers the current view.
pub fn subscribe(
    registry: &Registry,
    connection: &Connection,
    request: &SubscribeServiceRequest,
) -> Reply {
    let request_id = request.header.request_id.as_deref();
    match subscribe_service(registry, connection, request) {
        Ok(view) => {
            let status = ResponseStatus {
                message: Some("success".to_owned()),
                ..ResponseStatus::ok()
            };
            view_reply(
                status,
                &view,
                (&request.clusters, false),
                registry.config().cache_millis,
                request_id,
                |status, info| SubscribeServiceResponse {
                    status,
                    service_info: Some(info),
                },
            )
        }
        Err(failure) => finish(Err::<SubscribeServiceResponse, _>(failure), request_id),
    }
}

/// (Un)subscribes; the view as it was before, which the answer carries.
fn subscribe_service(
    registry: &Registry,
    connection: &Connection,
    request: &SubscribeServiceRequest,
) -> Result<Arc<ServiceView>, Failure> {
    let key = params::check_target(&request.target)?;
    params::check_clusters(&request.clusters)?;
    let view = registry.view(&key);
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
    Ok(view)
}

/// A successful `T`: `status` and the `serviceInfo` of `view` for `(clusters, healthy_only)`.
/// Spliced from the view's cached JSON when it has that selection; otherwise `typed` builds
/// the response around the selected instances and it is serialised as before.
fn view_reply<T: GrpcResponse>(
    status: ResponseStatus,
    view: &ServiceView,
    (clusters, healthy_only): (&str, bool),
    cache_millis: u64,
    request_id: Option<&str>,
    typed: impl FnOnce(ResponseStatus, ServiceInfo) -> T,
) -> Reply {
    match render::cached_service_info_json(view, clusters, healthy_only, cache_millis) {
        Some(json) => Reply::spliced::<T>(status, request_id, "serviceInfo", &json),
        None => {
            let info = render::service_info(view, clusters, healthy_only, cache_millis);
            Reply::new(typed(status, info), request_id)
        }
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use distro_nacos_api::grpc::message::body_bytes;
    use distro_nacos_api::grpc::naming::NamingTarget;
    use distro_nacos_api::grpc::{Payload, RequestHeader};
    use distro_naming::{ClientId, InstanceSpec, NamingConfig, ServiceKey};
    use serde_json::Value;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::grpc::connection::ConnectionMeta;
    use crate::grpc::render::tests::SELECTIONS;

    /// A body with `serviceInfo.lastRefTime` (the only field that moves with time) zeroed.
    fn timeless(payload: &Payload) -> Value {
        let mut body: Value = serde_json::from_slice(body_bytes(payload).unwrap()).unwrap();
        if let Some(info) = body.get_mut("serviceInfo") {
            assert!(info["lastRefTime"].as_i64().unwrap() > 0);
            info["lastRefTime"] = Value::from(0);
        }
        body
    }

    /// A registry holding `full`: instances with metadata in two clusters, one unhealthy,
    /// one disabled; and `empty`, whose only instance is disabled.
    fn registry() -> Registry {
        let registry = Registry::new(NamingConfig::default());
        let now = Instant::now();
        let full = ServiceKey::new("", "", "full");
        let instances = [
            (
                "10.0.0.1",
                "c1",
                true,
                true,
                vec![("version", "1"), ("k\u{e9}y", "v\"\n")],
            ),
            ("10.0.0.2", "c2", false, true, vec![("zone", "a")]),
            ("10.0.0.3", "c2", true, true, vec![]),
            ("10.0.0.4", "c1", true, false, vec![]),
        ];
        for (ip, cluster, healthy, enabled, metadata) in instances {
            let spec = InstanceSpec {
                cluster: cluster.to_owned(),
                healthy,
                enabled,
                weight: 2.5,
                metadata: metadata
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                ..InstanceSpec::new(ip, 8080)
            };
            let client = ClientId::ip_port(ip, 8080);
            registry.register(now, &client, &full, spec).unwrap();
        }
        let spec = InstanceSpec {
            enabled: false,
            ..InstanceSpec::new("10.0.0.9", 80)
        };
        let client = ClientId::ip_port("10.0.0.9", 80);
        let empty = ServiceKey::new("", "", "empty");
        registry.register(now, &client, &empty, spec).unwrap();
        registry
    }

    const SERVICES: [&str; 3] = ["full", "empty", "missing"];

    #[test]
    fn queries_answer_what_the_typed_response_serialises() {
        let registry = registry();
        for service in SERVICES {
            for (clusters, healthy_only) in SELECTIONS {
                let request = ServiceQueryRequest {
                    header: RequestHeader::with_id("naming", "7"),
                    target: NamingTarget::new("", "", service),
                    cluster: clusters.to_owned(),
                    healthy_only,
                    udp_port: 0,
                };
                let got = query(&registry, &request);
                let view = registry.view(&ServiceKey::new("", "", service));
                let info = render::service_info(&view, clusters, healthy_only, 10_000);
                let typed = QueryServiceResponse {
                    status: ResponseStatus::ok(),
                    service_info: Some(info),
                };
                let want = finish(Ok(typed), Some("7"));
                let case = format!("{service} {clusters:?} {healthy_only}");
                assert_eq!(timeless(&got.payload), timeless(&want.payload), "{case}");
                assert_eq!(got.payload.metadata, want.payload.metadata, "{case}");
                assert_eq!((got.result_code, got.error_code), (200, 0));
            }
        }
        // A failed check still answers the handler's own type, with no serviceInfo.
        let bad = ServiceQueryRequest {
            header: RequestHeader::with_id("naming", "8"),
            target: NamingTarget::new("", "", "full"),
            cluster: "bad cluster".to_owned(),
            healthy_only: false,
            udp_port: 0,
        };
        let refused = query(&registry, &bad);
        let body = timeless(&refused.payload);
        assert_eq!(body["errorCode"], 400);
        assert_eq!(body["requestId"], "8");
        assert!(body.get("serviceInfo").is_none());
    }

    #[test]
    fn subscriptions_answer_what_the_typed_response_serialises() {
        let registry = registry();
        let (outbound, _inbound) = mpsc::channel(8);
        let meta = ConnectionMeta {
            client_ip: "10.1.0.1".to_owned(),
            remote: SocketAddr::from(([127, 0, 0, 1], 4000)),
            version: "Nacos-Java-Client:v2.4.0".to_owned(),
            tenant: String::new(),
            app: "-".to_owned(),
            labels: BTreeMap::new(),
        };
        let connection = Connection::new(
            Arc::from("1_10.1.0.1_4000"),
            meta,
            outbound,
            CancellationToken::new(),
            16,
        );
        registry.connect(Instant::now(), connection.client_id());
        for service in SERVICES {
            for (clusters, _) in SELECTIONS {
                for subscribe in [true, false] {
                    let request = SubscribeServiceRequest {
                        header: RequestHeader::with_id("naming", "9"),
                        target: NamingTarget::new("", "", service),
                        subscribe,
                        clusters: clusters.to_owned(),
                    };
                    let got = super::subscribe(&registry, &connection, &request);
                    let view = registry.view(&ServiceKey::new("", "", service));
                    let typed = SubscribeServiceResponse {
                        status: ResponseStatus {
                            message: Some("success".to_owned()),
                            ..ResponseStatus::ok()
                        },
                        service_info: Some(render::service_info(&view, clusters, false, 10_000)),
                    };
                    let want = finish(Ok(typed), Some("9"));
                    let case = format!("{service} {clusters:?} {subscribe}");
                    assert_eq!(timeless(&got.payload), timeless(&want.payload), "{case}");
                    assert_eq!(got.payload.metadata, want.payload.metadata, "{case}");
                }
            }
        }
    }
}
