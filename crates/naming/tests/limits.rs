//! The registry's capacity limits through its public API: what is refused, that a refusal
//! changes nothing, and that the counts behind the limits stay exact through every kind of
//! change (replicas replaced and removed, expiry, disconnects, service removal).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use distro_naming::replication::record::{ClientRecord, InstanceData, ServiceRecord};
use distro_naming::{
    ClientId, InstanceSpec, Limit, NamingConfig, NamingError, Registry, ServiceKey, ServiceMeta,
    Subscriber,
};
use tokio::time::Instant;

fn svc(namespace: &str, name: &str) -> ServiceKey {
    ServiceKey::new(namespace, "", name)
}

fn limit_of(result: Result<(), NamingError>) -> Limit {
    match result {
        Err(NamingError::Limit(exceeded)) => exceeded.limit,
        other => panic!("expected a limit refusal, got {other:?}"),
    }
}

fn record(id: &str, service: &str, ips: &[&str]) -> ClientRecord {
    ClientRecord {
        expired: Vec::new(),
        id: id.to_owned(),
        revision: 7,
        services: vec![ServiceRecord {
            namespace: "public".to_owned(),
            group: "DEFAULT_GROUP".to_owned(),
            name: service.to_owned(),
            batch: true,
            instances: ips
                .iter()
                .map(|ip| InstanceData {
                    ip: (*ip).to_owned(),
                    port: 80,
                    cluster: "DEFAULT".to_owned(),
                    weight: 1.0,
                    healthy: true,
                    enabled: true,
                    metadata: Default::default(),
                    instance_id: format!("{ip}#80"),
                })
                .collect(),
        }],
    }
}

