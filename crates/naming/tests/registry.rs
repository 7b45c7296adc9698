//! Registry behaviour through the public API: registration, revisions, beats with tokio's
//! paused clock, metadata overrides, cleanup and namespace isolation.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use distro_naming::{
    BeatOutcome, ClientId, InstancePatch, InstanceSpec, NamingConfig, NamingError, NamingEvent,
    Registry, ServiceKey, ServiceMeta, owns_everything, spawn_maintenance,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn registry() -> Registry {
    Registry::new(NamingConfig::default())
}

fn svc(name: &str) -> ServiceKey {
    ServiceKey::new("", "", name)
}

fn register(reg: &Registry, now: Instant, service: &ServiceKey, ip: &str, port: u16) -> ClientId {
    let client = ClientId::ip_port(ip, port);
    reg.register(now, &client, service, InstanceSpec::new(ip, port))
        .unwrap();
    client
}

#[tokio::test(start_paused = true)]
async fn register_update_deregister_bump_revision() {
    let reg = registry();
    let now = Instant::now();
    let service = svc("orders");
    let client = register(&reg, now, &service, "10.0.0.1", 8080);
    // Client writes are stamped with the wall clock (see distro_core::revision): each one
    // outranks the last.
    let first = reg.client_revision(&client).unwrap();
    assert!(distro_core::revision::stamp(first) > 0);
    assert_eq!(reg.view(&service).hosts.len(), 1);

    let patch = InstancePatch {
        weight: Some(3.0),
        enabled: Some(false),
        ..Default::default()
    };
    reg.update_instance(now, &service, ("10.0.0.1", 8080, "DEFAULT"), patch)
        .unwrap();
    let updated = reg.client_revision(&client).unwrap();
    assert!(distro_core::revision::stamp(updated) > distro_core::revision::stamp(first));
    let found = reg
        .find_instance(&service, "10.0.0.1", 8080, "DEFAULT")
        .unwrap();
    assert_eq!((found.weight, found.enabled), (3.0, false));
    assert!(
        reg.view(&service).select("", false).hosts.is_empty(),
        "disabled is not selected"
    );

    assert!(reg.deregister(now, &client, &service));
    let deregistered = reg.client_revision(&client).unwrap();
    assert!(distro_core::revision::stamp(deregistered) > distro_core::revision::stamp(updated));
    assert!(reg.view(&service).hosts.is_empty());
    assert!(
        !reg.deregister(now, &client, &service),
        "second deregister is a no-op"
    );
    assert_eq!(reg.client_revision(&client), Some(deregistered));
}

#[tokio::test(start_paused = true)]
async fn one_instance_per_service_per_client() {
    let reg = registry();
    let now = Instant::now();
    let service = svc("orders");
    let client = ClientId::new("1700000000000_10.0.0.8_5000");
    reg.connect(now, client.clone());
    reg.register(now, &client, &service, InstanceSpec::new("127.0.0.1", 80))
        .unwrap();
    reg.register(now, &client, &service, InstanceSpec::new("127.0.0.2", 80))
        .unwrap();
    let view = reg.view(&service);
    assert_eq!(view.hosts.len(), 1);
    assert_eq!(view.hosts[0].ip, "127.0.0.2");
}

#[tokio::test(start_paused = true)]
async fn connection_clients_must_connect_and_vanish_on_disconnect() {
    let reg = registry();
    let now = Instant::now();
    let service = svc("orders");
    let client = ClientId::new("1700000000000_10.0.0.8_5000");
    let err = reg
        .register(now, &client, &service, InstanceSpec::new("1.1.1.1", 1))
        .unwrap_err();
    assert!(matches!(err, NamingError::ClientDisconnected(_)));
    reg.connect(now, client.clone());
    let batch = vec![
        InstanceSpec::new("1.1.1.1", 1),
        InstanceSpec::new("1.1.1.2", 2),
    ];
    reg.batch_register(now, &client, &service, batch).unwrap();
    assert_eq!(reg.view(&service).hosts.len(), 2);
    assert!(reg.disconnect(now, &client));
    assert!(reg.view(&service).hosts.is_empty());
    assert_eq!(reg.stats().clients, 0);
}

#[tokio::test(start_paused = true)]
async fn invalid_registration_changes_nothing() {
    let reg = registry();
    let now = Instant::now();
    let service = svc("orders");
    let client = ClientId::ip_port("10.0.0.1", 1);
    let mut bad_weight = InstanceSpec::new("10.0.0.1", 1);
    bad_weight.weight = 10_001.0;
    let mut bad_cluster = InstanceSpec::new("10.0.0.1", 1);
    bad_cluster.cluster = "a,b".to_owned();
    let mut bad_timeouts = InstanceSpec::new("10.0.0.1", 1);
    bad_timeouts
        .metadata
        .insert("preserved.heart.beat.timeout".into(), "1000".into());
    for spec in [
        bad_weight,
        bad_cluster,
        bad_timeouts,
        InstanceSpec::new("bad ip", 1),
    ] {
        assert!(reg.register(now, &client, &service, spec).is_err());
    }
    assert_eq!(reg.stats(), Default::default());
}

