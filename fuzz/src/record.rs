//! CBOR client records as a peer sends them: decoded, re-encoded and applied through the
//! naming plugin of the Distro kernel (`ClientDataPlugin::apply`), exactly what a sync or a
//! snapshot item with a payload does.
//!
//! Asserts: no panic; a decodable record re-encodes to a fixed point (`encode ∘ decode` is
//! the identity on encoder output); a refused record leaves the registry unchanged; an
//! applied one is held at the kernel's revision, every instance it carries is listed in its
//! service, and applying the held record again changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use distro_core::DataProcessor;
use distro_naming::names::ServiceKey;
use distro_naming::replication::plugin::ClientDataPlugin;
use distro_naming::replication::record::{ClientRecord, InstanceData, ServiceRecord};
use distro_naming::{ClientId, InstanceSpec, NamingConfig, Registry};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tokio::time::Instant;

/// The corpus target name.
pub const TARGET: &str = "record";

/// A registry with a native client and a replica, its plugin, and a paused clock.
pub struct Harness {
    /// The registry the records land in.
    pub registry: Arc<Registry>,
    /// The kernel's view of it.
    pub plugin: ClientDataPlugin,
    runtime: tokio::runtime::Runtime,
    origin: Instant,
}

impl Harness {
    /// A fresh harness with some state in it.
    pub fn new() -> Self {
        let runtime = paused_runtime();
        let _time = runtime.enter();
        let registry = Arc::new(Registry::new(NamingConfig::default()));
        let plugin = ClientDataPlugin::new(Arc::clone(&registry));
        let origin = Instant::now();
        let key = ServiceKey::new("public", "DEFAULT_GROUP", "orders");
        let native = ClientId::ip_port("10.0.0.1", 8080);
        let mut spec = InstanceSpec::new("10.0.0.1", 8080);
        spec.metadata.insert("version".into(), "1".into());
        registry
            .register(origin, &native, &key, spec)
            .expect("seed registration");
        let replica = sample_record("10.0.0.2:80#true", 3);
        plugin
            .apply(&replica.id, "10.0.0.9:8848", 3, &replica.encode())
            .expect("seed replica");
        Self {
            registry,
            plugin,
            runtime,
            origin,
        }
    }

