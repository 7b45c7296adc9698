//! Fuzz target `http`: query strings and form bodies of the Open API (see
//! `distro_fuzz::http`).

use distro_fuzz::{corpus, driver, http};

#[test]
fn corpus_requests_pass() {
    let harness = http::Harness::new();
    for (name, file) in corpus::load(http::TARGET) {
        let input = http::Input::from_file(&file);
        if let Err(error) = http::check(&harness, input.clone()) {
            panic!("corpus http/{name}: {error}");
        }
        // The SDKs' registrations are accepted (so the accepted path is checked).
        if name.contains("register") && !name.contains("deregister") {
            let request = input.request(&input.method).expect("a valid request");
            let (status, body) = harness.call(request);
            assert!(status.is_success(), "corpus http/{name}: {status} {body:?}");
        }
    }
}

#[test]
fn structured_requests() {
    driver::drive(
        "http/structured",
        driver::budget(4.0),
        http::sequences(false),
        || (),
        http::check_sequence,
    );
}

#[test]
fn mutated_requests() {
    driver::drive(
        "http/mutated",
        driver::budget(3.0),
        http::sequences(true),
        || (),
        http::check_sequence,
    );
}
