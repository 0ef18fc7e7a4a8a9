//! Every input the fuzzer found (a crash, an oom, a timeout or a failed
//! oracle), kept in `tests/fuzz-regressions/<target>/`, runs through the
//! same code as its fuzz target ([`Target::run`]), on stable: no panic, no
//! failed oracle, and bounded time and memory (a counting global allocator
//! measures the peak). See `docs/fuzzing.md`.
//!
//! The hostile streams of [`vmstate_tests::hostile`] run through every
//! target too, so that the harness itself is exercised on stable even for a
//! target with no kept input.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};
use vmstate_tests::fuzz::Target;
use vmstate_tests::hostile;

#[global_allocator]
static GLOBAL: &PeakMemAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Peak memory one input may add. The fuzzer's bound is 2 GiB of RSS;
/// every kept input stays far below it once fixed.
const MAX_PEAK: usize = 256 << 20;

/// Time one input may take in a debug build (the fuzzer allows 10 s with
/// optimisations; a hang never ends).
const MAX_TIME: Duration = Duration::from_secs(60);

fn regressions(target: Target) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-regressions")
        .join(target.name());
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    inputs.sort();
    inputs
}

/// Runs `input` through `target`: the oracle holds, within time and memory.
/// Returns the peak.
fn run_bounded(target: Target, what: &str, input: &[u8]) -> usize {
    GLOBAL.reset_peak_memory();
    let before = GLOBAL.get_peak_memory();
    let t0 = Instant::now();
    let result = target.run(input);
    let elapsed = t0.elapsed();
    let peak = GLOBAL.get_peak_memory().saturating_sub(before);
    if let Err(v) = result {
        panic!("{} on {what}: {v}", target.name());
    }
    assert!(
        elapsed < MAX_TIME,
        "{} on {what}: {elapsed:?}",
        target.name()
    );
    assert!(
        peak < MAX_PEAK,
        "{} on {what}: peak {peak} bytes",
        target.name()
    );
    peak
}

// One test, so that the allocator measures one input at a time.
#[test]
fn every_kept_fuzz_input_runs_through_its_target_in_bounded_time_and_memory() {
    let (mut ran, mut highest) = (0, 0);
    for target in Target::ALL {
        for path in regressions(target) {
            let input = std::fs::read(&path).unwrap();
            highest = highest.max(run_bounded(target, &path.display().to_string(), &input));
            ran += 1;
        }
    }
    let streams = [
        hostile::stream(&[hostile::zero_size_array(1 << 31)]),
        hostile::stream(&[hostile::zero_size_array(u64::MAX)]),
        hostile::stream(&[hostile::nested_zero_size_arrays(1 << 12, 3)]),
        hostile::stream(&[hostile::many_byte_fields(1000)]),
        hostile::stream(&[hostile::short_byte_array(u32::MAX.into(), 1000)]),
        hostile::zero_length_ram_blocks(100_000),
    ];
    for (i, stream) in streams.iter().enumerate() {
        for target in Target::ALL {
            highest = highest.max(run_bounded(target, &format!("hostile stream {i}"), stream));
        }
    }
    eprintln!(
        "{ran} kept fuzz input(s) and {} hostile streams through every target: highest peak \
         {highest} bytes",
        streams.len()
    );
}