#[tokio::test(start_paused = true)]
async fn counts_follow_replicas_expiry_and_disconnects() {
    let config = NamingConfig {
        service_instances_max: 4,
        ..NamingConfig::default()
    };
    let reg = Registry::new(config);
    let now = Instant::now();
    let key = svc("", "orders");
    // A replica holding three instances counts against the service's limit.
    reg.apply_record(
        now,
        &record("peer-conn", "orders", &["10.9.0.1", "10.9.0.2", "10.9.0.3"]),
    )
    .unwrap();
    assert_eq!(reg.stats().instances, 3);
    let http = ClientId::ip_port("10.0.0.1", 80);
    reg.register(now, &http, &key, InstanceSpec::new("10.0.0.1", 80))
        .unwrap();
    let late = ClientId::ip_port("10.0.0.2", 80);
    let refused = reg.register(now, &late, &key, InstanceSpec::new("10.0.0.2", 80));
    assert_eq!(limit_of(refused), Limit::ServiceInstances);
    assert_eq!(reg.stats().clients, 2, "the refused client was not created");
    // The replica shrinks: room again.
    reg.apply_record(now, &record("peer-conn", "orders", &["10.9.0.1"]))
        .unwrap();
    assert_eq!(reg.stats().instances, 2);
    reg.register(now, &late, &key, InstanceSpec::new("10.0.0.2", 80))
        .unwrap();
    assert_eq!(reg.stats().instances, 3);
    // Expiry (no beats for longer than the delete timeout) and removal both give back.
    tokio::time::advance(Duration::from_secs(31)).await;
    let report = reg.check_beats(Instant::now(), &|_| true);
    assert_eq!(report.expired, 2);
    assert_eq!(reg.stats().instances, 1);
    assert!(reg.disconnect(Instant::now(), &ClientId::new("peer-conn")));
    assert_eq!(reg.stats().instances, 0);
    for ip in ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"] {
        let client = ClientId::ip_port(ip, 80);
        reg.register(Instant::now(), &client, &key, InstanceSpec::new(ip, 80))
            .unwrap();
    }
    assert_eq!(reg.view(&key).hosts.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn services_per_namespace_come_back_when_services_go() {
    let config = NamingConfig {
        namespace_services_max: 2,
        empty_service_expired_ms: 1_000,
        ..NamingConfig::default()
    };
    let reg = Registry::new(config);
    let now = Instant::now();
    reg.create_service(now, &svc("ns", "a"), ServiceMeta::default())
        .unwrap();
    let client = ClientId::ip_port("10.0.0.1", 80);
    reg.register(
        now,
        &client,
        &svc("ns", "b"),
        InstanceSpec::new("10.0.0.1", 80),
    )
    .unwrap();
    let refused = reg.create_service(now, &svc("ns", "c"), ServiceMeta::default());
    assert_eq!(limit_of(refused), Limit::NamespaceServices);
    reg.create_service(now, &svc("other", "c"), ServiceMeta::default())
        .unwrap();
    // An explicit delete and an empty registration-created service both free a place.
    reg.delete_service(&svc("ns", "a")).unwrap();
    reg.create_service(now, &svc("ns", "c"), ServiceMeta::default())
        .unwrap();
    reg.deregister(now, &client, &svc("ns", "b"));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(reg.remove_empty_services(Instant::now()), 1);
    reg.create_service(Instant::now(), &svc("ns", "d"), ServiceMeta::default())
        .unwrap();
}

#[tokio::test]
async fn client_batches_and_subscriptions_are_bounded() {
    let config = NamingConfig {
        client_instances_max: 2,
        client_subscriptions_max: 1,
        instances_max: 3,
        ..NamingConfig::default()
    };
    let reg = Registry::new(config);
    let now = Instant::now();
    let conn = ClientId::new("1_10.0.0.9_5000");
    reg.connect(now, conn.clone());
    let specs = |n: u8| {
        (1..=n)
            .map(|i| InstanceSpec::new(format!("10.0.0.{i}"), 80))
            .collect()
    };
    let refused = reg.batch_register(now, &conn, &svc("", "a"), specs(3));
    assert_eq!(limit_of(refused), Limit::ClientInstances);
    reg.batch_register(now, &conn, &svc("", "a"), specs(2))
        .unwrap();
    let other = ClientId::ip_port("10.0.1.1", 80);
    reg.register(
        now,
        &other,
        &svc("", "b"),
        InstanceSpec::new("10.0.1.1", 80),
    )
    .unwrap();
    let third = ClientId::ip_port("10.0.1.2", 80);
    let refused = reg.register(
        now,
        &third,
        &svc("", "b"),
        InstanceSpec::new("10.0.1.2", 80),
    );
    assert_eq!(limit_of(refused), Limit::Instances);
    // Emptied clients linger (until `empty_client_expired_ms`) and count too: registering
    // and deregistering ever new addresses cannot pile them up.
    reg.deregister(now, &other, &svc("", "b"));
    let fourth = ClientId::ip_port("10.0.1.3", 80);
    reg.register(
        now,
        &fourth,
        &svc("", "b"),
        InstanceSpec::new("10.0.1.3", 80),
    )
    .unwrap();
    reg.deregister(now, &fourth, &svc("", "b"));
    assert_eq!(
        reg.stats().clients,
        3,
        "the connection and two emptied clients"
    );
    let refused = reg.register(
        now,
        &third,
        &svc("", "b"),
        InstanceSpec::new("10.0.1.2", 80),
    );
    assert_eq!(limit_of(refused), Limit::Clients);
    reg.subscribe(now, &conn, &svc("", "a"), Subscriber::default())
        .unwrap();
    let refused = reg.subscribe(now, &conn, &svc("", "b"), Subscriber::default());
    assert_eq!(limit_of(refused), Limit::ClientSubscriptions);
    assert_eq!(reg.subscribers_of(&svc("", "b")).len(), 0);
}

#[test]
fn a_client_at_its_instance_limit_replicates_well_under_16_mib() {
    let config = NamingConfig::default();
    // The worst case the checks let through: 1024 four-byte characters of metadata, the
    // longest names, id and address, each instance in a service of its own.
    let metadata = [("k".to_owned(), "語".repeat(config.metadata_len_max - 1))].into();
    let services = (0..config.client_instances_max)
        .map(|i| ServiceRecord {
            namespace: "n".repeat(64),
            group: "g".repeat(128),
            name: format!("{i:0>512}"),
            batch: false,
            instances: vec![InstanceData {
                ip: "i".repeat(128),
                port: 65535,
                cluster: "c".repeat(64),
                weight: 10_000.0,
                healthy: true,
                enabled: true,
                metadata: std::collections::BTreeMap::clone(&metadata),
                instance_id: "d".repeat(1024),
            }],
        })
        .collect();
    let record = ClientRecord {
        expired: Vec::new(),
        id: "1795291943754_255.255.255.255_65535".to_owned(),
        revision: u64::MAX,
        services,
    };
    let bytes = record.encode().len();
    assert!(bytes < 8 << 20, "{bytes} bytes");
    println!(
        "worst-case record at the default limit: {bytes} bytes ({} per instance)",
        bytes / config.client_instances_max
    );
}
