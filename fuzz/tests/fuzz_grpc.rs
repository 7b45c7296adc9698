//! Fuzz target `grpc`: Nacos 2.x JSON bodies on the SDK port of a real server (see
//! `distro_fuzz::grpc`).

use distro_fuzz::{corpus, driver, grpc};

#[test]
fn corpus_bodies_pass() {
    // Its own server: the other tests of this binary share one and change it meanwhile.
    let harness = grpc::Harness::new();
    for (name, file) in corpus::load(grpc::TARGET) {
        if let Err(error) = grpc::check(&harness, grpc::Input::from_file(&file)) {
            panic!("corpus grpc/{name}: {error}");
        }
    }
    // The SDK's registration was accepted and is listed (so the accepted path is checked).
    assert!(
        harness.dump().contains("10.0.0.1:8080"),
        "the corpus registration is not held:\n{}",
        harness.dump()
    );
}

#[test]
fn structured_bodies() {
    driver::drive(
        "grpc/structured",
        driver::budget(4.0),
        grpc::structured(),
        grpc::Harness::shared,
        |harness: &&grpc::Harness, input| grpc::check(harness, input),
    );
}

#[test]
fn mutated_bodies() {
    driver::drive(
        "grpc/mutated",
        driver::budget(3.0),
        grpc::mutated(),
        grpc::Harness::shared,
        |harness: &&grpc::Harness, input| grpc::check(harness, input),
    );
}