    /// The registry dump.
    pub fn dump(&self) -> String {
        self.registry.debug_dump(self.origin)
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// A current-thread runtime with a paused clock: `Instant::now()` stands still, so dumps
/// taken around an input compare exactly.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
}

/// A plausible record (what a peer sends for one HTTP client).
pub fn sample_record(id: &str, revision: u64) -> ClientRecord {
    ClientRecord {
        expired: Vec::new(),
        id: id.to_owned(),
        revision,
        services: vec![ServiceRecord {
            namespace: "public".into(),
            group: "DEFAULT_GROUP".into(),
            name: "orders".into(),
            batch: false,
            instances: vec![InstanceData {
                ip: "10.0.0.2".into(),
                port: 80,
                cluster: "DEFAULT".into(),
                weight: 1.0,
                healthy: true,
                enabled: true,
                metadata: BTreeMap::from([("zone".into(), "a".into())]),
                instance_id: "10.0.0.2#80#DEFAULT#DEFAULT_GROUP@@orders".into(),
            }],
        }],
    }
}

/// One input: the payload bytes, the key the kernel sends them under (`None`: the record's
/// own id) and the kernel's revision.
#[derive(Debug, Clone)]
pub struct Input {
    /// CBOR bytes.
    pub bytes: Vec<u8>,
    /// Key of the sync item, if not the record's id.
    pub key: Option<String>,
    /// Revision of the sync item.
    pub revision: u64,
}

/// Encoder output is a fixed point of decode-then-encode.
pub fn check_codec(bytes: &[u8]) -> Result<Option<ClientRecord>, TestCaseError> {
    let Ok(record) = ClientRecord::decode(bytes) else {
        return Ok(None);
    };
    let encoded = record.encode();
    let again = ClientRecord::decode(&encoded)
        .map_err(|e| TestCaseError::fail(format!("re-encoded record does not decode: {e}")))?;
    prop_assert_eq!(again.encode(), encoded, "encode is not a fixed point");
    // PartialEq holds too, unless a weight is NaN.
    if record
        .services
        .iter()
        .all(|s| s.instances.iter().all(|i| !i.weight.is_nan()))
    {
        prop_assert_eq!(&again, &record);
    }
    Ok(Some(record))
}

/// Feeds one input to the codec and the plugin, with every assertion of the module.
pub fn check(harness: &Harness, input: Input) -> Result<(), TestCaseError> {
    let _time = harness.runtime.enter();
    let record = check_codec(&input.bytes)?;
    let key = input
        .key
        .clone()
        .or_else(|| record.as_ref().map(|r| r.id.clone()))
        .unwrap_or_else(|| "10.0.0.3:80#true".to_owned());
    let before = harness.dump();
    let applied = harness
        .plugin
        .apply(&key, "10.0.0.9:8848", input.revision, &input.bytes);
    let after = harness.dump();
    let Ok(()) = applied else {
        prop_assert_eq!(&before, &after, "a refused record changed the registry");
        return Ok(());
    };
    let record = record.ok_or_else(|| TestCaseError::fail("an undecodable record was applied"))?;
    prop_assert_eq!(&record.id, &key, "a record was applied under another key");
    let held = harness
        .registry
        .client_record(&ClientId::new(key.as_str()))
        .ok_or_else(|| TestCaseError::fail("an applied record is not held"))?;
    prop_assert_eq!(
        held.revision,
        input.revision,
        "not held at the kernel's revision"
    );
    for service in &record.services {
        let service_key = ServiceKey::new(&service.namespace, &service.group, &service.name);
        let view = harness.registry.view(&service_key);
        for instance in &service.instances {
            prop_assert!(
                view.hosts
                    .iter()
                    .any(|h| h.ip == instance.ip && h.port == i64::from(instance.port)),
                "{}:{} of an applied record is not listed in {}",
                instance.ip,
                instance.port,
                service_key
            );
        }
    }
    // What a node holds is what it would send on: applying it again changes nothing.
    harness
        .plugin
        .apply(&key, "10.0.0.9:8848", input.revision, &held.encode())
        .map_err(|e| TestCaseError::fail(format!("the held record is refused: {e}")))?;
    prop_assert_eq!(
        &after,
        &harness.dump(),
        "re-applying the held record changed the registry"
    );
    Ok(())
}

fn pick<T: Clone + std::fmt::Debug + 'static>(values: &[T]) -> impl Strategy<Value = T> + use<T> {
    proptest::sample::select(values.to_vec())
}

/// Text from a small pool of legal, borderline and illegal values, or anything.
pub fn text(pool: &[&'static str]) -> impl Strategy<Value = String> + use<> {
    prop_oneof![
        4 => pick(pool).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
        1 => any::<String>(),
    ]
}

fn weight() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => pick(&[1.0, 0.0, 10_000.0, 10_000.5, -1.0, f64::NAN, f64::INFINITY, 0.5]),
        1 => any::<f64>(),
    ]
}

fn metadata() -> impl Strategy<Value = BTreeMap<String, String>> {
    let keys = text(&[
        "version",
        "preserved.heart.beat.interval",
        "preserved.heart.beat.timeout",
        "preserved.ip.delete.timeout",
        "preserved.instance.id.generator",
        "",
    ]);
    let values = text(&[
        "1",
        "1000",
        "20000",
        "-5",
        "x",
        "",
        " 7 ",
        "99999999999999999999",
    ]);
    prop_oneof![
        2 => Just(BTreeMap::new()),
        3 => proptest::collection::btree_map(keys, values, 1..4),
        1 => proptest::collection::btree_map("k[0-9]{1,3}", "v{0,400}", 1..6),
    ]
}

fn instance() -> impl Strategy<Value = InstanceData> {
    (
        text(&[
            "10.0.0.2",
            "10.0.0.3",
            "::1",
            "[::1]",
            "host-a.local",
            "",
            "1.2.3.4 ",
            "a;b",
        ]),
        prop_oneof![pick(&[80u16, 8080, 0, 65535]), any::<u16>()],
        text(&["DEFAULT", "c1", "", "a,b", "x".repeat(65).leak()]),
        weight(),
        any::<bool>(),
        any::<bool>(),
        metadata(),
        text(&["", "id-1", "10.0.0.2#80#DEFAULT#DEFAULT_GROUP@@orders", " "]),
    )
        .prop_map(
            |(ip, port, cluster, weight, healthy, enabled, metadata, instance_id)| InstanceData {
                ip,
                port,
                cluster,
                weight,
                healthy,
                enabled,
                metadata,
                instance_id,
            },
        )
}

