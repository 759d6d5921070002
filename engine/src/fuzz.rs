//! A time-bounded fuzz loop over proptest strategies, for the readers of
//! untrusted input (the Netflix rating files, MovieLens CSV, VADER).
//!
//! In `cargo test` each target runs [`DEFAULT_CASES`] random inputs. With
//! `MOODFLOW_FUZZ_SECS=600` it runs for ten minutes instead (a local run,
//! not CI: `MOODFLOW_FUZZ_SECS=600 cargo test -p moodflow-engine --profile ci
//! fuzz_`), printing how many inputs it tried; any panic fails the test
//! with the input that caused it, as hex. The targets: the CSV reader and
//! the Netflix rating parser (in their modules) and VADER (here: the UDF
//! crate has no test dependency on this one).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// Inputs per target in an ordinary test run.
pub const DEFAULT_CASES: u64 = 512;

/// Runs `check` on inputs drawn from `strategy` until the budget is spent.
pub fn run<S>(name: &str, strategy: S, check: impl Fn(&S::Value))
where
    S: Strategy,
    S::Value: AsRef<[u8]>,
{
    let secs: u64 = std::env::var("MOODFLOW_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let deadline = (secs > 0).then(|| Instant::now() + Duration::from_secs(secs));
    let mut runner = TestRunner::default();
    let mut tried = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if tried >= DEFAULT_CASES => break,
            _ => {}
        }
        let input = match strategy.new_tree(&mut runner) {
            Ok(tree) => tree.current(),
            Err(e) => panic!("{name}: cannot draw an input: {e}"),
        };
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let hex: String = input.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            panic!("{name}: panicked on input (hex) {hex}");
        }
        tried += 1;
    }
    if secs > 0 {
        eprintln!("fuzz {name}: {tried} inputs in {secs} s, no panic");
    }
}

/// Bytes that look like the files: mostly the format's own punctuation.
pub fn bytes_like(alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    proptest::collection::vec(
        prop_oneof![
            3 => any::<u8>(),
            5 => proptest::sample::select(alphabet),
            2 => proptest::sample::select(b"0123456789".as_slice()),
        ],
        0..2048,
    )
}

/// VADER on any text: scores stay in range, never a panic.
#[test]
fn fuzz_vader_on_any_text() {
    // Words VADER knows, its boosters, negations and punctuation, mixed
    // with arbitrary (lossily decoded) bytes and emoji.
    let strategy = bytes_like(
        "good bad not but very never least kind of !?.,:) ;( \u{1F600} ALL CAPS n't \u{00e9} \t\n".as_bytes(),
    );
    run("vader", strategy, |data| {
        let text = String::from_utf8_lossy(data);
        let s = moodflow_udfs::vader::analyzer().polarity_scores(&text);
        assert!((-1.0..=1.0).contains(&s.compound), "{s:?}");
        for p in [s.pos, s.neu, s.neg] {
            assert!((0.0..=1.0).contains(&p) && p.is_finite(), "{s:?}");
        }
    });
}
