//! The committed corpus: every target has one, and it is what the code generates today
//! (`DISTRO_FUZZ_WRITE_CORPUS=1` rewrites them, `regress-*` files of found bugs included).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use distro_fuzz::{corpus, distro, grpc, http, record};

#[test]
fn every_target_has_its_generated_corpus() {
    // Client writes are stamped with the wall clock (distro_core::revision): a fixed clock
    // keeps the generated records, and so the corpus, reproducible.
    distro_core::clock::set_wall_clock(|| Some(std::time::Duration::from_secs(1_800_000_000)));
    let write = std::env::var_os("DISTRO_FUZZ_WRITE_CORPUS").is_some();
    let generated = [
        (http::TARGET, http::corpus()),
        (grpc::TARGET, grpc::corpus()),
        (record::TARGET, record::corpus()),
        (distro::TARGET, distro::corpus()),
    ];
    for (target, files) in generated {
        let dir = corpus::dir(target);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &files {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        let committed = corpus::load(target);
        for (name, bytes) in &files {
            let found = committed.iter().find(|(n, _)| n == name);
            assert_eq!(
                found.map(|(_, b)| b),
                Some(bytes),
                "{target}/{name} is missing or stale: rerun with DISTRO_FUZZ_WRITE_CORPUS=1"
            );
        }
    }
}