#[tokio::test(start_paused = true)]
async fn silent_instances_turn_unhealthy_then_expire() {
    let reg = registry();
    let start = Instant::now();
    let service = svc("orders");
    register(&reg, start, &service, "10.0.0.1", 8080);
    register(&reg, start, &service, "10.0.0.2", 8080);
    let all = owns_everything();

    // One instance keeps beating, the other falls silent.
    let at = |secs| start + Duration::from_secs(secs);
    for secs in [5, 10, 15] {
        let beat = reg.beat(at(secs), &service, "10.0.0.1", 8080);
        assert_eq!(beat, BeatOutcome::Accepted { interval_ms: 5000 });
    }
    let report = reg.check_beats(at(15), &*all);
    assert_eq!(
        report.marked_unhealthy, 0,
        "15 s of silence is not yet over the timeout"
    );
    let report = reg.check_beats(at(16), &*all);
    assert_eq!(report.marked_unhealthy, 1);
    let view = reg.view(&service);
    let silent = view.hosts.iter().find(|h| h.ip == "10.0.0.2").unwrap();
    assert!(!silent.healthy);

    let report = reg.check_beats(at(31), &*all);
    assert_eq!(report.expired, 1);
    assert_eq!(reg.view(&service).hosts.len(), 1);
    assert_eq!(reg.view(&service).hosts[0].ip, "10.0.0.1");
}

#[tokio::test(start_paused = true)]
async fn a_beat_revives_an_unhealthy_instance() {
    let reg = registry();
    let start = Instant::now();
    let service = svc("orders");
    let client = register(&reg, start, &service, "10.0.0.1", 8080);
    reg.check_beats(start + Duration::from_secs(16), &*owns_everything());
    let revision = reg.client_revision(&client).unwrap();
    assert!(!reg.view(&service).hosts[0].healthy);
    reg.beat(start + Duration::from_secs(17), &service, "10.0.0.1", 8080);
    assert!(reg.view(&service).hosts[0].healthy);
    assert!(
        reg.client_revision(&client).unwrap() > revision,
        "health flips bump the revision"
    );
}

#[tokio::test(start_paused = true)]
async fn beat_checks_skip_clients_owned_elsewhere() {
    let reg = registry();
    let start = Instant::now();
    let service = svc("orders");
    register(&reg, start, &service, "10.0.0.1", 8080);
    let nobody = |_: &ClientId| false;
    let report = reg.check_beats(start + Duration::from_secs(60), &nobody);
    assert_eq!(report, Default::default());
    assert!(reg.view(&service).hosts[0].healthy);
}

