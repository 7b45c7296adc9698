//! Fuzz target `record`: CBOR client records decoded and applied (see `distro_fuzz::record`).

use distro_fuzz::{corpus, driver, record};

#[test]
fn corpus_records_pass() {
    use distro_core::DataProcessor;
    let harness = record::Harness::new();
    for (name, bytes) in corpus::load(record::TARGET) {
        let input = record::Input {
            bytes: bytes.clone(),
            key: None,
            revision: 100,
        };
        if let Err(error) = record::check(&harness, input) {
            panic!("corpus record/{name}: {error}");
        }
        // Generated records are real ones: they apply (so the accepted path is checked).
        if !name.starts_with("regress-") {
            let record = distro_naming::replication::record::ClientRecord::decode(&bytes);
            let id = record.map(|r| r.id).unwrap_or_default();
            let applied = harness.plugin.apply(&id, "10.0.0.9:8848", 101, &bytes);
            assert!(applied.is_ok(), "corpus record/{name} refused: {applied:?}");
        }
    }
}

#[test]
fn structured_records() {
    driver::drive(
        "record/structured",
        driver::budget(3.0),
        record::sequences(false),
        || (),
        record::check_sequence,
    );
}

#[test]
fn mutated_records() {
    driver::drive(
        "record/mutated",
        driver::budget(3.0),
        record::sequences(true),
        || (),
        record::check_sequence,
    );
}