fn service() -> impl Strategy<Value = ServiceRecord> {
    (
        text(&["public", "", "dev", "dev ns", " ", "n".repeat(65).leak()]),
        text(&["DEFAULT_GROUP", "", "g:1.x", "g/x", " "]),
        text(&["orders", "users", "", "@bad", "a@@b", "a b", "服务"]),
        any::<bool>(),
        proptest::collection::vec(instance(), 0..3),
    )
        .prop_map(|(namespace, group, name, batch, instances)| ServiceRecord {
            namespace,
            group,
            name,
            batch,
            instances,
        })
}

/// Structured records, encoded.
pub fn structured() -> impl Strategy<Value = Input> {
    (
        text(&[
            "10.0.0.2:80#true",
            "10.0.0.1:8080#true",
            "10.0.0.3:80#true",
            "conn-1",
            "",
        ]),
        proptest::collection::vec(service(), 0..3),
        prop_oneof![4 => Just(None), 1 => text(&["10.0.0.2:80#true", "other"]).prop_map(Some)],
        prop_oneof![pick(&[0u64, 1, 4, u64::MAX]), any::<u64>()],
    )
        .prop_map(|(id, services, key, revision)| Input {
            bytes: ClientRecord {
                expired: Vec::new(),
                id,
                revision,
                services,
            }
            .encode(),
            key,
            revision,
        })
}

/// Corpus records with byte-level edits.
pub fn mutated() -> impl Strategy<Value = Input> {
    (
        crate::corpus::mutated(TARGET),
        any::<u64>(),
        prop_oneof![4 => Just(None), 1 => Just(Some("10.0.0.2:80#true".to_owned()))],
    )
        .prop_map(|(bytes, revision, key)| Input {
            bytes,
            key,
            revision,
        })
}

/// The corpus: records of every shape the registry produces, read back from a registry.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let harness = Harness::new();
    let _time = harness.runtime.enter();
    let now = Instant::now();
    let registry = &harness.registry;
    let grpc = ClientId::new("1700000000000_10.0.0.5_51234");
    registry.connect(now, grpc.clone());
    let batch_key = ServiceKey::new("dev", "g:1.x", "payments");
    let specs = (0..3)
        .map(|i| {
            let mut spec = InstanceSpec::new(format!("10.0.1.{i}"), 9000 + i);
            spec.cluster = "c1".into();
            spec.weight = 0.5 * f64::from(i);
            spec.instance_id = Some(format!("custom-{i}"));
            spec
        })
        .collect();
    registry
        .batch_register(now, &grpc, &batch_key, specs)
        .expect("batch");
    let http = ClientId::ip_port("10.0.0.7", 80);
    let mut spec = InstanceSpec::new("10.0.0.7", 80);
    spec.metadata = BTreeMap::from([
        ("preserved.heart.beat.interval".into(), "1000".into()),
        ("preserved.heart.beat.timeout".into(), "3000".into()),
        ("preserved.ip.delete.timeout".into(), "6000".into()),
    ]);
    spec.healthy = false;
    spec.enabled = false;
    registry
        .register(now, &http, &ServiceKey::new("", "", "users"), spec)
        .expect("register");
    let mut out = Vec::new();
    for (name, id) in [
        ("grpc-batch", grpc),
        ("http-timeouts", http),
        ("http-metadata", ClientId::ip_port("10.0.0.1", 8080)),
        ("replica", ClientId::new("10.0.0.2:80#true")),
    ] {
        let record = registry.client_record(&id).expect("held");
        out.push((format!("{name}.cbor"), record.encode()));
    }
    let empty = ClientRecord {
        expired: Vec::new(),
        id: "10.0.0.8:80#true".into(),
        revision: 1,
        services: Vec::new(),
    };
    out.push(("empty.cbor".into(), empty.encode()));
    out
}

/// Feeds a sequence of inputs to a fresh harness (so a failure shrinks to the few inputs
/// that cause it, whatever ran before).
pub fn check_sequence(_: &(), inputs: Vec<Input>) -> Result<(), TestCaseError> {
    let harness = Harness::new();
    for input in inputs {
        check(&harness, input)?;
    }
    Ok(())
}

/// Sequences of structured and mutated inputs.
pub fn sequences(mutated_only: bool) -> BoxedStrategy<Vec<Input>> {
    crate::driver::sequences(structured().boxed(), mutated().boxed(), mutated_only)
}
