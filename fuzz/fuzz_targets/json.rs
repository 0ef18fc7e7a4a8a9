//! Fuzz target `json`: [`vmstate_tests::fuzz::Target::Json`] (see
//! `tests/src/fuzz.rs` for what it reads and checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmstate_tests::fuzz::Target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = Target::Json.run(data) {
        panic!("json: {v}");
    }
});
