//! Micro-benchmarks of the hot paths: validating a registration, the registry update,
//! rendering a service view (cold and cached, cloned or as shared JSON), the digest update,
//! CBOR client records and the delay engine under merge.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use distro_core::{Digest, DigestHasher};
use distro_naming::replication::record::ClientRecord;
use distro_naming::{ClientId, InstanceSpec, NamingConfig, Registry, ServiceKey};
use tokio::time::Instant;

fn spec(i: u32) -> InstanceSpec {
    let mut spec = InstanceSpec::new(
        format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        8080,
    );
    spec.metadata.insert("version".into(), "1.2.3".into());
    spec
}

fn registry_with(instances: u32, service: &ServiceKey) -> Registry {
    let registry = Registry::new(NamingConfig::default());
    let now = Instant::now();
    for i in 0..instances {
        let spec = spec(i);
        let client = ClientId::ip_port(&spec.ip, spec.port);
        registry.register(now, &client, service, spec).unwrap();
    }
    registry
}

fn validate_registration(c: &mut Criterion) {
    let config = NamingConfig::default();
    let spec = spec(1);
    c.bench_function("validate_registration", |b| {
        b.iter(|| black_box(&spec).validate(&config).unwrap())
    });
}

fn registry_update(c: &mut Criterion) {
    let service = ServiceKey::new("", "", "bench");
    let registry = registry_with(1000, &service);
    let now = Instant::now();
    let mut i = 0u32;
    c.bench_function("registry_register_replace", |b| {
        b.iter(|| {
            i = (i + 1) % 1000;
            let spec = spec(i);
            let client = ClientId::ip_port(&spec.ip, spec.port);
            registry.register(now, &client, &service, spec).unwrap();
        })
    });
}

fn render_view(c: &mut Criterion) {
    for instances in [10u32, 100] {
        let service = ServiceKey::new("", "", "bench");
        let registry = registry_with(instances, &service);
        c.bench_function(&format!("view_cached_{instances}"), |b| {
            b.iter(|| black_box(registry.view(&service).select("", false)))
        });
        c.bench_function(&format!("view_cached_json_{instances}"), |b| {
            b.iter(|| serde_json::to_vec(&registry.view(&service).select("", false).hosts).unwrap())
        });
        // What a list query does now: the hosts JSON rendered once per view, then shared.
        c.bench_function(&format!("view_rendered_json_{instances}"), |b| {
            b.iter(|| {
                let view = registry.view(&service);
                black_box(view.rendered("", false).map(|r| r.hosts_json.len()))
            })
        });
        let client = ClientId::ip_port("10.0.0.0", 8080);
        let now = Instant::now();
        c.bench_function(&format!("view_cold_{instances}"), |b| {
            b.iter(|| {
                // A beat that revives nothing keeps the cache; a re-registration drops it.
                registry.register(now, &client, &service, spec(0)).unwrap();
                black_box(registry.view(&service))
            })
        });
    }
}

fn digest_update(c: &mut Criterion) {
    let hasher = DigestHasher::new(7, 4096);
    let mut digest = Digest::new(4096);
    let mut revision = 0u64;
    c.bench_function("digest_update", |b| {
        b.iter(|| {
            digest.remove(&hasher, "1700000000000_10.0.0.1_5000", revision);
            revision += 1;
            digest.add(&hasher, "1700000000000_10.0.0.1_5000", revision);
        })
    });
}

fn cbor_record(c: &mut Criterion) {
    let service = ServiceKey::new("", "", "bench");
    let registry = registry_with(1, &service);
    let spec = spec(0);
    let record = registry
        .client_record(&ClientId::ip_port(&spec.ip, spec.port))
        .unwrap();
    let bytes = record.encode();
    c.bench_function("cbor_encode_client_record", |b| {
        b.iter(|| black_box(&record).encode())
    });
    c.bench_function("cbor_decode_client_record", |b| {
        b.iter(|| ClientRecord::decode(black_box(&bytes)).unwrap())
    });
}

fn delay_engine_merge(c: &mut Criterion) {
    use distro_core::{Distro, DistroConfig, Lease, Peer, PeerState};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let storage = Arc::new(NullPlugin);
    let distro = Distro::new(
        "a:1",
        "bench",
        DistroConfig::default(),
        storage.clone(),
        storage.clone(),
        storage,
    );
    let peers = ["b:1", "c:1"]
        .map(|a| Peer {
            address: a.into(),
            state: PeerState::Up,
        })
        .to_vec();
    distro.set_members(peers, Instant::now());
    let mut i = 0u64;
    c.bench_function("delay_engine_mark_merge", |b| {
        b.iter(|| {
            i += 1;
            // 1000 hot keys changing over and over: every mark merges into a pending task.
            distro.local_upsert(&format!("client-{}", i % 1000), i, Lease::OwnerBound);
        })
    });
}

/// A plugin and transport that hold nothing, so only the kernel's own work is measured.
struct NullPlugin;

impl distro_core::DataStorage for NullPlugin {
    fn payload(&self, _: &str) -> Option<(u64, bytes::Bytes)> {
        None
    }
}

impl distro_core::DataProcessor for NullPlugin {
    fn apply(&self, _: &str, _: &str, _: u64, _: &[u8]) -> Result<(), distro_core::ApplyError> {
        Ok(())
    }
    fn remove(&self, _: &str, _: u64) -> Result<(), distro_core::ApplyError> {
        Ok(())
    }
}

impl distro_core::Transport for NullPlugin {
    fn sync<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Vec<distro_core::SyncItem>,
    ) -> distro_core::BoxFuture<'a, Result<(), distro_core::TransportError>> {
        Box::pin(async { Ok(()) })
    }
    fn verify<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: distro_core::VerifyRequest,
    ) -> distro_core::BoxFuture<'a, Result<distro_core::VerifyResponse, distro_core::TransportError>>
    {
        Box::pin(async { Ok(distro_core::VerifyResponse::Match) })
    }
    fn snapshot<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> distro_core::BoxFuture<'a, Result<distro_core::SnapshotStream, distro_core::TransportError>>
    {
        Box::pin(async { Err(distro_core::TransportError::NotReady) })
    }
    fn query<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
    ) -> distro_core::BoxFuture<
        'a,
        Result<Option<distro_core::SyncItem>, distro_core::TransportError>,
    > {
        Box::pin(async { Ok(None) })
    }
}

criterion_group!(
    benches,
    validate_registration,
    registry_update,
    render_view,
    digest_update,
    cbor_record,
    delay_engine_merge
);
criterion_main!(benches);
