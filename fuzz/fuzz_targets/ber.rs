//! Fuzz target `ber`: [`vmstate_tests::fuzz::Target::Ber`] (see
//! `tests/src/fuzz.rs` for what it reads and checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmstate_tests::fuzz::Target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = Target::Ber.run(data) {
        panic!("ber: {v}");
    }
});
