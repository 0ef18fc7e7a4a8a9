//! Fuzz target `registry`: [`vmstate_tests::fuzz::Target::Registry`] (see
//! `tests/src/fuzz.rs` for what it reads and checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmstate_tests::fuzz::Target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = Target::Registry.run(data) {
        panic!("registry: {v}");
    }
});
