//! Fuzz target `distro`: Distro protobuf messages into the kernel (see `distro_fuzz::distro`).

use distro_fuzz::{corpus, distro, driver};

#[test]
fn corpus_messages_pass() {
    let harness = distro::Harness::new();
    for (name, file) in corpus::load(distro::TARGET) {
        if let Err(error) = distro::check(&harness, distro::Input::from_file(&file)) {
            panic!("corpus distro/{name}: {error}");
        }
    }
}

#[test]
fn structured_messages() {
    driver::drive(
        "distro/structured",
        driver::budget(4.0),
        distro::sequences(false),
        || (),
        distro::check_sequence,
    );
}

#[test]
fn mutated_messages() {
    driver::drive(
        "distro/mutated",
        driver::budget(3.0),
        distro::sequences(true),
        || (),
        distro::check_sequence,
    );
}