#[tokio::test(start_paused = true)]
async fn metadata_overrides_beat_timeouts() {
    let reg = registry();
    let start = Instant::now();
    let service = svc("ttl");
    let mut spec = InstanceSpec::new("10.0.0.1", 8080);
    spec.metadata = BTreeMap::from([
        (
            "preserved.heart.beat.interval".to_owned(),
            "3000".to_owned(),
        ),
        ("preserved.heart.beat.timeout".to_owned(), "6000".to_owned()),
        ("preserved.ip.delete.timeout".to_owned(), "9000".to_owned()),
    ]);
    let client = ClientId::ip_port("10.0.0.1", 8080);
    reg.register(start, &client, &service, spec).unwrap();
    let host = &reg.view(&service).hosts[0];
    assert_eq!(
        (
            host.instance_heart_beat_interval,
            host.instance_heart_beat_time_out,
            host.ip_delete_timeout
        ),
        (3000, 6000, 9000)
    );
    let beat = reg.beat(start, &service, "10.0.0.1", 8080);
    assert_eq!(beat, BeatOutcome::Accepted { interval_ms: 3000 });
    let all = owns_everything();
    assert_eq!(
        reg.check_beats(start + Duration::from_millis(6001), &*all)
            .marked_unhealthy,
        1
    );
    assert_eq!(
        reg.check_beats(start + Duration::from_millis(9001), &*all)
            .expired,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn beats_for_unknown_instances_ask_for_registration() {
    let reg = registry();
    let now = Instant::now();
    let service = svc("orders");
    assert_eq!(
        reg.beat(now, &service, "10.0.0.1", 1),
        BeatOutcome::UnknownInstance
    );
    let outcome = reg
        .beat_or_register(now, &service, InstanceSpec::new("10.0.0.1", 1))
        .unwrap();
    assert_eq!(outcome, BeatOutcome::Accepted { interval_ms: 5000 });
    assert_eq!(reg.view(&service).hosts.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn idle_clients_and_empty_services_are_cleaned() {
    let reg = registry();
    let start = Instant::now();
    let service = svc("orders");
    let client = register(&reg, start, &service, "10.0.0.1", 8080);
    let kept = svc("explicit");
    reg.create_service(start, &kept, ServiceMeta::default())
        .unwrap();
    reg.deregister(start, &client, &service);

    let all = owns_everything();
    assert_eq!(
        reg.remove_idle_clients(start + Duration::from_secs(30), &*all),
        0
    );
    let nobody = |_: &ClientId| false;
    let later = start + Duration::from_secs(600);
    assert_eq!(
        reg.remove_idle_clients(later, &nobody),
        0,
        "only the owner judges idleness"
    );
    assert_eq!(
        reg.remove_idle_clients(start + Duration::from_millis(30_001), &*all),
        1
    );
    assert_eq!(
        reg.remove_empty_services(start + Duration::from_secs(59)),
        0
    );
    assert_eq!(
        reg.remove_empty_services(start + Duration::from_secs(60)),
        1
    );
    assert!(!reg.view(&service).exists);
    assert!(
        reg.service_detail(&kept).is_some(),
        "services created through the API stay"
    );
}

#[tokio::test(start_paused = true)]
async fn namespaces_and_groups_are_isolated() {
    let reg = registry();
    let now = Instant::now();
    let dev = ServiceKey::new("dev", "", "orders");
    let prod = ServiceKey::new("prod", "", "orders");
    let other_group = ServiceKey::new("dev", "g2", "orders");
    register(&reg, now, &dev, "10.0.0.1", 8080);
    register(&reg, now, &prod, "10.0.0.1", 8080);
    assert_eq!(reg.view(&dev).hosts.len(), 1);
    assert_eq!(reg.view(&prod).hosts.len(), 1);
    assert!(!reg.view(&other_group).exists);
    reg.deregister(now, &ClientId::ip_port("10.0.0.1", 8080), &dev);
    assert!(reg.view(&dev).hosts.is_empty());
    assert_eq!(
        reg.view(&prod).hosts.len(),
        1,
        "same ip:port in another namespace is untouched"
    );
    assert_eq!(
        reg.list_services("dev", "DEFAULT_GROUP", 1, 10),
        (1, vec!["orders".to_owned()])
    );
    assert_eq!(reg.list_services("prod", "g2", 1, 10), (0, vec![]));
}

#[tokio::test(start_paused = true)]
async fn services_api_rules() {
    let reg = registry();
    let now = Instant::now();
    let service = svc("orders");
    let meta = ServiceMeta {
        protect_threshold: 0.5,
        ..Default::default()
    };
    reg.create_service(now, &service, meta.clone()).unwrap();
    assert!(matches!(
        reg.create_service(now, &service, meta),
        Err(NamingError::ServiceAlreadyExists(_))
    ));
    register(&reg, now, &service, "10.0.0.1", 8080);
    assert!(matches!(
        reg.delete_service(&service),
        Err(NamingError::ServiceNotEmpty(_))
    ));
    assert_eq!(
        reg.service_detail(&service).unwrap().meta.protect_threshold,
        0.5
    );
    assert!(matches!(
        reg.delete_service(&svc("none")),
        Err(NamingError::ServiceNotFound(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn changes_are_announced_on_the_event_bus() {
    let reg = registry();
    let (tx, rx) = crossbeam_channel::unbounded();
    reg.events().subscribe(Arc::new(move |e: &NamingEvent| {
        let _ = tx.send(e.clone());
    }));
    let service = svc("orders");
    let client = register(&reg, Instant::now(), &service, "10.0.0.1", 8080);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(rx.recv_timeout(Duration::from_secs(5)).unwrap());
    }
    assert!(seen.contains(&NamingEvent::ServiceChanged(service)));
    assert!(seen.contains(&NamingEvent::ClientChanged(client)));
}

#[tokio::test(start_paused = true)]
async fn maintenance_loops_run_on_the_clock() {
    let reg = Arc::new(registry());
    let service = svc("orders");
    register(&reg, Instant::now(), &service, "10.0.0.1", 8080);
    let shutdown = CancellationToken::new();
    let tasks = spawn_maintenance(Arc::clone(&reg), owns_everything(), shutdown.clone());
    // Beat checks run every 5 s: unhealthy after the pass following 15 s, gone after 30 s.
    tokio::time::sleep(Duration::from_millis(20_100)).await;
    assert!(!reg.view(&service).hosts[0].healthy);
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(reg.view(&service).hosts.is_empty());
    shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }
}
