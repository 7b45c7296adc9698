//! Runs a proptest strategy against a check for a time budget, with a reproducible seed.
//!
//! `DISTRO_FUZZ_SECS` sets the budget of every target (default: the target's CI budget, a
//! few seconds); `DISTRO_FUZZ_SEED` the seed (default fixed, so CI runs are reproducible).
//! A failure is shrunk by proptest and reported with the seed and the minimal input.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};

/// Cases per proptest run; runs repeat with the next seed until the budget is spent.
const CASES_PER_RUN: u32 = 64;

/// What one target did.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Inputs checked.
    pub executions: u64,
    /// Wall time spent.
    pub elapsed: Duration,
}

/// The time budget: `DISTRO_FUZZ_SECS` if set, else `ci_secs`.
pub fn budget(ci_secs: f64) -> Duration {
    let secs = std::env::var("DISTRO_FUZZ_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(ci_secs);
    Duration::from_secs_f64(secs.max(0.0))
}

fn seed() -> u64 {
    std::env::var("DISTRO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x6469_7374_726f)
}

/// Runs `check` on values of `strategy` for `budget` (at least one run), panicking with the
/// shrunk input on the first failure. `setup` makes a fresh harness for each run, so state
/// accumulates over a run's cases but stays bounded.
pub fn drive<H, S>(
    target: &str,
    budget: Duration,
    strategy: S,
    mut setup: impl FnMut() -> H,
    check: impl Fn(&H, S::Value) -> Result<(), TestCaseError>,
) -> Stats
where
    S: Strategy,
    S::Value: Debug,
{
    let started = Instant::now();
    let base = seed();
    let mut executions = 0u64;
    let mut run = 0u64;
    loop {
        let run_seed = base.wrapping_add(run);
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&run_seed.to_le_bytes());
        let config = Config {
            cases: CASES_PER_RUN,
            failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
            max_shrink_iters: 2_000,
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let harness = setup();
        let counter = std::cell::Cell::new(0u64);
        let result = runner.run(&strategy, |value| {
            counter.set(counter.get() + 1);
            check(&harness, value)
        });
        executions += counter.get();
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, value)) => panic!(
                "{target}: {reason}\n  seed: DISTRO_FUZZ_SEED={run_seed}\n  minimal input: {value:?}"
            ),
            Err(TestError::Abort(reason)) => panic!("{target}: aborted: {reason}"),
        }
        run += 1;
        if started.elapsed() >= budget {
            break;
        }
    }
    let stats = Stats {
        executions,
        elapsed: started.elapsed(),
    };
    eprintln!(
        "fuzz {target}: {} executions in {:.1} s",
        stats.executions,
        stats.elapsed.as_secs_f64()
    );
    stats
}

/// Sequences of one to five inputs, each mutated (`mutated_only`) or, three times in four,
/// structured: a failure shrinks to the few inputs that cause it.
pub fn sequences<I: Debug + Clone + 'static>(
    structured: BoxedStrategy<I>,
    mutated: BoxedStrategy<I>,
    mutated_only: bool,
) -> BoxedStrategy<Vec<I>> {
    let one = if mutated_only {
        mutated
    } else {
        proptest::prop_oneof![3 => structured, 1 => mutated].boxed()
    };
    proptest::collection::vec(one, 1..6).boxed()
}
